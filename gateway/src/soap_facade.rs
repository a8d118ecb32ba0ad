//! The JSON facade over legacy SOAP services: `POST /s/<id>/api/soap/<Operation>` with a JSON
//! object, answered with JSON, so a modern client (the portal's pages, a mobile app) can call
//! a 2008-era web service without speaking SOAP.
//!
//! The translation is the `egov-adapters` SOAP module's; the call is an upstream exchange
//! like any other ([`Upstreams::call`]): the service's backends, failover, timeouts and
//! outcome reporting, with the same forwarding, trace, identity and credential headers as a
//! proxied request ([`upstream::forward`]). This module adds precise errors: 400 for bad
//! JSON or a client fault, 502 for a server fault, an error status or a broken backend, 503
//! with `Retry-After` while the service's breaker is open, 504 for a slow one. What went
//! wrong on the gateway's or the service's side is logged with the request id, never told
//! to the client (it would name internal backends, or carry a server fault's stack trace).

use crate::chain::edit_request;
use crate::request_body::BodyError;
use crate::response::LocalResponse;
use crate::sso::Sso;
use crate::telemetry::request::RequestObs;
use crate::upstream::{self, CallError, Exchange, Hop, Upstreams};
use egov_adapters::soap::{
    envelope_to_json_with_content_type, json_to_envelope, shown_fault_code, FaultClass, SoapError,
    MAX_ENVELOPE_BYTES,
};
use http::{HeaderName, HeaderValue, StatusCode};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use serde_json::json;

/// Largest JSON request accepted.
const MAX_JSON_BYTES: usize = 64 * 1024;

/// Legacy answers being converted at once, across the gateway: one per core.
static CONVERSIONS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

static SOAPACTION: HeaderName = HeaderName::from_static("soapaction");

/// The facade path's operation name, if `path` (under the service root) is one.
pub fn operation_in(path: &str) -> Option<&str> {
    path.strip_prefix("/api/soap/")
        .filter(|op| !op.is_empty() && !op.contains('/'))
}

/// Everything one facade call needs from the request's context.
pub struct Call<'a> {
    /// Who is calling, for the headers every legacy call carries.
    pub hop: Hop<'a>,
    pub operation: &'a str,
    /// The citizen's address, as the breaker counts it ([`crate::upstream::Attempts`]).
    pub asked_by: Option<std::net::IpAddr>,
    /// How long the caller's JSON may take to arrive.
    pub pace: crate::request_body::BodyPace,
}

/// Calls the legacy operation through `upstreams` and answers JSON. `obs` is the request's
/// telemetry, which the upstream exchange reports to.
pub async fn call(
    upstreams: &Upstreams,
    sso: &Sso,
    session: &mut Session,
    c: Call<'_>,
    obs: Option<&mut RequestObs>,
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
    let body = match crate::request_body::read_limited::<BodyError>(session, MAX_JSON_BYTES, c.pace)
        .await
    {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let envelope = match json_to_envelope(&op.soap, &body) {
        Ok(e) => e,
        Err(e @ SoapError::InvalidJson(_)) => {
            return LocalResponse::json_error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                e.to_string(),
            )
        }
        Err(e) => {
            return LocalResponse::json_error(
                StatusCode::BAD_REQUEST,
                "invalid_arguments",
                e.to_string(),
            )
        }
    };
    let header = match request_header(session, &c, sso, &facade.path, &op.action, envelope.len()) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(request_id, service = service.id(), error = %e, "SOAP facade: cannot build the request");
            return unreachable();
        }
    };
    let exchange = Exchange {
        header,
        body: envelope.into(),
        max_response: MAX_ENVELOPE_BYTES,
        asked_by: c.asked_by,
    };
    let answer = match upstreams.call(service, obs, exchange).await {
        Ok(a) => a,
        Err(CallError::TimedOut) => {
            return LocalResponse::json_error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the legacy service did not answer in time",
            )
        }
        Err(CallError::TooLarge(limit)) => {
            return LocalResponse::json_error(
                StatusCode::BAD_GATEWAY,
                "upstream_response",
                format!("the legacy service answered more than {limit} bytes"),
            )
        }
        Err(CallError::Unavailable(wait)) => return unavailable(wait),
        Err(e @ CallError::Unreachable(_)) => {
            tracing::warn!(request_id, service = service.id(), error = %e, "SOAP facade: the legacy service could not be reached");
            return unreachable();
        }
        Err(e @ CallError::Broken(_)) => {
            tracing::warn!(request_id, service = service.id(), error = %e, "SOAP facade: the legacy answer could not be read");
            return LocalResponse::json_error(
                StatusCode::BAD_GATEWAY,
                "upstream_response",
                "the legacy service's answer broke off",
            );
        }
    };
    let status = answer.header.status;
    // The charset a legacy answer declares in its Content-Type, when its XML does not.
    let content_type = answer
        .header
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Up to 4 MiB of XML and 50,000 nodes: tens of milliseconds and megabytes, off the
    // threads that serve requests (found when tried: a citizen's unrelated page waited 3 s
    // behind four large answers being converted on its thread), and as many at once as
    // there are cores: found in a bypass probe, 16 answers converted at once took 0.5 GB,
    // and conversions whose callers had left went on beside new ones.
    let Ok(permit) = CONVERSIONS.acquire().await else {
        return upstream_response(status);
    };
    let body = answer.body;
    let converted = tokio::task::spawn_blocking(move || {
        let _held = permit;
        envelope_to_json_with_content_type(&body, content_type.as_deref())
    })
    .await
    .unwrap_or_else(|e| Err(SoapError::Malformed(format!("the conversion failed: {e}"))));
    match converted {
        // A 500 with a normal-looking body, or a 503 with an empty one, is a failure: a
        // client told 200 would think a one-way operation was done.
        Ok(value) if status.is_success() => LocalResponse::json(StatusCode::OK, &value),
        Err(SoapError::Fault {
            code,
            message,
            class,
        }) => fault_answer(&c, &code, &message, class),
        Ok(_) => {
            tracing::warn!(request_id, service = service.id(), %status, "SOAP facade: the legacy service answered an error status without a fault");
            upstream_response(status)
        }
        Err(e) => {
            tracing::warn!(request_id, service = service.id(), %status, error = %e, "SOAP facade: the legacy answer is not a SOAP response");
            upstream_response(status)
        }
    }
}

/// The answer to a SOAP fault. A `Client` (SOAP 1.2: `Sender`) fault is the caller's to fix,
/// so its message is passed on; any other is the service's, and its message (which names
/// database hosts and users, or carries a stack trace, as often as not) goes to the log,
/// as Apigee's and Azure API Management's fault masking do.
fn fault_answer(c: &Call<'_>, code: &str, message: &str, class: FaultClass) -> LocalResponse {
    // The code only when it is one (a service's "code" may be a stack trace).
    let shown = shown_fault_code(code);
    if class == FaultClass::Caller {
        return LocalResponse::json(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "soap_fault", "fault_code": shown, "fault_message": message }),
        );
    }
    tracing::warn!(
        request_id = c.hop.request_id.as_str(),
        service = c.hop.service.id(),
        fault_code = code,
        fault_message = message,
        "SOAP facade: the legacy service answered a server fault"
    );
    LocalResponse::json(
        StatusCode::BAD_GATEWAY,
        &json!({
            "error": "soap_fault",
            "fault_code": shown,
            "fault_message": "the legacy service failed; the gateway's log has its message under this request's id",
        }),
    )
}

/// The answer when the legacy answer is an error status or not SOAP; what it said is in the
/// gateway's log.
fn upstream_response(status: StatusCode) -> LocalResponse {
    LocalResponse::json_error(
        StatusCode::BAD_GATEWAY,
        "upstream_response",
        format!(
            "the legacy service answered HTTP {} without a usable SOAP response",
            status.as_u16()
        ),
    )
}

/// The answer while the service's breaker is open or no backend is up: 503 with the same
/// `Retry-After` a proxied request's maintenance page gives, so clients wait rather than
/// retry at once.
fn unavailable(wait: std::time::Duration) -> LocalResponse {
    LocalResponse::json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the legacy service is unavailable for now; retry after the time in Retry-After",
    )
    .with_retry_after_secs(wait.as_secs())
}

/// The SOAP request's header: the endpoint's path, the envelope's type, length and action,
/// what a trusted proxy in front said about the citizen (as a proxied request keeps it), then
/// every header a legacy call carries ([`upstream::forward`]).
fn request_header(
    session: &Session,
    c: &Call<'_>,
    sso: &Sso,
    path: &http::uri::PathAndQuery,
    action: &HeaderValue,
    length: usize,
) -> pingora::Result<RequestHeader> {
    let mut header = RequestHeader::build("POST", path.as_str().as_bytes(), Some(12))?;
    header.insert_header(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(egov_adapters::soap::CONTENT_TYPE),
    )?;
    header.insert_header(SOAPACTION.clone(), action.clone())?;
    header.insert_header(http::header::CONTENT_LENGTH, length)?;
    if c.hop.client.is_some_and(|client| client.trusted) {
        for name in crate::forwarded::FORWARDING_HEADERS {
            for value in session.req_header().headers.get_all(&name) {
                header.append_header(name.clone(), value.clone())?;
            }
        }
    }
    edit_request(&mut header, upstream::ADDED_HEADERS, |parts| {
        upstream::forward(sso, &mut parts.headers, &c.hop)
    });
    Ok(header)
}

/// The answer when the backend cannot be reached; the cause is in the gateway's log.
fn unreachable() -> LocalResponse {
    LocalResponse::json_error(
        StatusCode::BAD_GATEWAY,
        "upstream_unreachable",
        "the legacy service could not be reached",
    )
}
