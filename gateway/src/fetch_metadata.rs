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

/// Whether `req` was sent by a page's script (`fetch`, `XMLHttpRequest`: `Sec-Fetch-Dest:
/// empty`, or jQuery's `X-Requested-With` from a browser that sends no Fetch Metadata),
/// which reads the answer itself rather than showing it: a legacy page's script may show
/// its site's error message, or act on it.
pub fn read_by_a_script(req: &RequestHeader) -> bool {
    let says = |name: &str, value: &[u8]| {
        req.headers
            .get(name)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value))
    };
    says("sec-fetch-dest", b"empty") || says("x-requested-with", b"XMLHttpRequest")
}
