//! The one path of every change: authorise, take secrets out, validate, store with
//! optimistic concurrency, apply through the reload pipeline, audit; one change at a time
//! per instance ([`OneAtATime`]).

use super::*;

/// Query flags of a write.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(super) struct WriteFlags {
    /// Every backend must accept a connection before the change goes live.
    #[serde(default)]
    pub(super) require_healthy: bool,
}

/// What a change is.
pub(super) enum Intent {
    /// The document the service should have.
    Put(Value),
    /// A JSON merge patch, merged onto the service as it is once this call has its turn
    /// (found when tried: merged onto what was read before the turn, six concurrent
    /// patches of one service without `If-Match` lost to each other until one got a 412).
    Patch(Value),
    Delete,
}

pub(super) struct Request<'a> {
    pub(super) caller: Caller,
    pub(super) id: &'a str,
    pub(super) action: Action,
    pub(super) intent: Intent,
    pub(super) expect: Expect,
    pub(super) dry_run: bool,
    pub(super) flags: WriteFlags,
    pub(super) client: SocketAddr,
    /// A conflict will be retried (a patch without a version of its own): the call is
    /// audited when it ends, not at each attempt.
    pub(super) retried: bool,
}

/// The one path of every change: see the module documentation.
pub(super) async fn change(admin: &Admin, req: Request<'_>) -> Response {
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
    let current = match admin.live.stored(id).await {
        Ok(c) => c,
        Err(e) => {
            admin.audit(caller, action, Some(id), None, result_of(&e), client);
            return store_error(e);
        }
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
        // Nothing there (a rollback restoring a deleted service): stored only if nothing
        // was created meanwhile.
        (Expect::Any, None) => Expect::Absent,
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
            let mut held = match OneAtATime::take(admin, caller).await {
                Ok(held) => held,
                Err(busy) => {
                    admin.audit(caller, action, Some(id), None, refusal(&busy), client);
                    return busy;
                }
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
                    let applied = held.applied().await;
                    admin.audit(caller, action, Some(id), Some(version), "ok", client);
                    let _ = c;
                    if !applied {
                        // Found when tried: a deletion the registry could not apply was
                        // answered 204, while citizens were still served the service.
                        return still_serving(id, version);
                    }
                    // Its answers can no longer be hit; they would hold L1 until they expire
                    // (found when tried again: 267 MB kept after six services were deleted).
                    admin.cache.storage.forget_service(id);
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
        Intent::Patch(patch) => match &current {
            Some(c) => {
                let mut doc = c.document.clone();
                checks::merge_patch(&mut doc, &patch);
                doc
            }
            // Nothing to patch: the 404 below.
            None => patch,
        },
    };
    // A rollback may bring back a deleted service: found when tried, undoing a deletion
    // (what a rollback is most wanted for) answered 404.
    if !matches!(req.action, Action::Create | Action::Rollback) && current.is_none() {
        admin.audit(caller, action, Some(id), None, "not_found", client);
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no service {id:?}"),
        );
    }
    if current.is_some() && req.action == Action::Create {
        admin.audit(caller, action, Some(id), None, "conflict", client);
        return already_a_service(id);
    }
    let mut problems = Vec::new();
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
        // Found in a bypass probe: `"ministry": 5` was told it "is required".
        let said = match doc.get("ministry") {
            None | Some(Value::Null) => {
                "is required: the id of the ministry the service belongs to"
            }
            Some(_) => "must be a string: the id of the ministry the service belongs to",
        };
        problems.push(Problem::new("/ministry", said));
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
    // A write that changes nothing of a service serving as stored (a GitOps pipeline that
    // sends every service at every deploy) is no new version and no registry build: 200
    // with the version there, as Kong's declarative sync leaves an unchanged entity alone.
    // Found when tried: each such write was a version with an empty diff.
    let unchanged = current
        .as_ref()
        .filter(|c| c.document == doc && c.ministry == ministry && secrets.is_empty())
        // Only on the version the caller named: a stale If-Match stays a 412.
        .filter(|c| expect == Expect::Version(c.version))
        .filter(|_| snapshot.service(id).is_some_and(|s| s.config == service));
    if let Some(c) = unchanged.filter(|_| !req.dry_run) {
        admin.audit(
            caller,
            action,
            Some(id),
            Some(c.version),
            "unchanged",
            client,
        );
        return stored(StatusCode::OK, id, &ministry, c.version, &doc, true);
    }
    let upstream_changed = snapshot
        .service(id)
        .is_none_or(|s| s.config.upstream != service.upstream);
    let allow = admin.settings.upstream_allow.clone();
    let own = admin.own_listeners();
    let to_check = service.clone();
    let require_healthy = req.flags.require_healthy;
    let (mut network, resolved) = tokio::task::spawn_blocking(move || {
        let mut p = Vec::new();
        let resolved = checks::resolve_backends(&to_check);
        if upstream_changed {
            p.extend(checks::check_backends(&to_check, &resolved, &allow, &own));
        }
        (p, resolved)
    })
    .await
    .unwrap_or_default();
    if require_healthy && network.is_empty() {
        network.extend(checks::check_reachable(&service, &resolved).await);
    }
    problems.extend(network);
    // The `{ stored }` secrets another ministry gave the service (it was moved to the
    // caller's by the platform): kept, they may not follow a move of its upstream.
    let mut foreign = HashSet::new();
    if !caller.is_platform() && current.is_some() {
        let mut named = HashSet::new();
        checks::stored_references(&doc, &mut named);
        if !named.is_empty() {
            match store.history(id).await {
                Ok(changes) => {
                    foreign = checks::given_by_others(&doc, &changes, |m| caller.may(m));
                }
                Err(e) => return store_error(e),
            }
        }
    }
    // What the registry says the service may be (another ministry's host, backend or
    // identity headers; the ministry's count), against the registry as it is when asked.
    let owned = |snapshot: &crate::registry::Snapshot| {
        let mut problems = Vec::new();
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
                &resolved,
            ));
            let moved = [stored.as_ref(), serving]
                .into_iter()
                .flatten()
                .find_map(|before| {
                    checks::operator_secret_moved(Some(before), &service, &doc, &foreign)
                });
            problems.extend(moved);
            problems.extend(checks::identity_headers_changed(
                stored.as_ref().or(serving),
                &service,
            ));
            problems.extend(checks::identity_claims_widened(
                stored.as_ref().or(serving),
                &service,
            ));
        }
        problems
    };
    // The health check runs before the one-at-a-time turn, once the service may be where
    // it says: it sends the backends a request whose path and `Host` the caller chose
    // (found when tried: run before that check, it sent another ministry's site `GET
    // /admin/delete-user?id=42`, and told its status). Found in a probe: run in the turn,
    // a check of a site that never answers, with a timeout of the caller's choosing, held
    // every ministry's changes (and the platform's) for as long as the connection lived.
    if require_healthy && problems.is_empty() {
        problems.extend(owned(&admin.live.snapshot()));
        if problems.is_empty() {
            problems.extend(checks::check_health_as_configured(&service, &resolved).await);
        }
    }
    let mut one_at_a_time = None;
    if problems.is_empty() {
        if !req.dry_run {
            match OneAtATime::take(admin, caller).await {
                Ok(held) => one_at_a_time = Some(held),
                // Found in a bypass probe: a refusal no line recorded.
                Err(busy) => {
                    admin.audit(caller, action, Some(id), None, refusal(&busy), client);
                    return busy;
                }
            }
        }
        // Again, against the registry as it is now that no other change is being applied.
        problems.extend(owned(&admin.live.snapshot()));
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
            admin.audit(caller, action, Some(id), None, "conflict", client);
            return already_a_service(id);
        }
        Err(e @ StoreError::Conflict { .. }) if req.retried => return store_error(e),
        Err(e) => {
            admin.audit(caller, action, Some(id), None, result_of(&e), client);
            return store_error(e);
        }
    };
    prune_secrets(store.as_ref(), id).await;
    let serving = match one_at_a_time {
        Some(held) => held.applied().await,
        None => true,
    };
    admin.audit(caller, action, Some(id), Some(version), "ok", client);
    let status = if req.action == Action::Create {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = stored(status, id, &ministry, version, &doc, serving);
    if req.action == Action::Create {
        if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/services/{id}")) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    response
}

/// The answer to a change that is stored (or was already): the version, as the `ETag` and
/// in the body with the document, and whether the registry serves it ([`NOT_APPLIED`]).
fn stored(
    status: StatusCode,
    id: &str,
    ministry: &str,
    version: u64,
    doc: &Value,
    serving: bool,
) -> Response {
    let mut body = json!({
        "id": id, "ministry": ministry, "version": version, "document": doc, "serving": serving,
    });
    if !serving {
        body["not_serving_because"] = json!(NOT_APPLIED);
    }
    (status, [(header::ETAG, etag(version))], Json(body)).into_response()
}

/// The answer to a deletion that is stored but not applied: the running registry still
/// serves the service, so a 204 ("no longer served") would be untrue. 200 with the list's
/// words (`serving`), and why, without the platform's file names or errors.
fn still_serving(id: &str, version: u64) -> Response {
    let body = json!({
        "id": id, "version": version, "deleted": true, "serving": true,
        "still_serving_because": STILL_SERVING,
    });
    (StatusCode::OK, Json(body)).into_response()
}

/// A creation whose id is taken: 409, as Kong answers a duplicate (a 422 said the document
/// was wrong, when only the method was).
fn already_a_service(id: &str) -> Response {
    error(
        StatusCode::CONFLICT,
        "already_exists",
        format!("{id:?} is already a service: change it with PUT or PATCH"),
    )
}

pub(super) fn author(caller: &Caller, action: Action) -> Author {
    Author {
        actor: caller.actor.clone(),
        action,
    }
}

pub(super) fn result_of(e: &StoreError) -> &'static str {
    match e {
        StoreError::Conflict { .. } => "conflict",
        _ => "error",
    }
}

/// Applies the stored change to this instance now (other instances follow the store).
/// How many of a service's latest versions keep their secrets: what a rollback reaches.
pub(super) const SECRET_VERSIONS: usize = 20;

/// Forgets the secrets of service `id` that only versions older than its latest
/// [`SECRET_VERSIONS`] name. Each change giving a `{ value }` kept one more for good, and a
/// deleted service's stayed (600 changes kept 14 MB, read at every build; found when
/// tried). A secret no version names is left: it may be another instance's change in
/// flight (found in review), and one of a refused change was forgotten then.
pub(super) async fn prune_secrets(store: &dyn crate::registry::store::RegistryStore, id: &str) {
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

/// The answer to a change of a ministry that already has as many waiting for the turn as
/// it may.
fn too_many_waiting(caller: &Caller) -> Response {
    let mut refused = error(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_waiting",
        format!(
            "{} changes of {} already wait for their turn on this instance; nothing was changed, retry later",
            crate::admin::WAITING_CHANGES,
            caller.ministry()
        ),
    );
    refused
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    refused
}

/// How a refusal of the turn is audited: too many of the ministry's changes waiting
/// (`throttled`), or the turn not had in time (`busy`).
fn refusal(answer: &Response) -> &'static str {
    if answer.status() == StatusCode::TOO_MANY_REQUESTS {
        "throttled"
    } else {
        "busy"
    }
}

/// How long a change waits for the one being applied before it is answered 503.
pub(super) const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Held from a change's whole-registry check until the registry has applied it: two
/// changes checked side by side each passed against a registry without the other (two
/// services claiming one legacy host both got 201, and the next start refused the stored
/// registry; found when tried). A change whose caller goes away between storing and
/// applying is applied by a task that keeps holding it, so the next change is checked
/// against it (found in review).
pub(super) struct OneAtATime {
    live: Arc<crate::registry::LiveRegistry>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The store was asked to change: dropped before [`Self::applied`], the change is
    /// applied all the same. A refusal before that applies nothing (each refused change
    /// cost a registry build under the lock; found in review).
    storing: bool,
}

impl OneAtATime {
    /// Waits for the turn, as one of at most a few changes of `caller`'s ministry waiting
    /// (see `PerMinistry`); past them, 429 at once. The platform is not counted, as in
    /// `changes_per_ministry`: its pipeline may send every service at once.
    async fn take(admin: &Admin, caller: &Caller) -> Result<Self, Response> {
        // Held while this change waits; let go once it has the turn.
        let _waiting = if caller.is_platform() {
            None
        } else {
            match admin.waiting.of(caller.ministry()).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => return Err(too_many_waiting(caller)),
            }
        };
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
                        "the changes ahead of this one held the turn for over {} s; nothing was changed, retry later",
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

    /// The stored change, applied; the next change may go. `false`: the registry could
    /// not be built again with it (logged), and the running one serves on.
    async fn applied(mut self) -> bool {
        let applied = apply(&self.live).await;
        self.held = None;
        applied
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

/// The registry built again from the store; `false` if it could not be (logged: the
/// cause is the platform's to mend, a store or a file that no longer reads).
pub(super) async fn apply(live: &crate::registry::LiveRegistry) -> bool {
    match live.refresh().await {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(error = %e, "admin API: a stored change could not be applied");
            false
        }
    }
}

/// What a change's answer says when it is stored but not serving: found in a reload probe,
/// a change answered 200 while the registry could not be rebuilt (its secrets file torn),
/// and the ministry took it for live. Said as the list says it (`serving`,
/// `not_serving_because`), without the platform's file names or errors.
const NOT_APPLIED: &str = "stored, but the gateway could not build its registry again with it (a fault of the platform's, not of this change: its operators are told); it serves once they mend it";

/// Why a stored deletion still serves: [`NOT_APPLIED`]'s case for a service taken away.
const STILL_SERVING: &str = "deleted from the store, but the gateway could not build its registry again without it (a fault of the platform's, not of this deletion: its operators are told); citizens are served it until they mend it";
