//! The calls that only read: the API's description, the services a caller may see, one
//! service, its history, its citizens' feedback and its backends' health.

use super::*;

pub(super) async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::admin::openapi::DOCUMENT,
    )
        .into_response()
}

pub(super) async fn list(
    State(admin): Shared,
    ConnectInfo(client): Client,
    headers: HeaderMap,
) -> Response {
    let caller = match admin.caller(&headers, "read", None, client).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // A record that cannot be read is reported by the registry (`/readyz`, the log).
    let records = match admin.live.listed().await {
        Ok(listing) => listing.records,
        Err(e) => return store_error(e),
    };
    let visible: Vec<Value> = records
        .iter()
        .filter(|r| caller.may(&r.ministry))
        .map(|r| {
            let mut item = json!({
                "id": r.id,
                "ministry": r.ministry,
                "version": r.version,
                "names": r.document.get("names"),
                "access": r.document.get("access"),
                "serving": true,
            });
            if let Some(why) = admin.live.held_back(&r.id) {
                item["serving"] = json!(false);
                item["not_serving_because"] = json!(why);
            }
            item
        })
        .collect();
    Json(json!({ "services": visible })).into_response()
}

/// The record of `id` the caller may see: 404 or 403 otherwise.
pub(super) async fn visible(
    admin: &Admin,
    caller: &Caller,
    id: &str,
    action: &str,
    client: SocketAddr,
) -> Result<Record, Response> {
    match admin.live.stored_existing(id).await {
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
        // Found when tried: a change refused for an outage left no line, so the audit
        // could not show that a ministry had tried (and had to try again).
        Err(e) => {
            admin.audit(
                caller,
                action,
                Some(id),
                None,
                super::change::result_of(&e),
                client,
            );
            Err(store_error(e))
        }
    }
}

/// The caller, authenticated for `action` on service `id`, and the service's record, which
/// must exist and be the caller's ministry's: the preamble of every call about one service.
pub(super) async fn caller_of_service(
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

/// On a read of a stored version that does not serve: why (a change held back).
static NOT_SERVING: header::HeaderName = header::HeaderName::from_static("egov-not-serving");

/// `text` as a header value: one line of visible ASCII (lines joined by `; `, other
/// characters as `?`), at most 1 KiB.
fn header_text(text: &str) -> header::HeaderValue {
    let line: String = text
        .replace('\n', "; ")
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(1024)
        .collect();
    header::HeaderValue::from_str(&line).unwrap_or(header::HeaderValue::from_static("held back"))
}

pub(super) async fn read(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match caller_of_service(&admin, &headers, "read", &id, client).await {
        Ok((_, r)) => {
            let mut answer = ([(header::ETAG, etag(r.version))], Json(r.document)).into_response();
            // Found when tried: a hand edit that does not validate read as the current
            // version, while the last good one kept serving.
            if let Some(why) = admin.live.held_back(&id) {
                answer
                    .headers_mut()
                    .insert(NOT_SERVING.clone(), header_text(&why));
            }
            answer
        }
        Err(r) => r,
    }
}

/// A page of a service's history: the newest `limit` versions (at most [`HISTORY_PAGE`],
/// the default) older than version `before`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(super) struct HistoryPage {
    limit: Option<usize>,
    before: Option<u64>,
}

/// The most versions one answer lists: a service's whole history in one answer was 90 MB
/// after 200 changes of a large document, and held the admin listener (and its /readyz)
/// for seconds (found when tried).
pub(super) const HISTORY_PAGE: usize = 50;

pub(super) async fn history(
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
pub(super) async fn feedback(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    // Citizens' words: every read is audited, as a change is (found when tried: only
    // refusals and changes were, so who read them was nowhere).
    let (caller, record) =
        match caller_of_service(&admin, &headers, "read_feedback", &id, client).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    // Only what citizens said since the service became this ministry's: found in a probe, a
    // ministry registering an id another ministry had deleted read that ministry's
    // citizens' answers (their history, secrets and cache were kept apart already).
    let since = if caller.is_platform() {
        0
    } else {
        match admin.live.store().history(&id).await {
            Ok(changes) => owned_since(&changes, &record.ministry),
            Err(e) => return store_error(e),
        }
    };
    match admin.feedback.for_service(&id).await {
        Ok(mut entries) => {
            entries.retain(|e| e.at >= since);
            admin.audit(&caller, "read_feedback", Some(&id), None, "ok", client);
            Json(json!({ "service": id, "feedback": entries })).into_response()
        }
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

/// When the service's current run under `ministry` began (Unix seconds): the oldest change
/// of the newest unbroken run of its changes by that ministry, after any deletion.
fn owned_since(changes: &[Change], ministry: &str) -> u64 {
    let mut since = 0;
    for c in changes.iter().rev() {
        if c.action == Action::Delete || c.ministry != ministry {
            break;
        }
        since = c.at;
    }
    since
}

pub(super) async fn health(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = match caller_of_service(&admin, &headers, "read", &id, client).await {
        Ok((caller, _)) => caller,
        Err(r) => return r,
    };
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
    // What the gateway itself makes of each backend beside whether it accepts a
    // connection: found when tried, a health check the site answered 404 had every backend
    // out and citizens answered 503, while this said "healthy" (both reachable).
    // The service's breaker, open, turns every citizen away whatever its backends say (found
    // in a bypass probe: "healthy" while every answer was the maintenance page).
    let breaker =
        service
            .upstream
            .breaker
            .as_ref()
            .map(|b| match b.state(std::time::Instant::now()) {
                crate::resilience::breaker::BreakerState::Closed => "closed",
                crate::resilience::breaker::BreakerState::HalfOpen => "half-open",
                crate::resilience::breaker::BreakerState::Open => "open",
            });
    // Each backend at once, none for longer than a change's check may wait, and a few
    // reads at a time (see `HEALTH_READS`): a read whose caller has gone stops.
    let reads = admin.health_reads.of(caller.ministry());
    let Ok(_reading) = reads.acquire().await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the admin API is stopping",
        );
    };
    let upstream = &service.upstream;
    let timeout = upstream.timeouts.connect;
    let reads = upstream.backends().iter().map(|a| async move {
        let (ok, took) = checks::connects(*a, timeout).await;
        let passes = upstream.passes_checks(*a);
        let ejected = upstream.is_ejected(*a);
        json!({
            "address": a.to_string(),
            "reachable": ok,
            "connect_ms": (took.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
            "passes_health_check": passes,
            "ejected": ejected,
            "in_service": passes && !ejected,
        })
    });
    let backends = futures_util::future::join_all(reads).await;
    let healthy = unresolved.is_empty()
        && breaker != Some("open")
        && backends
            .iter()
            .all(|b| b["reachable"] == true && b["in_service"] == true);
    Json(json!({
        "service": id,
        "healthy": healthy,
        "backends": backends,
        "breaker": breaker,
        "unresolved": unresolved,
    }))
    .into_response()
}
