//! `[cache]`: the response cache's storage. What each service stores is its own `[cache]`
//! table; this says how much memory the in-process tier may use, the largest object, how long
//! concurrent misses wait for the one fetch, and whether objects are shared through `[redis]`
//! and how much of it this instance's writes may hold.

use crate::config::error::Problems;
use crate::config::fields::opt_duration;
use crate::config::raw::RawCache;
use crate::config::values;
use crate::config::CacheSettings;
use std::time::Duration;

const DEFAULT_MEMORY: i64 = 256 << 20;
const DEFAULT_MAX_OBJECT: i64 = 8 << 20;
const DEFAULT_SHARED: i64 = 256 << 20;

/// `None` when an error was recorded.
pub(super) fn validate(
    raw: &RawCache,
    has_redis: bool,
    p: &mut Problems<'_>,
) -> Option<CacheSettings> {
    let memory_size = p.check(
        "cache.memory_size",
        values::bounded(raw.memory_size.unwrap_or(DEFAULT_MEMORY), 1 << 20, 1 << 40),
    );
    let max_object_size = p.check(
        "cache.max_object_size",
        values::bounded(
            raw.max_object_size.unwrap_or(DEFAULT_MAX_OBJECT),
            1,
            1 << 30,
        ),
    );
    if let (Some(m), Some(o)) = (memory_size, max_object_size) {
        if o > m / 8 {
            p.add(
                "cache.max_object_size",
                format!("{o} is more than an eighth of cache.memory_size ({m}): a few objects would evict everything"),
            );
            return None;
        }
    }
    let shared_size = p.check(
        "cache.shared_size",
        values::bounded(raw.shared_size.unwrap_or(DEFAULT_SHARED), 1 << 20, 1 << 40),
    );
    let shared = raw.shared.unwrap_or(has_redis);
    if let (true, Some(s), Some(o)) = (shared, shared_size, max_object_size) {
        if o > s / 8 {
            p.add(
                "cache.max_object_size",
                format!("{o} is more than an eighth of cache.shared_size ({s}): a few objects would fill this instance's room in Redis"),
            );
            return None;
        }
    }
    let lock_timeout = opt_duration(
        p,
        "cache.lock_timeout",
        raw.lock_timeout.as_deref(),
        Duration::from_secs(5),
    );
    if raw.shared == Some(true) && !has_redis {
        p.add("cache.shared", "true needs a [redis] section");
        return None;
    }
    Some(CacheSettings {
        memory_size: memory_size?,
        max_object_size: max_object_size?,
        shared_size: shared_size?,
        lock_timeout: lock_timeout?,
        shared,
    })
}

#[cfg(test)]
mod tests {
    use super::super::validate_text;

    const PORTAL: &str =
        "[portal]\npublic_url = \"http://127.0.0.1:8080\"\nlisten = [\"127.0.0.1:8080\"]\n";

    #[test]
    fn without_a_cache_section_the_memory_tier_has_its_defaults_and_nothing_is_shared() {
        let (settings, errors) = validate_text(PORTAL);
        assert!(errors.is_empty(), "{errors:?}");
        let cache = settings.expect("valid").cache;
        assert_eq!(cache.memory_size, 256 << 20);
        assert!(!cache.shared);
    }

    #[test]
    fn with_redis_objects_are_shared_unless_told_otherwise() {
        let (settings, _) = validate_text(&format!(
            "{PORTAL}[redis]\nurls = [\"redis://127.0.0.1:6379\"]\n"
        ));
        assert!(settings.expect("valid").cache.shared);
    }

    #[test]
    fn an_object_limit_near_the_memory_size_is_refused() {
        let (_, errors) = validate_text(&format!(
            "{PORTAL}[cache]\nmemory_size = 16777216\nmax_object_size = 8388608\n"
        ));
        assert!(
            errors.iter().any(|e| e.contains("cache.max_object_size")),
            "{errors:?}"
        );
    }

    #[test]
    fn sharing_without_redis_is_refused() {
        let (_, errors) = validate_text(&format!("{PORTAL}[cache]\nshared = true\n"));
        assert!(
            errors.iter().any(|e| e.contains("cache.shared")),
            "{errors:?}"
        );
    }

    #[test]
    fn the_room_in_redis_defaults_to_256_mib_and_an_object_limit_near_it_is_refused() {
        let redis = "[redis]\nurls = [\"redis://127.0.0.1:6379\"]\n";
        let (settings, _) = validate_text(&format!("{PORTAL}{redis}"));
        assert_eq!(settings.expect("valid").cache.shared_size, 256 << 20);
        let (_, errors) = validate_text(&format!(
            "{PORTAL}{redis}[cache]\nshared_size = 16777216\nmax_object_size = 8388608\n"
        ));
        assert!(
            errors
                .iter()
                .any(|e| e.contains("cache.max_object_size") && e.contains("cache.shared_size")),
            "{errors:?}"
        );
        let (_, errors) = validate_text(&format!("{PORTAL}{redis}[cache]\nshared_size = 1000\n"));
        assert!(
            errors.iter().any(|e| e.contains("cache.shared_size")),
            "{errors:?}"
        );
    }
}
