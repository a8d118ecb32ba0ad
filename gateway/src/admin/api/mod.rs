//! The handlers of `/api/v1`. Every request is authenticated first (before any lookup or
//! validation; only axum's body limit and query parsing come before it); every change
//! (create, replace, patch, delete, rollback) goes through one path, [`change::change`]: authorise,
//! take secrets out, validate (the service, its backends' addresses, its legacy host, then
//! the whole registry as it would become), store with optimistic concurrency, apply through
//! the reload pipeline, audit.

use super::auth::{Caller, Unauthenticated};
use super::checks::{self, Problem};
use super::Admin;
use crate::config::values::MAX_SLUG;
use crate::config::KeyHolder;
use crate::registry::store::{Action, Author, Change, Expect, Record, StoreError};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

type Shared = State<Arc<Admin>>;
type Client = ConnectInfo<SocketAddr>;

mod change;
mod purge;
mod reads;
mod writes;

use change::{change, Intent, Request, WriteFlags, SECRET_VERSIONS};
use purge::purge;
use reads::*;
use writes::*;

/// The largest body a call may send. The catalog's largest service is under 3 KB; every
/// accepted document is kept whole in the registry's history, twice with its diff (axum's
/// default of 2 MB let one ministry grow the history by 8 MB a call; found when tried).
pub const BODY_LIMIT: usize = 256 * 1024;

pub fn routes(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/services", get(list).post(create))
        .route("/api/v1/services/validate", post(validate_new))
        .route(
            "/api/v1/services/{id}",
            get(read).put(replace).patch(patch).delete(remove),
        )
        .route("/api/v1/services/{id}/validate", post(validate_existing))
        .route("/api/v1/services/{id}/history", get(history))
        .route("/api/v1/services/{id}/rollback/{version}", post(rollback))
        .route("/api/v1/services/{id}/health", get(health))
        .route("/api/v1/services/{id}/feedback", get(feedback))
        .route("/api/v1/services/{id}/purge", post(purge))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn(to_the_end))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(admin)
}

/// A call that may change something (any method but `GET` and `HEAD`) runs to its end, its
/// audit line included, whatever becomes of its connection: found in a probe, a change
/// whose connection the listener closed at the end of its lifetime (or whose caller gave
/// up) was stored and served, and never audited, its caller answered nothing. A read
/// stops when its caller goes.
async fn to_the_end(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if matches!(*request.method(), http::Method::GET | http::Method::HEAD) {
        return next.run(request).await;
    }
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "admin API: a change's task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Every refusal in the API's one JSON shape (`error`, `error_description`), including
/// those axum writes itself as plain text or with no body at all: a body over the limit
/// (413), a path or query that does not parse (400), no such route (404) or method (405,
/// its `Allow` kept).
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "error",
    };
    let description = if status == StatusCode::PAYLOAD_TOO_LARGE {
        // axum's own says only "length limit exceeded" (found when tried).
        format!(
            "the body is over {} KiB, the most a call may send (the largest service of the catalog is under 3 KiB)",
            BODY_LIMIT / 1024
        )
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut answer = error(status, code, description);
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// An error answer.
fn error(status: StatusCode, code: &str, description: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": code, "error_description": description.into() })),
    )
        .into_response()
}

fn invalid(problems: Vec<Problem>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "error": "invalid_service",
            "error_description": "the service was not changed: fix every problem listed",
            "problems": problems,
        })),
    )
        .into_response()
}

fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `If-Match` as an expectation: a version as an entity tag (`"12"`, or `W/"12"` as a
/// proxy that compresses may have weakened it), `*`, or nothing. Anything else (`12`
/// unquoted, a list) is a 400: found when tried, an unquoted `12` was taken as version 12.
fn expectation(headers: &HeaderMap) -> Result<Expect, Box<Response>> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(Expect::Any);
    };
    let text = raw.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(Expect::Any);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    // Only the tag as this API writes it: `"+3"` and `"0004"` are no ETag it gave.
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|v| v.parse::<u64>().ok().filter(|n| n.to_string() == v))
        .ok_or(())
        .map(Expect::Version)
        .map_err(|_| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                "invalid_if_match",
                "If-Match must be an ETag this API gave (\"<version>\")",
            ))
        })
}

impl Admin {
    /// The caller, or the 401 to answer (audited).
    async fn caller(
        &self,
        headers: &HeaderMap,
        action: &str,
        service: Option<&str>,
        client: SocketAddr,
    ) -> Result<Caller, Response> {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match self
            .auth
            .authenticate_from(authorization, client.ip())
            .await
        {
            Ok(c) => Ok(c),
            Err(Unauthenticated::Throttled { first }) => {
                // One audit line for the address's window, not one per call: a flood of
                // refused calls would otherwise be a flood of lines.
                if first {
                    let claimed = claimed_actor(authorization);
                    self.audit_result(&claimed, "-", action, service, None, "throttled", client);
                }
                let mut r = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_invalid_credentials",
                    "this address sent too many invalid credentials for this key (or, past 200, for keys not used lately); wait a minute",
                );
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(super::auth::FAILURE_WINDOW.as_secs()),
                );
                Err(r)
            }
            Err(why) => {
                if why != (Unauthenticated::Missing { audited: false }) {
                    let claimed = claimed_actor(authorization);
                    let actor = claimed.as_str();
                    self.audit_result(actor, "-", action, service, None, "unauthenticated", client);
                }
                let (code, text) = match why {
                    Unauthenticated::Missing { .. } => (
                        "invalid_request",
                        "send Authorization: Bearer <API key or access token>",
                    ),
                    Unauthenticated::Invalid | Unauthenticated::Throttled { .. } => {
                        ("invalid_token", "the credential is not valid")
                    }
                };
                let mut r = error(StatusCode::UNAUTHORIZED, code, text);
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_str(&format!(
                        "Bearer realm=\"egov-admin\", error=\"{code}\""
                    ))
                    .unwrap_or(HeaderValue::from_static("Bearer realm=\"egov-admin\"")),
                );
                Err(r)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn audit_result(
        &self,
        actor: &str,
        ministry: &str,
        action: &str,
        service: Option<&str>,
        version: Option<u64>,
        result: &str,
        client: SocketAddr,
    ) {
        // The id as the caller wrote it, but no longer than an id can be: an unauthenticated
        // caller's 60 KB path segment was written whole, a thousand times a second (found
        // when tried).
        let service = service.map(|s| match s.char_indices().nth(MAX_SLUG) {
            Some((end, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..end])),
            None => std::borrow::Cow::Borrowed(s),
        });
        // Found in an SRE probe: on a full disk, lines were lost with one log line to say
        // so; counted, as the access log's are (`EgovAdminAuditDropping`).
        let written = self.audit.record(&super::audit::Entry {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            actor,
            ministry,
            action,
            service: service.as_deref(),
            version,
            result,
            client_ip: Some(client.ip().to_string()),
        });
        if !written {
            self.metrics.admin_audit_dropped.inc();
        }
        if !action.starts_with("read") {
            self.metrics
                .admin_changes
                .with_label_values(&[action, result])
                .inc();
        }
    }

    fn audit(
        &self,
        caller: &Caller,
        action: &str,
        service: Option<&str>,
        version: Option<u64>,
        result: &str,
        client: SocketAddr,
    ) {
        self.audit_result(
            &caller.actor,
            caller.ministry(),
            action,
            service,
            version,
            result,
            client,
        );
    }

    /// 403 for a service of another ministry (audited).
    fn forbidden(&self, caller: &Caller, action: &str, id: &str, client: SocketAddr) -> Response {
        let why = format!(
            "service {id:?} is not one of {}'s services",
            caller.ministry()
        );
        self.refused(caller, action, id, client, why)
    }

    /// The 429 to a ministry past `[admin] changes_per_ministry` (audited), or `None`: each
    /// change builds the whole registry, and one ministry's loop of 150 creations in 50
    /// seconds slowed every other ministry's change tenfold (found when tried). The platform
    /// is not counted.
    async fn over_rate(
        &self,
        caller: &Caller,
        action: &str,
        id: &str,
        client: SocketAddr,
    ) -> Option<Response> {
        let KeyHolder::Ministry(ministry) = &caller.holder else {
            return None;
        };
        let rate = self.settings.changes_per_ministry;
        let scope = crate::limits::rate::Scope::AdminChanges;
        let limited = self
            .rates
            .check(scope, ministry.as_bytes(), rate)
            .await
            .err()?;
        self.audit(caller, action, Some(id), None, "throttled", client);
        self.metrics
            .rate_limited
            .with_label_values(&[scope.label()])
            .inc();
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_changes",
            format!(
                "ministry {ministry:?} made more than {} changes in {} s ([admin] changes_per_ministry); try again later",
                rate.count,
                rate.per.as_secs()
            ),
        );
        let secs = crate::limits::rate::retry_after_secs(limited.retry_after);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        Some(r)
    }

    /// `answer`, the 400 to a call whose form is wrong (its body, its `If-Match`), audited:
    /// every call is a line in the audit log, refusals included.
    fn malformed(
        &self,
        caller: &Caller,
        action: &str,
        id: Option<&str>,
        client: SocketAddr,
        answer: Response,
    ) -> Response {
        self.audit(caller, action, id, None, "malformed", client);
        answer
    }

    /// A 403 saying `why` (audited).
    fn refused(
        &self,
        caller: &Caller,
        action: &str,
        id: &str,
        client: SocketAddr,
        why: String,
    ) -> Response {
        self.audit(caller, action, Some(id), None, "forbidden", client);
        error(StatusCode::FORBIDDEN, "forbidden", why)
    }
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::Conflict { current } => {
            let mut r = error(
                StatusCode::PRECONDITION_FAILED,
                "conflict",
                match current {
                    Some(v) => format!(
                        "the service changed meanwhile; it is now at version {v}: read it again"
                    ),
                    None => "the service does not exist any more".into(),
                },
            );
            if let Some(v) = current {
                r.headers_mut().insert(header::ETAG, etag(v));
            }
            r
        }
        // Not a passing outage (a retry changes nothing): the stored record itself cannot be
        // read, and only the platform's operators can remove it from the store.
        StoreError::Corrupt(why) => {
            tracing::warn!(%why, "admin API: a registry record cannot be read");
            error(
                StatusCode::CONFLICT,
                "unreadable_record",
                format!(
                    "the stored record of this service cannot be read ({why}); nothing was \
                     changed. The platform's operators must remove it from the registry store"
                ),
            )
        }
        other => {
            tracing::warn!(error = %other, "admin API: registry store failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the registry store is unavailable; nothing was changed, retry later",
            )
        }
    }
}

/// The actor of an audit line for a refused credential: `claimed:` and the key id or token
/// client it names (cut to 64 bytes), `-` for none. Found when tried: every such line said
/// `-`, so a ministry whose key id was being guessed could not tell.
fn claimed_actor(authorization: Option<&str>) -> String {
    match super::auth::claimed_id(authorization) {
        id if id.is_empty() => "-".to_string(),
        id => format!("claimed:{id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(r: Response) -> Value {
        let bytes = axum::body::to_bytes(r.into_body(), 64 * 1024)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[test]
    fn if_match_is_an_entity_tag_this_api_gave_or_a_star() {
        let expect = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::IF_MATCH,
                HeaderValue::from_str(value).expect("value"),
            );
            expectation(&headers).map_err(|r| r.status())
        };
        assert_eq!(expect("\"12\""), Ok(Expect::Version(12)));
        assert_eq!(expect("W/\"12\""), Ok(Expect::Version(12)));
        assert_eq!(expect("*"), Ok(Expect::Any));
        for bad in [
            "12",
            "\"12",
            "12\"",
            "\"12\", \"13\"",
            "\"x\"",
            "W/12",
            "\"+12\"",
            "\"012\"",
        ] {
            assert_eq!(expect(bad), Err(StatusCode::BAD_REQUEST), "{bad}");
        }
    }

    #[tokio::test]
    async fn axums_plain_text_refusals_become_the_apis_json_errors() {
        // What axum's body limit answers (and its path or query rejections, alike).
        let too_large = (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response();
        let r = json_errors(too_large).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let json = body_json(r).await;
        assert_eq!(json["error"], "too_large");
        // The limit, which axum's text does not give (found when tried).
        let description = json["error_description"].as_str().unwrap_or_default();
        assert!(description.contains("over 256 KiB"), "{description}");
        // No body at all: the status's reason; `Allow` kept.
        let mut not_allowed = StatusCode::METHOD_NOT_ALLOWED.into_response();
        not_allowed
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        let r = json_errors(not_allowed).await;
        assert_eq!(r.headers()[header::ALLOW], "GET,HEAD");
        assert_eq!(body_json(r).await["error"], "method_not_allowed");
    }

    #[tokio::test]
    async fn answers_already_in_json_and_successes_pass_untouched() {
        let ours = error(StatusCode::FORBIDDEN, "forbidden", "not yours");
        assert_eq!(
            body_json(json_errors(ours).await).await["error"],
            "forbidden"
        );
        let ok = (StatusCode::OK, "fine").into_response();
        let r = json_errors(ok).await;
        let bytes = axum::body::to_bytes(r.into_body(), 1024)
            .await
            .expect("body");
        assert_eq!(&bytes[..], b"fine");
    }
}
