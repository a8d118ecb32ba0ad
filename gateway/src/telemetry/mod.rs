//! What SREs see: Prometheus metrics ([`metrics`]), one JSON access-log line per request, and
//! OpenTelemetry traces.

pub mod metrics;

pub use metrics::{Metrics, PORTAL};
