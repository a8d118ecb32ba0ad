//! Validation of one `services/<ministry>/<service>.toml` file: its identity and texts here,
//! each table in a room of its own.

mod adapters;
mod cache;
mod headers;
mod legacy;
mod upstream;

pub use headers::{LEGACY_MAY_NOT_SEND, TARGETED_CACHING};

use super::error::Problems;
use super::fields::{localized, DESCRIPTION_CHARS, NAME_CHARS};
use super::raw::{RawService, RawServiceLimits};
use super::values;
use super::{Access, Category, Defaults, Ministry, ServiceCache, ServiceConfig};
use super::{IdentityClaims, ServiceLimits};
use std::collections::BTreeMap;

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
const LOGOUT_PATHS: usize = 8;
const LOGOUT_PATH_BYTES: usize = 256;
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

    let legacy = legacy::legacy(&raw, defaults, p);
    let upstream = upstream::upstream(&raw, legacy.as_ref(), defaults, p);
    let adapters = adapters::adapters(&raw.adapters, &file, p);
    let limits = limits(&raw.limits, p);
    let identity_claims = identity_claims(&raw.identity.claims, p);
    let logout_paths = logout_paths(&raw.identity.logout_paths, p);
    let cache = match &raw.cache {
        None => Some(ServiceCache::default()),
        Some(c) => cache::cache(c, p),
    };
    if let (Some(legacy), Some(adapters)) = (&legacy, &adapters) {
        adapters::quirks_answered(&legacy.quirks, adapters, p);
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
        logout_paths: logout_paths?,
    })
}

/// A service's `[identity] logout_paths`: each a clean path under the service's root (as
/// routing compares it: no dot segments, query or fragment), none of the gateway's own.
fn logout_paths(raw: &[String], p: &mut Problems<'_>) -> Option<Vec<String>> {
    let mut ok = at_most(p, "identity.logout_paths", raw.len(), LOGOUT_PATHS);
    for (i, path) in raw.iter().enumerate() {
        let why = if !path.starts_with('/') {
            Some("must start with /".to_string())
        } else if path.len() > LOGOUT_PATH_BYTES {
            Some(format!("is longer than {LOGOUT_PATH_BYTES} bytes"))
        } else if path.contains(['?', '#']) {
            Some("is a path only, without ? or #".to_string())
        } else if egov_adapters::paths::clean(path).ok().as_deref() != Some(path.as_str()) {
            Some("must be written as routing reads it (no dot segments, no //)".to_string())
        } else if egov_adapters::paths::reaches_under("/__egov", path) {
            Some("is the gateway's own (/__egov/)".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            ok = false;
            p.add(
                format!("identity.logout_paths[{i}]"),
                format!("{path:?} {why}"),
            );
        }
    }
    ok.then(|| raw.to_vec())
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
