//! The calls that change a service (create, replace, patch, delete, rollback, and their dry
//! runs): each reads the caller's document and intent, then hands them to [`super::change`].

use super::*;

pub(super) async fn create(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Query(flags): Query<WriteFlags>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    new_service(admin, client, flags, headers, body, false).await
}

pub(super) async fn validate_new(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Query(flags): Query<WriteFlags>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    new_service(admin, client, flags, headers, body, true).await
}

pub(super) async fn new_service(
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
        // Found in a bypass probe: `"id": 5` was told it "is required".
        let said = match doc.get("id") {
            None | Some(Value::Null) => "is required",
            Some(_) => "must be a string: the service's id",
        };
        return invalid(vec![Problem::new("/id", said)]);
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
pub(super) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
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

pub(super) async fn replace(
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
pub(super) async fn write_existing(
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
pub(super) const ATTEMPTS: usize = 5;

/// Runs a change until it does not lose to another one. A caller that named no version
/// (no `If-Match`, or `*`) asked for no precondition, so a 412 would be wrong: the change is
/// pinned to the version it was authorised against (a PUT or DELETE must not land on a
/// version the platform has just given another ministry), and when another call landed in
/// between it is read, authorised and checked again on what is there now. A caller that
/// named a version gets the 412 at once. `attempt(true)` is told a conflict will be retried,
/// so it is audited once, when the call ends. On this instance, changes of one service take
/// turns ([`change`]), so only another instance's can come in between.
pub(super) async fn until_settled<F, A>(headers: &HeaderMap, mut attempt: F) -> Response
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

pub(super) async fn patch(
    State(admin): Shared,
    ConnectInfo(client): Client,
    Path(id): Path<String>,
    Query(flags): Query<WriteFlags>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // A patch is merged onto the service as it is once the change has its turn on this
    // instance, and stored only if that is still the service's version: concurrent patches
    // of different fields all land (each merged onto the one before) instead of one
    // silently undoing another; another instance's change in between is merged again.
    write_existing(admin, client, id, flags, headers, body, Action::Patch).await
}

pub(super) async fn validate_existing(
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
pub(super) async fn existing(
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
    // A dry run is audited as `validate`, whatever refuses it (as `change` does).
    let audited = if dry_run { "validate" } else { action.as_str() };
    // Whose service it is is settled before the request's own form: another ministry
    // learns nothing from how its malformed calls are answered.
    if let Err(r) = visible(&admin, &caller, &id, audited, client).await {
        return r;
    }
    let expect = match expectation(&headers) {
        Ok(e) => e,
        Err(r) => return admin.malformed(&caller, audited, Some(&id), client, *r),
    };
    let given = match parse(&headers, &body) {
        Ok(d) => d,
        Err(r) => return admin.malformed(&caller, audited, Some(&id), client, *r),
    };
    // A patch is merged onto the service as it is when the change has its turn, and
    // stored over that version (see `patch`).
    let intent = if action == Action::Patch {
        Intent::Patch(given)
    } else {
        Intent::Put(given)
    };
    change(
        &admin,
        Request {
            caller,
            id: &id,
            action,
            intent,
            expect,
            dry_run,
            flags,
            client,
            retried,
        },
    )
    .await
}

pub(super) async fn remove(
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

pub(super) async fn remove_once(
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

pub(super) async fn rollback(
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
    let (current, changes) = match tokio::try_join!(admin.live.stored(&id), store.history(&id)) {
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
        admin.audit(&caller, "rollback", Some(&id), None, "invalid", client);
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
            admin.audit(&caller, "rollback", Some(&id), None, "invalid", client);
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
