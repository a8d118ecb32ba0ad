//! The JSON facade over legacy SOAP services: `POST /s/<id>/api/soap/<Operation>` with a JSON
//! object, answered with JSON, so a modern client (the portal's pages, a mobile app) can call
//! a 2008-era web service without speaking SOAP.
//!
//! The translation is the `egov-adapters` SOAP module's; this handler adds what only the
//! gateway can: the service's backend, timeouts, credentials, forwarding and identity
//! headers, and precise errors (400 for bad JSON or a client fault, 502 for a server fault
//! or a broken backend, 504 for a slow one).

use crate::forwarded::Client;
use crate::portal::LocalResponse;
use crate::registry::Service;
use crate::sso::session::Session as SsoSession;
use crate::sso::Sso;
use egov_adapters::soap::{envelope_to_json, json_to_envelope, SoapError, MAX_ENVELOPE_BYTES};
use http::{HeaderMap, HeaderValue, StatusCode};
use pingora::proxy::Session;
use serde_json::json;

/// Largest JSON request accepted.
const MAX_JSON_BYTES: usize = 64 * 1024;

/// The facade path's operation name, if `path` (under the service root) is one.
pub fn operation_in(path: &str) -> Option<&str> {
    path.strip_prefix("/api/soap/")
        .filter(|op| !op.is_empty() && !op.contains('/'))
}

fn error(status: StatusCode, code: &str, description: impl Into<String>) -> LocalResponse {
    LocalResponse::json(
        status,
        &json!({ "error": code, "error_description": description.into() }),
    )
}

/// Everything one facade call needs from the request's context.
pub struct Call<'a> {
    pub service: &'a Service,
    pub operation: &'a str,
    pub client: Option<&'a Client>,
    pub citizen: Option<&'a SsoSession>,
    pub request_id: &'a str,
}

/// Calls the legacy operation and answers JSON.
pub async fn call(
    http: &reqwest::Client,
    sso: &Sso,
    session: &mut Session,
    c: Call<'_>,
) -> LocalResponse {
    let Some(facade) = c.service.chain.soap.as_ref() else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "this service has no SOAP facade",
        );
    };
    let Some(op) = facade.operation(c.operation) else {
        let known: Vec<&str> = facade.operations.iter().map(|o| o.name.as_str()).collect();
        return error(
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
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use POST with a JSON object",
        );
    }
    let body = match crate::request_body::read_limited(session, MAX_JSON_BYTES).await {
        Ok(b) => b,
        Err(why) => return error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", why),
    };
    let args: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()),
    };
    let envelope = match json_to_envelope(op, &args) {
        Ok(e) => e,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_arguments", e.to_string()),
    };
    let upstream = &c.service.upstream;
    let Some(addr) = upstream.select() else {
        return error(
            StatusCode::BAD_GATEWAY,
            "no_backend",
            "the service has no usable backend",
        );
    };
    let scheme = if upstream.tls { "https" } else { "http" };
    let url = format!(
        "{scheme}://{addr}{}",
        egov_adapters::paths::join(&upstream.base_path, &facade.endpoint)
    );
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, upstream.host_header.clone());
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(egov_adapters::soap::CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&op.soap_action_header()) {
        headers.insert("soapaction", v);
    }
    if let Ok(v) = HeaderValue::from_str(c.request_id) {
        headers.insert("x-request-id", v);
    }
    let citizen_host = session
        .req_header()
        .headers
        .get(http::header::HOST)
        .cloned();
    if let Some(client) = c.client {
        client.apply(&mut headers, citizen_host.as_ref());
    }
    crate::sso::upstream::present_identity(sso, c.service, c.citizen, &mut headers);
    c.service.chain.apply_request(&mut headers);

    let t = upstream.timeouts;
    let sent = http
        .post(&url)
        .headers(headers)
        .body(envelope)
        .timeout(t.total)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the legacy service did not answer in time",
            )
        }
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                e.to_string(),
            )
        }
    };
    let status = resp.status();
    let xml = match read_limited(resp, MAX_ENVELOPE_BYTES).await {
        Ok(b) => b,
        Err(why) => return error(StatusCode::BAD_GATEWAY, "upstream_response", why),
    };
    match envelope_to_json(&xml) {
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
        Err(e) => error(
            StatusCode::BAD_GATEWAY,
            "upstream_response",
            format!("the legacy service answered HTTP {status} that is not a SOAP response: {e}"),
        ),
    }
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > limit {
            return Err(format!("response larger than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
