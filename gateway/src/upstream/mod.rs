//! How a service's legacy backends are reached, whoever calls them: the proxy (pingora's
//! upstream phases) and the gateway's own calls (the SOAP facade) alike.
//!
//! - [`peer`]: which backend an attempt goes to and with which time limits (failover on a
//!   refused connection, one deadline for the whole exchange);
//! - [`request`]: what the legacy site receives (path, `Host`, `X-Forwarded-*`, request id,
//!   trace context, identity, the service's adapter request chain);
//! - [`same_origin`]: the service's own pages in `Origin`/`Referer`, as the site knows them;
//! - [`outcome`]: the one hook every attempt's events go through (telemetry, the service's
//!   breaker, outlier ejection);
//! - [`health`]: the background task running active health checks;
//! - [`call`]: a request of the gateway's own, answered whole, over pingora's connector;
//! - [`unread_body`]: a request with a body is the last on its connection, so a body a site
//!   never read cannot become the next citizen's request.

pub mod call;
pub mod health;
pub mod outcome;
pub mod peer;
pub mod request;
pub mod same_origin;
pub mod unread_body;

pub use call::{Answer, CallError, Exchange};
pub use outcome::Outcome;
pub use peer::Attempts;
pub use request::{forward, forwards_ranges, prepare, Hop, ADDED_HEADERS};

use crate::config::ServerSettings;
use crate::telemetry::Telemetry;
use pingora::connectors::http::Connector;
use pingora::connectors::ConnectorOptions;
use std::sync::Arc;

/// What every upstream attempt shares: the connector of the gateway's own calls (its pool
/// of idle connections) and the listeners of outcomes.
pub struct Upstreams {
    connector: Connector,
    telemetry: Arc<Telemetry>,
}

impl Upstreams {
    pub fn new(server: &ServerSettings, telemetry: Arc<Telemetry>) -> Self {
        Self {
            connector: Connector::new(Some(ConnectorOptions::new(
                server.upstream_keepalive_pool_size,
            ))),
            telemetry,
        }
    }
}
