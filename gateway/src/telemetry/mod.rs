//! What SREs see: Prometheus metrics ([`metrics`]), one JSON access-log line per request
//! ([`access_log`]), OpenTelemetry traces ([`trace`]), and the live status board of the
//! admin listener ([`status`]). [`request`] records one finished request into all of them;
//! [`log_fields`] keeps every log line one line, whatever a client sent.

pub mod access_log;
pub mod log_fields;
pub mod metrics;
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
}

impl Telemetry {
    pub fn new(settings: &TelemetrySettings) -> Result<Self, TelemetryError> {
        let metrics = Arc::new(Metrics::new()?);
        Ok(Self {
            access_log: access_log::AccessLog::new(
                &settings.access_log,
                metrics.access_log_dropped.clone(),
            )?,
            tracing: trace::Tracing::new(settings)?,
            status: status::StatusBoard::new(Arc::clone(&metrics)),
            record_metrics: settings.metrics,
            portal_metrics: metrics.for_service(PORTAL, PORTAL, &[]),
            metrics,
        })
    }
}
