//! `POST .../purge`: a service's stored answers dropped from the response cache of every
//! instance.

use super::*;

/// The most paths one purge call may name (each is a shared-store delete and a broadcast).
pub(super) const MAX_PURGE_PATHS: usize = 100;

/// `POST .../purge`: `{}` (or no body) purges every stored answer of the service;
/// `{"paths": ["/a", "/b?x=1"]}` only those. Every instance stops serving them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PurgeRequest {
    #[serde(default)]
    paths: Option<Vec<String>>,
}

pub(super) async fn purge(
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
