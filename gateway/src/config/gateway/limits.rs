//! `[limits]`: how long a client may take to send a request header (and stay silent on a
//! kept-alive or upgraded connection), how many connections
//! one address and everyone together may hold, the largest request target and header count,
//! and `[limits.rate]`, the request rates (per client address, per session, logins started,
//! global; each service may add its own in its file).

use crate::config::error::Problems;
use crate::config::fields::opt_duration;
use crate::config::raw::{RawLimits, RawRateLimits};
use crate::config::{values, LimitsSettings, Rate, RateLimits};
use std::time::Duration;

/// The most `limits.max_in_flight_per_service` is when unset (Envoy's `max_requests`):
/// below it, a quarter of the connection cap.
pub const DEFAULT_MAX_IN_FLIGHT_PER_SERVICE: usize = 1024;

/// `None` when an error was recorded.
pub(super) fn validate(
    raw: &RawLimits,
    has_redis: bool,
    p: &mut Problems<'_>,
) -> Option<LimitsSettings> {
    let header_timeout = opt_duration(
        p,
        "limits.header_timeout",
        raw.header_timeout.as_deref(),
        Duration::from_secs(10),
    );
    // "off" (or a zero duration, as nginx's `keepalive_timeout 0`) closes every connection
    // after its answer; at most an hour (an idle connection holds a slot of
    // `max_connections`).
    let keepalive_timeout = duration_or_off(
        "limits.keepalive_timeout",
        raw.keepalive_timeout.as_deref(),
        Duration::from_secs(60),
        p,
    );
    // "off": a flooding address reconnects at will; at most an hour (a carrier-grade NAT's
    // citizens share an offender's penalty).
    let flood_penalty = duration_or_off(
        "limits.flood_penalty",
        raw.flood_penalty.as_deref(),
        Duration::from_secs(10),
        p,
    );
    let upgraded_idle_timeout = upgraded_idle(raw.upgraded_idle_timeout.as_deref(), p);
    let send_timeout = opt_duration(
        p,
        "limits.send_timeout",
        raw.send_timeout.as_deref(),
        Duration::from_secs(60),
    );
    let max_connections = match raw.max_connections {
        None | Some(0) => Some(None),
        Some(v) => p
            .check("limits.max_connections", values::bounded(v, 16, 10_000_000))
            .map(Some),
    };
    let per_ip = p.check(
        "limits.max_connections_per_ip",
        values::bounded(raw.max_connections_per_ip.unwrap_or(256), 1, 10_000_000),
    );
    // Unset: resolved with the connection cap (`resilience::bulkhead::limit_of`).
    let in_flight_per_service = match raw.max_in_flight_per_service {
        None => Some(None),
        Some(v) => p
            .check(
                "limits.max_in_flight_per_service",
                values::bounded(v, 1, 10_000_000),
            )
            .map(Some),
    };
    let max_uri_bytes = p.check(
        "limits.max_uri_bytes",
        values::bounded(raw.max_uri_bytes.unwrap_or(8192), 256, 1 << 20),
    );
    let max_headers = p.check(
        "limits.max_headers",
        values::bounded(raw.max_headers.unwrap_or(100), 8, 10_000),
    );
    let max_body_bytes = p.check(
        "limits.max_body_bytes",
        values::bounded(
            raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            0,
            1 << 34,
        ),
    );
    let body_grace = opt_duration(
        p,
        "limits.body_grace",
        raw.body_grace.as_deref(),
        Duration::from_secs(20),
    );
    let body_min_rate = p.check(
        "limits.body_min_rate",
        values::bounded(raw.body_min_rate.unwrap_or(500), 1, 1 << 30),
    );
    let rate = rate(&raw.rate, has_redis, p);
    Some(LimitsSettings {
        header_timeout: header_timeout?,
        keepalive_timeout: keepalive_timeout?,
        flood_penalty: flood_penalty?,
        upgraded_idle_timeout: upgraded_idle_timeout?,
        send_timeout: send_timeout?,
        max_connections: max_connections?,
        max_connections_per_ip: per_ip?,
        max_in_flight_per_service: in_flight_per_service?,
        max_uri_bytes: max_uri_bytes?,
        max_headers: max_headers?,
        max_body_bytes: max_body_bytes? as u64,
        body_grace: body_grace?,
        body_min_rate: body_min_rate? as u64,
        rate: rate?,
    })
}

/// `limits.max_body_bytes` unless set: 64 MiB, room for a citizen's scans and photos.
/// nginx's 1 MB default would refuse an ID card's photo; no limit at all let 100 MB reach
/// legacy forms that read 1 MB.
pub const DEFAULT_MAX_BODY_BYTES: i64 = 64 << 20;

/// A duration setting that may be `"off"` (or zero: `None`), `default` unless set, at most
/// an hour.
fn duration_or_off(
    field: &str,
    value: Option<&str>,
    default: Duration,
    p: &mut Problems<'_>,
) -> Option<Option<Duration>> {
    match value.map(str::trim) {
        None => Some(Some(default)),
        Some("off") => Some(None),
        Some(s) if humantime::parse_duration(s).is_ok_and(|d| d.is_zero()) => Some(None),
        Some(s) => {
            let d = p.check(field, values::duration(s))?;
            if d > Duration::from_secs(3600) {
                p.add(
                    field,
                    format!("{s:?} is over the most, \"1h\" (or \"off\")"),
                );
                return None;
            }
            Some(Some(d))
        }
    }
}

/// `limits.upgraded_idle_timeout`: 60 s unless set (nginx's `proxy_read_timeout`), at most
/// an hour, never off: a silent upgraded connection holds a slot of `max_connections`.
fn upgraded_idle(value: Option<&str>, p: &mut Problems<'_>) -> Option<Duration> {
    const FIELD: &str = "limits.upgraded_idle_timeout";
    let d = opt_duration(p, FIELD, value, Duration::from_secs(60))?;
    if d > Duration::from_secs(3600) {
        p.add(
            FIELD,
            format!("{:?} is over the most, \"1h\"", value.unwrap_or_default()),
        );
        return None;
    }
    Some(d)
}

fn opt_rate(p: &mut Problems<'_>, field: &str, value: Option<&str>) -> Option<Option<Rate>> {
    match value {
        None | Some("") | Some("off") => Some(None),
        Some(s) => p.check(field, values::rate(s)).map(Some),
    }
}

fn rate(raw: &RawRateLimits, has_redis: bool, p: &mut Problems<'_>) -> Option<RateLimits> {
    let per_ip = opt_rate(p, "limits.rate.per_ip", raw.per_ip.as_deref());
    let per_session = opt_rate(p, "limits.rate.per_session", raw.per_session.as_deref());
    let global = opt_rate(p, "limits.rate.global", raw.global.as_deref());
    let login_per_ip = match raw.login_per_ip.as_deref() {
        None => Some(Rate {
            count: 30,
            per: Duration::from_secs(60),
        }),
        Some(s) => p.check("limits.rate.login_per_ip", values::rate(s)),
    };
    // Found in a probe: at 60 a minute, one browser's searches spent the search box of
    // everyone behind its address (a carrier's NAT), though only the LLM's calls cost
    // anything; those have a budget of their own.
    let route_per_ip = match raw.route_per_ip.as_deref() {
        None => Some(Rate {
            count: 600,
            per: Duration::from_secs(60),
        }),
        Some(s) => p.check("limits.rate.route_per_ip", values::rate(s)),
    };
    let llm_per_ip = match raw.llm_per_ip.as_deref() {
        None => Some(Rate {
            count: 60,
            per: Duration::from_secs(60),
        }),
        Some(s) => p.check("limits.rate.llm_per_ip", values::rate(s)),
    };
    let pending = p.check(
        "limits.rate.max_pending_logins",
        values::bounded(raw.max_pending_logins.unwrap_or(100_000), 1, 100_000_000),
    );
    let pending_ip = p.check(
        "limits.rate.max_pending_logins_per_ip",
        values::bounded(raw.max_pending_logins_per_ip.unwrap_or(20), 1, 1_000_000),
    );
    if raw.shared == Some(true) && !has_redis {
        p.add("limits.rate.shared", "true needs a [redis] section");
        return None;
    }
    Some(RateLimits {
        per_ip: per_ip?,
        per_session: per_session?,
        login_per_ip: login_per_ip?,
        route_per_ip: route_per_ip?,
        llm_per_ip: llm_per_ip?,
        global: global?,
        shared: raw.shared.unwrap_or(false),
        max_pending_logins: pending?,
        max_pending_logins_per_ip: pending_ip?,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::gateway::validate_text;
    use std::time::Duration;

    const BASE: &str =
        "[portal]\npublic_url = \"http://portal.test\"\nlisten = [\"127.0.0.1:0\"]\n";

    #[test]
    fn defaults_give_a_ten_second_header_deadline_and_a_login_rate() {
        let (settings, errors) = validate_text(BASE);
        assert!(errors.is_empty(), "{errors:?}");
        let limits = settings.expect("valid").limits;
        assert_eq!(limits.header_timeout, Duration::from_secs(10));
        assert_eq!(limits.max_connections, None);
        assert_eq!(limits.max_connections_per_ip, 256);
        assert_eq!(limits.rate.login_per_ip.count, 30);
        assert_eq!(limits.rate.per_ip, None);
        assert!(!limits.rate.shared);
    }

    #[test]
    fn the_flood_penalty_is_ten_seconds_unless_set_off_or_at_most_an_hour() {
        let penalty = |extra: &str| {
            let (settings, errors) = validate_text(&format!("{BASE}[limits]\n{extra}"));
            (settings.map(|s| s.limits.flood_penalty), errors)
        };
        assert_eq!(penalty("").0, Some(Some(Duration::from_secs(10))));
        assert_eq!(penalty("flood_penalty = \"off\"").0, Some(None));
        assert_eq!(penalty("flood_penalty = \"0s\"").0, Some(None));
        assert_eq!(
            penalty("flood_penalty = \"1m\"").0,
            Some(Some(Duration::from_secs(60)))
        );
        let (settings, errors) = penalty("flood_penalty = \"2h\"");
        assert!(settings.is_none());
        assert!(
            errors
                .iter()
                .any(|e| e.to_string().contains("limits.flood_penalty")),
            "{errors:?}"
        );
    }

    #[test]
    fn rates_are_counts_per_unit() {
        let text = format!("{BASE}[limits.rate]\nper_ip = \"600/min\"\nglobal = \"5000/s\"\n");
        let (settings, errors) = validate_text(&text);
        assert!(errors.is_empty(), "{errors:?}");
        let rate = settings.expect("valid").limits.rate;
        let per_ip = rate.per_ip.expect("set");
        assert_eq!((per_ip.count, per_ip.per), (600, Duration::from_secs(60)));
        assert_eq!(rate.global.map(|r| r.count), Some(5000));
    }

    #[test]
    fn a_malformed_rate_names_its_key_and_the_expected_shape() {
        let text = format!("{BASE}[limits.rate]\nper_ip = \"lots\"\nlogin_per_ip = \"0/min\"\n");
        let (_, errors) = validate_text(&text);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("limits.rate.per_ip") && e.contains("600/min")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("limits.rate.login_per_ip")),
            "{errors:?}"
        );
    }

    #[test]
    fn shared_rate_counters_need_redis() {
        let text = format!("{BASE}[limits.rate]\nshared = true\n");
        let (settings, errors) = validate_text(&text);
        assert!(settings.is_none());
        assert!(
            errors.iter().any(|e| e.contains("limits.rate.shared")),
            "{errors:?}"
        );
    }

    #[test]
    fn kept_alive_connections_wait_a_minute_unless_told_otherwise() {
        let limits = |extra: &str| {
            let (settings, errors) = validate_text(&format!("{BASE}[limits]\n{extra}"));
            (settings.map(|s| s.limits.keepalive_timeout), errors)
        };
        assert_eq!(limits("").0, Some(Some(Duration::from_secs(60))));
        assert_eq!(
            limits("keepalive_timeout = \"5s\"\n").0,
            Some(Some(Duration::from_secs(5)))
        );
        assert_eq!(limits("keepalive_timeout = \"off\"\n").0, Some(None));
        assert_eq!(limits("keepalive_timeout = \"0s\"\n").0, Some(None));
        for bad in ["\"2h\"", "\"soon\"", "\"-5s\""] {
            let (settings, errors) = limits(&format!("keepalive_timeout = {bad}\n"));
            assert!(settings.is_none(), "{bad}");
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains("limits.keepalive_timeout")),
                "{bad}: {errors:?}"
            );
        }
    }

    #[test]
    fn an_upgraded_connection_may_be_silent_a_minute_unless_told_otherwise() {
        let limits = |extra: &str| {
            let (settings, errors) = validate_text(&format!("{BASE}[limits]\n{extra}"));
            (settings.map(|s| s.limits.upgraded_idle_timeout), errors)
        };
        assert_eq!(limits("").0, Some(Duration::from_secs(60)));
        assert_eq!(
            limits("upgraded_idle_timeout = \"10m\"\n").0,
            Some(Duration::from_secs(600))
        );
        for (bad, says) in [
            ("\"2h\"", "over the most, \"1h\""),
            ("\"off\"", "not a duration"),
            ("\"0s\"", "greater than zero"),
        ] {
            let (settings, errors) = limits(&format!("upgraded_idle_timeout = {bad}\n"));
            assert!(settings.is_none(), "{bad}");
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains("limits.upgraded_idle_timeout") && e.contains(says)),
                "{bad}: {errors:?}"
            );
        }
    }

    #[test]
    fn a_connection_cap_below_sixteen_is_refused() {
        let text = format!("{BASE}[limits]\nmax_connections = 3\n");
        let (_, errors) = validate_text(&text);
        assert!(
            errors.iter().any(|e| e.contains("limits.max_connections")),
            "{errors:?}"
        );
    }
}
