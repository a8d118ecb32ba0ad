//! The handlers of `/api/v1`. Every request is authenticated first (before any lookup or
//! validation; only axum's body limit and query parsing come before it); every change
//! (create, replace, patch, delete, rollback) goes through one path, [`change`]: authorise,
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
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(admin)
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
    let description = if text.is_empty() {
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

/// `If-Match` as an expectation: a version (`"12"`, `W/"12"`, `12`), `*`, or nothing.
fn expectation(headers: &HeaderMap) -> Result<Expect, Box<Response>> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(Expect::Any);
    };
    let text = raw.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(Expect::Any);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
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
                    self.audit_result("-", "-", action, service, None, "throttled", client);
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
                    self.audit_result("-", "-", action, service, None, "unauthenticated", client);
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
        self.audit.record(&super::audit::Entry {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            actor,
            ministry,
            action,
            service: service.as_deref(),
            version,
            result,
            client_ip: Some(client.ip().to_string()),
        });
        if action != "read" {
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

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::DOCUMENT,
    )
        .into_response()
}

async fn list(State(admin): Shared, ConnectInfo(client): Client, headers: HeaderMap) -> Response {
    let caller = match admin.caller(&headers, "read", None, client).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // A record that cannot be read is reported by the registry (`/readyz`, the log).
    let records = match admin.live.store().list().await {
        Ok(listing) => listing.records,
        Err(e) => return store_error(e),
    };
    let visible: Vec<Value> = records
        .iter()
        .filter(|r| caller.may(&r.ministry))
        .map(|r| {
            json!({
                "id": r.id,
                "ministry": r.ministry,
                "version": r.version,
                "names": r.document.get("names"),
                "access": r.document.get("access"),
            })
        })
        .collect();
    Json(json!({ "services": visible })).into_response()
}

/// The record of `id` the caller may see: 404 or 403 otherwise.
async fn visible(
    admin: &Admin,
    caller: &Caller,
    id: &str,
    action: &str,
    client: SocketAddr,
) -> Result<Record, Response> {
    match admin.live.store().get(id).await {
        Ok(Some(r)) if caller.may(&r.ministry) => Ok(r),
        Ok(Some(_)) => Err(admin.forbidden(caller, action, id, client)),
        Ok(None) => {
            admin.audit(caller, action, Some(id), None, "not_found", client);
            Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("there is no service {id:?}"),
            ))
        }
        Err(e) => Err(store_error(e)),
    }
}

/// The caller, authenticated for `action` on service `id`, and the service's record, which
/// must exist and be the caller's ministry's: the preamble of every call about one service.
async fn caller_of_service(
    admin: &Admin,
    headers: &HeaderMap,
    action: &str,
    id: &str,
    client: SocketAddr,
) -> Result<(Caller, Record), Response> {
    let caller = admin.caller(headers, action, Some(id), client).await?;
    let record = visible(admin, &caller, id, action, client).await?;
    Ok((caller, record))
}

async fn read(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match caller_of_service(&admin, &headers, "read", &id, client).await {
        Ok((_, r)) => ([(header::ETAG, etag(r.version))], Json(r.document)).into_response(),
        Err(r) => r,
    }
}

/// A page of a service's history: the newest `limit` versions (at most [`HISTORY_PAGE`],
/// the default) older than version `before`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct HistoryPage {
    limit: Option<usize>,
    before: Option<u64>,
}

/// The most versions one answer lists: a service's whole history in one answer was 90 MB
/// after 200 changes of a large document, and held the admin listener (and its /readyz)
/// for seconds (found when tried).
const HISTORY_PAGE: usize = 50;

async fn history(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    Query(page): Query<HistoryPage>,
    headers: HeaderMap,
) -> Response {
    let caller = match admin.caller(&headers, "read", Some(&id), client).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let store = admin.live.store();
    let changes = match store.history(&id).await {
        Ok(h) => h,
        Err(e) => return store_error(e),
    };
    // A deleted service's history is its ministry's to read too.
    let ministry = match changes.last() {
        Some(c) => c.ministry.clone(),
        None => match visible(&admin, &caller, &id, "read", client).await {
            Ok(r) => r.ministry,
            Err(r) => return r,
        },
    };
    if !caller.may(&ministry) {
        return admin.forbidden(&caller, "read", &id, client);
    }
    // Only the versions that were the caller's ministry's: an id deleted by one ministry
    // and registered again by another keeps the first one's documents and actors to itself.
    let limit = page.limit.unwrap_or(HISTORY_PAGE).clamp(1, HISTORY_PAGE);
    let theirs: Vec<&Change> = changes
        .iter()
        .filter(|c| caller.may(&c.ministry))
        .filter(|c| page.before.is_none_or(|b| c.version < b))
        .collect();
    let from = theirs.len().saturating_sub(limit);
    let older = (from > 0).then(|| theirs[from].version);
    let versions: Vec<Value> = theirs[from..]
        .iter()
        .map(|c| {
            json!({
                "version": c.version,
                "action": c.action,
                "actor": c.actor,
                "at": humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(c.at)
                ).to_string(),
                "diff": c.diff,
            })
        })
        .collect();
    // `older`: the `before` that asks for the page of versions before these.
    Json(json!({ "service": id, "history": versions, "older": older })).into_response()
}

/// `GET .../feedback`: the citizens' "not what I meant" answers that concern the service
/// (chosen instead of what the router said, or routed to it by mistake), newest first.
async fn feedback(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = caller_of_service(&admin, &headers, "read", &id, client).await {
        return r;
    }
    match admin.feedback.for_service(&id).await {
        Ok(entries) => Json(json!({ "service": id, "feedback": entries })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "routing feedback unreadable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "feedback_unavailable",
                "the routing feedback store cannot be read right now",
            )
        }
    }
}

async fn health(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = caller_of_service(&admin, &headers, "read", &id, client).await {
        return r;
    }
    let snapshot = admin.live.snapshot();
    let Some(service) = snapshot.service(&id).cloned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_serving",
            "the service is stored but not serving (see /readyz)",
        );
    };
    // Backend names that did not resolve: the service runs without them.
    let unresolved = snapshot.unresolved().get(&id).cloned().unwrap_or_default();
    let backends = tokio::task::spawn_blocking(move || {
        let timeout = service.upstream.timeouts.connect;
        service
            .upstream
            .backends()
            .iter()
            .map(|a| {
                let started = std::time::Instant::now();
                let ok = std::net::TcpStream::connect_timeout(a, timeout).is_ok();
                json!({
                    "address": a.to_string(),
                    "reachable": ok,
                    "connect_ms": (started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let healthy = unresolved.is_empty() && backends.iter().all(|b| b["reachable"] == true);
    Json(json!({
        "service": id,
        "healthy": healthy,
        "backends": backends,
        "unresolved": unresolved,
    }))
    .into_response()
}

/// The most paths one purge call may name (each is a shared-store delete and a broadcast).
const MAX_PURGE_PATHS: usize = 100;

/// `POST .../purge`: `{}` (or no body) purges every stored answer of the service;
/// `{"paths": ["/a", "/b?x=1"]}` only those. Every instance stops serving them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    #[serde(default)]
    paths: Option<Vec<String>>,
}

async fn purge(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let caller = match caller_of_service(&admin, &headers, "purge", &id, client).await {
        Ok((caller, _)) => caller,
        Err(r) => return r,
    };
    // A purge moves a generation in the shared store and tells every instance: counted as
    // a change (found when tried again: 600 at once, none refused).
    if let Some(refused) = admin.over_rate(&caller, "purge", &id, client).await {
        return refused;
    }
    let asked: PurgeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PurgeRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => {
                let answer = error(StatusCode::BAD_REQUEST, "invalid_json", e.to_string());
                return admin.malformed(&caller, "purge", Some(&id), client, answer);
            }
        }
    };
    let mut problems = Vec::new();
    let paths = asked.paths.as_deref().unwrap_or_default();
    if paths.len() > MAX_PURGE_PATHS {
        problems.push(Problem::new(
            "/paths",
            format!("at most {MAX_PURGE_PATHS} paths per call; purge the whole service with {{}}"),
        ));
    }
    for (i, path) in paths.iter().enumerate() {
        // The key is made of the path as requests are cleaned: a path that a request could
        // not have is refused, not silently matched to nothing.
        let (p, _) = path.split_once('?').unwrap_or((path, ""));
        let pointer = format!("/paths/{i}");
        if path.contains('#') {
            problems.push(Problem::new(pointer, "must not have a fragment"));
            continue;
        }
        match egov_adapters::paths::clean(p) {
            Err(e) => problems.push(Problem::new(pointer, e.to_string())),
            Ok(cleaned) if cleaned != p => problems.push(Problem::new(
                pointer,
                "must be written without dot segments, as requests reach the cache",
            )),
            Ok(_) => {}
        }
    }
    if !problems.is_empty() {
        admin.audit(&caller, "purge", Some(&id), None, "invalid", client);
        return invalid(problems);
    }
    let snapshot = admin.live.snapshot();
    let policy = snapshot.service(&id).and_then(|s| s.cache.clone());
    let cache = &admin.cache;
    let outcome = match (&asked.paths, policy) {
        (None, _) => cache
            .generations
            .purge_service(&id)
            .await
            .map(|generation| {
                cache.storage.forget_service(&id);
                json!({ "service": id, "purged": "all", "generation": generation })
            }),
        (Some(paths), Some(policy)) => {
            let mut found = 0usize;
            let mut failed = None;
            for path in paths {
                let (path, query) = match path.split_once('?') {
                    Some((p, q)) => (p, Some(q)),
                    None => (path.as_str(), None),
                };
                let slot = cache.slot(&id, &policy, path, query);
                match cache.generations.purge_object(cache.storage, &slot).await {
                    Ok(true) => found += 1,
                    Ok(false) => {}
                    Err(e) => failed = Some(e),
                }
            }
            match failed {
                Some(e) => Err(e),
                None => Ok(json!({ "service": id, "purged": paths, "found": found })),
            }
        }
        // Its cache is off: nothing of it is stored.
        (Some(paths), None) => Ok(json!({ "service": id, "purged": paths, "found": 0 })),
    };
    let kind = if asked.paths.is_some() {
        "url"
    } else {
        "service"
    };
    match outcome {
        Ok(answer) => {
            admin
                .metrics
                .response_cache_purges
                .with_label_values(&[kind])
                .inc();
            admin.audit(&caller, "purge", Some(&id), None, "ok", client);
            Json(answer).into_response()
        }
        Err(e) => {
            admin.audit(&caller, "purge", Some(&id), None, "error", client);
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            )
        }
    }
}

/// Query flags of a write.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct WriteFlags {
    /// Every backend must accept a connection before the change goes live.
    #[serde(default)]
    require_healthy: bool,
}

/// What a change is.
enum Intent {
    /// The document the service should have.
    Put(Value),
    Delete,
}

struct Request<'a> {
    caller: Caller,
    id: &'a str,
    action: Action,
    intent: Intent,
    expect: Expect,
    dry_run: bool,
    flags: WriteFlags,
    client: SocketAddr,
    /// A conflict will be retried (a patch without a version of its own): the call is
    /// audited when it ends, not at each attempt.
    retried: bool,
}

async fn create(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Query(flags): Query<WriteFlags>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    new_service(admin, client, flags, headers, body, false).await
}

async fn validate_new(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Query(flags): Query<WriteFlags>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    new_service(admin, client, flags, headers, body, true).await
}

async fn new_service(
    admin: Arc<Admin>,
    client: SocketAddr,
    flags: WriteFlags,
    headers: HeaderMap,
    body: axum::body::Bytes,
    dry_run: bool,
) -> Response {
    let action = if dry_run { "validate" } else { "create" };
    let caller = match admin.caller(&headers, action, None, client).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let doc = match parse(&headers, &body) {
        Ok(d) => d,
        Err(r) => return admin.malformed(&caller, action, None, client, *r),
    };
    let Some(id) = doc.get("id").and_then(Value::as_str).map(str::to_string) else {
        // Found when tried: a call registering for another ministry without an id was
        // refused unaudited.
        admin.audit(&caller, action, None, None, "invalid", client);
        return invalid(vec![Problem::new("/id", "is required")]);
    };
    change(
        &admin,
        Request {
            caller,
            id: &id,
            action: Action::Create,
            intent: Intent::Put(doc),
            expect: Expect::Absent,
            dry_run,
            flags,
            client,
            retried: false,
        },
    )
    .await
}

/// The call's JSON document. A body declared as anything but JSON (`application/json`, or
/// any `+json` type such as `application/merge-patch+json`) gets 415: a form or text sent
/// by mistake was read as JSON when it happened to parse (found when tried).
fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
    if let Some(declared) = headers.get(header::CONTENT_TYPE) {
        let media = egov_adapters::charset::media_type(declared.to_str().unwrap_or_default())
            .to_ascii_lowercase();
        if media != "application/json" && !media.ends_with("+json") {
            return Err(Box::new(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("the body is declared as {media:?}; send the document as application/json"),
            )));
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(Box::new(invalid(vec![Problem::new(
            "",
            "must be a JSON object",
        )]))),
        Err(e) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            e.to_string(),
        ))),
    }
}

async fn replace(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    Query(flags): Query<WriteFlags>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    write_existing(admin, client, id, flags, headers, body, Action::Replace).await
}

/// A PUT or PATCH of a stored service, tried again while it loses to other calls
/// ([`until_settled`]).
async fn write_existing(
    admin: Arc<Admin>,
    client: SocketAddr,
    id: String,
    flags: WriteFlags,
    headers: HeaderMap,
    body: axum::body::Bytes,
    action: Action,
) -> Response {
    until_settled(&headers, |retried| {
        existing(
            Arc::clone(&admin),
            client,
            id.clone(),
            flags,
            headers.clone(),
            body.clone(),
            action,
            false,
            retried,
        )
    })
    .await
}

/// How many times a change without `If-Match` is tried again on a service another call
/// changed in between, before the caller gets the 412.
const ATTEMPTS: usize = 5;

/// Runs a change until it does not lose to another one. A caller that named no version
/// (no `If-Match`, or `*`) asked for no precondition, so a 412 would be wrong: the change is
/// pinned to the version it was authorised against (a PUT or DELETE must not land on a
/// version the platform has just given another ministry), and when another call landed in
/// between it is read, authorised and checked again on what is there now. A caller that
/// named a version gets the 412 at once. `attempt(true)` is told a conflict will be retried,
/// so it is audited once, when the call ends. On this instance, changes of one service take
/// turns ([`change`]), so only another instance's can come in between.
async fn until_settled<F, A>(headers: &HeaderMap, mut attempt: F) -> Response
where
    F: FnMut(bool) -> A,
    A: std::future::Future<Output = Response>,
{
    let retry = matches!(expectation(headers), Ok(Expect::Any));
    let mut tries = 1;
    loop {
        let more = retry && tries < ATTEMPTS;
        let answer = attempt(more).await;
        if !(more && answer.status() == StatusCode::PRECONDITION_FAILED) {
            return answer;
        }
        tries += 1;
    }
}

async fn patch(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    Query(flags): Query<WriteFlags>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // A patch is merged onto the version it read, and stored only if that is still the
    // service's version: two concurrent patches of different fields both land (the second
    // is merged again onto the first's result) instead of the second silently undoing the
    // first.
    write_existing(admin, client, id, flags, headers, body, Action::Patch).await
}

async fn validate_existing(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    Query(flags): Query<WriteFlags>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    existing(
        admin,
        client,
        id,
        flags,
        headers,
        body,
        Action::Replace,
        true,
        false,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn existing(
    admin: Arc<Admin>,
    client: SocketAddr,
    id: String,
    flags: WriteFlags,
    headers: HeaderMap,
    body: axum::body::Bytes,
    action: Action,
    dry_run: bool,
    retried: bool,
) -> Response {
    let caller = match admin
        .caller(&headers, action.as_str(), Some(&id), client)
        .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    // Whose service it is is settled before the request's own form: another ministry
    // learns nothing from how its malformed calls are answered.
    let current = match visible(&admin, &caller, &id, action.as_str(), client).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut expect = match expectation(&headers) {
        Ok(e) => e,
        Err(r) => return admin.malformed(&caller, action.as_str(), Some(&id), client, *r),
    };
    let given = match parse(&headers, &body) {
        Ok(d) => d,
        Err(r) => return admin.malformed(&caller, action.as_str(), Some(&id), client, *r),
    };
    let doc = if action == Action::Patch {
        if expect == Expect::Any {
            // Stored only over the version the patch was merged onto (see `patch`).
            expect = Expect::Version(current.version);
        }
        let mut doc = current.document;
        checks::merge_patch(&mut doc, &given);
        doc
    } else {
        given
    };
    change(
        &admin,
        Request {
            caller,
            id: &id,
            action,
            intent: Intent::Put(doc),
            expect,
            dry_run,
            flags,
            client,
            retried,
        },
    )
    .await
}

async fn remove(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    until_settled(&headers, |retried| {
        remove_once(&admin, client, &id, &headers, retried)
    })
    .await
}

async fn remove_once(
    admin: &Admin,
    client: SocketAddr,
    id: &str,
    headers: &HeaderMap,
    retried: bool,
) -> Response {
    let caller = match admin.caller(headers, "delete", Some(id), client).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = visible(admin, &caller, id, "delete", client).await {
        return r;
    }
    let expect = match expectation(headers) {
        Ok(e) => e,
        Err(r) => return admin.malformed(&caller, "delete", Some(id), client, *r),
    };
    change(
        admin,
        Request {
            caller,
            id,
            action: Action::Delete,
            intent: Intent::Delete,
            expect,
            dry_run: false,
            flags: WriteFlags::default(),
            client,
            retried,
        },
    )
    .await
}

async fn rollback(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path((id, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let caller = match admin.caller(&headers, "rollback", Some(&id), client).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let store = admin.live.store();
    let (current, changes) = match tokio::try_join!(store.get(&id), store.history(&id)) {
        Ok(found) => found,
        Err(e) => return store_error(e),
    };
    // Whose service it is (now, or when it was deleted) is settled before any version is
    // looked up: another ministry learns nothing of its history.
    let owner = current
        .as_ref()
        .map(|r| r.ministry.clone())
        .or_else(|| changes.last().map(|c| c.ministry.clone()));
    match owner {
        Some(m) if !caller.may(&m) => return admin.forbidden(&caller, "rollback", &id, client),
        Some(_) => {}
        None => {
            admin.audit(&caller, "rollback", Some(&id), None, "not_found", client);
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("there is no service {id:?}"),
            );
        }
    }
    // Read once the caller may act on the service: nobody else learns anything from it.
    let Ok(version) = version.parse::<u64>() else {
        let answer = error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{version:?} is not a version number"),
        );
        return admin.malformed(&caller, "rollback", Some(&id), client, answer);
    };
    let Some(target) = changes.iter().find(|c| c.version == version) else {
        admin.audit(&caller, "rollback", Some(&id), None, "not_found", client);
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("service {id:?} has no version {version}"),
        );
    };
    if !caller.may(&target.ministry) {
        return admin.forbidden(&caller, "rollback", &id, client);
    }
    let Some(doc) = target.document.clone() else {
        return invalid(vec![Problem::new(
            "",
            format!("version {version} is a deletion; roll back to a version that had the service"),
        )]);
    };
    // Its secrets are kept for the last SECRET_VERSIONS versions: said so, rather than the
    // registry's "no such secret" (found in review).
    let mut named = HashSet::new();
    checks::stored_references(&doc, &mut named);
    if !named.is_empty() {
        let kept: HashSet<String> = match store.secrets().await {
            Ok(all) => all.into_iter().map(|(k, _)| k).collect(),
            Err(e) => return store_error(e),
        };
        if !named.is_subset(&kept) {
            return invalid(vec![Problem::new(
                "",
                format!(
                    "version {version} names secrets kept only for a service's last \
{SECRET_VERSIONS} versions; roll back to a later version, or give them again as {{ value }}"
                ),
            )]);
        }
    }
    let expect = match expectation(&headers) {
        Ok(e) => e,
        Err(r) => return admin.malformed(&caller, "rollback", Some(&id), client, *r),
    };
    change(
        &admin,
        Request {
            caller,
            id: &id,
            action: Action::Rollback,
            intent: Intent::Put(doc),
            expect,
            dry_run: false,
            flags: WriteFlags::default(),
            client,
            retried: false,
        },
    )
    .await
}

/// The one path of every change: see the module documentation.
async fn change(admin: &Admin, req: Request<'_>) -> Response {
    // A dry run is its own action in the audit: found when tried, its refusals read as
    // refused creations, and its passes were not written at all.
    let action = if req.dry_run {
        "validate"
    } else {
        req.action.as_str()
    };
    let (caller, id, client) = (&req.caller, req.id, req.client);
    if let Some(refused) = admin.over_rate(caller, action, id, client).await {
        return refused;
    }
    // One change of a service at a time on this instance, from its read to its write:
    // taken once the caller is known (an unauthenticated flood queues for nothing).
    let turn = (!req.dry_run).then(|| admin.turns.of(id));
    let _turn = match &turn {
        Some(t) => Some(t.lock().await),
        None => None,
    };
    let store = admin.live.store();
    let current = match store.get(id).await {
        Ok(c) => c,
        Err(e) => return store_error(e),
    };
    if let Some(c) = &current {
        if !caller.may(&c.ministry) {
            return admin.forbidden(caller, action, id, client);
        }
    }
    // Stored only over the version the caller was allowed to change: without it, a PUT or
    // DELETE could land on a version the platform had just given another ministry (found
    // in review).
    let expect = match (req.expect, &current) {
        (Expect::Any, Some(c)) => Expect::Version(c.version),
        (e, _) => e,
    };
    let mut doc = match req.intent {
        Intent::Delete => {
            let Some(c) = current else {
                admin.audit(caller, action, Some(id), None, "not_found", client);
                return error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("there is no service {id:?}"),
                );
            };
            let mut held = match OneAtATime::take(admin).await {
                Ok(held) => held,
                Err(busy) => return busy,
            };
            let next = admin.live.with_service(id, None);
            if let Err(errors) = admin.live.check(next, &[]).await {
                admin.audit(caller, action, Some(id), None, "invalid", client);
                return invalid(checks::problems_of(&errors.0));
            }
            held.storing();
            return match store.delete(id, expect, &author(caller, req.action)).await {
                Ok(version) => {
                    prune_secrets(store.as_ref(), id).await;
                    held.applied().await;
                    // Its answers can no longer be hit; they would hold L1 until they expire
                    // (found when tried again: 267 MB kept after six services were deleted).
                    admin.cache.storage.forget_service(id);
                    admin.audit(caller, action, Some(id), Some(version), "ok", client);
                    let _ = c;
                    StatusCode::NO_CONTENT.into_response()
                }
                Err(e @ StoreError::Conflict { .. }) if req.retried => store_error(e),
                Err(e) => {
                    admin.audit(caller, action, Some(id), None, result_of(&e), client);
                    store_error(e)
                }
            };
        }
        Intent::Put(doc) => doc,
    };
    if req.action != Action::Create && current.is_none() {
        admin.audit(caller, action, Some(id), None, "not_found", client);
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no service {id:?}"),
        );
    }
    let mut problems = Vec::new();
    if current.is_some() && req.action == Action::Create {
        problems.push(Problem::new("/id", format!("{id:?} is already a service")));
    }
    if doc.get("id").and_then(Value::as_str) != Some(id) {
        problems.push(Problem::new(
            "/id",
            format!("must be {id:?}, the service's id"),
        ));
    }
    if crate::config::values::slug(id).is_err() {
        problems.push(Problem::new(
            "/id",
            "must be lowercase letters, digits and '-' (it is a path segment and a host label)",
        ));
    }
    let Some(ministry) = doc
        .get("ministry")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        problems.push(Problem::new(
            "/ministry",
            "is required: the id of the ministry the service belongs to",
        ));
        admin.audit(caller, action, Some(id), None, "invalid", client);
        return invalid(problems);
    };
    if !caller.may(&ministry) {
        let why = if current.is_some() {
            format!("only the platform may move a service to another ministry ({ministry:?})")
        } else {
            format!(
                "{} may only register services of its own",
                caller.ministry()
            )
        };
        return admin.refused(caller, action, id, client, why);
    }
    // The secrets this ministry gave the service, in any of its versions: a rollback brings
    // an older one back, and a ministry that registers an id another ministry deleted gets
    // none of that ministry's.
    let mut given = HashSet::new();
    if let Some(c) = &current {
        checks::stored_references(&c.document, &mut given);
    }
    let mut named = HashSet::new();
    checks::stored_references(&doc, &mut named);
    if !named.is_subset(&given) {
        // Only then is the history read (one store read per version).
        match store.history(id).await {
            Ok(changes) => changes
                .iter()
                .filter(|c| caller.may(&c.ministry))
                .filter_map(|c| c.document.as_ref())
                .for_each(|d| checks::stored_references(d, &mut given)),
            Err(e) => return store_error(e),
        }
    }
    let known = checks::Known {
        previous: current.as_ref().map(|c| &c.document),
        stored: &given,
    };
    let secrets = checks::take_secrets(id, &mut doc, &known, &mut problems);
    if !problems.is_empty() {
        admin.audit(caller, action, Some(id), None, "invalid", client);
        return invalid(problems);
    }
    let service = match admin.live.validate(&doc, &ministry, id) {
        Ok(s) => s,
        Err(errors) => {
            admin.audit(caller, action, Some(id), None, "invalid", client);
            return invalid(checks::problems_of(&errors.0));
        }
    };
    let snapshot = admin.live.snapshot();
    let upstream_changed = snapshot
        .service(id)
        .is_none_or(|s| s.config.upstream != service.upstream);
    let allow = admin.settings.upstream_allow.clone();
    let own = admin.own_listeners();
    let to_check = service.clone();
    let require_healthy = req.flags.require_healthy;
    let network = tokio::task::spawn_blocking(move || {
        let mut p = Vec::new();
        if upstream_changed {
            p.extend(checks::check_backends(&to_check, &allow, &own));
        }
        if require_healthy && p.is_empty() {
            p.extend(checks::check_reachable(&to_check));
        }
        p
    })
    .await
    .unwrap_or_default();
    problems.extend(network);
    let mut one_at_a_time = None;
    if problems.is_empty() {
        if !req.dry_run {
            match OneAtATime::take(admin).await {
                Ok(held) => one_at_a_time = Some(held),
                Err(busy) => return busy,
            }
        }
        // Against the registry as it is now that no other change is being applied.
        let snapshot = admin.live.snapshot();
        if current.is_none() && !caller.is_platform() {
            // Found when tried: a ministry registered 150 services in 50 seconds, each a
            // line of the catalog, the search and the portal's pages, and up to 32
            // health-checked backends. Counted here, one change at a time.
            let most = admin.settings.max_services_per_ministry;
            let has = snapshot
                .services()
                .iter()
                .filter(|s| s.config.ministry == ministry)
                .count();
            if has >= most as usize {
                problems.push(Problem::new(
                    "/ministry",
                    format!("ministry {ministry:?} has {has} services, the most one ministry may have ([admin] max_services_per_ministry); the platform may register more"),
                ));
            }
        }
        if !caller.is_platform() {
            // What the service was: the stored version this change is pinned to (it may
            // not serve yet: a service stored with a backend that does not resolve yet
            // was no "before" at all; found in review), and the one serving.
            let stored = current
                .as_ref()
                .and_then(|c| admin.live.validate(&c.document, &c.ministry, id).ok());
            let serving = snapshot.service(id).map(|s| &s.config);
            problems.extend(checks::claims_of_other_ministries(
                &service,
                &ministry,
                snapshot.services(),
                stored.as_ref().or(serving),
            ));
            let moved = [stored.as_ref(), serving]
                .into_iter()
                .flatten()
                .find_map(|before| checks::operator_secret_moved(Some(before), &service, &doc));
            problems.extend(moved);
            problems.extend(checks::identity_headers_changed(
                stored.as_ref().or(serving),
                &service,
            ));
        }
    }
    if problems.is_empty() {
        let next = admin.live.with_service(id, Some(service));
        if let Err(errors) = admin.live.check(next, &secrets).await {
            problems.extend(checks::problems_of(&errors.0));
        }
    }
    if !problems.is_empty() {
        admin.audit(caller, action, Some(id), None, "invalid", client);
        return invalid(problems);
    }
    if req.dry_run {
        admin.audit(caller, action, Some(id), None, "ok", client);
        return Json(json!({ "valid": true, "service": id })).into_response();
    }
    if let Some(held) = one_at_a_time.as_mut() {
        held.storing();
    }
    if let Err(e) = store.put_secrets(id, &secrets).await {
        return store_error(e);
    }
    let put = store
        .put(id, &ministry, &doc, expect, &author(caller, req.action))
        .await;
    if matches!(put, Err(StoreError::Conflict { .. })) {
        // Refused for certain (another version is there): no version names them. After
        // any other error the write may have landed, and its version would name them.
        let keys: Vec<String> = secrets.iter().map(|(k, _)| k.clone()).collect();
        if let Err(e) = store.forget_secrets(id, &keys).await {
            tracing::warn!(service = id, error = %e, "admin API: the secrets of a refused change are kept");
        }
    }
    let version = match put {
        Ok(v) => v,
        Err(StoreError::Conflict { .. }) if req.action == Action::Create => {
            // Another call created it between the check above and now.
            admin.audit(caller, action, Some(id), None, "invalid", client);
            return invalid(vec![Problem::new(
                "/id",
                format!("{id:?} is already a service"),
            )]);
        }
        Err(e @ StoreError::Conflict { .. }) if req.retried => return store_error(e),
        Err(e) => {
            admin.audit(caller, action, Some(id), None, result_of(&e), client);
            return store_error(e);
        }
    };
    prune_secrets(store.as_ref(), id).await;
    if let Some(held) = one_at_a_time {
        held.applied().await;
    }
    admin.audit(caller, action, Some(id), Some(version), "ok", client);
    let status = if req.action == Action::Create {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (
        status,
        [(header::ETAG, etag(version))],
        Json(json!({ "id": id, "ministry": ministry, "version": version, "document": doc })),
    )
        .into_response();
    if req.action == Action::Create {
        if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/services/{id}")) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    response
}

fn author(caller: &Caller, action: Action) -> Author {
    Author {
        actor: caller.actor.clone(),
        action,
    }
}

fn result_of(e: &StoreError) -> &'static str {
    match e {
        StoreError::Conflict { .. } => "conflict",
        _ => "error",
    }
}

/// Applies the stored change to this instance now (other instances follow the store).
/// How many of a service's latest versions keep their secrets: what a rollback reaches.
const SECRET_VERSIONS: usize = 20;

/// Forgets the secrets of service `id` that only versions older than its latest
/// [`SECRET_VERSIONS`] name. Each change giving a `{ value }` kept one more for good, and a
/// deleted service's stayed (600 changes kept 14 MB, read at every build; found when
/// tried). A secret no version names is left: it may be another instance's change in
/// flight (found in review), and one of a refused change was forgotten then.
async fn prune_secrets(store: &dyn crate::registry::store::RegistryStore, id: &str) {
    let not_pruned = |e: StoreError| {
        tracing::warn!(service = id, error = %e, "admin API: old secrets not pruned");
    };
    // Read first: a secret given after this read is not among those forgotten.
    let all = match store.secrets().await {
        Ok(all) => all,
        Err(e) => return not_pruned(e),
    };
    let history = match store.history(id).await {
        Ok(h) => h,
        Err(e) => return not_pruned(e),
    };
    let (mut recent, mut old) = (HashSet::new(), HashSet::new());
    for (n, c) in history.iter().rev().enumerate() {
        if let Some(d) = &c.document {
            let named = if n < SECRET_VERSIONS {
                &mut recent
            } else {
                &mut old
            };
            checks::stored_references(d, named);
        }
    }
    let stale: Vec<String> = all
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| old.contains(k) && !recent.contains(k))
        .collect();
    if let Err(e) = store.forget_secrets(id, &stale).await {
        not_pruned(e);
    }
}

/// How long a change waits for the one being applied before it is answered 503.
const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Held from a change's whole-registry check until the registry has applied it: two
/// changes checked side by side each passed against a registry without the other (two
/// services claiming one legacy host both got 201, and the next start refused the stored
/// registry; found when tried). A change whose caller goes away between storing and
/// applying is applied by a task that keeps holding it, so the next change is checked
/// against it (found in review).
struct OneAtATime {
    live: Arc<crate::registry::LiveRegistry>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The store was asked to change: dropped before [`Self::applied`], the change is
    /// applied all the same. A refusal before that applies nothing (each refused change
    /// cost a registry build under the lock; found in review).
    storing: bool,
}

impl OneAtATime {
    async fn take(admin: &Admin) -> Result<Self, Response> {
        let lock = Arc::clone(&admin.writes).lock_owned();
        match tokio::time::timeout(WRITE_WAIT, lock).await {
            Ok(held) => Ok(Self {
                live: Arc::clone(&admin.live),
                held: Some(held),
                storing: false,
            }),
            Err(_) => {
                let mut busy = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    format!(
                        "another change has been applied for over {} s; nothing was changed, retry later",
                        WRITE_WAIT.as_secs()
                    ),
                );
                busy.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                Err(busy)
            }
        }
    }

    /// The store is about to be changed.
    fn storing(&mut self) {
        self.storing = true;
    }

    /// The stored change, applied; the next change may go.
    async fn applied(mut self) {
        apply(&self.live).await;
        self.held = None;
    }
}

impl Drop for OneAtATime {
    fn drop(&mut self) {
        // Still held after the store was asked: the call ended before applying.
        if let Some(held) = self.held.take().filter(|_| self.storing) {
            let live = Arc::clone(&self.live);
            tokio::spawn(async move {
                apply(&live).await;
                drop(held);
            });
        }
    }
}

async fn apply(live: &crate::registry::LiveRegistry) {
    if let Err(e) = live.refresh().await {
        tracing::error!(error = %e, "admin API: a stored change could not be applied");
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

    #[tokio::test]
    async fn axums_plain_text_refusals_become_the_apis_json_errors() {
        // What axum's body limit answers (and its path or query rejections, alike).
        let too_large = (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response();
        let r = json_errors(too_large).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let json = body_json(r).await;
        assert_eq!(json["error"], "too_large");
        assert_eq!(json["error_description"], "length limit exceeded");
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
