//! The background task behind every service's active health checks and breaker gauge.
//!
//! Once a second it looks at the live snapshot: each service whose checks are due gets a run
//! (its backends checked in parallel, on a task of its own, never two runs of one service at
//! once), after which `egov_upstream_up` shows what the checks found; each service's breaker
//! republishes its state, so the gauge moves from open to half-open when the cool-down ends
//! even while no request comes.

use crate::registry::Registry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the schedule is looked at.
const TICK: Duration = Duration::from_secs(1);

/// Runs until the server stops.
pub async fn run(registry: Arc<Registry>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let snapshot = registry.snapshot();
        let now = Instant::now();
        for service in snapshot.services() {
            let upstream = &service.upstream;
            if let Some(breaker) = &upstream.breaker {
                breaker.publish(now);
            }
            let Some(schedule) = &upstream.health else {
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
