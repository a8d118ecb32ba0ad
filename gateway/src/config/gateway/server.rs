//! `[server]`: pingora's process settings.

use crate::config::error::Problems;
use crate::config::fields::opt_duration;
use crate::config::raw::RawServer;
use crate::config::values;
use crate::config::ServerSettings;
use std::time::Duration;

pub(super) fn validate(raw: &RawServer, p: &mut Problems<'_>) -> Option<ServerSettings> {
    let threads = match raw.threads {
        None => Some(2),
        Some(t) => p.check("server.threads", values::bounded(t, 1, 1024)),
    };
    let pool = match raw.upstream_keepalive_pool_size {
        None => Some(1024),
        Some(v) => p.check(
            "server.upstream_keepalive_pool_size",
            values::bounded(v, 0, 1_000_000),
        ),
    };
    let grace_period = opt_duration(
        p,
        "server.grace_period",
        raw.grace_period.as_deref(),
        Duration::from_secs(5),
    );
    let graceful_timeout = opt_duration(
        p,
        "server.graceful_shutdown_timeout",
        raw.graceful_shutdown_timeout.as_deref(),
        Duration::from_secs(10),
    );
    let upgrade_sock = match raw.upgrade_sock.as_deref() {
        None => Some(std::path::PathBuf::from("/tmp/egov-gateway-upgrade.sock")),
        Some(s) if s.starts_with('/') => Some(std::path::PathBuf::from(s)),
        Some(s) => {
            p.add(
                "server.upgrade_sock",
                format!("{s:?} must be an absolute path"),
            );
            None
        }
    };
    Some(ServerSettings {
        threads: threads?,
        work_stealing: raw.work_stealing.unwrap_or(true),
        thread_per_core: raw.thread_per_core.unwrap_or(true),
        upstream_keepalive_pool_size: pool?,
        grace_period: grace_period?,
        graceful_shutdown_timeout: graceful_timeout?,
        upgrade_sock: upgrade_sock?,
    })
}
