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

/// [`request_host`] as a header value, for `X-Forwarded-Host`: only a well-formed
/// `host[:port]` (routing has already refused hosts the gateway does not serve; this keeps
/// a junk port such as `portal.gov.ma:@evil` out of legacy sites' absolute links).
pub fn citizen_host(req: &RequestHeader) -> Option<HeaderValue> {
    // Read as request_host reads it, looking `Host` up once.
    if let Some(value) = req.headers.get(HOST) {
        if let Ok(host) = value.to_str() {
            // The client's own `Host`, shared rather than copied (every HTTP/1 request).
            return well_formed(host).then(|| value.clone());
        }
    }
    let host = req.uri.authority()?.as_str();
    well_formed(host)
        .then(|| HeaderValue::from_str(host).ok())
        .flatten()
}

/// A host name (letters, digits, `.`, `-`, `_`, `~`) or a bracketed IPv6 literal, with at
/// most a port of digits no greater than 65535: what a `Host` field may hold (RFC 9110
/// §7.2), and what the guard refuses anything else with 400 for (RFC 9112 §3.2: found when
/// tried, `Host: 127.0.0.1:8080 evil.com`, a port of 65536 or of -1 were served).
pub fn well_formed(host: &str) -> bool {
    let (name, port, ipv6) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, "")) => (ip, "", true),
            Some((ip, port)) => match port.strip_prefix(':') {
                Some(port) => (ip, port, true),
                None => return false,
            },
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, port, false),
            None => (host, "", false),
        }
    };
    let name_ok = if ipv6 {
        name.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        name.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~'))
    };
    !name.is_empty()
        && name_ok
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().map_or(port.is_empty(), |p| p <= 65_535)
}

/// The path (and query, without a fragment) of the request's `Referer` when it is a page of
/// this same host: where a citizen came from, to send her back there (the page a form was
/// on, the page she switched language from). `None` for another host or no `Referer`.
pub fn referer_path_on_this_host(req: &RequestHeader) -> Option<&str> {
    let host = request_host(req)?;
    let referer = req.headers.get(http::header::REFERER)?.to_str().ok()?;
    let rest = referer
        .strip_prefix("https://")
        .or_else(|| referer.strip_prefix("http://"))?;
    let (authority, path) = rest.split_at(rest.find('/')?);
    (authority == host).then(|| path.split('#').next().unwrap_or(path))
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

    #[test]
    fn only_a_host_with_a_numeric_port_is_forwarded() {
        assert!(well_formed("portail.gov.ma"));
        assert!(well_formed("portail.gov.ma:8443"));
        assert!(well_formed("[::1]:8080"));
        assert!(!well_formed("portail.gov.ma:@evil.example"));
        assert!(!well_formed("portail.gov.ma/evil"));
        assert!(!well_formed("evil.example\\@portail.gov.ma"));
        assert!(!well_formed(""));
    }

    #[test]
    fn x_forwarded_host_is_the_clients_host_or_the_http2_authority_when_well_formed() {
        let mut http1 = RequestHeader::build("GET", b"/", None).unwrap();
        http1.insert_header(HOST, "portail.gov.ma:8443").unwrap();
        assert_eq!(citizen_host(&http1).unwrap(), "portail.gov.ma:8443");

        let mut http2 = RequestHeader::build("GET", b"/s/x", None).unwrap();
        http2.set_uri(http::Uri::from_static("https://portail.gov.ma/s/x"));
        assert_eq!(citizen_host(&http2).unwrap(), "portail.gov.ma");

        let mut junk = RequestHeader::build("GET", b"/", None).unwrap();
        junk.insert_header(HOST, "portail.gov.ma:@evil.example")
            .unwrap();
        assert_eq!(citizen_host(&junk), None);

        // A `Host` that is not text is read past, as request_host reads past it.
        let mut opaque = RequestHeader::build("GET", b"/s/x", None).unwrap();
        opaque.set_uri(http::Uri::from_static("https://portail.gov.ma/s/x"));
        opaque
            .insert_header(HOST, HeaderValue::from_bytes(b"caf\xc3\xa9.ma").unwrap())
            .unwrap();
        assert_eq!(request_host(&opaque), Some("portail.gov.ma"));
        assert_eq!(citizen_host(&opaque).unwrap(), "portail.gov.ma");
    }
}
