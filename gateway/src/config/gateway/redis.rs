//! `[redis]`: the one Redis deployment (standalone or Cluster) every piece of shared state
//! uses when a gateway runs as several instances: sessions, routing decisions, and what comes
//! after them (response cache, registry, rate limits). Without it, each of them keeps its
//! embedded in-memory default.
//!
//! `sessions.redis_urls`, `sessions.cluster` and `sessions.key_prefix` are the older spelling
//! of the same settings: still read, with a warning, when `[redis]` is absent.
//!
//! The password is `redis.password = { env = "..." }` (or `{ file = "..." }`), like every
//! secret: one written into a URL (`redis://:pw@host`) still works, with a warning, since the
//! file it sits in is read by everyone who reads the configuration.

use crate::config::error::Problems;
use crate::config::fields::{opt_duration, secret_ref};
use crate::config::raw::{RawRedis, RawSessions};
use crate::config::RedisSettings;
use std::time::Duration;

/// Default key prefix, so environments can share one Redis.
pub const DEFAULT_KEY_PREFIX: &str = "egov:";

/// `Some(None)`: no Redis; `None`: an error was recorded.
pub(super) fn validate(
    raw: Option<&RawRedis>,
    sessions: &RawSessions,
    p: &mut Problems<'_>,
    warn: &mut dyn FnMut(&str, String),
) -> Option<Option<RedisSettings>> {
    let legacy = !sessions.redis_urls.is_empty()
        || sessions.cluster.is_some()
        || sessions.key_prefix.is_some();
    let Some(raw) = raw else {
        if !legacy {
            return Some(None);
        }
        for (set, key) in [
            (!sessions.redis_urls.is_empty(), "redis_urls"),
            (sessions.cluster.is_some(), "cluster"),
            (sessions.key_prefix.is_some(), "key_prefix"),
        ] {
            if set {
                let new = if key == "redis_urls" { "urls" } else { key };
                warn(
                    &format!("sessions.{key}"),
                    format!("deprecated: write it as [redis] {new}"),
                );
            }
        }
        if sessions.redis_urls.is_empty() {
            p.add(
                "sessions.redis_urls",
                "sessions.cluster/key_prefix need redis_urls (better: a [redis] section)",
            );
            return None;
        }
        let urls_ok = url_passwords(p, warn, "sessions.redis_urls", &sessions.redis_urls, false);
        let s = settings(
            p,
            "sessions.redis_urls",
            &sessions.redis_urls,
            sessions.cluster,
            sessions.key_prefix.as_deref(),
            None,
            None,
        );
        return s.filter(|_| urls_ok).map(Some);
    };
    if legacy {
        p.add(
            "sessions.redis_urls",
            "[redis] is set: remove the deprecated sessions.redis_urls, cluster and key_prefix",
        );
        return None;
    }
    let password = match &raw.password {
        None => Some(None),
        Some(secret) => {
            let file = p.file().to_path_buf();
            secret_ref(&file, "redis.password", secret, p).map(Some)
        }
    };
    let given = raw.password.is_some();
    let urls_ok = url_passwords(p, warn, "redis.urls", &raw.urls, given);
    let settings = settings(
        p,
        "redis.urls",
        &raw.urls,
        raw.cluster,
        raw.key_prefix.as_deref(),
        raw.connect_timeout.as_deref(),
        raw.response_timeout.as_deref(),
    );
    let (Some(mut settings), Some(password), true) = (settings, password, urls_ok) else {
        return None;
    };
    settings.password = password;
    Some(Some(settings))
}

/// A password written into a URL works, with a warning (the file it sits in is read by
/// everyone who reads the configuration); beside `redis.password` (`password_given`) it is
/// an error. Whether all is well. URLs that do not parse are `settings`' to report.
fn url_passwords(
    p: &mut Problems<'_>,
    warn: &mut dyn FnMut(&str, String),
    urls_field: &str,
    urls: &[String],
    password_given: bool,
) -> bool {
    let mut ok = true;
    for (i, u) in urls.iter().enumerate() {
        if url::Url::parse(u)
            .ok()
            .and_then(|u| u.password().map(drop))
            .is_none()
        {
            continue;
        }
        if password_given {
            p.add(
                format!("{urls_field}[{i}]"),
                "has a password and redis.password is set: keep only redis.password",
            );
            ok = false;
        } else {
            warn(
                &format!("{urls_field}[{i}]"),
                "has its password written in the configuration: give it as redis.password = { env = \"...\" }".to_string(),
            );
        }
    }
    ok
}

fn settings(
    p: &mut Problems<'_>,
    urls_field: &str,
    urls: &[String],
    cluster: Option<bool>,
    key_prefix: Option<&str>,
    connect_timeout: Option<&str>,
    response_timeout: Option<&str>,
) -> Option<RedisSettings> {
    let mut ok = true;
    if urls.is_empty() {
        p.add(
            urls_field,
            "at least one redis:// URL (a Cluster's seed nodes: several)",
        );
        ok = false;
    }
    for (i, u) in urls.iter().enumerate() {
        let valid = url::Url::parse(u)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "redis" | "rediss") && u.host().is_some());
        if !valid {
            // Not quoted: a URL that does not parse may still carry a password.
            p.add(
                format!("{urls_field}[{i}]"),
                "is not a redis:// or rediss:// URL",
            );
            ok = false;
        }
    }
    let prefix = key_prefix.unwrap_or(DEFAULT_KEY_PREFIX);
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        p.add(
            "redis.key_prefix",
            format!("{prefix:?} must not contain spaces or control characters"),
        );
        ok = false;
    }
    let connect = opt_duration(
        p,
        "redis.connect_timeout",
        connect_timeout,
        Duration::from_millis(500),
    );
    let response = opt_duration(
        p,
        "redis.response_timeout",
        response_timeout,
        Duration::from_millis(800),
    );
    for (field, d) in [
        ("redis.connect_timeout", connect),
        ("redis.response_timeout", response),
    ] {
        if d.is_some_and(|d| d.is_zero()) {
            p.add(field, "must be more than zero");
            ok = false;
        }
    }
    if response.is_some_and(|d| d > MAX_RESPONSE_TIMEOUT) {
        p.add(
            "redis.response_timeout",
            "is at most 1.5s: /readyz waits this long for Redis, and the readiness probe \
gives it 2 s (longer, every instance would be taken out at once when Redis is slow)",
        );
        ok = false;
    }
    let connect = connect?;
    let response = response?;
    ok.then(|| RedisSettings {
        cluster: cluster.unwrap_or(urls.len() > 1),
        urls: urls.to_vec(),
        key_prefix: prefix.to_string(),
        connect_timeout: connect,
        response_timeout: response,
        password: None,
    })
}

/// The longest a Redis answer is waited for: under the readiness probe's 2 s (a probe saw
/// /readyz wait the whole response timeout while Redis was paused; a longer one would
/// outwait the probe and take every instance out at once).
const MAX_RESPONSE_TIMEOUT: Duration = Duration::from_millis(1500);

#[cfg(test)]
mod tests {
    use super::super::validate_text;

    const PORTAL: &str =
        "[portal]\npublic_url = \"http://127.0.0.1:8080\"\nlisten = [\"127.0.0.1:8080\"]\n";

    /// The `[identity]` every deployment with Redis must have (shared key and secret). Only
    /// the key file's existence is checked here, so any file of the crate stands in for it
    /// (one written to the temporary directory was left there by every run).
    fn shared_identity() -> String {
        let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        format!(
            "[identity]\nsigning_keys = [{:?}]\npairwise_secret = {{ env = \"EGOV_TEST_PAIRWISE\" }}\n",
            key.display().to_string()
        )
    }

    #[test]
    fn a_redis_section_is_read_with_its_defaults() {
        let (settings, errors) = validate_text(&format!(
            "{PORTAL}{}[redis]\nurls = [\"redis://127.0.0.1:6379\"]\n",
            shared_identity()
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let settings = settings.expect("valid");
        let redis = settings.redis.expect("[redis]");
        assert_eq!(redis.urls, ["redis://127.0.0.1:6379"]);
        assert!(!redis.cluster);
        assert_eq!(redis.key_prefix, "egov:");
        assert!(
            !settings
                .warnings
                .iter()
                .any(|w| w.field.starts_with("sessions.")),
            "{:?}",
            settings.warnings
        );
    }

    #[test]
    fn with_redis_every_instance_must_be_given_the_shared_identity_key_and_secret() {
        let (_, errors) = validate_text(&format!(
            "{PORTAL}[redis]\nurls = [\"redis://127.0.0.1:6379\"]\n"
        ));
        for field in ["identity.signing_keys", "identity.pairwise_secret"] {
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains(field) && e.contains("keys generate")),
                "{field}: {errors:?}"
            );
        }
        let (_, without_redis) = validate_text(PORTAL);
        assert!(without_redis.is_empty(), "{without_redis:?}");
    }

    #[test]
    fn several_urls_mean_a_cluster_unless_told_otherwise() {
        let (settings, _) = validate_text(&format!(
            "{PORTAL}[redis]\nurls = [\"redis://127.0.0.1:7000\", \"redis://127.0.0.1:7001\"]\n"
        ));
        assert!(settings.expect("valid").redis.expect("[redis]").cluster);
    }

    #[test]
    fn the_deprecated_session_keys_still_work_with_a_warning() {
        let (settings, errors) = validate_text(&format!(
            "{PORTAL}{}[sessions]\nstore = \"redis\"\nredis_urls = [\"redis://127.0.0.1:6379\"]\nkey_prefix = \"t:\"\n",
            shared_identity()
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let settings = settings.expect("valid");
        let redis = settings.redis.as_ref().expect("[redis] from the alias");
        assert_eq!(redis.urls, ["redis://127.0.0.1:6379"]);
        assert_eq!(redis.key_prefix, "t:");
        let warnings: Vec<String> = settings.warnings.iter().map(ToString::to_string).collect();
        assert!(
            warnings.iter().any(|w| w.contains("sessions.redis_urls")
                && w.contains("deprecated")
                && w.contains("[redis] urls")),
            "{warnings:?}"
        );
    }

    #[test]
    fn the_deprecated_keys_beside_a_redis_section_are_an_error() {
        let (settings, errors) = validate_text(&format!(
            "{PORTAL}[redis]\nurls = [\"redis://127.0.0.1:6379\"]\n[sessions]\nredis_urls = [\"redis://127.0.0.1:6380\"]\n"
        ));
        assert!(settings.is_none());
        assert!(
            errors.iter().any(|e| e.contains("sessions.redis_urls")),
            "{errors:?}"
        );
    }

    #[test]
    fn every_bad_redis_value_is_reported_with_its_key() {
        let (settings, errors) = validate_text(&format!(
            "{PORTAL}[redis]\nurls = [\"http://127.0.0.1:6379\"]\nkey_prefix = \"a b\"\nconnect_timeout = \"0s\"\nresponse_timeout = \"soon\"\n"
        ));
        assert!(settings.is_none());
        for key in [
            "redis.urls[0]",
            "redis.key_prefix",
            "redis.connect_timeout",
            "redis.response_timeout",
        ] {
            assert!(errors.iter().any(|e| e.contains(key)), "{key}: {errors:?}");
        }
    }

    /// Found when tried: one wrong value in `[redis]` also gave three errors saying the
    /// section was missing, one for each setting that needs it.
    #[test]
    fn a_wrong_redis_value_is_the_only_error_of_the_settings_that_need_redis() {
        let (settings, errors) = validate_text(&format!(
            "{PORTAL}{}[redis]\nurls = [\"redis://127.0.0.1:6379\"]\nresponse_timeout = \"2s\"\n\
             [sessions]\nstore = \"redis\"\n[registry]\nstore = \"redis\"\n[cache]\nshared = true\n\
             [limits.rate]\nshared = true\n",
            shared_identity()
        ));
        assert!(settings.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("redis.response_timeout"), "{errors:?}");
    }

    #[test]
    fn the_password_is_a_secret_reference() {
        let (settings, errors) = validate_text(&format!(
            "{PORTAL}{}[redis]\nurls = [\"redis://127.0.0.1:6379\"]\npassword = {{ env = \"EGOV_REDIS_PASSWORD\" }}\n",
            shared_identity()
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let redis = settings.expect("valid").redis.expect("[redis]");
        assert_eq!(
            redis.password,
            Some(crate::config::SecretRef::Env("EGOV_REDIS_PASSWORD".into()))
        );
    }

    #[test]
    fn a_password_written_in_place_of_its_reference_is_refused_without_repeating_it() {
        let text = format!(
            "{PORTAL}{}[redis]\nurls = [\"redis://127.0.0.1:6379\"]\npassword = \"hunter2\"\n",
            shared_identity()
        );
        let e = toml::from_str::<crate::config::raw::RawGateway>(&text).expect_err("refused");
        let problem = crate::config::toml_problem(&text, &e);
        assert!(problem.contains("{ env = \"NAME\" }"), "{problem}");
        assert!(!problem.contains("hunter2"), "{problem}");
    }

    #[test]
    fn a_password_written_in_a_url_works_with_a_warning_that_does_not_repeat_it() {
        let (settings, errors) = validate_text(&format!(
            "{PORTAL}{}[redis]\nurls = [\"redis://:hunter2@127.0.0.1:6379\"]\n",
            shared_identity()
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let settings = settings.expect("valid");
        let warnings: Vec<String> = settings.warnings.iter().map(ToString::to_string).collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("redis.urls[0]") && w.contains("redis.password")),
            "{warnings:?}"
        );
        assert!(
            !warnings.iter().any(|w| w.contains("hunter2")),
            "{warnings:?}"
        );
        assert_eq!(settings.redis.expect("[redis]").password, None);
    }

    #[test]
    fn a_password_in_a_url_beside_redis_password_is_an_error() {
        let (settings, errors) = validate_text(&format!(
            "{PORTAL}{}[redis]\nurls = [\"redis://:hunter2@127.0.0.1:6379\"]\npassword = {{ env = \"X\" }}\n",
            shared_identity()
        ));
        assert!(settings.is_none());
        assert!(
            errors
                .iter()
                .any(|e| e.contains("redis.urls[0]") && e.contains("keep only redis.password")),
            "{errors:?}"
        );
        assert!(!errors.iter().any(|e| e.contains("hunter2")), "{errors:?}");
    }

    #[test]
    fn a_redis_response_timeout_longer_than_the_readiness_probe_is_refused() {
        let (_, errors) = validate_text(&format!(
            "{PORTAL}{}[redis]\nurls = [\"redis://127.0.0.1:6379\"]\nresponse_timeout = \"5s\"\n",
            shared_identity()
        ));
        assert!(
            errors.iter().any(|e| e.contains("redis.response_timeout")),
            "{errors:?}"
        );
    }
}
