//! The request the legacy site receives: its path under the backend base, its own `Host`,
//! the gateway's `X-Forwarded-*`, `X-Request-Id` and `traceparent`, the citizen's identity
//! (and nothing forged), and the service's adapter request chain (header rules, then the
//! service account's credentials, which nothing may override).
//!
//! Two paths call a legacy site: the proxy ([`prepare`], on pingora's request header) and
//! the SOAP facade (a request of its own). Both get their headers from [`forward`], so a
//! backend cannot tell them apart by what it learns about the citizen.

use crate::chain::edit_request;
use crate::forwarded::Client;
use crate::registry::Service;
use crate::request_id::{self, RequestId};
use crate::sso::session::Session as SsoSession;
use crate::sso::Sso;
use crate::telemetry::TraceHeaders;
use egov_adapters::headers::{remove_unusual_names, HeaderEdit, HeaderSet};
use http::header::{ACCEPT_ENCODING, HOST, IF_RANGE, RANGE};
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use std::sync::LazyLock;

static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// `traceparent`, `tracestate` and W3C `baggage`. The gateway sets the first two itself; a
/// client's baggage (`enduser.id=admin`) would be taken into an instrumented site's context
/// and logs, and passed on to its own backends, so it goes like the rest. So do the other
/// tracing systems' headers, which the gateway never sets: found in an observability probe,
/// a citizen's `X-B3-TraceId` and `uber-trace-id` reached the sites as sent, and a site
/// traced with Zipkin or Jaeger joined the trace the citizen chose (B3 single and multi,
/// Jaeger's context, debug id and baggage, OpenTracing's, Datadog's, AWS X-Ray's, Google
/// Cloud's, SkyWalking's, .NET's `Request-Id`, Sentry's, Elastic APM's, New Relic's,
/// Instana's, Dynatrace's; a bypass probe found the first list short).
static TRACE_CONTEXT: LazyLock<HeaderSet> = LazyLock::new(|| {
    let other_systems = [
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-b3-flags",
        "uber-trace-id",
        "jaeger-debug-id",
        "jaeger-baggage",
        "x-ot-span-context",
        "x-amzn-trace-id",
        "x-cloud-trace-context",
        "grpc-trace-bin",
        "sw3",
        "sw6",
        "sw8",
        "sw8-correlation",
        "sw8-x",
        "request-id",
        "sentry-trace",
        "elastic-apm-traceparent",
        "newrelic",
        "x-dynatrace",
    ]
    .map(HeaderName::from_static);
    [
        TRACEPARENT.clone(),
        TRACESTATE.clone(),
        HeaderName::from_static("baggage"),
        HeaderName::from_static("correlation-context"),
    ]
    .into_iter()
    .chain(other_systems)
    .collect::<HeaderSet>()
    // Jaeger's and OpenTracing's baggage, a header per item, and the systems that spell
    // their context over several headers.
    .with_prefixes(&[
        "uberctx-",
        "ot-baggage-",
        "ot-tracer-",
        "x-datadog-",
        "x-newrelic-",
        "x-instana-",
    ])
});

/// What every call to a legacy site says about the citizen's request.
pub struct Hop<'a> {
    pub service: &'a Service,
    /// The host the citizen asked for (for `X-Forwarded-Host`); see
    /// [`crate::host::citizen_host`].
    pub citizen_host: Option<HeaderValue>,
    pub client: Option<&'a Client>,
    pub request_id: &'a RequestId,
    pub session: Option<&'a SsoSession>,
    /// The session's legacy-cookie binding (which of the citizen's cookies go).
    pub cookie_binding: Option<&'a egov_adapters::cookies::CookieBinding>,
    /// `traceparent`/`tracestate` for this hop.
    pub trace_headers: TraceHeaders,
}

/// Builds the proxied request in place: `uri` (path and query on the backend), then the
/// proxy-only steps, then [`forward`], on the request's `http` parts (pingora's copy of the
/// client's header-name case is dropped: see [`crate::chain::edit_request`]). Returns
/// whether the citizen's byte ranges were forwarded ([`forwards_ranges`]).
pub fn prepare(sso: &Sso, req: &mut RequestHeader, uri: &http::Uri, hop: &Hop<'_>) -> bool {
    let ranges = forwards_ranges(hop.service, uri.path(), &req.headers);
    edit_request(req, ADDED_HEADERS, |parts| {
        parts.uri = uri.clone();
        let headers = &mut parts.headers;
        crate::content_length::canonicalise(headers);
        if hop.service.chain.rewrites_bodies() {
            // The adapters read bodies as the legacy site wrote them; compression toward
            // the citizen is the gateway's.
            headers.set(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        }
        if !ranges {
            headers.remove(&RANGE);
            headers.remove(&IF_RANGE);
        }
        forward(sso, headers, hop);
    });
    ranges
}

/// Whether a byte range the citizen asks of `path` goes to the legacy site. Not where the
/// answer may be a page the service rewrites: a legacy site honouring the range would
/// answer a slice of it in its old charset with its old links, which cannot be rewritten
/// (a 200 is always a valid answer to a range request). But a file named as a document,
/// an archive, an image or a recording is never rewritten, and a citizen's interrupted
/// download of a 30 MB certificate must be able to resume (found when tried: no range
/// ever reached a site, since every service rewrites its pages). Where ranges are not
/// forwarded, answers do not offer them (`Accept-Ranges` is removed). The name is the
/// path's: a site that answers `/index.php/x.pdf` with a slice of a page sends that slice
/// as it is (its headers still guarded), as the citizen asked for a range of a file.
///
/// A range that comes with `If-Range` is a download being resumed (browsers and download
/// managers send it, with the validator of what they hold; nothing asks for a page so) and
/// goes to the site whatever the path: found when tried, a 40 MB PDF from
/// `/Download.ashx?id=guide` started again from zero after each cut, 14 minutes a try at
/// 400 kbit/s. Should a site answer it with a slice of a page, the slice is refused
/// ([`crate::chain::AdapterChain::refuse_page_slice`]).
pub fn forwards_ranges(service: &Service, path: &str, headers: &http::HeaderMap) -> bool {
    !service.chain.rewrites_bodies()
        || named_as_a_file_kept_whole(path)
        || headers.contains_key(&IF_RANGE)
}

/// Whether the last segment of `path` ends in the extension of a type the adapters never
/// rewrite.
fn named_as_a_file_kept_whole(path: &str) -> bool {
    const KEPT_WHOLE: [&str; 22] = [
        "pdf", "zip", "rar", "7z", "gz", "png", "jpg", "jpeg", "gif", "webp", "tif", "tiff", "mp3",
        "mp4", "webm", "doc", "docx", "xls", "xlsx", "odt", "ods", "p7s",
    ];
    let segment = path.rsplit('/').next().unwrap_or_default();
    // `report.pdf;jsessionid=...`: a Java site's path parameter is not the name's.
    let name = segment.split(';').next().unwrap_or_default();
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| KEPT_WHOLE.iter().any(|k| ext.eq_ignore_ascii_case(k)))
}

/// How many headers [`forward`] may add to a request: the forwarding headers, the request
/// id, the trace context and a few of identity or the service's rules; room for them is
/// made once.
pub const ADDED_HEADERS: usize = 10;

/// The header steps common to every call to a legacy site, in order: what no client may
/// send removed (forged identity, portal cookies, trace context), its own `Host`,
/// `X-Forwarded-*`, `X-Request-Id`, trace context, the citizen's identity, then the
/// service's request chain (header rules, then credentials, which nothing may override).
pub fn forward(sso: &Sso, headers: &mut http::HeaderMap, hop: &Hop<'_>) {
    // What no client may send goes first, while only the client's headers are there to
    // look through: names a legacy stack would read as another's, then trace context,
    // which is the gateway's to set (an untrusted client's was not followed).
    remove_unusual_names(headers);
    headers.remove_any(&TRACE_CONTEXT);
    crate::sso::upstream::strip_client_identity(sso, hop.service, hop.cookie_binding, headers);
    headers.set(HOST, hop.service.upstream.host_header.clone());
    super::same_origin::to_legacy(headers, hop.service, hop.citizen_host.as_ref());
    if let Some(client) = hop.client {
        client.apply(headers, hop.citizen_host.as_ref());
    }
    headers.set(
        request_id::HEADER.clone(),
        hop.request_id.header_value().clone(),
    );
    if let Some(v) = &hop.trace_headers.traceparent {
        headers.set(TRACEPARENT.clone(), v.clone());
    }
    if let Some(v) = &hop.trace_headers.tracestate {
        headers.set(TRACESTATE.clone(), v.clone());
    }
    crate::sso::upstream::present_identity(sso, hop.service, hop.session, headers);
    hop.service.chain.apply_request(headers);
}

#[cfg(test)]
mod tests {
    use super::named_as_a_file_kept_whole;

    #[test]
    fn a_path_names_a_file_kept_whole_by_its_last_segments_extension() {
        for kept in [
            "/docs/recu-2026.pdf",
            "/docs/RECU.PDF",
            "/dl/archive.zip",
            "/cert.pdf;jsessionid=ABC123",
            "/scan.jpeg",
        ] {
            assert!(named_as_a_file_kept_whole(kept), "{kept}");
        }
        for page in [
            "/",
            "/index.php",
            "/pdf",
            "/docs.pdf/page",
            "/report.pdf.html",
            "/x%2Epdf",
            "/download;file=a.pdf/",
        ] {
            assert!(!named_as_a_file_kept_whole(page), "{page}");
        }
    }
}
