//! The request the legacy site receives: its path under the backend base, its own `Host`,
//! the gateway's `X-Forwarded-*`, `X-Request-Id` and `traceparent`, the citizen's identity
//! (and nothing forged), and the service's adapter request chain (header rules, then the
//! service account's credentials, which nothing may override).

use crate::chain::RequestHeaders;
use crate::forwarded::Client;
use crate::registry::Service;
use crate::request_id::RequestId;
use crate::sso::session::Session as SsoSession;
use crate::sso::Sso;
use egov_adapters::headers::HeaderEdit;
use http::header::{ACCEPT_ENCODING, HOST};
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// What the upstream request is built from.
pub struct Prepare<'a> {
    pub service: &'a Service,
    /// Path and query on the backend.
    pub uri: &'a str,
    /// The `Host` the citizen asked for (for `X-Forwarded-Host`).
    pub citizen_host: Option<HeaderValue>,
    pub client: Option<&'a Client>,
    pub request_id: &'a RequestId,
    pub session: Option<&'a SsoSession>,
    /// `traceparent`/`tracestate` for this hop.
    pub trace_headers: http::HeaderMap,
}

/// Builds the upstream request in place.
pub fn prepare(sso: &Sso, req: &mut RequestHeader, p: Prepare<'_>) -> pingora::Result<()> {
    let uri = p.uri.parse::<http::Uri>().map_err(|_| {
        pingora::Error::explain(
            pingora::ErrorType::InternalError,
            "unbuildable upstream URI",
        )
    })?;
    req.set_uri(uri);
    let mut headers = RequestHeaders(req);
    headers.set(HOST, p.service.upstream.host_header.clone());
    if let Some(client) = p.client {
        client.apply(&mut headers, p.citizen_host.as_ref());
    }
    headers.set(X_REQUEST_ID.clone(), p.request_id.header_value().clone());
    // Trace context is the gateway's to set (an untrusted client's was not followed).
    headers.remove(&TRACEPARENT);
    headers.remove(&TRACESTATE);
    for (name, value) in &p.trace_headers {
        headers.set(name.clone(), value.clone());
    }
    crate::sso::upstream::present_identity(sso, p.service, p.session, &mut headers);
    if p.service.chain.rewrites_bodies() {
        // The adapters read bodies as the legacy site wrote them; compression toward the
        // citizen is the gateway's.
        headers.set(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    }
    p.service.chain.apply_request(&mut headers);
    Ok(())
}
