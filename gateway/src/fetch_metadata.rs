//! What a request says of why the browser sent it, read the same way wherever it decides
//! something: a browser that sends no Fetch Metadata (`Sec-Fetch-*`: Safari before 16.4,
//! old web views) still names what it accepts.

use pingora::http::RequestHeader;

/// Whether `req` accepts images and no page: a picture's request, from a browser that sends
/// no Fetch Metadata too (Safari before 16.4, old web views). Found in a third bypass probe:
/// `<img>` from such browsers spent an address's logins, and could its search budget.
pub fn asks_for_a_picture(req: &RequestHeader) -> bool {
    let accept = req
        .headers
        .get(http::header::ACCEPT)
        .map_or(&b""[..], |v| v.as_bytes());
    let contains = |what: &[u8]| memchr::memmem::find(accept, what).is_some();
    contains(b"image/") && !contains(b"text/html")
}
