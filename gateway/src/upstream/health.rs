//! The background task behind every service's active health checks and breaker gauge.
//!
//! Once a second it looks at the live snapshot: each service whose checks are due gets a run
//! (its backends checked in parallel, on a task of its own, never two runs of one service at
//! once), after which `egov_upstream_up` shows what the checks found; each service's breaker
//! republishes its state, so the gauge moves from open to half-open when the cool-down ends
//! even while no request comes.
//!
//! A service without active checks learns whether a backend is reachable only from its
//! requests: one refused connection left a quiet service's backend "down" (the gauge, the
//! status board, the `EgovUpstreamBackendDown` ticket five minutes later) long after it was
//! back, until the next citizen came (found by an SRE probe). Its backends the gauge says
//! are down are tried with a bare connection every [`RECHECK_DOWN_EVERY`], and the gauge
//! says up once one connects; the balancer is left as the requests made it.

use crate::registry::Registry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the schedule is looked at.
const TICK: Duration = Duration::from_secs(1);
/// How often a backend of a service without active checks that the gauge says is down is
/// tried again (a connection, within the service's connect timeout and at most
/// [`RECHECK_TIMEOUT`]).
const RECHECK_DOWN_EVERY: u64 = 10;
const RECHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs until the server stops.
pub async fn run(registry: Arc<Registry>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        ticks += 1;
        let snapshot = registry.snapshot();
        let now = Instant::now();
        for service in snapshot.services() {
            let upstream = &service.upstream;
            if let Some(breaker) = &upstream.breaker {
                breaker.publish(now);
            }
            let Some(schedule) = &upstream.health else {
                if ticks % RECHECK_DOWN_EVERY == 0 {
                    recheck_down(service);
                }
                continue;
            };
            if !schedule.start_if_due(now) {
                continue;
            }
            let service = Arc::clone(service);
            tokio::spawn(async move {
                let upstream = &service.upstream;
                upstream.run_health_checks().await;
                if let Some(metrics) = &service.metrics {
                    for &addr in upstream.backends() {
                        metrics.set_backend_up(addr, i64::from(upstream.passes_checks(addr)));
                    }
                }
                if let Some(schedule) = &upstream.health {
                    schedule.finished();
                }
            });
        }
    }
}

/// Tries a connection to each backend of `service` the gauge says is down, and says up of
/// those that take it (see the module's documentation).
fn recheck_down(service: &Arc<crate::registry::Service>) {
    let Some(down) = service.metrics.as_ref().map(|m| m.backends_down()) else {
        return;
    };
    if down.is_empty() {
        return;
    }
    let service = Arc::clone(service);
    tokio::spawn(async move {
        let patience = service
            .config
            .upstream
            .timeouts
            .connect
            .min(RECHECK_TIMEOUT);
        let tries = down.into_iter().map(|addr| async move {
            let connected = tokio::time::timeout(patience, tokio::net::TcpStream::connect(addr));
            (addr, matches!(connected.await, Ok(Ok(_))))
        });
        for (addr, up) in futures_util::future::join_all(tries).await {
            if let (true, Some(metrics)) = (up, &service.metrics) {
                metrics.set_backend_up(addr, 1);
            }
        }
    });
}
