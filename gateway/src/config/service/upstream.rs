//! A service's `[upstream]` table: its backends, timeouts, checks, ejection, breaker, affinity
//! and failover.

use super::{at_most, BACKENDS};
use crate::config::error::Problems;
use crate::config::fields::opt_duration;
use crate::config::fields::timeouts;
use crate::config::raw::{RawBreaker, RawHealthCheck, RawOutlier, RawService};
use crate::config::values;
use crate::config::{Backend, Defaults, LegacySite, UpstreamConfig};
use crate::config::{BreakerConfig, HealthCheckConfig, OutlierConfig};
use std::time::Duration;

pub(super) fn upstream(
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
        None | Some("none") => Some(crate::config::Affinity::None),
        Some("citizen") => Some(crate::config::Affinity::Citizen),
        Some(other) => {
            p.add(
                "upstream.affinity",
                format!("{other:?} is not an affinity: \"none\" (each request round-robin) or \"citizen\" (each citizen to one backend: by her session when signed in, else her address)"),
            );
            None
        }
    };
    let failover_on = failover_on(raw.upstream.failover_on.as_deref(), p);
    if let (Some(t), Some([_, ..])) = (&timeouts, failover_on.as_deref()) {
        // A failover needs the connect timeout left of the total (peer::time_for_another):
        // found in a bypass probe, `connect = total` was accepted and never failed over.
        if t.connect >= t.total {
            p.add(
                "upstream.failover_on",
                format!(
                    "would never be used: a failover needs the connect timeout ({:?}) left of \
                     the total ({:?}); make `upstream.timeouts.total` longer",
                    t.connect, t.total
                ),
            );
            ok = false;
        }
    }
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
pub(super) fn failover_on(raw: Option<&[i64]>, p: &mut Problems<'_>) -> Option<Vec<u16>> {
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

pub(super) fn health_check(
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

pub(super) fn outlier(raw: Option<&RawOutlier>, p: &mut Problems<'_>) -> Option<OutlierConfig> {
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

pub(super) fn breaker(raw: Option<&RawBreaker>, p: &mut Problems<'_>) -> Option<BreakerConfig> {
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
pub(super) fn backend_url(s: &str) -> Result<(bool, Backend, String), String> {
    let url = url::Url::parse(s.trim()).map_err(|e| {
        format!(
            "{:?} is not a URL: {e}",
            crate::config::values::url_shown(s)
        )
    })?;
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
