//! The JSON facade over legacy SOAP services: `POST /s/<id>/api/soap/<Operation>` with a JSON
//! object, answered with JSON, so a modern client (the portal's pages, a mobile app) can call
//! a 2008-era web service without speaking SOAP.
//!
//! The translation is the `egov-adapters` SOAP module's; this handler adds what only the
//! gateway can: the service's backend, timeouts, and the same forwarding, trace, identity
//! and credential headers as a proxied request ([`upstream::forward`]), and precise errors
//! (400 for bad JSON or a client fault, 502 for a server fault or a broken backend, 504 for a
//! slow one). What went wrong on the gateway's side is logged with the request id, never
//! told to the client (it would name internal backends).

use crate::portal::LocalResponse;
use crate::request_body::BodyError;
use crate::sso::Sso;
use crate::upstream::{self, Hop};
use egov_adapters::soap::{
    envelope_to_json_with_content_type, json_to_envelope, SoapError, MAX_ENVELOPE_BYTES,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use pingora::proxy::Session;
use serde_json::json;

/// Largest JSON request accepted.
const MAX_JSON_BYTES: usize = 64 * 1024;

static SOAPACTION: HeaderName = HeaderName::from_static("soapaction");

/// The facade path's operation name, if `path` (under the service root) is one.
pub fn operation_in(path: &str) -> Option<&str> {
    path.strip_prefix("/api/soap/")
        .filter(|op| !op.is_empty() && !op.contains('/'))
}

/// The client the gateway calls legacy SOAP endpoints with: it never follows a redirect
/// (a legacy redirect is an answer to report, not to chase) and never goes through a proxy
/// from the environment. Every facade client starts from this builder.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

/// Everything one facade call needs from the request's context.
pub struct Call<'a> {
    /// Who is calling, for the headers every legacy call carries.
    pub hop: Hop<'a>,
    pub operation: &'a str,
}

/// Calls the legacy operation and answers JSON. `http` is the shared client for plain-text
/// backends; a TLS backend is called with its service's own client (see
/// [`crate::registry::Service::soap_client`]).
pub async fn call(
    http: &reqwest::Client,
    sso: &Sso,
    session: &mut Session,
    c: Call<'_>,
) -> LocalResponse {
    let service = c.hop.service;
    let request_id = c.hop.request_id.as_str();
    let Some(facade) = service.chain.soap.as_ref() else {
        return LocalResponse::json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "this service has no SOAP facade",
        );
    };
    let Some(op) = facade.operation(c.operation) else {
        let known: Vec<&str> = facade
            .operations
            .iter()
            .map(|o| o.soap.name.as_str())
            .collect();
        return LocalResponse::json_error(
            StatusCode::NOT_FOUND,
            "unknown_operation",
            format!(
                "{:?} is not an operation of this service (known: {})",
                c.operation,
                known.join(", ")
            ),
        );
    };
    if session.req_header().method != http::Method::POST {
        return LocalResponse::post_only("method_not_allowed", "use POST with a JSON object");
    }
    let body = match crate::request_body::read_limited::<BodyError>(session, MAX_JSON_BYTES).await {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let args: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return LocalResponse::json_error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                e.to_string(),
            )
        }
    };
    let envelope = match json_to_envelope(&op.soap, &args) {
        Ok(e) => e,
        Err(e) => {
            return LocalResponse::json_error(
                StatusCode::BAD_REQUEST,
                "invalid_arguments",
                e.to_string(),
            )
        }
    };

    let upstream = &service.upstream;
    let mut url = facade.url.clone();
    let client = match &service.soap_client {
        // Resolves the legacy host name to the backends itself, so TLS sees that name.
        Some(tls) => tls,
        None => {
            let Some(addr) = upstream.select() else {
                return LocalResponse::json_error(
                    StatusCode::BAD_GATEWAY,
                    "no_backend",
                    "the service has no usable backend",
                );
            };
            if url.set_ip_host(addr.ip()).is_err() || url.set_port(Some(addr.port())).is_err() {
                tracing::error!(
                    request_id,
                    service = service.id(),
                    "SOAP facade: unusable endpoint URL"
                );
                return unreachable();
            }
            http
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(egov_adapters::soap::CONTENT_TYPE),
    );
    headers.insert(SOAPACTION.clone(), op.action.clone());
    // What a trusted proxy in front said about the citizen, as a proxied request keeps it.
    if c.hop.client.is_some_and(|client| client.trusted) {
        for name in crate::forwarded::FORWARDING_HEADERS {
            for value in session.req_header().headers.get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
    }
    upstream::forward(sso, &mut headers, &c.hop);

    let sent = client
        .post(url)
        .headers(headers)
        .body(envelope)
        .timeout(upstream.timeouts.total)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return LocalResponse::json_error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the legacy service did not answer in time",
            )
        }
        Err(e) => {
            tracing::warn!(request_id, service = service.id(), error = %e, "SOAP facade: the legacy service could not be reached");
            return unreachable();
        }
    };
    let status = resp.status();
    // The charset a legacy answer declares in its Content-Type, when its XML does not.
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let xml = match read_response(resp, MAX_ENVELOPE_BYTES).await {
        Ok(b) => b,
        Err(ResponseError::TooLarge) => {
            return LocalResponse::json_error(
                StatusCode::BAD_GATEWAY,
                "upstream_response",
                format!("the legacy service answered more than {MAX_ENVELOPE_BYTES} bytes"),
            )
        }
        Err(ResponseError::Read(e)) => {
            tracing::warn!(request_id, service = service.id(), error = %e, "SOAP facade: the legacy answer could not be read");
            return LocalResponse::json_error(
                StatusCode::BAD_GATEWAY,
                "upstream_response",
                "the legacy service's answer broke off",
            );
        }
    };
    match envelope_to_json_with_content_type(&xml, content_type.as_deref()) {
        Ok(value) => LocalResponse::json(StatusCode::OK, &value),
        Err(SoapError::Fault { code, message }) => {
            // soap:Client faults are the caller's to fix; anything else is the service's.
            let client_fault = code
                .rsplit(':')
                .next()
                .is_some_and(|c| c.eq_ignore_ascii_case("Client"));
            let http_status = if client_fault {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::BAD_GATEWAY
            };
            LocalResponse::json(
                http_status,
                &json!({ "error": "soap_fault", "fault_code": code, "fault_message": message }),
            )
        }
        Err(e) => LocalResponse::json_error(
            StatusCode::BAD_GATEWAY,
            "upstream_response",
            format!("the legacy service answered HTTP {status} that is not a SOAP response: {e}"),
        ),
    }
}

/// The answer when the backend cannot be reached; the cause is in the gateway's log.
fn unreachable() -> LocalResponse {
    LocalResponse::json_error(
        StatusCode::BAD_GATEWAY,
        "upstream_unreachable",
        "the legacy service could not be reached",
    )
}

enum ResponseError {
    TooLarge,
    Read(reqwest::Error),
}

async fn read_response(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ResponseError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ResponseError::Read)? {
        if out.len() + chunk.len() > limit {
            return Err(ResponseError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
