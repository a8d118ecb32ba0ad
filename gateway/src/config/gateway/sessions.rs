//! `[sessions]`: where sessions live and how long they last.

use crate::config::error::Problems;
use crate::config::fields::{opt_duration, opt_seconds};
use crate::config::raw::RawSessions;
use crate::config::{SessionSettings, SessionStoreKind};
use std::time::Duration;

pub(super) fn validate(
    raw: &RawSessions,
    redis: bool,
    p: &mut Problems<'_>,
) -> Option<SessionSettings> {
    // Sessions follow the deployment's shared store unless told to stay in memory.
    let default = if redis { "redis" } else { "memory" };
    let store = match raw.store.as_deref().unwrap_or(default) {
        "memory" => Some(SessionStoreKind::Memory),
        "redis" if redis => Some(SessionStoreKind::Redis),
        "redis" => {
            p.add(
                "sessions.store",
                "\"redis\" needs a [redis] section with the server's urls",
            );
            None
        }
        other => {
            p.add(
                "sessions.store",
                format!("{other:?} is not one of: memory, redis"),
            );
            None
        }
    };
    let idle = opt_seconds(
        p,
        "sessions.idle_timeout",
        raw.idle_timeout.as_deref(),
        Duration::from_secs(30 * 60),
    );
    let absolute = opt_seconds(
        p,
        "sessions.absolute_timeout",
        raw.absolute_timeout.as_deref(),
        Duration::from_secs(12 * 3600),
    );
    let cache_ttl = opt_duration(
        p,
        "sessions.cache_ttl",
        raw.cache_ttl.as_deref(),
        Duration::from_secs(5),
    );
    let origin_code_ttl = opt_seconds(
        p,
        "sessions.origin_code_ttl",
        raw.origin_code_ttl.as_deref(),
        Duration::from_secs(60),
    );
    if origin_code_ttl.is_some_and(|t| t.is_zero() || t > Duration::from_secs(60)) {
        p.add(
            "sessions.origin_code_ttl",
            "must be more than zero and at most 60s: a code is a short-lived, one-time handover",
        );
        return None;
    }
    if let (Some(i), Some(a)) = (idle, absolute) {
        if i > a {
            p.add(
                "sessions.idle_timeout",
                "must not be longer than sessions.absolute_timeout",
            );
            return None;
        }
    }
    Some(SessionSettings {
        store: store?,
        idle_timeout: idle?,
        absolute_timeout: absolute?,
        cache_ttl: cache_ttl?,
        origin_code_ttl: origin_code_ttl?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::validate_text;
    use crate::config::SessionStoreKind;

    const PORTAL: &str =
        "[portal]\npublic_url = \"http://127.0.0.1:8080\"\nlisten = [\"127.0.0.1:8080\"]\n";

    #[test]
    fn sessions_default_to_redis_when_the_deployment_has_one() {
        let (settings, _) = validate_text(&format!(
            "{PORTAL}[redis]\nurls = [\"redis://127.0.0.1:6379\"]\n"
        ));
        assert_eq!(
            settings.expect("valid").sessions.store,
            SessionStoreKind::Redis
        );
        let (settings, _) = validate_text(PORTAL);
        assert_eq!(
            settings.expect("valid").sessions.store,
            SessionStoreKind::Memory
        );
    }

    /// Found when tried: `idle_timeout = "500ms"` passed and became 0 (every session ended
    /// as it was made); a fraction of a second is refused, not cut.
    #[test]
    fn session_times_in_fractions_of_a_second_are_refused() {
        for field in ["idle_timeout", "absolute_timeout", "origin_code_ttl"] {
            let (settings, errors) =
                validate_text(&format!("{PORTAL}[sessions]\n{field} = \"1500ms\"\n"));
            assert!(settings.is_none(), "{field}");
            let field = format!("sessions.{field}");
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains(&field) && e.contains("whole number of seconds")),
                "{errors:?}"
            );
        }
        let (settings, errors) =
            validate_text(&format!("{PORTAL}[sessions]\nidle_timeout = \"2000ms\"\n"));
        assert!(settings.is_some(), "{errors:?}");
    }

    #[test]
    fn a_redis_session_store_without_redis_is_an_error() {
        let (settings, errors) = validate_text(&format!("{PORTAL}[sessions]\nstore = \"redis\"\n"));
        assert!(settings.is_none());
        assert!(
            errors
                .iter()
                .any(|e| e.contains("sessions.store") && e.contains("[redis]")),
            "{errors:?}"
        );
    }
}
