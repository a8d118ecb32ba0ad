//! A service's `[cache]` table: what may be stored, for how long, under which key.

use super::{at_most, IGNORED_QUERY_NAMES, PATH_GLOBS};
use crate::config::error::Problems;
use crate::config::raw::RawServiceCache;
use crate::config::values;
use crate::config::ServiceCache;

/// The largest object a service may ask to cache.
pub(super) const MAX_OBJECT_SIZE: i64 = 1 << 30;

pub(super) fn cache(raw: &RawServiceCache, p: &mut Problems<'_>) -> Option<ServiceCache> {
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
