//! What one client, one connection and everyone together may ask of the portal.
//!
//! - [`connections`]: connections held per client address and in total, capped below the
//!   open-file limit;
//! - [`head_deadline`]: a complete request header within `limits.header_timeout`
//!   (slowloris);
//! - [`keepalive`]: how long a kept-alive connection waits for its next request;
//! - [`admission`]: the three above around pingora's application, per accepted connection;
//! - [`streams`]: the requests one HTTP/2 connection keeps the gateway serving (rapid reset);
//! - [`rate`]: request rates.

pub mod admission;
pub mod connections;
pub mod head_deadline;
pub mod keepalive;
pub mod rate;
pub mod streams;

pub use admission::{Admission, AdmissionMetrics};
pub use connections::{ConnectionSlots, Crowded};

use crate::config::LimitsSettings;
use ipnet::IpNet;
use std::sync::Arc;
use std::time::Duration;

/// The connection limits of the portal listeners, built once at start.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub slots: Arc<ConnectionSlots>,
    pub header_timeout: Duration,
    /// `None`: no keep-alive.
    pub keepalive_timeout: Option<Duration>,
    /// The HTTP/2 connections being served and what their requests did (rapid reset).
    pub streams: Arc<streams::StreamsInFlight>,
}

impl ConnectionLimits {
    /// From `[limits]`; trusted proxies count only against the total.
    pub fn new(settings: &LimitsSettings, trusted_proxies: &[IpNet]) -> Self {
        let total = settings
            .max_connections
            .unwrap_or_else(connections::default_max_connections);
        let slots = ConnectionSlots::new(
            total,
            settings.max_connections_per_ip,
            trusted_proxies.to_vec(),
        );
        Self {
            streams: Arc::new(streams::StreamsInFlight::new(Arc::clone(&slots))),
            slots,
            header_timeout: settings.header_timeout,
            keepalive_timeout: settings.keepalive_timeout,
        }
    }
}

/// The legacy site accepted an upgrade (`101`): from now on the citizen's bytes are read as
/// one long body, each read waiting at most `limits.upgraded_idle_timeout` instead of
/// pingora's fixed minute. Set only then, so a request that merely asks for an upgrade (an
/// `Upgrade` header on a slowly sent body) keeps pingora's limit on its reads.
pub fn upgraded(
    session: &mut pingora::proxy::Session,
    status: http::StatusCode,
    limits: Option<&LimitsSettings>,
) {
    if let (http::StatusCode::SWITCHING_PROTOCOLS, Some(limits)) = (status, limits) {
        session.set_read_timeout(Some(limits.upgraded_idle_timeout));
    }
}
