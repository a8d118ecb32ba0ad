//! Compression toward citizens (gzip, brotli or zstd, whichever the client accepts):
//! pingora's compression module, turned on by a request and, for a small answer, off again.
//!
//! - **On** for a proxied request whose client accepts an encoding (every browser does):
//!   legacy sites rarely compress, and pages the adapters rewrite are asked for uncompressed.
//! - **Off again** for an answer compression would break ([`must_stay_as_sent`]: events,
//!   ranges, `no-transform`), and for one whose `Content-Length` says it is under [`MIN_BYTES`], as
//!   Traefik (`minResponseBodyBytes`, 1024) and CloudFront (1,000 bytes) do: such an answer
//!   and its headers fit in one packet either way, so compressing it saves the citizen no
//!   round trip, costs the gateway a compressor per request (measured: 39 % fewer answers a
//!   second for 1 KB objects) and turns a known length into chunked encoding. Its bytes are
//!   then the same whatever the client accepts, so it carries no `Vary: Accept-Encoding`.

use http::header::ACCEPT_ENCODING;
use pingora::http::ResponseHeader;
use pingora::modules::http::compression::ResponseCompression;
use pingora::protocols::http::compression::ResponseCompressionCtx;
use pingora::proxy::Session;

/// The compression level (gzip/brotli/zstd) toward clients.
pub const LEVEL: u32 = 5;

/// Answers whose `Content-Length` is below this go uncompressed.
pub const MIN_BYTES: u64 = 1024;

/// After routing, for a request going to a backend: compression on if the encoding
/// pingora's module would choose is one the client accepts.
pub fn offer(session: &mut Session) {
    let accepted = session.req_header().headers.get(ACCEPT_ENCODING);
    if accepted.is_some_and(|v| first_known_coding_is_accepted(v.as_bytes())) {
        set_level(session, LEVEL);
    }
}

/// The codings pingora's compression module knows; it compresses with the first of them
/// that `Accept-Encoding` lists, whatever its q-value.
const KNOWN_CODINGS: [&[u8]; 5] = [b"gzip", b"br", b"zstd", b"dcb", b"dcz"];

/// Whether the coding pingora would compress with (the first known one listed) is
/// acceptable to the client. It is not when its q-value is 0: `gzip;q=0` is a refusal
/// (RFC 9110, 12.4.2), which pingora ignores, so such a client gets the answer uncompressed,
/// always acceptable. A value naming no known coding (`identity`, what Python's
/// `http.client` sends) can never be compressed, so it need not cost a compressor context
/// and pingora's header parse.
fn first_known_coding_is_accepted(value: &[u8]) -> bool {
    for item in value.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let coding = parts.next().unwrap_or_default().trim_ascii();
        if !KNOWN_CODINGS.iter().any(|k| coding.eq_ignore_ascii_case(k)) {
            continue;
        }
        return !parts.any(|param| {
            let param = param.trim_ascii();
            param.len() > 2
                && param[..2].eq_ignore_ascii_case(b"q=")
                && is_zero_qvalue(param[2..].trim_ascii())
        });
    }
    false
}

/// `0`, `0.`, `0.0`, `0.000`: a weight of zero (`qvalue` of RFC 9110, 12.4.2).
fn is_zero_qvalue(v: &[u8]) -> bool {
    v.first() == Some(&b'0') && v.iter().all(|&b| b == b'0' || b == b'.')
}

/// On the answer's header, before it is written: compression off for an answer it would
/// not help ([`is_small`], or not of a type it shrinks: [`compressible`]) or would harm
/// ([`must_stay_as_sent`]).
pub fn decline_where_unfit(session: &mut Session, answer: &ResponseHeader) {
    let Some(c) = session
        .downstream_modules_ctx
        .get_mut::<ResponseCompression>()
    else {
        return;
    };
    // Most answers go to clients that asked for none: nothing to look at then.
    if !c.is_enabled() {
        return;
    }
    let media = media_type(answer);
    if is_small(answer) || must_stay_as_sent(answer, media) || !compressible(media) {
        adjust(c, 0);
    }
}

/// The answer's media type (`text/html` of `text/html; charset=utf-8`), as sent.
fn media_type(answer: &ResponseHeader) -> Option<&[u8]> {
    answer
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.as_bytes().split(|&b| b == b';').next())
        .map(<[u8]>::trim_ascii)
}

/// Whether the answer's type is one compression shrinks: text, JSON, XML, scripts, SVG,
/// fonts and icons. A PDF, an image, an archive or an office document is compressed
/// already: gzipping a 3 MB PDF made it larger and took its length, so a certificate's
/// download showed no size or progress (found when tried). An answer of no declared type
/// may be anything, and stays as sent (nginx compresses only the types it is told).
fn compressible(media: Option<&[u8]>) -> bool {
    let Some(media) = media else {
        return false;
    };
    let is = |t: &str| media.eq_ignore_ascii_case(t.as_bytes());
    let ends = |suffix: &str| {
        media.len() > suffix.len()
            && media[media.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    let starts = |prefix: &str| {
        media.len() > prefix.len() && media[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    starts("text/")
        || ends("+json")
        || ends("+xml")
        || [
            "application/json",
            "application/javascript",
            "application/x-javascript",
            "application/ecmascript",
            "application/xml",
            "application/wasm",
            "image/svg+xml",
            "image/x-icon",
            "image/vnd.microsoft.icon",
            "image/bmp",
            "font/ttf",
            "font/otf",
            "application/vnd.ms-fontobject",
        ]
        .into_iter()
        .any(is)
}

/// Answers compression would break:
/// - server-sent events (`text/event-stream`): the compressor holds each small event until
///   it has a block's worth, so a browser's `EventSource` saw none (found when tried; Traefik
///   leaves this type alone by default);
/// - a `206`: its `Content-Range` counts the uncompressed bytes (nginx compresses only 200,
///   403 and 404);
/// - `Cache-Control: no-transform`, which a proxy must honour (RFC 9110 §7.7).
fn must_stay_as_sent(answer: &ResponseHeader, media: Option<&[u8]>) -> bool {
    if answer.status == http::StatusCode::PARTIAL_CONTENT {
        return true;
    }
    let event_stream = media.is_some_and(|t| t.eq_ignore_ascii_case(b"text/event-stream"));
    event_stream
        || answer
            .headers
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-transform"))
}

fn is_small(answer: &ResponseHeader) -> bool {
    crate::content_length::declared(&answer.headers).is_some_and(|length| length < MIN_BYTES)
}

fn set_level(session: &mut Session, level: u32) {
    if let Some(c) = session
        .downstream_modules_ctx
        .get_mut::<ResponseCompression>()
    {
        adjust(c, level);
    }
}

/// Once the module has seen a final answer's header it has chosen, and its level can no
/// longer change (pingora panics); an interim 1xx leaves it choosing.
fn adjust(c: &mut ResponseCompressionCtx, level: u32) {
    if c.is_header_phase() && (level != 0 || c.is_enabled()) {
        c.adjust_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::CONTENT_LENGTH;

    fn answer(length: Option<&str>) -> ResponseHeader {
        let mut r = ResponseHeader::build(200, None).unwrap();
        if let Some(l) = length {
            r.insert_header(CONTENT_LENGTH, l).unwrap();
        }
        r
    }

    #[test]
    fn a_client_accepting_no_known_coding_is_offered_no_compression() {
        for value in [
            "identity",
            " Identity ",
            "identity;q=1",
            "",
            " , ",
            "deflate",
            "*",
        ] {
            assert!(
                !first_known_coding_is_accepted(value.as_bytes()),
                "{value:?}"
            );
        }
        for value in [
            "gzip",
            "gzip, deflate, br, zstd",
            "identity, br;q=0.5",
            "deflate, ZSTD",
        ] {
            assert!(
                first_known_coding_is_accepted(value.as_bytes()),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_coding_refused_with_q_0_is_never_the_one_compressed_with() {
        // pingora would compress with the first known coding listed: these refuse it.
        for value in [
            "gzip;q=0",
            "GZIP; Q=0.000",
            "gzip;q=0., br",
            "deflate, br ;q=0 , gzip",
        ] {
            assert!(
                !first_known_coding_is_accepted(value.as_bytes()),
                "{value:?}"
            );
        }
        for value in [
            "gzip;q=0.001",
            "br;q=1, gzip;q=0",
            "gzip;level=0",
            "gzip;q=1.0",
        ] {
            assert!(
                first_known_coding_is_accepted(value.as_bytes()),
                "{value:?}"
            );
        }
    }

    #[test]
    fn only_an_answer_known_to_be_under_the_minimum_is_small() {
        assert!(is_small(&answer(Some("0"))));
        assert!(is_small(&answer(Some("1023"))));
        assert!(!is_small(&answer(Some("1024"))));
        assert!(!is_small(&answer(Some("5000000"))));
        // Unknown (chunked, streamed, rewritten) or unreadable lengths are not small (what
        // is readable: `crate::content_length`).
        assert!(!is_small(&answer(None)));
        // A repeated length is the length pingora frames the body by.
        assert!(is_small(&answer(Some("12, 12"))));
        assert!(!is_small(&answer(Some("12, 13"))));
    }

    #[test]
    fn text_is_compressed_and_what_is_compressed_already_or_untyped_is_not() {
        let typed = |t: Option<&str>| {
            let mut r = answer(Some("50000"));
            if let Some(t) = t {
                r.insert_header(http::header::CONTENT_TYPE, t).unwrap();
            }
            compressible(media_type(&r))
        };
        for t in [
            "text/html; charset=utf-8",
            "Text/CSS",
            "application/json",
            "application/vnd.api+json",
            "application/soap+xml; charset=utf-8",
            "image/svg+xml",
            "application/javascript",
        ] {
            assert!(typed(Some(t)), "{t}");
        }
        for t in [
            "application/pdf",
            "image/png",
            "image/jpeg",
            "application/zip",
            "application/octet-stream",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "video/mp4",
        ] {
            assert!(!typed(Some(t)), "{t}");
        }
        assert!(!typed(None), "an untyped answer may be anything");
    }

    #[test]
    fn events_ranges_and_no_transform_answers_stay_as_the_site_sent_them() {
        let with = |status: u16, name: http::HeaderName, value: &str| {
            let mut r = ResponseHeader::build(status, None).unwrap();
            r.insert_header(name, value).unwrap();
            must_stay_as_sent(&r, media_type(&r))
        };
        use http::header::{CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE};
        assert!(with(200, CONTENT_TYPE, "text/event-stream"));
        assert!(with(200, CONTENT_TYPE, "Text/Event-Stream; charset=utf-8"));
        assert!(with(206, CONTENT_RANGE, "bytes 0-5000/12113"));
        assert!(with(200, CACHE_CONTROL, "public, No-Transform"));
        assert!(!with(200, CONTENT_TYPE, "text/html"));
        assert!(!with(200, CACHE_CONTROL, "no-store, max-age=0"));
    }

    #[test]
    fn once_the_compressor_has_chosen_a_late_change_is_ignored_not_a_panic() {
        let mut c = ResponseCompressionCtx::new(LEVEL, false, false);
        let mut req = pingora::http::RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header(ACCEPT_ENCODING, "gzip").unwrap();
        c.request_filter(&req);
        let mut big = answer(Some("5000"));
        big.insert_header(http::header::CONTENT_TYPE, "text/html")
            .unwrap();
        c.response_header_filter(&mut big, false);
        assert!(
            !c.is_header_phase() && c.is_enabled(),
            "it chose to compress"
        );
        adjust(&mut c, 0);
        assert!(c.is_enabled(), "the choice made stands");
    }

    #[test]
    fn before_the_answer_a_small_one_turns_the_compressor_off() {
        let mut c = ResponseCompressionCtx::new(LEVEL, false, false);
        adjust(&mut c, 0);
        assert!(!c.is_enabled());
        // Off stays off: nothing to turn off twice.
        adjust(&mut c, 0);
        assert!(c.is_header_phase() && !c.is_enabled());
    }
}
