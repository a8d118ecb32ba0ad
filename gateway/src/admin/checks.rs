//! What the ministries' API checks in a service document before anything goes live, beyond
//! the validation every service file gets:
//!
//! - **secrets**: a secret given as `{ value = "…" }` is taken out of the document (kept by
//!   the store, referenced as `{ stored = "<id>:<pointer>:<nonce>" }`) and never returned or logged.
//!   A ministry may not point at a secret it did not give: `{ env }` / `{ file }` references
//!   (which read the gateway's environment and files) are the operators' to set, so a
//!   document may only keep the ones the service already had, and a `{ stored }` reference
//!   must be one this service had in a version of the caller's ministry (a service deleted
//!   and registered again by another ministry does not inherit the first one's secrets);
//! - **backends** (SSRF): every address an upstream host resolves to is checked: link-local
//!   and cloud metadata addresses are always refused, private and loopback ones unless
//!   `[admin] upstream_allow` lists them;
//! - **legacy hosts**: a ministry may not claim a legacy host another ministry's service
//!   lives on (its paths would redirect citizens to the claimer's service).
//!
//! Problems are reported with the JSON pointer of the offending member.

use crate::config::{ConfigError, ServiceConfig};
use crate::registry::address::{is_listener, refused_address};
use ipnet::IpNet;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// One problem with a document: where (a JSON pointer) and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
}

impl Problem {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// A configuration key path (`upstream.url[1]`, `adapters[0].password.env`) as a JSON pointer
/// (`/upstream/url/1`, `/adapters/0/password/env`); `""` (the whole document) stays `""`.
pub fn pointer(field: &str) -> String {
    let mut out = String::new();
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        let name_end = rest.find('[').unwrap_or(rest.len());
        out.push('/');
        out.push_str(&crate::registry::store::escape_pointer(&rest[..name_end]));
        rest = &rest[name_end..];
        while let Some(open) = rest.strip_prefix('[') {
            let close = open.find(']').unwrap_or(open.len());
            out.push('/');
            out.push_str(&open[..close]);
            rest = open.get(close + 1..).unwrap_or("");
        }
    }
    out
}

/// Configuration errors as problems with pointers.
pub fn problems_of(errors: &[ConfigError]) -> Vec<Problem> {
    errors
        .iter()
        .map(|e| Problem::new(pointer(&e.field), e.reason.clone()))
        .collect()
}

/// Whether `v` is a secret reference object (`{ env }`, `{ file }`, `{ stored }` or
/// `{ value }`).
fn secret_kind(v: &Map<String, Value>) -> Option<&'static str> {
    if v.len() != 1 {
        return None;
    }
    ["value", "stored", "env", "file"]
        .into_iter()
        .find(|k| v.get(*k).is_some_and(Value::is_string))
}

/// What a document's secret references are checked against.
pub struct Known<'a> {
    /// The service's document now, if it exists: `{ env }` / `{ file }` references must be
    /// kept exactly where it has them.
    pub previous: Option<&'a Value>,
    /// The `{ stored }` references of the service's versions that belonged to the caller's
    /// ministry (see [`stored_references`]).
    pub stored: &'a HashSet<String>,
}

/// The longest secret a ministry may give: a password, an API key or a token, with room
/// for a PEM key. Every secret is kept for good (a rollback may name it) and the whole set
/// is read at every registry build (found when tried: 1.9 MB secrets grew the file by
/// megabytes a call).
pub const MAX_SECRET_BYTES: usize = 16 * 1024;

/// Takes every `{ value = "…" }` secret out of `doc` (replaced by
/// `{ stored = "<id>:<pointer>:<nonce>" }`) and returns them, checking every other secret
/// reference against what is `known`.
pub fn take_secrets(
    id: &str,
    doc: &mut Value,
    known: &Known<'_>,
    problems: &mut Vec<Problem>,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    walk_secrets(id, "", doc, known, &mut found, problems);
    found
}

/// The backends of `service` (of `ministry`) at an address where every other service is
/// another single ministry's: refused, one problem each. The address map that rewrites
/// legacy links and redirects sends a URL to the service with the longest matching
/// backend path, so a service at `http://<their host>/x/login` took the redirects of that
/// ministry's site at `/x` to its login page (found when tried). An address several
/// ministries already share (one old hosting server) stays open to each of them.
pub fn backends_of_another_ministry(
    service: &ServiceConfig,
    ministry: &str,
    others: &[Arc<crate::registry::Service>],
) -> Vec<Problem> {
    let many = service.upstream.backends.len() > 1;
    let mut problems = Vec::new();
    for (i, b) in service.upstream.backends.iter().enumerate() {
        let mut owners =
            others.iter().filter(|s| {
                s.id() != service.id
                    && s.config.upstream.backends.iter().any(|o| {
                        egov_adapters::links::same_authority(&o.to_string(), &b.to_string())
                    })
            });
        let Some(first) = owners.next() else {
            continue;
        };
        let owner = first.config.ministry.as_str();
        if owner == ministry || owners.any(|s| s.config.ministry != owner) {
            continue;
        }
        let at = if many {
            format!("/upstream/url/{i}")
        } else {
            "/upstream/url".to_string()
        };
        problems.push(Problem::new(
            at,
            format!(
                "{b} is where another ministry's services are ({}); only the platform may add a service there",
                first.id()
            ),
        ));
    }
    problems
}

/// A ministry's change that moves the service to another upstream while it keeps an `{ env }`
/// or `{ file }` secret: refused, pointing at the first such secret. The operators set that
/// secret for the backend the service had (found when tried: a ministry pointed the
/// service at a host of its own, renamed the header, and read the operators' key there).
pub fn operator_secret_moved(previous: Option<&Value>, doc: &Value) -> Option<Problem> {
    let previous = previous?;
    // Where requests go (timeouts and the `Host` sent do not move a secret anywhere).
    if previous.pointer("/upstream/url") == doc.pointer("/upstream/url") {
        return None;
    }
    let at = first_operator_secret(doc, String::new())?;
    Some(Problem::new(
        at,
        "the operators set this secret for the service's upstream, which this change moves to other backends: \
give the secret as { value }, or ask the operators to move the upstream",
    ))
}

/// The JSON pointer of the first `{ env }` or `{ file }` secret in `v`.
fn first_operator_secret(v: &Value, at: String) -> Option<String> {
    match v {
        Value::Object(map) => match secret_kind(map) {
            Some("env" | "file") => Some(at),
            Some(_) => None,
            None => map.iter().find_map(|(k, child)| {
                let here = format!("{at}/{}", crate::registry::store::escape_pointer(k));
                first_operator_secret(child, here)
            }),
        },
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, child)| first_operator_secret(child, format!("{at}/{i}"))),
        _ => None,
    }
}

/// Adds every `{ stored }` reference in `doc` to `out`.
pub fn stored_references(doc: &Value, out: &mut HashSet<String>) {
    match doc {
        Value::Object(map) => match map.get("stored").and_then(Value::as_str) {
            Some(key) if map.len() == 1 => {
                out.insert(key.to_string());
            }
            _ => map.values().for_each(|v| stored_references(v, out)),
        },
        Value::Array(items) => items.iter().for_each(|v| stored_references(v, out)),
        _ => {}
    }
}

fn walk_secrets(
    id: &str,
    at: &str,
    v: &mut Value,
    known: &Known<'_>,
    found: &mut Vec<(String, String)>,
    problems: &mut Vec<Problem>,
) {
    match v {
        Value::Object(map) => {
            if let Some(kind) = secret_kind(map) {
                let before = known.previous.and_then(|p| p.pointer(at));
                match kind {
                    "value" => {
                        // A fresh name per value: a rotated secret changes the document, so
                        // the change is a version (rebuilt, in the history without the
                        // value) and a rollback brings the old secret back too.
                        let key = format!("{id}:{at}:{:08x}", rand::random::<u32>());
                        let secret = map
                            .get("value")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        if secret.is_empty() {
                            problems.push(Problem::new(at, "a secret must not be empty"));
                            return;
                        }
                        if secret.len() > MAX_SECRET_BYTES {
                            problems.push(Problem::new(
                                at,
                                format!("a secret is at most {MAX_SECRET_BYTES} bytes"),
                            ));
                            return;
                        }
                        found.push((key.clone(), secret));
                        *v = serde_json::json!({ "stored": key });
                    }
                    "stored" => {
                        let key = map
                            .get("stored")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        if !key.starts_with(&format!("{id}:")) || !known.stored.contains(key) {
                            problems.push(Problem::new(
                                at,
                                "a stored secret must be one your ministry gave this service (give it as { value })",
                            ));
                        }
                    }
                    _ => {
                        if before != Some(&*v) {
                            problems.push(Problem::new(
                                at,
                                "env and file secrets are the operators' to set; give the secret as { value } (kept by the registry, never returned)",
                            ));
                        }
                    }
                }
                return;
            }
            for (k, child) in map.iter_mut() {
                let here = format!("{at}/{}", crate::registry::store::escape_pointer(k));
                walk_secrets(id, &here, child, known, found, problems);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                walk_secrets(id, &format!("{at}/{i}"), child, known, found, problems);
            }
        }
        _ => {}
    }
}

/// Resolves every backend of `service` and refuses the addresses [`refused_address`] refuses
/// and the gateway's `own` listeners, whatever `allow` says (blocking: call it off the
/// request path). Problems point at `/upstream/url`.
pub fn check_backends(
    service: &ServiceConfig,
    allow: &[IpNet],
    own: &[SocketAddr],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let many = service.upstream.backends.len() > 1;
    for (i, b) in service.upstream.backends.iter().enumerate() {
        let at = if many {
            format!("/upstream/url/{i}")
        } else {
            "/upstream/url".to_string()
        };
        match (b.host.as_str(), b.port).to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    problems.push(Problem::new(&at, format!("{b} resolves to no address")));
                }
                for a in addrs {
                    if let Some(listener) = own.iter().find(|l| is_listener(**l, a, true)) {
                        problems.push(Problem::new(
                            &at,
                            format!(
                                "{b} resolves to {a}, where the gateway itself listens ({listener}): a service may not publish the gateway's portal, admin or metrics listeners"
                            ),
                        ));
                        continue;
                    }
                    if let Some(why) = refused_address(a.ip(), allow) {
                        problems.push(Problem::new(
                            &at,
                            format!("{b} resolves to {}: {why}", a.ip()),
                        ));
                    }
                }
            }
            Err(e) => problems.push(Problem::new(&at, format!("cannot resolve {b}: {e}"))),
        }
    }
    problems
}

/// Whether every backend of `service` accepts a connection within its connect timeout
/// (blocking).
pub fn check_reachable(service: &ServiceConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    for b in &service.upstream.backends {
        let reachable = (b.host.as_str(), b.port)
            .to_socket_addrs()
            .ok()
            .into_iter()
            .flatten()
            .any(|a| {
                std::net::TcpStream::connect_timeout(&a, service.upstream.timeouts.connect).is_ok()
            });
        if !reachable {
            problems.push(Problem::new(
                "/upstream/url",
                format!("{b} does not accept connections (require_healthy)"),
            ));
        }
    }
    problems
}

/// RFC 7396 JSON merge patch of `patch` onto `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_paths_become_json_pointers() {
        assert_eq!(pointer("upstream.url[1]"), "/upstream/url/1");
        assert_eq!(
            pointer("adapters[0].password.env"),
            "/adapters/0/password/env"
        );
        assert_eq!(pointer("names.ar"), "/names/ar");
        assert_eq!(pointer(""), "");
    }

    #[test]
    fn a_given_secret_is_taken_out_and_referenced() {
        let mut doc =
            json!({ "adapters": [{ "step": "basic-auth", "password": { "value": "s3cr3t" } }] });
        let mut problems = Vec::new();
        let known = Known {
            previous: None,
            stored: &HashSet::new(),
        };
        let secrets = take_secrets("svc", &mut doc, &known, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(secrets.len(), 1);
        let (key, value) = &secrets[0];
        assert!(key.starts_with("svc:/adapters/0/password:"), "{key}");
        assert_eq!(value, "s3cr3t");
        assert_eq!(doc["adapters"][0]["password"], json!({ "stored": key }));
        assert!(!doc.to_string().contains("s3cr3t"));
    }

    #[test]
    fn a_ministry_cannot_point_at_a_secret_it_did_not_give() {
        let given = HashSet::from(["svc:/a:0000002a".to_string()]);
        for (doc, previous) in [
            (json!({ "a": { "env": "EGOV_SECRET_OF_ANOTHER" } }), None),
            (
                json!({ "a": { "file": "/etc/shadow" } }),
                Some(json!({ "a": { "file": "/run/x" } })),
            ),
            (json!({ "a": { "stored": "other-service:/a" } }), None),
            // This service's name, but not a secret the caller's ministry gave it (one left
            // by a deleted service of the same id and another ministry).
            (json!({ "a": { "stored": "svc:/a:00000001" } }), None),
        ] {
            let mut doc = doc;
            let mut problems = Vec::new();
            let known = Known {
                previous: previous.as_ref(),
                stored: &given,
            };
            take_secrets("svc", &mut doc, &known, &mut problems);
            assert_eq!(problems.len(), 1, "{doc}: {problems:?}");
            assert_eq!(problems[0].pointer, "/a");
        }
        // The operator's reference, kept as it was, and a secret the ministry gave: fine.
        let mut doc = json!({ "a": { "env": "EGOV_X" }, "b": { "stored": "svc:/a:0000002a" } });
        let mut problems = Vec::new();
        let previous = json!({ "a": { "env": "EGOV_X" } });
        let known = Known {
            previous: Some(&previous),
            stored: &given,
        };
        take_secrets("svc", &mut doc, &known, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn stored_references_are_found_anywhere_in_a_document() {
        let doc = json!({
            "adapters": [
                { "step": "basic-auth", "password": { "stored": "svc:/adapters/0/password:1" } },
                { "step": "api-key", "key": { "stored": "svc:/adapters/1/key:2" } }
            ],
            "names": { "stored": "not a secret", "en": "x" }
        });
        let mut found = HashSet::new();
        stored_references(&doc, &mut found);
        let mut found: Vec<_> = found.into_iter().collect();
        found.sort();
        assert_eq!(
            found,
            ["svc:/adapters/0/password:1", "svc:/adapters/1/key:2"]
        );
    }

    #[test]
    fn a_merge_patch_replaces_removes_and_adds() {
        let mut doc = json!({ "names": { "fr": "A", "en": "B" }, "keywords": ["x"] });
        merge_patch(
            &mut doc,
            &json!({ "names": { "fr": "C", "en": null }, "keywords": ["y", "z"] }),
        );
        assert_eq!(
            doc,
            json!({ "names": { "fr": "C" }, "keywords": ["y", "z"] })
        );
    }
}
