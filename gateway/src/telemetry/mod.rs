//! What SREs see: Prometheus metrics ([`metrics`]), one JSON access-log line per request
//! ([`access_log`]), OpenTelemetry traces ([`trace`]), and the live status board of the
//! admin listener ([`status`]). [`request`] records one finished request into all of them;
//! [`log_fields`] keeps every log line one line, whatever a client sent.

pub mod access_log;
pub mod log_fields;
pub mod metrics;
pub mod process;
pub mod request;
pub mod status;
pub mod trace;
pub mod traffic;

pub use metrics::{Metrics, PORTAL};
pub use trace::{TraceHeaders, TraceIdHex};

use crate::config::TelemetrySettings;
use std::sync::Arc;

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("telemetry.access_log: {0}")]
    AccessLog(#[from] std::io::Error),
    #[error("{0}")]
    Tracing(#[from] trace::TracingError),
}

/// Metrics, access log, traces and status, for the whole gateway.
pub struct Telemetry {
    pub metrics: Arc<Metrics>,
    pub access_log: access_log::AccessLog,
    pub tracing: trace::Tracing,
    pub status: status::StatusBoard,
    /// Off only for measuring what instrumentation costs (`benchmarks`).
    pub record_metrics: bool,
    /// Series for requests that reached no service.
    pub portal_metrics: metrics::ServiceMetrics,
    /// The access-log lines of connections refused at accept, this second.
    refusal_lines: PerSecond,
}

/// At most this many connections refused at accept a second are written in the access log.
pub const REFUSAL_LINES_PER_SECOND: u32 = 20;

/// At most [`REFUSAL_LINES_PER_SECOND`] takes in one second of the clock: the log lines of
/// refusals anyone may cause as fast as they like (found when tried: a flood of junk
/// back-channel logout posts wrote a line each, 4.4 GB an hour from one address). Every
/// refusal is counted in a metric all the same.
#[derive(Default)]
pub struct PerSecond {
    /// The second (since the Unix epoch) in the high 32 bits, the takes in it in the low.
    state: std::sync::atomic::AtomicU64,
}

impl PerSecond {
    /// Whether one more may be taken this second (and, if so, takes it).
    pub fn take(&self) -> bool {
        use std::sync::atomic::Ordering;
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() & 0xFFFF_FFFF);
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let (at, taken) = (current >> 32, current & 0xFFFF_FFFF);
            let next = if at == second {
                if taken >= u64::from(REFUSAL_LINES_PER_SECOND) {
                    return false;
                }
                current + 1
            } else {
                (second << 32) | 1
            };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

impl Telemetry {
    pub fn new(settings: &TelemetrySettings) -> Result<Self, TelemetryError> {
        let metrics = Arc::new(Metrics::new()?);
        Ok(Self {
            access_log: access_log::AccessLog::new(
                &settings.access_log,
                metrics.access_log_dropped.clone(),
            )?,
            tracing: trace::Tracing::new(
                settings,
                trace::SpanCounters {
                    ended: metrics.trace_spans_ended.clone(),
                    exported: metrics.trace_spans.clone(),
                },
            )?,
            status: status::StatusBoard::new(Arc::clone(&metrics)),
            record_metrics: settings.metrics,
            portal_metrics: metrics.for_service(PORTAL, PORTAL, &[]),
            metrics,
            refusal_lines: PerSecond::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_so_many_refusal_lines_are_taken_in_one_second() {
        let lines = PerSecond::default();
        // Within one second of the clock (a second's turn in between starts afresh).
        let taken = (0..REFUSAL_LINES_PER_SECOND * 3)
            .filter(|_| lines.take())
            .count();
        assert!(
            (REFUSAL_LINES_PER_SECOND as usize..=2 * REFUSAL_LINES_PER_SECOND as usize)
                .contains(&taken),
            "{taken}"
        );
    }
}
