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

use crate::config::{AdapterStep, ConfigError, ServiceConfig};
use crate::registry::address::{is_listener, refused_address, unmapped};
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

/// The longest secret a ministry may give ([`crate::config::MAX_SECRET_BYTES`]). Every
/// secret is kept for good (a rollback may name it) and the whole set is read at every
/// registry build (found when tried: 1.9 MB secrets grew the file by megabytes a call).
pub use crate::config::MAX_SECRET_BYTES;

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

/// Where a ministry's service may not go because other ministries are there: its legacy
/// host, when it is another ministry's service's legacy host or backend address, and each
/// backend it adds (one it already had is left alone) at an address where other
/// ministries' services are (as backend or legacy host) and none of its own. Both feed
/// the one address map that rewrites legacy links and redirects, where the longest
/// matching path wins: a service at `http://<their host>/x/login` took the redirects of
/// that ministry's site at `/x` to its login page (found when tried; and through their
/// legacy host's name, or as a third ministry on a shared server, found in review).
/// Ministries already sharing one old hosting server remain open to each other there.
///
/// A backend is compared by its spelling and by where it leads: `resolved[i]` holds the
/// addresses backend `i` resolves to ([`resolve_backends`]), matched against the addresses
/// each other service's backends were resolved to when the registry was built, IPv6
/// spellings of an IPv4 address as that address. Found when tried: refused at
/// `127.0.0.1:18111`, a ministry put its service on another ministry's backend as
/// `localhost:18111` or `[::ffff:127.0.0.1]:18111`, and its header rules wrote to that site.
pub fn claims_of_other_ministries(
    service: &ServiceConfig,
    ministry: &str,
    others: &[Arc<crate::registry::Service>],
    before: Option<&ServiceConfig>,
    resolved: &[std::io::Result<Vec<SocketAddr>>],
) -> Vec<Problem> {
    use egov_adapters::links::same_authority;
    let others: Vec<&crate::registry::Service> = others
        .iter()
        .map(Arc::as_ref)
        .filter(|s| s.config.id != service.id)
        .collect();
    let canonical = |a: &SocketAddr| SocketAddr::new(unmapped(a.ip()), a.port());
    // Whether one of `theirs`' backends is `authority`, by name or (for the document's
    // backend `i`) by address.
    let leads_there = |theirs: &crate::registry::Service, authority: &str, i: Option<usize>| {
        let mine = match i.and_then(|i| resolved.get(i)) {
            Some(Ok(addrs)) => addrs.as_slice(),
            _ => &[],
        };
        theirs
            .config
            .upstream
            .backends
            .iter()
            .any(|b| same_authority(&b.to_string(), authority))
            || theirs
                .upstream
                .backends()
                .iter()
                .any(|t| mine.iter().any(|m| canonical(m) == canonical(t)))
    };
    let at_address = |authority: &str, i: Option<usize>| -> Vec<&ServiceConfig> {
        others
            .iter()
            .filter(|s| {
                s.config
                    .legacy
                    .hosts()
                    .any(|h| same_site_name(h, authority))
                    || leads_there(s, authority, i)
            })
            .map(|s| &s.config)
            .collect()
    };
    let mut problems = Vec::new();
    for (i, legacy) in service.legacy.hosts().enumerate() {
        // A legacy host the service had stays (the shipped registry gives www.macnss.ma to
        // two ministries' services: neither could change anything else; found in review).
        let kept = before.is_some_and(|p| p.legacy.hosts().any(|h| same_authority(h, legacy)));
        let other = at_address(legacy, None)
            .into_iter()
            .find(|s| s.ministry != ministry);
        if let Some(other) = other.filter(|_| !kept) {
            problems.push(Problem::new(
                pointer(&crate::config::LegacySite::host_field(i)),
                format!(
                    "{legacy} is the legacy host or backend address of another ministry's service ({})",
                    other.id
                ),
            ));
        }
    }
    let many = service.upstream.backends.len() > 1;
    let path = &service.upstream.base_path;
    let path_kept = before.is_some_and(|p| p.upstream.base_path == *path);
    for (i, b) in service.upstream.backends.iter().enumerate() {
        let address = b.to_string();
        let had = before.is_some_and(|p| {
            p.upstream
                .backends
                .iter()
                .any(|o| same_authority(&o.to_string(), &address))
        });
        let there = at_address(&address, Some(i));
        // On a server ministries share, not inside another's service's own path: the
        // longest path wins in the address map, so a service at `<their path>/demande` took
        // the links to that page in every page, theirs included (found when tried). (A
        // service at the server's root, as on a virtual-hosting server, owns no path of
        // its own there: links to its root go to the first registered.)
        let inside = others
            .iter()
            .find(|s| {
                s.config.ministry != ministry
                    && !s.config.upstream.base_path.trim_end_matches('/').is_empty()
                    && leads_there(s, &address, Some(i))
                    && path_is_under(path, &s.config.upstream.base_path)
            })
            .map(|s| &s.config);
        if let Some(other) = inside.filter(|_| !(had && path_kept)) {
            problems.push(Problem::new(
                backend_pointer(i, many),
                format!(
                    "{b}{path} is inside another ministry's service ({}, at {}): links to it in every page would lead here; only the platform may place a service there",
                    other.id, other.upstream.base_path
                ),
            ));
            continue;
        }
        if had || there.iter().any(|s| s.ministry == ministry) {
            continue;
        }
        if let Some(other) = there.iter().find(|s| s.ministry != ministry) {
            problems.push(Problem::new(
                backend_pointer(i, many),
                format!(
                    "{b} is where another ministry's services are ({}); only the platform may add a service there",
                    other.id
                ),
            ));
        }
    }
    problems
}

/// Whether legacy names `a` and `b` are one site's: the same authority, or one the other
/// with `www.` in front (`emploi.gov.ma` and `www.emploi.gov.ma` are one site to every
/// citizen who types either). Found when tried: a ministry claimed the bare name of another
/// ministry's `www.` site, and every page's links to that name, the other ministry's pages
/// included, led to its service.
fn same_site_name(a: &str, b: &str) -> bool {
    fn without_www(name: &str) -> &str {
        match name.get(..4) {
            Some(www) if www.eq_ignore_ascii_case("www.") => &name[4..],
            _ => name,
        }
    }
    egov_adapters::links::same_authority(a, b)
        || egov_adapters::links::same_authority(without_www(a), without_www(b))
}

/// Whether backend path `path` is `theirs` or under it, segment by segment and in any case
/// (as an old Windows server reads paths: `/CNIE-Renewal/x` is under `/cnie-renewal`; `/`
/// holds every path; `/cnie` does not hold `/cnie-renewal`).
fn path_is_under(path: &str, theirs: &str) -> bool {
    let (path, theirs) = (path.trim_end_matches('/'), theirs.trim_end_matches('/'));
    path.len() >= theirs.len()
        && path.is_char_boundary(theirs.len())
        && path[..theirs.len()].eq_ignore_ascii_case(theirs)
        && (path.len() == theirs.len() || path[theirs.len()..].starts_with('/'))
}

/// The JSON pointer of backend `i` of a service with one backend (`url` a string) or `many`.
fn backend_pointer(i: usize, many: bool) -> String {
    if many {
        format!("/upstream/url/{i}")
    } else {
        "/upstream/url".to_string()
    }
}

/// A ministry's change that declares or changes an `identity-headers` step: refused (the
/// platform's to make). Every spelling of those names is taken off every client's request to
/// every service, and no service's rule may write them: found when tried, a ministry named
/// `SOAPAction` and `X-MicrosoftAjax` and every other ministry's SOAP and ASP.NET sites lost
/// them. Steps that were there before may stay as they are.
pub fn identity_headers_changed(
    before: Option<&ServiceConfig>,
    now: &ServiceConfig,
) -> Option<Problem> {
    let steps = |s: &ServiceConfig| -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = s
            .adapters
            .iter()
            .filter_map(|step| match step {
                AdapterStep::IdentityHeaders { subject, name } => Some((
                    subject.to_ascii_lowercase(),
                    name.as_ref().map(|n| n.to_ascii_lowercase()),
                )),
                _ => None,
            })
            .collect();
        out.sort();
        out
    };
    let now_steps = steps(now);
    if now_steps.is_empty() || before.is_some_and(|b| steps(b) == now_steps) {
        return None;
    }
    let at = now
        .adapters
        .iter()
        .position(|s| matches!(s, AdapterStep::IdentityHeaders { .. }))
        .unwrap_or(0);
    Some(Problem::new(
        format!("/adapters/{at}"),
        "only the platform may declare or change identity headers: every spelling of their \
names is taken off every client's request to every service of the portal",
    ))
}

/// A ministry's change that asks for more of the citizen's identity than the service had
/// (`[identity] claims`: her name, how she authenticated, her professional profile):
/// refused, the platform's to grant. Found when tried (a data-protection audit): the
/// employment ministry gave its job-seeker service the `name` claim with its own key, and
/// the next assertion carried the citizen's full name, with only an audit line to say so.
/// Which personal data a ministry receives is decided once, for the portal, not by the
/// receiver. Fewer claims, or the same, are the ministry's to set.
pub fn identity_claims_widened(
    before: Option<&ServiceConfig>,
    now: &ServiceConfig,
) -> Option<Problem> {
    let had = before.map(|b| b.identity_claims).unwrap_or_default();
    let asked = now.identity_claims;
    let added: Vec<&str> = [
        (asked.name && !had.name, "name"),
        (asked.acr && !had.acr, "acr"),
        (asked.professional && !had.professional, "professional"),
    ]
    .into_iter()
    .filter_map(|(added, claim)| added.then_some(claim))
    .collect();
    if added.is_empty() {
        return None;
    }
    Some(Problem::new(
        "/identity/claims",
        format!(
            "only the platform may give a service more of the citizen's identity ({}): which personal data a ministry receives is the platform's to decide",
            added.join(", ")
        ),
    ))
}

/// A ministry's change that moves the service to other backends (or another `Host` and
/// TLS name) while it keeps an `{ env }` or `{ file }` secret: refused, pointing at the
/// first such secret. The operators set that secret for the upstream the service had
/// (found when tried: a ministry pointed the service at a host of its own, renamed the
/// header, and read the operators' key there; a virtual host of its own on a shared server
/// needs only `upstream.host`, found in review). Timeouts or weights move nothing.
///
/// So is a `{ stored }` secret another ministry gave (`foreign`: the service was moved to
/// the caller's ministry by the platform). Found in a probe: after such a move, the new
/// ministry pointed the service at a server of its own and received the former ministry's
/// legacy password there.
pub fn operator_secret_moved(
    before: Option<&ServiceConfig>,
    now: &ServiceConfig,
    doc: &Value,
    foreign: &HashSet<String>,
) -> Option<Problem> {
    let before = before?;
    let addresses = |s: &ServiceConfig| {
        let mut a: Vec<String> = s
            .upstream
            .backends
            .iter()
            .map(|b| b.to_string().to_ascii_lowercase())
            .collect();
        a.sort();
        a.dedup();
        a
    };
    let same = addresses(before) == addresses(now)
        && before
            .upstream
            .host
            .eq_ignore_ascii_case(&now.upstream.host)
        && before.upstream.tls == now.upstream.tls;
    if same {
        return None;
    }
    let (at, whose) = first_secret_not_given(doc, String::new(), foreign)?;
    let said = match whose {
        Giver::Operators => "the operators set this secret for the service's upstream, which this change moves: \
give the secret as { value }, or ask the operators to move the upstream",
        Giver::OtherMinistry => "another ministry gave this secret for the service's upstream, which this change moves: \
give the secret as { value }, or ask the platform to move the upstream",
    };
    Some(Problem::new(at, said))
}

/// Who set a secret the caller did not give.
enum Giver {
    Operators,
    OtherMinistry,
}

/// The JSON pointer of the first `{ env }` or `{ file }` secret in `v`, or `{ stored }`
/// one named in `foreign`.
fn first_secret_not_given(
    v: &Value,
    at: String,
    foreign: &HashSet<String>,
) -> Option<(String, Giver)> {
    match v {
        Value::Object(map) => match secret_kind(map) {
            Some("env" | "file") => Some((at, Giver::Operators)),
            Some("stored") => map
                .get("stored")
                .and_then(Value::as_str)
                .filter(|k| foreign.contains(*k))
                .map(|_| (at, Giver::OtherMinistry)),
            Some(_) => None,
            None => map.iter().find_map(|(k, child)| {
                let here = format!("{at}/{}", crate::registry::store::escape_pointer(k));
                first_secret_not_given(child, here, foreign)
            }),
        },
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, child)| first_secret_not_given(child, format!("{at}/{i}"), foreign)),
        _ => None,
    }
}

/// The `{ stored }` secrets of `doc` that a ministry `caller_may` not act for gave the
/// service: each secret's giver is the ministry of the first version (oldest first in
/// `history`) naming it.
pub fn given_by_others(
    doc: &Value,
    history: &[crate::registry::store::Change],
    caller_may: impl Fn(&str) -> bool,
) -> HashSet<String> {
    let mut named = HashSet::new();
    stored_references(doc, &mut named);
    let mut giver: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for change in history {
        let mut refs = HashSet::new();
        if let Some(d) = &change.document {
            stored_references(d, &mut refs);
        }
        for r in refs {
            giver.entry(r).or_insert(&change.ministry);
        }
    }
    named
        .into_iter()
        .filter(|r| giver.get(r).is_some_and(|m| !caller_may(m)))
        .collect()
}

pub use crate::registry::store::stored_references;

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

/// Every address each backend of `service` resolves to, in configuration order (blocking:
/// call it off the request path).
pub fn resolve_backends(service: &ServiceConfig) -> Vec<std::io::Result<Vec<SocketAddr>>> {
    service
        .upstream
        .backends
        .iter()
        .map(|b| Ok((b.host.as_str(), b.port).to_socket_addrs()?.collect()))
        .collect()
}

/// Refuses the addresses [`refused_address`] refuses and the gateway's `own` listeners,
/// whatever `allow` says, among those the backends of `service` were `resolved` to
/// ([`resolve_backends`]). Problems point at `/upstream/url`.
pub fn check_backends(
    service: &ServiceConfig,
    resolved: &[std::io::Result<Vec<SocketAddr>>],
    allow: &[IpNet],
    own: &[SocketAddr],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let many = service.upstream.backends.len() > 1;
    for (i, (b, addrs)) in service.upstream.backends.iter().zip(resolved).enumerate() {
        let at = backend_pointer(i, many);
        match addrs {
            Ok(addrs) => {
                if addrs.is_empty() {
                    problems.push(Problem::new(&at, format!("{b} resolves to no address")));
                }
                for a in addrs {
                    if let Some(listener) = own.iter().find(|l| is_listener(**l, *a, true)) {
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

/// Whether every backend of `service`, at the addresses it was `resolved` to, accepts a
/// connection within its connect timeout (at most [`HEALTH_CHECK_LIMIT`]), all at once.
pub async fn check_reachable(
    service: &ServiceConfig,
    resolved: &[std::io::Result<Vec<SocketAddr>>],
) -> Vec<Problem> {
    let timeout = service.upstream.timeouts.connect;
    let checks = service
        .upstream
        .backends
        .iter()
        .zip(resolved)
        .map(|(b, addrs)| async move {
            let addrs = addrs.as_deref().unwrap_or_default();
            let tries = addrs.iter().map(|a| connects(*a, timeout));
            let reachable = futures_util::future::join_all(tries)
                .await
                .into_iter()
                .any(|(ok, _)| ok);
            (!reachable).then(|| {
                Problem::new(
                    "/upstream/url",
                    format!("{b} does not accept connections (require_healthy)"),
                )
            })
        });
    futures_util::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Whether `addr` accepts a TCP connection within `timeout` (at most
/// [`HEALTH_CHECK_LIMIT`]), and how long it took to tell.
pub async fn connects(
    addr: SocketAddr,
    timeout: std::time::Duration,
) -> (bool, std::time::Duration) {
    let started = std::time::Instant::now();
    let limit = timeout.min(HEALTH_CHECK_LIMIT);
    let ok = matches!(
        tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    );
    (ok, started.elapsed())
}

/// The longest a change's health check (`require_healthy`) or a health read waits for a
/// backend, whatever timeouts the service gives itself: found in a probe, a check with a
/// ten-minute timeout of a site that never answers kept the call (and, then, every
/// ministry's changes) waiting, and a connect timeout of a year made each health read of
/// 32 such backends hold a thread for an hour after its caller had gone.
pub const HEALTH_CHECK_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether every backend of `service`, at the address it was `resolved` to, passes the
/// service's own active health check, run once as its balancer will run it (`require_healthy`).
/// Found when tried: a check of a path the site answers 404 passed `require_healthy` (a TCP
/// connection), and five seconds later every backend was out and citizens got 503.
pub async fn check_health_as_configured(
    service: &ServiceConfig,
    resolved: &[std::io::Result<Vec<SocketAddr>>],
) -> Vec<Problem> {
    const AT: &str = "/upstream/health_check";
    let Some(config) = &service.upstream.health_check else {
        return Vec::new();
    };
    let upstream = &service.upstream;
    let check = match crate::resilience::health::build(config, &upstream.host, upstream.tls) {
        Ok(check) => check,
        Err(e) => return vec![Problem::new(AT, e)],
    };
    let what = match &config.http_path {
        Some(path) => format!("GET {path} answered 2xx or 3xx"),
        None => "a connection".to_string(),
    };
    // All at once: the change holds the admin API's one-at-a-time turn meanwhile, and one
    // after another, 32 backends that never answer held it for 32 check timeouts.
    let checks = upstream
        .backends
        .iter()
        .zip(resolved)
        .filter_map(|(b, addrs)| {
            // The balancer checks the first address a name resolves to.
            let addr = addrs.as_ref().ok().and_then(|a| a.first())?;
            let target = pingora::lb::Backend::new(&addr.to_string()).ok()?;
            let check = &check;
            Some(async move {
                let checked = tokio::time::timeout(HEALTH_CHECK_LIMIT, check.check(&target)).await;
                (b, checked)
            })
        });
    futures_util::future::join_all(checks)
        .await
        .into_iter()
        .filter_map(|(b, checked)| {
            let why = match checked {
                Ok(Ok(())) => return None,
                Ok(Err(e)) => match e.etype() {
                    pingora::ErrorType::CustomCode(_, status) => format!("it answered {status}"),
                    other => other.as_str().to_string(),
                },
                Err(_) => format!(
                    "no answer within {} s, the longest a change waits for one",
                    HEALTH_CHECK_LIMIT.as_secs()
                ),
            };
            Some(Problem::new(
                AT,
                format!("{b} fails the service's health check ({what}): {why}; the check would take it out of service (require_healthy)"),
            ))
        })
        .collect()
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

    /// The shipped registry's services, and one of them re-made as `id` of `ministry` at
    /// `backend` with legacy host `legacy`.
    fn registry_and(
        id: &str,
        ministry: &str,
        backend: &str,
        legacy: &str,
    ) -> (Arc<crate::registry::Snapshot>, ServiceConfig) {
        let snap = crate::registry::fixtures::snapshot();
        let mut s = snap.services()[0].config.clone();
        s.id = id.into();
        s.ministry = ministry.into();
        s.legacy.hostname = legacy.into();
        let (host, port) = backend.rsplit_once(':').expect("host:port");
        s.upstream.backends = vec![crate::config::Backend {
            host: host.trim_start_matches('[').trim_end_matches(']').into(),
            port: port.parse().expect("port"),
            weight: 1,
        }];
        (snap, s)
    }

    /// A service of `ministry` alone at 10.9.9.9:8080 (legacy host old.interior.ma),
    /// added to `snap`'s services.
    fn with_one_at(
        snap: &crate::registry::Snapshot,
        ministry: &str,
    ) -> Vec<Arc<crate::registry::Service>> {
        with_one_at_address(snap, ministry, "10.9.9.9", 8080)
    }

    /// A service of `ministry` alone at `host:port` (legacy host old.interior.ma).
    fn with_one_at_address(
        snap: &crate::registry::Snapshot,
        ministry: &str,
        host: &str,
        port: u16,
    ) -> Vec<Arc<crate::registry::Service>> {
        let mut config = snap.config.clone();
        let mut theirs = config.services[0].clone();
        theirs.id = "theirs".into();
        theirs.ministry = ministry.into();
        theirs.legacy.hostname = "old.interior.ma".into();
        theirs.upstream.backends = vec![crate::config::Backend {
            host: host.into(),
            port,
            weight: 1,
        }];
        config.services = vec![theirs];
        crate::registry::Snapshot::build(&config, &crate::config::Secrets::from_process())
            .expect("a registry of one")
            .services()
            .to_vec()
    }

    /// [`claims_of_other_ministries`] with `mine`'s backends resolved, as the API does.
    fn claims(
        mine: &ServiceConfig,
        ministry: &str,
        others: &[Arc<crate::registry::Service>],
        before: Option<&ServiceConfig>,
    ) -> Vec<Problem> {
        claims_of_other_ministries(mine, ministry, others, before, &resolve_backends(mine))
    }

    fn pointers(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(|p| p.pointer.clone()).collect()
    }

    #[test]
    fn a_backend_at_an_address_of_another_ministry_alone_is_refused_in_any_spelling() {
        let (snap, _) = registry_and("x", "justice", "10.9.9.9:8080", "x.justice.ma");
        let others = with_one_at(&snap, "interior");
        for backend in [
            "10.9.9.9:8080",
            "old.interior.ma:443",
            "OLD.interior.ma.:80",
        ] {
            let (_, mine) = registry_and("grab", "justice", backend, "grab.justice.ma");
            let found = claims(&mine, "justice", &others, None);
            assert_eq!(pointers(&found), ["/upstream/url"], "{backend}");
        }
        // Its own ministry may add more there.
        let (_, more) = registry_and("more", "interior", "10.9.9.9:8080", "more.interior.ma");
        assert!(claims(&more, "interior", &others, None).is_empty());
    }

    #[test]
    fn a_backend_at_another_ministrys_address_is_refused_however_its_host_is_written() {
        let (snap, _) = registry_and("x", "justice", "10.1.1.1:80", "x.justice.ma");
        let others = with_one_at_address(&snap, "employment", "127.0.0.1", 18111);
        for backend in [
            "localhost:18111",
            "[::ffff:127.0.0.1]:18111",
            "[::ffff:7f00:1]:18111",
        ] {
            let (_, mine) = registry_and("grab", "justice", backend, "grab.justice.ma");
            let found = claims(&mine, "justice", &others, None);
            assert_eq!(pointers(&found), ["/upstream/url"], "{backend}");
            assert!(found[0].message.contains("theirs"), "{found:?}");
        }
        // Another port of the same machine is another site.
        let (_, beside) = registry_and("beside", "justice", "localhost:18112", "b.justice.ma");
        assert!(claims(&beside, "justice", &others, None).is_empty());
    }

    #[test]
    fn a_legacy_host_at_another_ministrys_address_is_refused() {
        let (snap, _) = registry_and("x", "justice", "10.1.1.1:80", "x.justice.ma");
        let others = with_one_at(&snap, "interior");
        for legacy in ["old.interior.ma", "10.9.9.9:8080"] {
            let (_, mine) = registry_and("grab", "justice", "10.1.1.1:80", legacy);
            let found = claims(&mine, "justice", &others, None);
            assert_eq!(pointers(&found), ["/legacy/hostname"], "{legacy}");
        }
    }

    #[test]
    fn an_alias_at_another_ministrys_host_is_refused() {
        let (snap, _) = registry_and("x", "justice", "10.1.1.1:80", "x.justice.ma");
        let others = with_one_at(&snap, "interior");
        let (_, mut mine) = registry_and("grab", "justice", "10.1.1.1:80", "grab.justice.ma");
        mine.legacy.aliases = vec!["www.grab.justice.ma".into(), "old.interior.ma".into()];
        let found = claims(&mine, "justice", &others, None);
        assert_eq!(pointers(&found), ["/legacy/aliases/1"]);
    }

    #[test]
    fn a_legacy_host_with_or_without_www_of_another_ministrys_is_refused() {
        let (snap, _) = registry_and("x", "justice", "10.1.1.1:80", "x.justice.ma");
        let others = with_one_at(&snap, "interior");
        for legacy in ["www.old.interior.ma", "WWW.Old.Interior.ma."] {
            let (_, mine) = registry_and("grab", "justice", "10.1.1.1:80", legacy);
            let found = claims(&mine, "justice", &others, None);
            assert_eq!(pointers(&found), ["/legacy/hostname"], "{legacy}");
        }
        let mut config = snap.config.clone();
        let mut www = config.services[0].clone();
        www.ministry = "interior".into();
        www.legacy.hostname = "www.emploi.gov.ma".into();
        config.services = vec![www];
        let theirs =
            crate::registry::Snapshot::build(&config, &crate::config::Secrets::from_process())
                .expect("registry")
                .services()
                .to_vec();
        let (_, mine) = registry_and("grab", "justice", "10.1.1.1:80", "emploi.gov.ma");
        let found = claims(&mine, "justice", &theirs, None);
        assert_eq!(pointers(&found), ["/legacy/hostname"]);
        // Another name that merely ends alike is another site.
        let (_, beside) = registry_and("b", "justice", "10.1.1.1:80", "wwwold.interior.ma");
        assert!(claims(&beside, "justice", &others, None).is_empty());
    }

    #[test]
    fn a_ministry_new_to_a_shared_address_is_refused_and_one_already_there_is_not() {
        // The shipped registry: many ministries on the estate's one address.
        let snap = crate::registry::fixtures::snapshot();
        let shared = snap.services()[0].config.upstream.backends[0].to_string();
        let present = snap.services()[0].config.ministry.clone();
        let (_, newcomer) = registry_and("n", "no-such-ministry-yet", &shared, "n.gov.ma");
        let found = claims(&newcomer, "no-such-ministry-yet", snap.services(), None);
        assert_eq!(pointers(&found), ["/upstream/url"]);
        let (_, sibling) = registry_and("s", &present, &shared, "s.gov.ma");
        assert!(claims(&sibling, &present, snap.services(), None).is_empty());
    }

    #[test]
    fn a_path_inside_another_ministrys_service_on_a_shared_server_is_refused() {
        // The shipped registry: many ministries on the estate's one address.
        let snap = crate::registry::fixtures::snapshot();
        let theirs = &snap
            .services()
            .iter()
            .find(|s| s.config.upstream.base_path.len() > 1)
            .expect("a service at a path of its own")
            .config;
        let shared = theirs.upstream.backends[0].to_string();
        let other_ministry = snap
            .services()
            .iter()
            .map(|s| &s.config)
            .find(|s| s.ministry != theirs.ministry && s.upstream.backends[0].to_string() == shared)
            .expect("another ministry on the shared server")
            .ministry
            .clone();
        let at = |ministry: &str, path: &str| {
            let (_, mut s) = registry_and("n", ministry, &shared, "n.gov.ma");
            s.upstream.base_path = path.into();
            s
        };
        let base = theirs.upstream.base_path.trim_end_matches('/').to_string();
        for path in [format!("{base}/demande"), base.clone(), format!("{base}/")] {
            let inside = at(&other_ministry, &path);
            let found = claims(&inside, &other_ministry, snap.services(), None);
            assert_eq!(pointers(&found), ["/upstream/url"], "{path}");
            assert!(found[0].message.contains(&theirs.id), "{found:?}");
            // Moved there by a change of an existing service: the same.
            let mut before = inside.clone();
            before.upstream.base_path = "/elsewhere".into();
            let moved = claims(&inside, &other_ministry, snap.services(), Some(&before));
            assert_eq!(pointers(&moved), ["/upstream/url"], "{path}");
        }
        // Beside it, or by its own ministry, it is not.
        let beside = at(&other_ministry, &format!("{base}-other"));
        assert!(claims(&beside, &other_ministry, snap.services(), None).is_empty());
        let own = at(&theirs.ministry, &format!("{base}/demande"));
        assert!(claims(&own, &theirs.ministry, snap.services(), None).is_empty());
        assert!(path_is_under("/a/b", "/"));
        assert!(!path_is_under("/cnie-renewal", "/cnie"));
        assert!(path_is_under("/CNIE-Renewal/demande", "/cnie-renewal"));
    }

    #[test]
    fn a_backend_the_service_already_had_is_left_alone() {
        let (snap, _) = registry_and("x", "justice", "10.9.9.9:8080", "x.justice.ma");
        let others = with_one_at(&snap, "interior");
        // Placed there by the platform; its ministry now changes a description.
        let (_, placed) = registry_and("placed", "justice", "10.9.9.9:8080", "p.justice.ma");
        let found = claims(&placed, "justice", &others, Some(&placed));
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn an_operators_secret_stays_with_the_backends_host_and_tls_it_was_set_for() {
        let doc = json!({ "adapters": [{ "step": "basic-auth", "password": { "env": "EGOV_SECRET_X" } }] });
        let (_, before) = registry_and("x", "justice", "10.9.9.9:8080", "x.justice.ma");
        let mut weighed = before.clone();
        weighed.upstream.backends[0].weight = 5;
        weighed.upstream.timeouts.read = std::time::Duration::from_secs(99);
        assert!(operator_secret_moved(Some(&before), &weighed, &doc, &HashSet::new()).is_none());
        let mut moved = before.clone();
        moved.upstream.backends[0].port = 8081;
        let mut hosted = before.clone();
        hosted.upstream.host = "mine.justice.ma".into();
        for now in [moved, hosted] {
            let p =
                operator_secret_moved(Some(&before), &now, &doc, &HashSet::new()).expect("refused");
            assert_eq!(p.pointer, "/adapters/0/password");
        }
    }
}
