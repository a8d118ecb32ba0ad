//! Byte ranges on the sites' pages, as the Apache of the era served them: every page says
//! `Accept-Ranges: bytes`, and one `bytes=a-b`, `bytes=a-` or `bytes=-n` range is answered
//! with a `206` slice of the page in its legacy encoding.
//!
//! That is exactly what a gateway must not pass on for a page it rewrites (the slice is in
//! the old charset, with the old links, and cannot be rewritten on its own), so the estate
//! needs to do it for a test to see whether the gateway forwards `Range`.
//!
//! Anything else is answered with the whole page, as RFC 9110 allows: several ranges, a
//! malformed header, or an `If-Range` (the pages carry no validator it could match).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use crate::respond;

/// The headers of `request` that decide on a range (so the request itself can be consumed).
pub(crate) fn request_of(request: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in [header::RANGE, header::IF_RANGE] {
        if let Some(v) = request.get(&name) {
            out.insert(name, v.clone());
        }
    }
    out
}

/// The page `body` (already encoded) with `content_type`, sliced if `request` asks for a
/// range of it.
pub(crate) fn page(
    status: StatusCode,
    content_type: &str,
    body: Bytes,
    request: &HeaderMap,
) -> Response {
    let range = (status == StatusCode::OK && !request.contains_key(header::IF_RANGE))
        .then(|| request.get(header::RANGE))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse(v, body.len()));
    let mut response = match range {
        None => respond::with_body(status, content_type, body),
        Some(Slice::Unsatisfiable) => {
            let mut r = respond::with_body(StatusCode::RANGE_NOT_SATISFIABLE, content_type, "");
            insert(
                &mut r,
                header::CONTENT_RANGE,
                &format!("bytes */{}", body.len()),
            );
            r
        }
        Some(Slice::Bytes { first, last }) => {
            let total = body.len();
            let mut r = respond::with_body(
                StatusCode::PARTIAL_CONTENT,
                content_type,
                body.slice(first..=last),
            );
            insert(
                &mut r,
                header::CONTENT_RANGE,
                &format!("bytes {first}-{last}/{total}"),
            );
            r
        }
    };
    if status == StatusCode::OK {
        insert(&mut response, header::ACCEPT_RANGES, "bytes");
    }
    response
}

fn insert(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

/// One range of a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Slice {
    /// Inclusive byte positions.
    Bytes {
        first: usize,
        last: usize,
    },
    Unsatisfiable,
}

/// A single byte range; `None` for anything this server ignores (the whole page is sent).
fn parse(value: &str, len: usize) -> Option<Slice> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let slice = if first.is_empty() {
        // The last `n` bytes.
        let n: usize = last.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Slice::Unsatisfiable);
        }
        Slice::Bytes {
            first: len.saturating_sub(n),
            last: len - 1,
        }
    } else {
        let first: usize = first.parse().ok()?;
        let last: usize = if last.is_empty() {
            usize::MAX
        } else {
            last.parse().ok()?
        };
        if last < first {
            return None;
        }
        if first >= len {
            return Some(Slice::Unsatisfiable);
        }
        Slice::Bytes {
            first,
            last: last.min(len - 1),
        }
    };
    Some(slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_understood_in_their_three_forms() {
        assert_eq!(
            parse("bytes=0-99", 1000),
            Some(Slice::Bytes { first: 0, last: 99 })
        );
        assert_eq!(
            parse("bytes=990-", 1000),
            Some(Slice::Bytes {
                first: 990,
                last: 999
            })
        );
        assert_eq!(
            parse("bytes=-10", 1000),
            Some(Slice::Bytes {
                first: 990,
                last: 999
            })
        );
        assert_eq!(
            parse("bytes=0-5000", 1000),
            Some(Slice::Bytes {
                first: 0,
                last: 999
            })
        );
    }

    #[test]
    fn a_range_past_the_end_is_unsatisfiable_and_odd_ones_are_ignored() {
        assert_eq!(parse("bytes=1000-", 1000), Some(Slice::Unsatisfiable));
        assert_eq!(parse("bytes=0-1,5-9", 1000), None);
        assert_eq!(parse("items=0-1", 1000), None);
        assert_eq!(parse("bytes=9-1", 1000), None);
    }
}
