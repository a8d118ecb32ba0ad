//! Turning generated content into HTTP responses: HTML encoded in the site's
//! charset with the matching `Content-Type`, JSON for the instruments, plain
//! text for the estate's own messages. Kept apart so no page has to know how
//! its bytes are produced.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use crate::charset::Charset;
use crate::sites::Site;

/// A response with `status`, a `Content-Type` and a body.
pub(crate) fn with_body(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// An HTML page of `site`, encoded in its charset.
pub(crate) fn html(site: &Site, status: StatusCode, page: &str) -> Response {
    let charset = Charset::of(site);
    with_body(status, charset.html_content_type(), charset.encode(page))
}

/// A JSON document.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    with_body(status, "application/json", Bytes::from(body))
}

/// A plain-text message.
pub(crate) fn text(status: StatusCode, message: impl Into<String>) -> Response {
    with_body(status, "text/plain; charset=utf-8", message.into())
}

/// A redirect to `location`, exactly as written (absolute or not).
pub(crate) fn redirect(status: StatusCode, location: &str) -> Response {
    let mut response = with_body(
        status,
        "text/html; charset=iso-8859-1",
        format!(
            "<html><head><title>302 Found</title></head><body><h1>Found</h1>\
             <p>The document has moved <a href=\"{0}\">here</a>.</p></body></html>",
            crate::html::escape(location)
        ),
    );
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Adds a header, silently skipping values that are not valid header bytes.
pub(crate) fn add_header(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
        response.headers_mut().append(name, value);
    }
}
