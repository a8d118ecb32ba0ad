//! Editing pingora's request and response headers as plain `http` headers.
//!
//! Pingora keeps, beside each header map, a second map of the header names' original case,
//! and every edit through its methods updates both: a name is title-cased into a new
//! buffer, parsed back, cloned (an allocation for a name that is not a standard one) and
//! inserted twice, and each map grows on its own. The gateway sets about ten headers on
//! every request and answer, so that was the largest single cost the gateway added to a
//! proxied request.
//!
//! These helpers move the `http` parts out of pingora's header (no copy), let the edit run
//! on the `http::HeaderMap` directly (which [`egov_adapters::headers::HeaderEdit`] covers),
//! and move them back **without** the case map. What the other side then sees:
//! - header names in lower case, except those pingora writes title-cased itself (`Host`,
//!   `Content-Length`, `Content-Type`, `Transfer-Encoding`, `Connection`, `Date`,
//!   `Set-Cookie`, `Cache-Control`...). HTTP/1.1 header names are case-insensitive
//!   (RFC 9110, section 5.1), and a citizen's HTTP/2 request (every modern browser's) never
//!   had case to keep: legacy sites already received lower-case names from those.
//! - the request target is the URI's (the upstream request's is always set from the route);
//! - a custom reason phrase in an answer's status line is kept.

use http::request::Parts as ReqParts;
use http::HeaderMap;
use pingora::http::{RequestHeader, ResponseHeader};

/// Runs `edit` on the request's `http` parts, then leaves the request without header-name
/// case (see the module documentation). `extra` is how many headers the edit may add:
/// room is made once, instead of the map growing (and rehashing) on the way.
pub fn edit_request<T>(
    req: &mut RequestHeader,
    extra: usize,
    edit: impl FnOnce(&mut ReqParts) -> T,
) -> T {
    let end_stream = req.send_end_stream();
    let mut parts = ReqParts::from(std::mem::replace(req, empty_request()));
    parts.headers.reserve(extra);
    let out = edit(&mut parts);
    *req = RequestHeader::from(parts);
    if let Some(end) = end_stream {
        req.set_send_end_stream(end);
    }
    out
}

/// Runs `edit` on the answer's header map, then leaves the answer without header-name case
/// (see the module documentation). `extra`: as for [`edit_request`].
pub fn edit_response<T>(
    resp: &mut ResponseHeader,
    extra: usize,
    edit: impl FnOnce(&mut HeaderMap) -> T,
) -> T {
    // Only a phrase that is not the status's usual one is stored (and then copied here).
    let custom_reason = resp
        .get_reason_phrase()
        .filter(|r| Some(*r) != resp.status.canonical_reason())
        .map(str::to_owned);
    let mut parts = http::response::Parts::from(std::mem::replace(resp, empty_response()));
    parts.headers.reserve(extra);
    let out = edit(&mut parts.headers);
    *resp = ResponseHeader::from(parts);
    if custom_reason.is_some() {
        // The phrase was valid where it came from.
        let _ = resp.set_reason_phrase(custom_reason.as_deref());
    }
    out
}

/// A placeholder while the parts are out: allocates nothing (`HeaderMap::new` does not).
fn empty_request() -> RequestHeader {
    RequestHeader::from(http::Request::new(()).into_parts().0)
}

fn empty_response() -> ResponseHeader {
    ResponseHeader::from(http::Response::new(()).into_parts().0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue, Method, StatusCode};

    fn wire(req: &RequestHeader) -> String {
        let mut buf = Vec::new();
        req.header_to_h1_wire(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    fn request_as_a_client_sent_it() -> RequestHeader {
        let mut req = RequestHeader::build(Method::POST, b"/old?x=1", None).unwrap();
        req.append_header("HOST", "www.cnie.ma").unwrap();
        req.append_header("X-Custom", "kept").unwrap();
        req.append_header("Accept", "text/html").unwrap();
        req.append_header("accept", "application/xml").unwrap();
        req
    }

    #[test]
    fn an_edited_request_keeps_every_header_value_and_its_order() {
        let mut req = request_as_a_client_sent_it();
        edit_request(&mut req, 2, |parts| {
            parts.headers.insert(
                HeaderName::from_static("x-request-id"),
                HeaderValue::from_static("abc"),
            );
        });
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.uri, "/old?x=1");
        let accept: Vec<_> = req.headers.get_all("accept").iter().collect();
        assert_eq!(accept, ["text/html", "application/xml"]);
        assert_eq!(req.headers["x-custom"], "kept");
        assert_eq!(req.headers["x-request-id"], "abc");
        assert_eq!(req.headers.len(), 5);
    }

    #[test]
    fn an_edited_request_is_written_without_the_clients_header_case() {
        let mut req = request_as_a_client_sent_it();
        assert!(
            wire(&req).contains("HOST: www.cnie.ma\r\n"),
            "{}",
            wire(&req)
        );
        edit_request(&mut req, 0, |_| ());
        let written = wire(&req);
        assert!(!req.has_case());
        // Pingora title-cases the framing headers itself; the rest are lower case.
        assert!(written.contains("Host: www.cnie.ma\r\n"), "{written}");
        assert!(written.contains("x-custom: kept\r\n"), "{written}");
        assert!(written.contains("accept: text/html\r\n"), "{written}");
    }

    #[test]
    fn an_edited_request_keeps_its_http2_end_of_stream_flag() {
        let mut req = RequestHeader::build(Method::GET, b"/", None).unwrap();
        req.set_version(http::Version::HTTP_2);
        req.set_send_end_stream(false);
        edit_request(&mut req, 0, |_| ());
        assert_eq!(req.send_end_stream(), Some(false));
    }

    #[test]
    fn an_edited_answer_keeps_its_status_headers_and_a_custom_reason() {
        let mut resp = ResponseHeader::build(StatusCode::NOT_FOUND, None).unwrap();
        resp.append_header("Set-Cookie", "a=1").unwrap();
        resp.append_header("Set-Cookie", "b=2").unwrap();
        resp.append_header("X-Powered-By", "ASP.NET").unwrap();
        resp.set_reason_phrase(Some("Nicht Gefunden")).unwrap();
        edit_response(&mut resp, 1, |headers| {
            headers.remove("x-powered-by");
            headers.insert("x-cache-status", HeaderValue::from_static("BYPASS"));
        });
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(resp.get_reason_phrase(), Some("Nicht Gefunden"));
        let cookies: Vec<_> = resp.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(resp.headers.get("x-powered-by").is_none());
        assert_eq!(resp.headers["x-cache-status"], "BYPASS");
    }

    #[test]
    fn an_edited_answer_with_the_usual_reason_keeps_it_and_loses_the_case_map() {
        let mut resp = ResponseHeader::build(StatusCode::OK, None).unwrap();
        resp.append_header("X-Legacy", "1").unwrap();
        assert!(resp.has_case());
        edit_response(&mut resp, 0, |_| ());
        assert_eq!(resp.get_reason_phrase(), Some("OK"));
        assert!(!resp.has_case());
        assert_eq!(resp.headers["x-legacy"], "1");
    }
}
