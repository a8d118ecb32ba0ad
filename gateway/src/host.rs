//! The host a request names, read one way everywhere: `Host` (HTTP/1) or the URI authority
//! (HTTP/2), and its normalised form (lowercase, no port, no trailing dot) that routing and
//! origin checks compare.

use http::header::HOST;
use http::HeaderValue;
use pingora::http::RequestHeader;
use std::borrow::Cow;

/// The host the citizen asked for: `Host` (HTTP/1) or the URI authority (HTTP/2).
pub fn request_host(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
}

/// [`request_host`] as a header value, for `X-Forwarded-Host`.
pub fn citizen_host(req: &RequestHeader) -> Option<HeaderValue> {
    request_host(req).and_then(|h| HeaderValue::from_str(h).ok())
}

/// Lowercase host without port or trailing dot.
pub fn normalize(host: &str) -> Cow<'_, str> {
    let h = if host.starts_with('[') {
        // IPv6 literal: keep the brackets' content.
        host.split(']')
            .next()
            .map_or(host, |s| s.trim_start_matches('['))
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_port_case_and_trailing_dot() {
        assert_eq!(normalize("WWW.Cnie.ma:80"), "www.cnie.ma");
        assert_eq!(normalize("www.cnie.ma."), "www.cnie.ma");
        assert_eq!(normalize("[::1]:8080"), "::1");
        assert_eq!(normalize("127.0.0.1"), "127.0.0.1");
    }
}
