//! One service as the proxy uses it: its config plus everything compiled from it once
//! (backend balancer, adapter chain, header values), so a request does no parsing.

use crate::chain::AdapterChain;
use crate::config::{ServiceConfig, Timeouts};
use crate::telemetry::metrics::ServiceMetrics;
use http::HeaderValue;
use pingora::lb::selection::RoundRobin;
use pingora::lb::LoadBalancer;
use std::fmt;
use std::net::SocketAddr;

/// A registered service, compiled.
pub struct Service {
    pub config: ServiceConfig,
    /// `/s/<id>`: where the service lives on the portal.
    pub portal_prefix: String,
    pub upstream: Upstream,
    pub chain: AdapterChain,
    /// Its request metrics, when the snapshot serves traffic (not for `check`).
    pub metrics: Option<ServiceMetrics>,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("id", &self.config.id)
            .field("portal_prefix", &self.portal_prefix)
            .finish_non_exhaustive()
    }
}

impl Service {
    pub fn id(&self) -> &str {
        &self.config.id
    }
}

/// The legacy backend(s) of a service.
pub struct Upstream {
    balancer: LoadBalancer<RoundRobin>,
    pub tls: bool,
    /// SNI and `Host` sent upstream.
    pub host: String,
    pub host_header: HeaderValue,
    /// Backend path prefix (`/` for none).
    pub base_path: String,
    pub timeouts: Timeouts,
}

impl Upstream {
    pub fn new(
        backends: &[SocketAddr],
        tls: bool,
        host: String,
        base_path: String,
        timeouts: Timeouts,
    ) -> Result<Self, String> {
        let balancer = LoadBalancer::try_from_iter(backends.iter().copied())
            .map_err(|e| format!("cannot build the backend balancer: {e}"))?;
        let host_header =
            HeaderValue::from_str(&host).map_err(|_| format!("{host:?} is not a valid Host"))?;
        Ok(Self {
            balancer,
            tls,
            host,
            host_header,
            base_path,
            timeouts,
        })
    }

    /// The next backend, round-robin.
    pub fn select(&self) -> Option<SocketAddr> {
        self.balancer
            .select(b"", 256)
            .and_then(|b| b.addr.as_inet().copied())
    }
}
