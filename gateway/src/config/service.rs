//! Validation of one `services/<ministry>/<service>.toml` file.

use super::error::Problems;
use super::fields::opt_duration;
use super::fields::{localized, secret_ref, timeouts, DESCRIPTION_CHARS, NAME_CHARS};
use super::raw::{
    RawAdapterStep, RawBreaker, RawHeaderRules, RawHealthCheck, RawOutlier, RawService,
    RawServiceCache, RawServiceLimits,
};
use super::values;
use super::{
    Access, AdapterStep, Backend, Category, Defaults, HeaderRules, LegacyHostMode, LegacySite,
    Ministry, Quirk, ServiceCache, ServiceConfig, UpstreamConfig,
};
use super::{BreakerConfig, HealthCheckConfig, IdentityClaims, OutlierConfig, ServiceLimits};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Headers that frame or route the message; no adapter rule may touch them.
const PROTECTED_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The longest "what to have at hand" text.
const PREPARE_CHARS: usize = 1000;
/// How many keywords and examples a service may give the router, and how long each may be.
/// The router weighs a service by how often its terms appear in them: a service repeating
/// another's terms, or listing hundreds, would take that service's searches (found when
/// tried: a ministry copied the passport's examples three times and every passport query
/// went to its service). Duplicates are refused for the same reason.
const KEYWORDS: usize = 40;
const KEYWORD_CHARS: usize = 80;
const EXAMPLES: usize = 20;
const EXAMPLE_CHARS: usize = 300;

/// How many path globs each of a service's cache lists may hold, how many query names it may
/// ignore, and how many header rules each direction may have. Every rebuild compiles them
/// for every service and every request runs the header rules: a ministry's 5,000 globs made
/// every other ministry's change take seconds, and 20,000 header rules made each request
/// ten times dearer (found when tried). The catalog's largest lists hold a handful.
const PATH_GLOBS: usize = 64;
const IGNORED_QUERY_NAMES: usize = 64;
const HEADER_RULES: usize = 64;
/// The longest value a header rule may set: each is sent on every request (64 rules of
/// 3.5 KB sent 225 KB of headers with each citizen's request; found in review).
const HEADER_RULE_VALUE: usize = 1024;
/// Backends of one service, SOAP operations of one facade and fields of one operation,
/// identity claims and methods: each list is walked per request or per build.
pub const BACKENDS: usize = 32;
const SOAP_OPERATIONS: usize = 64;
const SOAP_FIELDS: usize = 64;
const CLAIMS: usize = 8;
const METHODS: usize = PORTAL_METHODS.len();

/// Refuses a list of `len` entries at `field` when it holds more than `most`.
fn at_most(p: &mut Problems<'_>, field: &str, len: usize, most: usize) -> bool {
    if len > most {
        p.add(field, format!("has {len} entries; at most {most}"));
        return false;
    }
    true
}

/// Checks `keywords` and `examples`: none empty, none repeated (case and spacing aside),
/// within the counts and lengths above, nothing a reader cannot see.
fn search_terms(p: &mut Problems<'_>, keywords: &[String], examples: &[String]) {
    for (field, list, most, chars) in [
        ("keywords", keywords, KEYWORDS, KEYWORD_CHARS),
        ("examples", examples, EXAMPLES, EXAMPLE_CHARS),
    ] {
        at_most(p, field, list.len(), most);
        let mut seen: Vec<String> = Vec::with_capacity(list.len());
        for (i, k) in list.iter().enumerate() {
            let at = format!("{field}[{i}]");
            if k.trim().is_empty() {
                p.add(at, "must not be empty");
                continue;
            }
            if p.check(at.clone(), values::shown_text(k.trim(), chars))
                .is_none()
            {
                continue;
            }
            let folded = values::folded(k);
            match seen.iter().position(|s| *s == folded) {
                Some(first) => p.add(at, format!("repeats {field}[{first}]")),
                None => seen.push(folded),
            }
        }
    }
}

pub(crate) fn validate_service(
    raw: RawService,
    ministries: &BTreeMap<String, Ministry>,
    defaults: &Defaults,
    p: &mut Problems<'_>,
) -> Option<ServiceConfig> {
    let file = p.file().to_path_buf();
    let id_ok = p.check("id", values::slug(&raw.id)).is_some();
    if id_ok {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if stem != raw.id {
            p.add(
                "id",
                format!(
                    "{:?} does not match the file name; name the file {}.toml",
                    raw.id, raw.id
                ),
            );
        }
    }
    let ministry = match ministries.get(&raw.ministry) {
        Some(m) => Some(m),
        None => {
            p.add(
                "ministry",
                format!(
                    "{:?} is not a ministry in the ministries file (known: {})",
                    raw.ministry,
                    ministries.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
            None
        }
    };
    if let Some(m) = ministry {
        let dir = file
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|s| s.to_str())
            .unwrap_or("");
        if dir != m.id {
            p.add(
                "ministry",
                format!(
                    "{:?} does not match the directory {dir:?}; a ministry's services live in services/{}/",
                    m.id, m.id
                ),
            );
        }
        if let Some(agency) = &raw.agency {
            if !m.agencies.contains_key(agency) {
                p.add(
                    "agency",
                    format!("{agency:?} is not an agency of ministry {:?}", m.id),
                );
            }
        }
    }
    let category = p.check("category", Category::parse(&raw.category));
    let access = p.check("access", Access::parse(&raw.access));
    let names = localized(p, "names", &raw.names, NAME_CHARS);
    let descriptions = localized(p, "descriptions", &raw.descriptions, DESCRIPTION_CHARS);
    let prepare = raw
        .prepare
        .as_ref()
        .map(|r| localized(p, "prepare", r, PREPARE_CHARS));
    search_terms(p, &raw.keywords, &raw.examples);

    let legacy = legacy(&raw, defaults, p);
    let upstream = upstream(&raw, legacy.as_ref(), defaults, p);
    let adapters = adapters(&raw.adapters, &file, p);
    let limits = limits(&raw.limits, p);
    let identity_claims = identity_claims(&raw.identity.claims, p);
    let cache = match &raw.cache {
        None => Some(ServiceCache::default()),
        Some(c) => cache(c, p),
    };
    if let (Some(legacy), Some(adapters)) = (&legacy, &adapters) {
        quirks_answered(&legacy.quirks, adapters, p);
    }

    Some(ServiceConfig {
        file,
        id: id_ok.then_some(raw.id)?,
        ministry: ministry?.id.clone(),
        agency: raw.agency,
        category: category?,
        access: access?,
        names: names?,
        descriptions: descriptions?,
        prepare: match prepare {
            None => None,
            Some(p) => Some(p?),
        },
        keywords: raw.keywords,
        examples: raw.examples,
        legacy: legacy?,
        upstream: upstream?,
        adapters: adapters?,
        cache: cache?,
        limits: limits?,
        identity_claims: identity_claims?,
    })
}

/// A service's `[identity] claims`.
fn identity_claims(raw: &[String], p: &mut Problems<'_>) -> Option<IdentityClaims> {
    let mut claims = IdentityClaims::default();
    let mut ok = at_most(p, "identity.claims", raw.len(), CLAIMS);
    for (i, name) in raw.iter().enumerate() {
        match name.as_str() {
            "name" => claims.name = true,
            "acr" => claims.acr = true,
            "professional" => claims.professional = true,
            other => {
                ok = false;
                p.add(
                    format!("identity.claims[{i}]"),
                    format!(
                        "unknown claim {other:?}; one of {} (sub is always sent)",
                        IdentityClaims::NAMES.join(", ")
                    ),
                );
            }
        }
    }
    ok.then_some(claims)
}

/// A service's `[limits]`.
fn limits(raw: &RawServiceLimits, p: &mut Problems<'_>) -> Option<ServiceLimits> {
    let mut rate = |field: &str, value: Option<&str>| match value {
        None => Some(None),
        Some(s) => p
            .check(format!("limits.{field}"), values::rate(s))
            .map(Some),
    };
    let per_ip = rate("rate_per_ip", raw.rate_per_ip.as_deref());
    let total = rate("rate_total", raw.rate_total.as_deref());
    let body = match raw.max_body_bytes {
        None => Some(None),
        Some(v) => p
            .check("limits.max_body_bytes", values::bounded(v, 0, 1 << 34))
            .map(Some),
    };
    let methods = match &raw.methods {
        None => Some(None),
        Some(list) => service_methods(list, p).map(Some),
    };
    let methods = methods?;
    let allow = methods.as_ref().and_then(|m: &Vec<http::Method>| {
        let names: Vec<&str> = m.iter().map(http::Method::as_str).collect();
        http::HeaderValue::from_str(&names.join(", ")).ok()
    });
    Some(ServiceLimits {
        rate_per_ip: per_ip?,
        rate_total: total?,
        max_body_bytes: body?,
        methods,
        allow,
    })
}

/// The portal's methods a service may narrow its list to.
const PORTAL_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

fn service_methods(list: &[String], p: &mut Problems<'_>) -> Option<Vec<http::Method>> {
    if list.is_empty() {
        p.add("limits.methods", "must name at least one method");
        return None;
    }
    if !at_most(p, "limits.methods", list.len(), METHODS) {
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, m) in list.iter().enumerate() {
        let upper = m.trim().to_ascii_uppercase();
        match PORTAL_METHODS.iter().find(|&&known| known == upper) {
            Some(known) => {
                if let Ok(method) = http::Method::from_bytes(known.as_bytes()) {
                    if !out.contains(&method) {
                        out.push(method);
                    }
                }
            }
            None => {
                ok = false;
                p.add(
                    format!("limits.methods[{i}]"),
                    format!("{m:?} is not one of {}", PORTAL_METHODS.join(", ")),
                );
            }
        }
    }
    ok.then_some(out)
}

/// The largest object a service may ask to cache.
const MAX_OBJECT_SIZE: i64 = 1 << 30;

fn cache(raw: &RawServiceCache, p: &mut Problems<'_>) -> Option<ServiceCache> {
    let mut ok = true;
    let mut duration = |p: &mut Problems<'_>, field: &str, v: Option<&str>| match v {
        None => Some(None),
        Some(s) => match p.check(format!("cache.{field}"), values::duration(s)) {
            Some(d) => Some(Some(d)),
            None => {
                ok = false;
                None
            }
        },
    };
    let default_ttl = duration(p, "default_ttl", raw.default_ttl.as_deref());
    let max_ttl = duration(p, "max_ttl", raw.max_ttl.as_deref());
    let swr = duration(
        p,
        "stale_while_revalidate",
        raw.stale_while_revalidate.as_deref(),
    );
    let sie = duration(p, "stale_if_error", raw.stale_if_error.as_deref());
    if let (Some(Some(d)), Some(Some(m))) = (default_ttl, max_ttl) {
        if d > m {
            p.add(
                "cache.default_ttl",
                format!(
                    "{} is longer than cache.max_ttl ({})",
                    humantime::format_duration(d),
                    humantime::format_duration(m)
                ),
            );
            ok = false;
        }
    }
    let max_object_size = match raw.max_object_size {
        None => Some(None),
        Some(v) => p
            .check(
                "cache.max_object_size",
                values::bounded(v, 1, MAX_OBJECT_SIZE),
            )
            .map(Some),
    };
    let mut globs = |p: &mut Problems<'_>, field: &str, list: &[String]| {
        if !at_most(p, &format!("cache.{field}"), list.len(), PATH_GLOBS) {
            ok = false;
            return Vec::new();
        }
        for (i, g) in list.iter().enumerate() {
            if p.check(format!("cache.{field}[{i}]"), values::path_glob(g))
                .is_none()
            {
                ok = false;
            }
        }
        list.to_vec()
    };
    let paths = globs(p, "paths", &raw.paths);
    let bypass_paths = globs(p, "bypass_paths", &raw.bypass_paths);
    let public_paths = globs(p, "public_paths", &raw.public_paths);
    let strip_set_cookie_paths = globs(p, "strip_set_cookie_paths", &raw.strip_set_cookie_paths);
    if !at_most(
        p,
        "cache.ignore_query",
        raw.ignore_query.len(),
        IGNORED_QUERY_NAMES,
    ) {
        ok = false;
    }
    for (i, q) in raw.ignore_query.iter().enumerate() {
        if q.is_empty() || q.contains(['&', '=', '#']) {
            p.add(
                format!("cache.ignore_query[{i}]"),
                format!("{q:?} is not a query parameter name"),
            );
            ok = false;
        }
    }
    let settings = ServiceCache {
        enabled: raw.enabled.unwrap_or(true),
        default_ttl: default_ttl?,
        max_ttl: max_ttl?,
        max_object_size: max_object_size?,
        paths,
        bypass_paths,
        public_paths,
        ignore_query: raw.ignore_query.clone(),
        stale_while_revalidate: swr?.unwrap_or_default(),
        stale_if_error: sie?.unwrap_or_default(),
        strip_set_cookie_paths,
    };
    ok.then_some(settings)
}

fn legacy(raw: &RawService, defaults: &Defaults, p: &mut Problems<'_>) -> Option<LegacySite> {
    let hostname = raw.legacy.hostname.trim().to_string();
    let host_ok = p
        .check("legacy.hostname", values::hostname(&hostname))
        .is_some();
    let path = p.check(
        "legacy.path",
        values::path_prefix(raw.legacy.path.as_deref().unwrap_or("/")),
    );
    let mut quirks = Vec::new();
    for (i, q) in raw.legacy.quirks.iter().enumerate() {
        if let Some(q) = p.check(format!("legacy.quirks[{i}]"), Quirk::parse(q)) {
            quirks.push(q);
        }
    }
    let on_host = match raw.legacy.on_host.as_deref() {
        None => Some(defaults.on_legacy_host),
        Some(s) => p.check("legacy.on_host", LegacyHostMode::parse(s)),
    };
    let mut aliases: Vec<String> = Vec::new();
    let mut aliases_ok = true;
    if raw.legacy.aliases.len() > super::MAX_LEGACY_ALIASES {
        p.add(
            "legacy.aliases",
            format!(
                "{} names; a legacy site has at most {} aliases",
                raw.legacy.aliases.len(),
                super::MAX_LEGACY_ALIASES
            ),
        );
        aliases_ok = false;
    }
    for (i, alias) in raw.legacy.aliases.iter().enumerate() {
        let field = format!("legacy.aliases[{i}]");
        let alias = alias.trim().to_string();
        if p.check(&field, values::hostname(&alias)).is_none() {
            aliases_ok = false;
            continue;
        }
        let same = |other: &str| egov_adapters::links::same_authority(other, &alias);
        if same(&hostname) || aliases.iter().any(|a| same(a)) {
            p.add(field, format!("{alias:?} is named twice"));
            aliases_ok = false;
            continue;
        }
        aliases.push(alias);
    }
    Some(LegacySite {
        aliases: aliases_ok.then_some(aliases)?,
        hostname: host_ok.then_some(hostname)?,
        path: path?,
        quirks,
        on_host: on_host?,
    })
}

fn upstream(
    raw: &RawService,
    legacy: Option<&LegacySite>,
    defaults: &Defaults,
    p: &mut Problems<'_>,
) -> Option<UpstreamConfig> {
    let mut backends = Vec::new();
    let mut tls = None;
    let mut base_path: Option<String> = None;
    let entries = raw.upstream.url.entries("upstream.url");
    let mut ok = at_most(p, "upstream.url", entries.len(), BACKENDS);
    if entries.is_empty() {
        p.add("upstream.url", "at least one backend URL is required");
        ok = false;
    }
    for (field, s, weight) in entries {
        let weight = match weight {
            None => 1,
            Some(w) => match p.check(format!("{field}.weight"), values::bounded(w, 1, 100)) {
                Some(w) => w as u32,
                None => {
                    ok = false;
                    1
                }
            },
        };
        match backend_url(s) {
            Ok((is_tls, mut backend, path)) => {
                backend.weight = weight;
                if *tls.get_or_insert(is_tls) != is_tls {
                    p.add(
                        field.clone(),
                        "all backends of a service must use the same scheme",
                    );
                    ok = false;
                }
                if base_path.get_or_insert_with(|| path.clone()) != &path {
                    p.add(field, "all backends of a service must use the same path");
                    ok = false;
                }
                backends.push(backend);
            }
            Err(reason) => {
                p.add(field, reason);
                ok = false;
            }
        }
    }
    let host = match &raw.upstream.host {
        Some(h) => {
            let h = h.trim().to_ascii_lowercase();
            p.check("upstream.host", values::hostname(&h)).map(|_| h)
        }
        None => legacy.map(|l| l.hostname.clone()),
    };
    let timeouts = timeouts(
        p,
        "upstream.timeouts",
        raw.upstream.timeouts.as_ref(),
        &defaults.timeouts,
    );
    let health_check = health_check(raw.upstream.health_check.as_ref(), p);
    let outlier = outlier(raw.upstream.outlier.as_ref(), p);
    let breaker = breaker(raw.upstream.breaker.as_ref(), p);
    let affinity = match raw.upstream.affinity.as_deref() {
        None | Some("none") => Some(super::Affinity::None),
        Some("citizen") => Some(super::Affinity::Citizen),
        Some(other) => {
            p.add(
                "upstream.affinity",
                format!("{other:?} is not an affinity: \"none\" (each request round-robin) or \"citizen\" (each citizen to one backend: by her session when signed in, else her address)"),
            );
            None
        }
    };
    let failover_on = failover_on(raw.upstream.failover_on.as_deref(), p);
    if !ok {
        return None;
    }
    Some(UpstreamConfig {
        tls: tls?,
        backends,
        base_path: base_path?,
        host: host?,
        timeouts: timeouts?,
        health_check: health_check?,
        outlier: outlier?,
        breaker: breaker?,
        affinity: affinity?,
        failover_on: failover_on?,
    })
}

/// `upstream.failover_on`: each of 502, 503 and 504 at most once. A 500 (or any other
/// status) is an answer about one page, the same from every backend: failing over on it
/// would send a broken page's every request to each backend in turn.
fn failover_on(raw: Option<&[i64]>, p: &mut Problems<'_>) -> Option<Vec<u16>> {
    let raw = raw.unwrap_or_default();
    let mut statuses = Vec::new();
    // One problem for a long list, not one per entry (found in a bypass probe: 120,000
    // entries were answered with 21 MB of problems).
    let mut ok = at_most(p, "upstream.failover_on", raw.len(), 3);
    for (i, status) in raw.iter().enumerate().take(if ok { 3 } else { 0 }) {
        let field = format!("upstream.failover_on[{i}]");
        match u16::try_from(*status) {
            Ok(s @ 502..=504) if !statuses.contains(&s) => statuses.push(s),
            Ok(s @ 502..=504) => {
                p.add(field, format!("{s} is listed twice"));
                ok = false;
            }
            _ => {
                p.add(
                    field,
                    format!(
                        "{status} is not a status to fail over on: 502, 503 or 504 (the backend, \
                         not the page, cannot serve); a 500 is the page's own answer"
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(statuses)
}

fn health_check(
    raw: Option<&RawHealthCheck>,
    p: &mut Problems<'_>,
) -> Option<Option<HealthCheckConfig>> {
    let Some(raw) = raw else {
        return Some(None);
    };
    let http_path = match raw.kind.as_deref().unwrap_or("http") {
        "http" => match raw.path.as_deref().unwrap_or("/") {
            path if path.starts_with('/') && !path.contains(char::is_whitespace) => {
                Some(Some(path.to_string()))
            }
            path => {
                p.add(
                    "upstream.health_check.path",
                    format!("{path:?} must start with / and hold no spaces"),
                );
                None
            }
        },
        "tcp" => {
            if raw.path.is_some() {
                p.add("upstream.health_check.path", "a tcp check has no path");
                None
            } else {
                Some(None)
            }
        }
        other => {
            p.add(
                "upstream.health_check.kind",
                format!("{other:?} is not a check kind: http or tcp"),
            );
            None
        }
    };
    let interval = opt_duration(
        p,
        "upstream.health_check.interval",
        raw.interval.as_deref(),
        Duration::from_secs(10),
    );
    let timeout = opt_duration(
        p,
        "upstream.health_check.timeout",
        raw.timeout.as_deref(),
        Duration::from_secs(2),
    );
    if let (Some(i), Some(t)) = (interval, timeout) {
        if i < Duration::from_secs(1) || t > i {
            p.add(
                "upstream.health_check.interval",
                "must be at least 1s and no shorter than the timeout",
            );
            return None;
        }
    }
    let healthy = p.check(
        "upstream.health_check.healthy_threshold",
        values::bounded(raw.healthy_threshold.unwrap_or(2), 1, 100),
    );
    let unhealthy = p.check(
        "upstream.health_check.unhealthy_threshold",
        values::bounded(raw.unhealthy_threshold.unwrap_or(3), 1, 100),
    );
    Some(Some(HealthCheckConfig {
        http_path: http_path?,
        interval: interval?,
        timeout: timeout?,
        healthy_threshold: healthy? as u32,
        unhealthy_threshold: unhealthy? as u32,
    }))
}

fn outlier(raw: Option<&RawOutlier>, p: &mut Problems<'_>) -> Option<OutlierConfig> {
    let d = OutlierConfig::default();
    let Some(raw) = raw else {
        return Some(d);
    };
    let failures = p.check(
        "upstream.outlier.consecutive_failures",
        values::bounded(raw.consecutive_failures.unwrap_or(5), 0, 1000),
    );
    let base = opt_duration(
        p,
        "upstream.outlier.base_ejection",
        raw.base_ejection.as_deref(),
        d.base_ejection,
    );
    let max = opt_duration(
        p,
        "upstream.outlier.max_ejection",
        raw.max_ejection.as_deref(),
        d.max_ejection,
    );
    if let (Some(b), Some(m)) = (base, max) {
        if b > m {
            p.add(
                "upstream.outlier.base_ejection",
                "must not be longer than max_ejection",
            );
            return None;
        }
    }
    Some(OutlierConfig {
        consecutive_failures: failures? as u32,
        base_ejection: base?,
        max_ejection: max?,
    })
}

fn breaker(raw: Option<&RawBreaker>, p: &mut Problems<'_>) -> Option<BreakerConfig> {
    let d = BreakerConfig::default();
    let Some(raw) = raw else {
        return Some(d);
    };
    let failures = p.check(
        "upstream.breaker.failures",
        values::bounded(raw.failures.unwrap_or(10), 0, 10_000),
    );
    let open_for = opt_duration(
        p,
        "upstream.breaker.open_for",
        raw.open_for.as_deref(),
        d.open_for,
    );
    Some(BreakerConfig {
        failures: failures? as u32,
        open_for: open_for?,
    })
}

/// Parses one backend URL into (tls, host:port, base path).
fn backend_url(s: &str) -> Result<(bool, Backend, String), String> {
    let url = url::Url::parse(s.trim())
        .map_err(|e| format!("{:?} is not a URL: {e}", super::values::url_shown(s)))?;
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        _ => return Err("scheme must be http or https".into()),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not carry credentials; use a basic-auth adapter step with a secret".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("must name a host".into()),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| "must have a port".to_string())?;
    if port == 0 {
        return Err("port must be 1-65535".into());
    }
    let path = values::path_prefix(url.path())?;
    Ok((
        tls,
        Backend {
            host,
            port,
            weight: 1,
        },
        path,
    ))
}

/// Response headers the gateway rewrites for the portal (cookies scoped under the service,
/// redirects mapped to portal paths). The service's response rules run after that rewriting,
/// so they may remove these headers but never write one: it would reach the citizen
/// unrewritten (a cookie for the legacy domain, a redirect off the portal).
const PORTAL_REWRITTEN_RESPONSE_HEADERS: &[&str] =
    &["set-cookie", "location", "content-location", "refresh"];

/// Response headers no legacy answer may pass to the browser, whether the legacy site or a
/// response rule wrote them. `Service-Worker-Allowed` would let a legacy page install a
/// service worker over more of the origin than its own path, and `Clear-Site-Data` would
/// wipe the citizen's portal cookies and storage. The transport of the portal's origins is
/// the gateway's to declare: a legacy `Strict-Transport-Security: max-age=0` would switch
/// off the browser's HSTS for it, and `Alt-Svc` would send the browser's next connections
/// elsewhere (as would the obsolete key pinning and `Expect-CT`, pinning keys the gateway
/// does not hold). The banners (`Server: Apache/2.2.3 (CentOS)`, `X-Powered-By: PHP/5.2.6`,
/// the ASP.NET versions) would tell anyone the exact, often unpatched, software behind each
/// service, as nginx's `proxy_hide_header` defaults hide `Server`. Network Error Logging
/// (`NEL`, with its `Report-To` and `Reporting-Endpoints`) is an origin-wide policy kept for
/// years: every later request to the origin, the portal's own pages on a shared origin
/// included, would be reported to a ministry's collector, even after its service is gone.
/// A site's diagnostics are for its ministry's tools, not for anyone who asks a page:
/// `Server-Timing` names and times the site's inner steps (`db;desc="SELECT ... FROM
/// citizens"`, readable by any script through the Performance API), its trace context
/// names its internal traces (the gateway answers with its own `X-Request-Id`), and a
/// framework's debug-profiler token links to a profile of the request (Symfony's
/// `X-Debug-Token-Link`: the environment, the session, the queries).
pub const LEGACY_MAY_NOT_SEND: &[&str] = &[
    "server-timing",
    "traceparent",
    "tracestate",
    "traceresponse",
    "x-debug-token",
    "x-debug-token-link",
    "nel",
    "report-to",
    "reporting-endpoints",
    "service-worker-allowed",
    "clear-site-data",
    "strict-transport-security",
    "alt-svc",
    "public-key-pins",
    "public-key-pins-report-only",
    "expect-ct",
    "server",
    "x-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    // Orders to a server in front, which it would carry out on the gateway's word: serve a
    // file of its own (`X-Accel-Redirect`, `X-Sendfile`), cache or throttle the answer.
    "x-accel-redirect",
    "x-accel-expires",
    "x-accel-limit-rate",
    "x-sendfile",
    "x-lighttpd-send-file",
];

/// Caching orders addressed to the caches in front rather than to the browser: a CDN obeys
/// `CDN-Cache-Control` (RFC 9213) or its own (`Surrogate-Control`, Cloudflare's, Akamai's
/// `Edge-Control`) instead of `Cache-Control`. An answer made private, or whose lifetime the
/// cache policy caps, loses them with `Pragma` (found when tried: `CDN-Cache-Control: public,
/// max-age=3600` beside the gateway's `private, no-store`).
pub const TARGETED_CACHING: &[&str] = &[
    "cdn-cache-control",
    "cloudflare-cdn-cache-control",
    "surrogate-control",
    "edge-control",
    "pragma",
];

/// A header a rule writes (`set`, or the target of `rename`): not one in `rewritten`, and
/// for response rules (`rewritten` not empty) none a legacy answer may not send.
fn written_header_name(s: &str, rewritten: &[&str]) -> Result<String, String> {
    let name = header_name(s)?;
    if rewritten.contains(&name.as_str()) {
        return Err(format!(
            "{s:?} is rewritten by the gateway before these rules run; a rule may remove it but not write it"
        ));
    }
    if !rewritten.is_empty() && LEGACY_MAY_NOT_SEND.contains(&name.as_str()) {
        return Err(format!(
            "{s:?} never reaches the citizen from a legacy answer (it would speak for the portal's origin or name the software behind it); a rule may remove it but not write it"
        ));
    }
    Ok(name)
}

fn header_name(s: &str) -> Result<String, String> {
    let lower = s.trim().to_ascii_lowercase();
    http::HeaderName::from_bytes(lower.as_bytes())
        .map_err(|_| format!("{s:?} is not a valid header name"))?;
    if PROTECTED_HEADERS.contains(&lower.as_str()) {
        return Err(format!(
            "{s:?} frames or routes the message and cannot be changed by an adapter"
        ));
    }
    Ok(lower)
}

/// A header no client may send to any service once a service is sent the identity in it
/// (every service's identity names are stripped from every request): a name of its own,
/// never one that requests carry for their own sake. Found when tried: a ministry that
/// declared `Cookie` and `Content-Type` took them off every other ministry's requests.
fn identity_header_name(s: &str) -> Result<String, String> {
    const STANDARD: &[&str] = &[
        "authorization",
        "cookie",
        "cookie2",
        "origin",
        "referer",
        "user-agent",
        "from",
        "range",
        "cache-control",
        "pragma",
        "dnt",
        "priority",
        "via",
        "forwarded",
        "x-real-ip",
        "x-request-id",
        "x-correlation-id",
        "traceparent",
        "tracestate",
        "baggage",
        "x-requested-with",
        "x-csrf-token",
        "x-xsrf-token",
        "upgrade",
    ];
    const STANDARD_PREFIXES: &[&str] = &[
        "accept",
        "content-",
        "if-",
        "sec-",
        "access-control-",
        "x-forwarded-",
        "proxy-",
    ];
    let name = header_name(s)?;
    if STANDARD.contains(&name.as_str()) || STANDARD_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(format!(
            "{s:?} is a header requests carry for their own sake: name one of the service's own (e.g. \"X-Citizen-Id\"), as it is taken off every client's request to every service"
        ));
    }
    Ok(name)
}

/// `rewritten`: headers the rules may not write (see [`PORTAL_REWRITTEN_RESPONSE_HEADERS`]).
fn header_rules(
    field: &str,
    raw: &RawHeaderRules,
    rewritten: &[&str],
    p: &mut Problems<'_>,
) -> Option<HeaderRules> {
    let count = raw.set.len() + raw.remove.len() + raw.rename.len();
    if !at_most(p, field, count, HEADER_RULES) {
        return None;
    }
    let mut ok = true;
    let mut rules = HeaderRules::default();
    for (name, value) in &raw.set {
        let f = format!("{field}.set.{name}");
        match written_header_name(name, rewritten) {
            Ok(n) => {
                if http::HeaderValue::from_str(value).is_err() {
                    p.add(f, "value must be visible ASCII text");
                    ok = false;
                } else if value.len() > HEADER_RULE_VALUE {
                    p.add(
                        f,
                        format!(
                            "value is {} bytes long; at most {HEADER_RULE_VALUE}",
                            value.len()
                        ),
                    );
                    ok = false;
                } else {
                    rules.set.push((n, value.clone()));
                }
            }
            Err(e) => {
                p.add(f, e);
                ok = false;
            }
        }
    }
    for (i, name) in raw.remove.iter().enumerate() {
        match p.check(format!("{field}.remove[{i}]"), header_name(name)) {
            Some(n) => rules.remove.push(n),
            None => ok = false,
        }
    }
    for (from, to) in &raw.rename {
        let f = format!("{field}.rename.{from}");
        match (header_name(from), written_header_name(to, rewritten)) {
            (Ok(a), Ok(b)) => rules.rename.push((a, b)),
            (Err(e), _) | (_, Err(e)) => {
                p.add(f, e);
                ok = false;
            }
        }
    }
    ok.then_some(rules)
}

fn adapters(raw: &[RawAdapterStep], file: &Path, p: &mut Problems<'_>) -> Option<Vec<AdapterStep>> {
    let mut out = Vec::new();
    let mut ok = true;
    let mut seen: Vec<&'static str> = Vec::new();
    for (i, step) in raw.iter().enumerate() {
        let field = format!("adapters[{i}]");
        let kind = step_kind(step);
        if seen.contains(&kind) {
            p.add(
                format!("{field}.step"),
                format!("{kind:?} appears twice; a chain has at most one step of each kind"),
            );
            ok = false;
            continue;
        }
        seen.push(kind);
        let built = match step {
            RawAdapterStep::Charset { fallback } => {
                let label = fallback.as_deref().unwrap_or("windows-1252");
                match egov_adapters::charset::encoding_for_label(label) {
                    // A page's legacy charset is one a browser reads markup in: found in a
                    // bypass probe, "replacement" (or UTF-16, x-user-defined) turned every
                    // page into one U+FFFD.
                    Some(enc)
                        if !enc.is_ascii_compatible()
                            || ["replacement", "x-user-defined"].contains(&enc.name()) =>
                    {
                        p.add(
                            format!("{field}.fallback"),
                            format!("{label:?} ({}) is not a charset legacy pages are written in: name the site's (windows-1256, iso-8859-1...)", enc.name()),
                        );
                        None
                    }
                    Some(enc) => Some(AdapterStep::Charset {
                        fallback: enc.name().to_string(),
                    }),
                    None => {
                        p.add(
                            format!("{field}.fallback"),
                            format!("{label:?} is not a charset label known to the WHATWG Encoding Standard"),
                        );
                        None
                    }
                }
            }
            RawAdapterStep::HtmlLinks { banner } => Some(AdapterStep::HtmlLinks {
                banner: banner.unwrap_or(false),
            }),
            RawAdapterStep::BasicAuth { username, password } => {
                let user_ok = !username.is_empty() && !username.contains(':');
                if !user_ok {
                    p.add(
                        format!("{field}.username"),
                        "must be non-empty and must not contain ':'",
                    );
                }
                let pw = secret_ref(file, &format!("{field}.password"), password, p);
                match (user_ok, pw) {
                    (true, Some(password)) => Some(AdapterStep::BasicAuth {
                        username: username.clone(),
                        password,
                    }),
                    _ => None,
                }
            }
            RawAdapterStep::ApiKey { header, key } => {
                let h = p.check(
                    format!("{field}.header"),
                    header_name(header.as_deref().unwrap_or("x-api-key")),
                );
                let k = secret_ref(file, &format!("{field}.key"), key, p);
                match (h, k) {
                    (Some(header), Some(key)) => Some(AdapterStep::ApiKey { header, key }),
                    _ => None,
                }
            }
            RawAdapterStep::IdentityHeaders { subject, name } => {
                let subject = p.check(
                    format!("{field}.subject"),
                    identity_header_name(subject.as_deref().unwrap_or("x-remote-user")),
                );
                let name = match name {
                    None => Some(None),
                    Some(n) => p
                        .check(format!("{field}.name"), identity_header_name(n))
                        .map(Some),
                };
                match (subject, name) {
                    (Some(subject), Some(name)) => {
                        Some(AdapterStep::IdentityHeaders { subject, name })
                    }
                    _ => None,
                }
            }
            RawAdapterStep::Soap {
                endpoint,
                namespace,
                operations,
                expose_endpoint,
                element_form,
            } => {
                let mut ok = true;
                let qualified_fields = match element_form.as_deref() {
                    None | Some("qualified") => true,
                    Some("unqualified") => false,
                    Some(other) => {
                        p.add(
                            format!("{field}.element_form"),
                            format!("{other:?} is neither \"qualified\" nor \"unqualified\" (the WSDL's elementFormDefault)"),
                        );
                        ok = false;
                        true
                    }
                };
                let endpoint = match p.check(
                    format!("{field}.endpoint"),
                    values::path_prefix(endpoint.as_deref().unwrap_or("/ws")),
                ) {
                    Some(e) => e,
                    None => {
                        ok = false;
                        String::new()
                    }
                };
                if namespace.trim().is_empty() {
                    p.add(format!("{field}.namespace"), "must not be empty");
                    ok = false;
                }
                if operations.is_empty() {
                    p.add(
                        format!("{field}.operations"),
                        "declare at least one operation",
                    );
                    ok = false;
                }
                if !at_most(
                    p,
                    &format!("{field}.operations"),
                    operations.len(),
                    SOAP_OPERATIONS,
                ) {
                    ok = false;
                }
                let mut ops = Vec::new();
                for (j, op) in operations.iter().enumerate() {
                    let f = format!("{field}.operations[{j}]");
                    if !at_most(p, &format!("{f}.fields"), op.fields.len(), SOAP_FIELDS) {
                        ok = false;
                    }
                    if !xml_name(&op.name) {
                        p.add(
                            format!("{f}.name"),
                            format!("{:?} is not an XML element name", op.name),
                        );
                        ok = false;
                    }
                    for (k, fld) in op.fields.iter().enumerate() {
                        if !xml_name(fld) {
                            p.add(
                                format!("{f}.fields[{k}]"),
                                format!("{fld:?} is not an XML element name"),
                            );
                            ok = false;
                        }
                    }
                    if ops
                        .iter()
                        .any(|o: &crate::config::SoapOperationConfig| o.name == op.name)
                    {
                        p.add(
                            format!("{f}.name"),
                            format!("{:?} is declared twice", op.name),
                        );
                        ok = false;
                    }
                    ops.push(crate::config::SoapOperationConfig {
                        name: op.name.clone(),
                        namespace: namespace.clone(),
                        action: op.action.clone().unwrap_or_else(|| {
                            format!("{}/{}", namespace.trim_end_matches('/'), op.name)
                        }),
                        fields: op.fields.clone(),
                        qualified_fields,
                    });
                }
                ok.then_some(AdapterStep::Soap {
                    endpoint,
                    operations: ops,
                    expose_endpoint: *expose_endpoint,
                })
            }
            RawAdapterStep::Headers { request, response } => {
                let rq = header_rules(&format!("{field}.request"), request, &[], p);
                let rs = header_rules(
                    &format!("{field}.response"),
                    response,
                    PORTAL_REWRITTEN_RESPONSE_HEADERS,
                    p,
                );
                match (rq, rs) {
                    (Some(request), Some(response)) => {
                        Some(AdapterStep::Headers { request, response })
                    }
                    _ => None,
                }
            }
        };
        match built {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A plain XML element name (letters, digits, `_`, `-`, `.`; not starting with a digit).
fn xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn step_kind(step: &RawAdapterStep) -> &'static str {
    match step {
        RawAdapterStep::Charset { .. } => "charset",
        RawAdapterStep::HtmlLinks { .. } => "html-links",
        RawAdapterStep::BasicAuth { .. } => "basic-auth",
        RawAdapterStep::ApiKey { .. } => "api-key",
        RawAdapterStep::IdentityHeaders { .. } => "identity-headers",
        RawAdapterStep::Soap { .. } => "soap",
        RawAdapterStep::Headers { .. } => "headers",
    }
}

/// A quirk the service declares must be answered by the adapter step that fixes it, so a
/// ministry cannot forget one silently.
fn quirks_answered(quirks: &[Quirk], adapters: &[AdapterStep], p: &mut Problems<'_>) {
    let has = |pred: fn(&AdapterStep) -> bool| adapters.iter().any(pred);
    for (i, q) in quirks.iter().enumerate() {
        let (answered, step) = match q {
            Quirk::Windows1256 | Quirk::Iso88591 => {
                (has(|s| matches!(s, AdapterStep::Charset { .. })), "charset")
            }
            Quirk::AbsoluteLinks | Quirk::AbsoluteForms | Quirk::Frames => (
                has(|s| matches!(s, AdapterStep::HtmlLinks { .. })),
                "html-links",
            ),
            Quirk::BasicAuth => (
                has(|s| matches!(s, AdapterStep::BasicAuth { .. })),
                "basic-auth",
            ),
            Quirk::ApiKey => (has(|s| matches!(s, AdapterStep::ApiKey { .. })), "api-key"),
            Quirk::Soap => (has(|s| matches!(s, AdapterStep::Soap { .. })), "soap"),
            _ => (true, ""),
        };
        if !answered {
            p.add(
                format!("legacy.quirks[{i}]"),
                format!("{q} needs a [[adapters]] step = {step:?}"),
            );
        }
    }
    charset_as_declared(quirks, adapters, p);
}

/// The charset step reads a page that names no charset of its own as the charset the
/// service's quirks say its pages are in. Found when tried: `fallback = "arabic"` beside
/// the `windows-1256` quirk passed every check, and "arabic" is a WHATWG label of
/// ISO-8859-6: a page without a `<meta>` came out as `نزارة افتش�ٍف`, not `وزارة التشغيل`.
/// (`iso-8859-1` is read as windows-1252, as browsers do.)
fn charset_as_declared(quirks: &[Quirk], adapters: &[AdapterStep], p: &mut Problems<'_>) {
    let declared: Vec<(usize, &'static str)> = quirks
        .iter()
        .enumerate()
        .filter(|(_, q)| matches!(q, Quirk::Windows1256 | Quirk::Iso88591))
        .filter_map(|(i, q)| {
            egov_adapters::charset::encoding_for_label(q.as_str()).map(|e| (i, e.name()))
        })
        .collect();
    let step = adapters.iter().enumerate().find_map(|(k, s)| match s {
        AdapterStep::Charset { fallback } => Some((k, fallback)),
        _ => None,
    });
    if let [(_, first), .., (i, other)] = declared.as_slice() {
        if first != other {
            // Found in a bypass probe: both passed, and half the pages came out garbled.
            p.add(
                format!("legacy.quirks[{i}]"),
                format!("a site's pages are in one charset; the quirks say {first} and {other}"),
            );
            return;
        }
    }
    let (Some((k, fallback)), Some((i, wanted))) = (step, declared.first()) else {
        return;
    };
    if declared.iter().any(|(_, e)| e == fallback) {
        return;
    }
    p.add(
        format!("adapters[{k}].fallback"),
        format!(
            "reads a page without a charset of its own as {fallback}, but legacy.quirks[{i}] says the site's pages are {wanted}: write fallback = {wanted:?}"
        ),
    );
}
