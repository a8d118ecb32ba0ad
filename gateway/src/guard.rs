//! First checks on a request, before it is routed: refuse what no backend should see.
//!
//! Pingora already rejects malformed requests and conflicting `Content-Length`s. Two
//! cases it accepts we refuse, because legacy servers behind us may read them differently
//! (request smuggling) or choke on them:
//! - `Content-Length` together with `Transfer-Encoding` (pingora drops the length; an old
//!   IIS or Tomcat might not) → 400;
//! - a transfer coding other than `chunked` (pingora reads `gzip, chunked` as chunked and
//!   drops the `gzip`, so the site got a compressed body with nothing saying so; nginx
//!   refuses it too) → 400;
//! - an HTTP/1.1 request without `Host` (RFC 9112, section 3.2: it must be refused, not
//!   guessed at) → 400;
//! - a header block larger than `portal.max_header_bytes`, or more header fields than
//!   `limits.max_headers` → 431;
//! - a request target longer than `limits.max_uri_bytes` → 414;
//! - an HTTP/1 request target that does not begin with `/` (nor is in absolute form, nor
//!   `*` of an `OPTIONS`): pingora escapes
//!   the whitespace of a request line it could not parse into the target, so
//!   `GET  /s/x/ HTTP/1.1` (two spaces) became the target `%20/s/x/`, which routed to the
//!   portal's home page (found when tried: a proxy or WAF in front saw another target than
//!   the one served; RFC 9112 §3: "SHOULD NOT attempt to autocorrect"; nginx answers 400)
//!   → 400;
//! - a method outside [`ALLOWED_METHODS`] (`TRACE`/`TRACK` would make an old Apache echo
//!   the service account's injected credentials back to an anonymous caller; `CONNECT` and
//!   invented methods have no business with a legacy site) → 405 with `Allow`.
//!
//! One thing is taken out rather than refused: an upgrade to anything but a WebSocket
//! ([`only_websocket_upgrades`]).

use crate::response::ErrorKind;
use pingora::protocols::http::server::Session as ServerSession;

/// Why a request was refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Both `Content-Length` and `Transfer-Encoding`, or a transfer coding other than
    /// `chunked`.
    AmbiguousLength,
    /// An HTTP/1.1 request without `Host`, or any request with more than one `Host` line or
    /// one that is no `host[:port]` ([`crate::host::well_formed`]).
    MissingHost,
    /// The header block is over the limit.
    HeadersTooLarge,
    /// An HTTP/1 request target neither in origin form (`/...`), nor absolute, nor `*` of
    /// an `OPTIONS`.
    RequestLine,
    /// Not one of [`ALLOWED_METHODS`].
    Method,
    /// The request target is over `limits.max_uri_bytes`.
    UriTooLong,
}

/// The methods any request may use; everything else is refused before routing.
pub const ALLOWED_METHODS: [http::Method; 7] = [
    http::Method::GET,
    http::Method::HEAD,
    http::Method::POST,
    http::Method::PUT,
    http::Method::PATCH,
    http::Method::DELETE,
    http::Method::OPTIONS,
];

/// The `Allow` header of a 405 for a refused method.
pub const ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

impl Refusal {
    pub fn kind(self) -> ErrorKind {
        match self {
            Refusal::AmbiguousLength | Refusal::MissingHost | Refusal::RequestLine => {
                ErrorKind::BadRequest
            }
            Refusal::HeadersTooLarge => ErrorKind::HeadersTooLarge,
            Refusal::Method => ErrorKind::MethodNotAllowed,
            Refusal::UriTooLong => ErrorKind::UriTooLong,
        }
    }
}

/// The sizes a request may have.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_uri_bytes: usize,
}

/// Takes an HTTP/1.1 request's upgrade out unless it asks for a WebSocket and nothing else
/// (one `Upgrade` field, `websocket`): its `Upgrade` and `HTTP2-Settings` fields go, and the
/// tokens naming them in `Connection`, so the request is the plain one it also is, and its
/// answer goes through every adapter. Found when tried: `Upgrade: h2c` (what curl sends
/// for `--http2` over plain HTTP) got the site's page with no body adapter (its legacy
/// charset and links): pingora sends a site no upgrade but a WebSocket's (its upstream
/// request policy), and the site answered 200, but the citizen's side was still an upgrade
/// request, whose answer the gateway passes untouched. nginx forwards no `Upgrade` unless
/// told to, and Envoy only the upgrade types it is configured for (WebSocket).
///
/// Whether the request is still an upgrade ([`pingora::proxy::Session::is_upgrade_req`])
/// is read after this. One look-up for a request without `Upgrade`.
pub fn only_websocket_upgrades(req: &mut pingora::http::RequestHeader) {
    if !req.headers.contains_key(http::header::UPGRADE)
        || egov_adapters::headers::upgrade_is_websocket(&req.headers)
    {
        return;
    }
    req.remove_header(&http::header::UPGRADE);
    req.remove_header("http2-settings");
    let kept: Vec<String> = req
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case("upgrade")
                && !t.eq_ignore_ascii_case("http2-settings")
        })
        .map(str::to_owned)
        .collect();
    req.remove_header(&http::header::CONNECTION);
    if !kept.is_empty() {
        // Names of fields, `close`, `keep-alive`: all tokens, so the joined value is one.
        let _ = req.insert_header(http::header::CONNECTION, kept.join(", "));
    }
}

/// Checks the downstream request.
pub fn check(session: &ServerSession, sizes: Sizes) -> Result<(), Refusal> {
    let max_header_bytes = sizes.max_header_bytes;
    let req = session.req_header();
    if !ALLOWED_METHODS.contains(&req.method) {
        return Err(Refusal::Method);
    }
    let target = req.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > sizes.max_uri_bytes {
        return Err(Refusal::UriTooLong);
    }
    // HTTP/2 browsers send each cookie as a field of its own (RFC 9113, section 8.2.3):
    // they count as one (their bytes are held to the header block's size like any
    // others'). An HTTP/1 client sends one `Cookie` line, and more are counted each.
    let cookie_crumbs = if req.version == http::Version::HTTP_2 {
        req.headers.get_all(http::header::COOKIE).iter().count()
    } else {
        0
    };
    if req.headers.len() - cookie_crumbs.saturating_sub(1) > sizes.max_headers {
        return Err(Refusal::HeadersTooLarge);
    }
    // The host as routing reads it (`crate::host::request_host`): `Host`, else (HTTP/2) the
    // `:authority`; one look-up of `Host` on every request.
    let mut hosts = req.headers.get_all(http::header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err(Refusal::MissingHost),
        (Some(h), None) => Some(h.to_str().map_err(|_| Refusal::MissingHost)?),
        (None, _) => req.uri.authority().map(|a| a.as_str()),
    };
    if host.is_some_and(|h| !crate::host::well_formed(h)) {
        return Err(Refusal::MissingHost);
    }
    if let Some(h1) = session.as_http1() {
        let raw = h1.get_headers_raw_bytes();
        if raw.len() > max_header_bytes {
            return Err(Refusal::HeadersTooLarge);
        }
        if !origin_form_target(&raw, req.method == http::Method::OPTIONS) {
            return Err(Refusal::RequestLine);
        }
        if req.version == http::Version::HTTP_11 && !req.headers.contains_key(http::header::HOST) {
            return Err(Refusal::MissingHost);
        }
        // Pingora removes Content-Length when Transfer-Encoding is present, so look at
        // the bytes the client actually sent.
        if req.headers.contains_key(http::header::TRANSFER_ENCODING)
            && (has_header_line(&raw, b"content-length") || !only_chunked(&req.headers))
        {
            return Err(Refusal::AmbiguousLength);
        }
    } else {
        let size: usize = req
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>()
            + req.uri.to_string().len();
        if size > max_header_bytes {
            return Err(Refusal::HeadersTooLarge);
        }
    }
    Ok(())
}

/// Whether the request target of the raw head `raw` (after the empty lines a client may
/// send before its request line, RFC 9112 §2.2) begins with `/`, is in absolute form
/// (`http://` or `https://`, which a server must accept, RFC 9112 §3.2.2; pingora checks its
/// authority against `Host`), or is `*` of an `OPTIONS` (`options`).
fn origin_form_target(raw: &[u8], options: bool) -> bool {
    let start = raw
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(raw.len());
    let mut parts = raw[start..].splitn(3, |&b| b == b' ');
    let _method = parts.next();
    parts.next().is_some_and(|target| {
        let absolute = |scheme: &[u8]| {
            target
                .get(..scheme.len())
                .is_some_and(|t| t.eq_ignore_ascii_case(scheme))
        };
        target.first() == Some(&b'/')
            || absolute(b"http://")
            || absolute(b"https://")
            || (options && target == b"*")
    })
}

/// Whether the request names one transfer coding, `chunked`, once.
fn only_chunked(headers: &http::HeaderMap) -> bool {
    // One coding over every field line: `chunked` may not be applied twice (RFC 9112
    // §7.1), and `chunked, chunked` or two `chunked` lines were taken (found in a probe),
    // where a proxy in front might read the body otherwise.
    let mut codings = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','));
    matches!(
        (codings.next(), codings.next()),
        (Some(c), None) if c.trim_ascii().eq_ignore_ascii_case(b"chunked")
    )
}

/// Whether the raw header block has a line starting with `name:` (case-insensitive).
fn has_header_line(raw: &[u8], name: &[u8]) -> bool {
    raw.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_prefix(b"\r").unwrap_or(line);
        line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name)
            && line[name.len()..]
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t'))
                .is_some_and(|&b| b == b':')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade_request(fields: &[(&str, &str)]) -> pingora::http::RequestHeader {
        let mut req = pingora::http::RequestHeader::build("GET", b"/", None).expect("request");
        for (name, value) in fields {
            req.append_header(name.to_string(), *value).expect("field");
        }
        req
    }

    #[test]
    fn an_h2c_upgrade_is_taken_out_and_the_request_stays_a_plain_one() {
        let mut req = upgrade_request(&[
            ("Connection", "Upgrade, HTTP2-Settings, keep-alive"),
            ("Upgrade", "h2c"),
            ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"),
            ("Accept", "text/html"),
        ]);
        only_websocket_upgrades(&mut req);
        assert!(req.headers.get("upgrade").is_none());
        assert!(req.headers.get("http2-settings").is_none());
        assert_eq!(req.headers["connection"], "keep-alive");
        assert_eq!(req.headers["accept"], "text/html", "the rest is untouched");
        let mut wire = Vec::new();
        req.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8(wire).expect("text");
        assert!(
            wire.contains("Accept: text/html\r\n") && !wire.contains("pgrade"),
            "what the site is sent: {wire}"
        );
    }

    #[test]
    fn a_websocket_handshake_keeps_its_upgrade() {
        let fields = [("Connection", "Upgrade"), ("Upgrade", "WebSocket")];
        let mut req = upgrade_request(&fields);
        only_websocket_upgrades(&mut req);
        assert_eq!(req.headers["upgrade"], "WebSocket");
        assert_eq!(req.headers["connection"], "Upgrade");
    }

    #[test]
    fn any_other_or_several_upgrades_are_taken_out_with_their_connection_token() {
        for upgrade in [&["TLS/1.2"][..], &["websocket, h2c"], &["websocket", "h2c"]] {
            let mut fields = vec![("Connection", "upgrade")];
            fields.extend(upgrade.iter().map(|u| ("Upgrade", *u)));
            let mut req = upgrade_request(&fields);
            only_websocket_upgrades(&mut req);
            assert!(req.headers.get("upgrade").is_none(), "{upgrade:?}");
            assert!(req.headers.get("connection").is_none(), "{upgrade:?}");
        }
    }

    #[test]
    fn a_request_target_is_in_origin_form() {
        for good in [
            &b"GET /s/x/ HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"\r\nGET / HTTP/1.0\r\n\r\n",
        ] {
            assert!(
                origin_form_target(good, false),
                "{}",
                String::from_utf8_lossy(good)
            );
        }
        assert!(origin_form_target(b"OPTIONS * HTTP/1.1\r\n\r\n", true));
        assert!(origin_form_target(
            b"GET HTTP://a/s/x HTTP/1.1\r\n\r\n",
            false
        ));
        assert!(origin_form_target(
            b"GET https://a/ HTTP/1.1\r\n\r\n",
            false
        ));
        assert!(!origin_form_target(b"GET * HTTP/1.1\r\n\r\n", false));
        for bad in [
            // What pingora makes of `GET  /s/x/ HTTP/1.1`.
            &b"GET %20/s/x/ HTTP/1.1\r\n\r\n"[..],
            b"GET s/x HTTP/1.1\r\n\r\n",
            b"GET httpx://a/s/x HTTP/1.1\r\n\r\n",
            b"GET",
        ] {
            assert!(
                !origin_form_target(bad, true),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn only_chunked_is_a_transfer_coding_taken() {
        for (value, taken) in [
            ("chunked", true),
            ("Chunked", true),
            ("gzip, chunked", false),
            ("identity, chunked", false),
            (",chunked", false),
            ("chunked, chunked", false),
            ("chunked,", false),
        ] {
            let mut h = http::HeaderMap::new();
            h.insert(
                http::header::TRANSFER_ENCODING,
                http::HeaderValue::from_static(value),
            );
            assert_eq!(only_chunked(&h), taken, "{value}");
        }
        let mut two = http::HeaderMap::new();
        for _ in 0..2 {
            two.append(
                http::header::TRANSFER_ENCODING,
                http::HeaderValue::from_static("chunked"),
            );
        }
        assert!(!only_chunked(&two), "two chunked lines");
    }

    #[test]
    fn finds_content_length_lines_in_any_case() {
        let raw = b"POST / HTTP/1.1\r\nHost: x\r\nCONTENT-LENGTH: 4\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(has_header_line(raw, b"content-length"));
        let raw = b"POST / HTTP/1.1\r\nX-Content-Length: 4\r\n\r\n";
        assert!(!has_header_line(raw, b"content-length"));
    }
}
