//! The SOAP facade stage: `POST /s/<id>/api/soap/<Operation>` on a service that declares a
//! facade is answered as JSON by [`crate::soap_facade`], through the same upstream
//! machinery as a proxied request. Every other request goes on to the backend.

use super::{RequestCtx, Stage, Step};
use crate::registry::Service;
use crate::soap_facade::{self, Call};
use crate::sso::Sso;
use crate::telemetry::Telemetry;
use crate::upstream::Upstreams;
use egov_adapters::paths::reaches_under;
use pingora::proxy::Session;
use std::sync::Arc;

pub struct SoapFacade {
    upstreams: Arc<Upstreams>,
    sso: Arc<Sso>,
    telemetry: Arc<Telemetry>,
}

impl SoapFacade {
    pub fn new(upstreams: Arc<Upstreams>, sso: Arc<Sso>, telemetry: Arc<Telemetry>) -> Self {
        Self {
            upstreams,
            sso,
            telemetry,
        }
    }
}

/// The facade operation `uri` (the backend path of a request to `service`) addresses,
/// percent-decoded: a client that escapes the path segment (`Get%53tatus`, or an operation
/// named in Arabic, which every client escapes) names the same operation.
fn operation(service: &Service, uri: &http::Uri) -> Option<String> {
    let base = service.upstream.base_path.trim_end_matches('/');
    let under_service = uri.path().strip_prefix(base)?;
    let op = soap_facade::operation_in(under_service)?;
    // Not UTF-8 once decoded: no XML name, so left as sent (an unknown operation).
    let decoded = percent_encoding::percent_decode_str(op)
        .decode_utf8()
        .unwrap_or(std::borrow::Cow::Borrowed(op));
    Some(decoded.into_owned())
}

/// Whether the request is a call of its service's SOAP facade, whose refusals are JSON like
/// its answers: found when tried, a body announced over the service's limit got the
/// portal's HTML page, one that grew past it while read the facade's JSON.
pub(super) fn is_a_facade_call(ctx: &RequestCtx) -> bool {
    match (ctx.service.as_ref(), ctx.upstream_uri.as_ref()) {
        (Some(service), Some(uri)) => {
            service.chain.soap.is_some() && operation(service, uri).is_some()
        }
        _ => false,
    }
}

impl Stage for SoapFacade {
    fn name(&self) -> &'static str {
        "soap-facade"
    }

    async fn run(&self, session: &mut Session, ctx: &mut RequestCtx) -> Step {
        let (Some(service), Some(uri), Some(pace)) = (
            ctx.service.as_ref(),
            ctx.upstream_uri.as_ref(),
            ctx.body_pace(),
        ) else {
            return Step::Continue;
        };
        let Some(facade) = service.chain.soap.as_ref() else {
            return Step::Continue;
        };
        let Some(op) = operation(service, uri) else {
            if !facade.expose_endpoint
                && (reaches_under(facade.path.path(), uri.path())
                    || is_a_soap_call(session.req_header()))
            {
                return Step::Respond(endpoint_closed());
            }
            return Step::Continue;
        };
        if session.req_header().method != http::Method::POST {
            return Step::Respond(crate::response::LocalResponse::post_only(
                "method_not_allowed",
                "use POST with a JSON object",
            ));
        }
        // A form or a `text/plain` fetch can be posted cross-site without a preflight;
        // `application/json` cannot.
        if !is_json(session.req_header()) {
            return Step::Respond(crate::response::LocalResponse::json_error(
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the operation's fields as Content-Type: application/json",
            ));
        }
        let service = Arc::clone(service);
        let asked_by = ctx.attempts.asked_by;
        let (hop, obs) = ctx.hop_and_obs(session.req_header(), &service, &self.telemetry);
        let call = Call {
            hop,
            operation: &op,
            asked_by,
            pace,
        };
        // Boxed: the exchange's future is large, and only facade calls build it.
        Step::Respond(
            Box::pin(soap_facade::call(
                &self.upstreams,
                &self.sso,
                session,
                call,
                obs,
            ))
            .await,
        )
    }
}

/// The answer to a request for the legacy SOAP endpoint itself: it would take any operation,
/// any `SOAPAction` and a DTD, sent with the service's credentials, so only the declared
/// operations are reachable (as with Kong's or Apigee's SOAP-to-REST facades).
fn endpoint_closed() -> crate::response::LocalResponse {
    crate::response::LocalResponse::json_error(
        http::StatusCode::FORBIDDEN,
        "soap_endpoint_closed",
        "this service's SOAP operations are called as JSON: POST api/soap/<operation>",
    )
}

/// Whether the request is a SOAP call, whatever its path: SOAP 1.1 sends `SOAPAction`,
/// SOAP 1.2 the type `application/soap+xml`. A service whose endpoint is closed takes none,
/// so a path spelled in a way [`reaches_under`] does not know still cannot carry one.
fn is_a_soap_call(req: &pingora::http::RequestHeader) -> bool {
    req.headers.contains_key("soapaction")
        || req
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/soap+xml"))
}

/// Whether the request says its body is JSON (`application/json`, any parameters).
fn is_json(req: &pingora::http::RequestHeader) -> bool {
    req.headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_content_type_is_a_facade_call() {
        let with = |ct: Option<&str>| {
            let mut r = pingora::http::RequestHeader::build("POST", b"/", None).expect("req");
            if let Some(ct) = ct {
                r.insert_header("content-type", ct).expect("ct");
            }
            is_json(&r)
        };
        assert!(with(Some("application/json")));
        assert!(with(Some("Application/JSON; charset=utf-8")));
        assert!(!with(Some("text/plain")));
        assert!(!with(Some("application/x-www-form-urlencoded")));
        assert!(!with(None));
    }

    #[test]
    fn the_operation_is_read_under_the_services_backend_path() {
        let snap = crate::registry::fixtures::snapshot();
        let service = &snap.services()[0];
        let base = service.upstream.base_path.trim_end_matches('/');
        let uri: http::Uri = format!("{base}/api/soap/GetStatus").parse().expect("uri");
        assert_eq!(operation(service, &uri).as_deref(), Some("GetStatus"));
        let uri: http::Uri = format!("{base}/api/soap/").parse().expect("uri");
        assert_eq!(operation(service, &uri), None);
        let uri: http::Uri = format!("{base}/page").parse().expect("uri");
        assert_eq!(operation(service, &uri), None);
    }

    #[test]
    fn an_escaped_operation_name_is_the_operation_it_spells() {
        let snap = crate::registry::fixtures::snapshot();
        let service = &snap.services()[0];
        let base = service.upstream.base_path.trim_end_matches('/');
        let op = |path: &str| {
            let uri: http::Uri = format!("{base}/api/soap/{path}").parse().expect("uri");
            operation(service, &uri)
        };
        assert_eq!(op("Get%53tatus").as_deref(), Some("GetStatus"));
        assert_eq!(
            op("%D8%B7%D9%84%D8%A8").as_deref(),
            Some("\u{637}\u{644}\u{628}")
        );
        // Not UTF-8: kept as sent, so no operation of the service matches it.
        assert_eq!(op("%FF").as_deref(), Some("%FF"));
    }
}
