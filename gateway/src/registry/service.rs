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
use std::sync::Arc;

/// A registered service, compiled.
pub struct Service {
    pub config: ServiceConfig,
    /// `/s/<id>`: where the service lives on the portal origin (in origin mode, what
    /// redirects to its own origin).
    pub portal_prefix: String,
    /// `https://<id>.services.gov.ma` when every service has its own origin.
    pub origin: Option<String>,
    /// The host citizens reach it by (its origin's, or the portal's): the `X-Forwarded-Host`
    /// of requests whose answer may be shared, whatever `Host` the request came with.
    pub canonical_host: HeaderValue,
    /// Shared with the next snapshot when the service's `[upstream]` did not change, so its
    /// balancer (and, with it, what it knows of its backends) survives a reload.
    pub upstream: Arc<Upstream>,
    pub chain: AdapterChain,
    /// What the response cache may keep of its answers; `None`: nothing.
    pub cache: Option<Arc<crate::cache::Policy>>,
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

    /// Where a path under the service (`/x?y`, starting with `/`) lives for citizens: on the
    /// service's own origin, or under its portal prefix on `portal_origin`.
    pub fn citizen_url(&self, portal_origin: &str, rest: &str) -> String {
        match &self.origin {
            Some(o) => format!("{o}{rest}"),
            None => format!("{portal_origin}{}{rest}", self.portal_prefix),
        }
    }
}

/// The legacy backend(s) of a service.
pub struct Upstream {
    balancer: LoadBalancer<RoundRobin>,
    /// The resolved backend addresses, in configuration order.
    backends: Vec<SocketAddr>,
    /// How many backends the balancer holds: the most attempts one request may make.
    backend_count: usize,
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
            backends: backends.to_vec(),
            backend_count: backends.len(),
            tls,
            host,
            host_header,
            base_path,
            timeouts,
        })
    }

    /// The next backend, round-robin.
    pub fn select(&self) -> Option<SocketAddr> {
        self.select_excluding(&[])
    }

    /// The next backend, round-robin, skipping those this request already failed to reach
    /// (so a retry after a refused connection goes elsewhere even when other requests move
    /// the shared round-robin counter in between). `None` once every backend was tried.
    pub fn select_excluding(&self, tried: &[SocketAddr]) -> Option<SocketAddr> {
        // Bounds the search; round-robin visits every backend within `backend_count` steps
        // unless other requests advance the shared counter meanwhile.
        self.balancer
            .select_with(b"", 256, |b, healthy| {
                healthy && b.addr.as_inet().is_some_and(|a| !tried.contains(a))
            })
            .and_then(|b| b.addr.as_inet().copied())
    }

    /// How many backends the service has.
    pub fn backend_count(&self) -> usize {
        self.backend_count
    }

    /// The resolved backend addresses.
    pub fn backends(&self) -> &[SocketAddr] {
        &self.backends
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn upstream(backends: &[SocketAddr]) -> Upstream {
        let t = Duration::from_secs(1);
        Upstream::new(
            backends,
            false,
            "legacy.example".into(),
            "/".into(),
            Timeouts {
                connect: t,
                read: t,
                total: t,
            },
        )
        .expect("upstream")
    }

    #[test]
    fn a_retry_never_picks_a_backend_the_request_already_tried() {
        let a: SocketAddr = "127.0.0.1:1001".parse().expect("addr");
        let b: SocketAddr = "127.0.0.1:1002".parse().expect("addr");
        let u = upstream(&[a, b]);
        for _ in 0..8 {
            // Whatever the shared counter says, excluding one backend yields the other.
            assert_eq!(u.select_excluding(&[a]), Some(b));
            assert_eq!(u.select_excluding(&[b]), Some(a));
            let _ = u.select();
        }
        assert_eq!(u.select_excluding(&[a, b]), None);
    }
}
