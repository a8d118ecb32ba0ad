//! One service as the proxy uses it: its config plus everything compiled from it once
//! (backend balancer, adapter chain, header values), so a request does no parsing.

use crate::chain::AdapterChain;
use crate::config::{ServiceConfig, Timeouts, UpstreamConfig};
use crate::resilience::breaker::Breaker;
use crate::resilience::budget::RetryBudget;
use crate::resilience::outlier::Outliers;
use crate::telemetry::metrics::ServiceMetrics;
use futures_util::FutureExt;
use http::HeaderValue;
use pingora::lb::discovery::Static;
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend as LbBackend, Backends, LoadBalancer};
use prometheus::IntGauge;
use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// The requests waiting on its site, at most `limits.max_in_flight_per_service`: the
    /// count outlives swaps, the limit is this snapshot's.
    pub in_flight: crate::resilience::bulkhead::Bulkhead,
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

/// The legacy backend(s) of a service, and what the gateway knows of them: their active
/// health (in the balancer), passive ejections, the service's circuit breaker and retry
/// budget. Shared with the next snapshot when `[upstream]` did not change, so all of it
/// survives a registry swap.
pub struct Upstream {
    balancer: LoadBalancer<RoundRobin>,
    /// The resolved backend addresses, in configuration order.
    backends: Vec<SocketAddr>,
    /// Their weights, in the same order.
    weights: Vec<u32>,
    /// `upstream.affinity = "citizen"`: each citizen to one backend ([`Self::select_for`]).
    affinity: bool,
    /// How many backends the balancer holds: the most attempts one request may make.
    backend_count: usize,
    pub tls: bool,
    /// SNI and `Host` sent upstream.
    pub host: String,
    /// `http(s)://<host>`: the legacy site's own origin, as its pages' `Origin` names it
    /// (what the upstream room's `same_origin` step writes in a request's `Origin` and
    /// `Referer`), made once here rather than per request.
    pub legacy_origin: String,
    pub host_header: HeaderValue,
    /// Backend path prefix (`/` for none).
    pub base_path: String,
    pub timeouts: Timeouts,
    pub outliers: Outliers,
    /// `None` when `[upstream.breaker] failures = 0`.
    pub breaker: Option<Breaker>,
    pub budget: RetryBudget,
    /// When active checks are configured: how often, and when the next is due.
    pub health: Option<HealthSchedule>,
}

/// When a service's active health checks run.
pub struct HealthSchedule {
    pub interval: Duration,
    next_due: Mutex<Instant>,
    running: AtomicBool,
}

impl HealthSchedule {
    /// Whether a run should start at `now` (and, if so, marks it started).
    pub fn start_if_due(&self, now: Instant) -> bool {
        let mut due = self.next_due.lock().unwrap_or_else(|e| e.into_inner());
        if now < *due || self.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        *due = now + self.interval;
        true
    }

    /// The run that [`Self::start_if_due`] started is over.
    pub fn finished(&self) {
        self.running.store(false, Ordering::Release);
    }
}

impl Upstream {
    /// The upstream of `config` on the resolved `backends` (address and weight); the
    /// breaker, if any, publishes its state to `breaker_gauge`.
    pub fn new(
        config: &UpstreamConfig,
        backends: &[(SocketAddr, u32)],
        breaker_gauge: Option<IntGauge>,
    ) -> Result<Self, String> {
        let set: BTreeSet<LbBackend> = backends
            .iter()
            .map(|(addr, weight)| {
                let mut b = LbBackend::new(&addr.to_string())
                    .map_err(|e| format!("backend {addr}: {e}"))?;
                b.weight = (*weight).max(1) as usize;
                Ok(b)
            })
            .collect::<Result<_, String>>()?;
        let mut balancer = LoadBalancer::from_backends(Backends::new(Static::new(set)));
        if let Some(check) = &config.health_check {
            balancer.set_health_check(crate::resilience::health::build(
                check,
                &config.host,
                config.tls,
            )?);
        }
        balancer
            .update()
            .now_or_never()
            .ok_or("the static backend list did not load at once")?
            .map_err(|e| format!("cannot build the backend balancer: {e}"))?;
        let host = config.host.clone();
        let host_header =
            HeaderValue::from_str(&host).map_err(|_| format!("{host:?} is not a valid Host"))?;
        let addrs: Vec<SocketAddr> = backends.iter().map(|(a, _)| *a).collect();
        let b = config.breaker;
        let breaker = (b.failures > 0).then(|| match breaker_gauge {
            Some(g) => Breaker::with_gauge(b.failures, b.open_for, g),
            None => Breaker::new(b.failures, b.open_for),
        });
        let legacy_origin = format!("{}://{host}", if config.tls { "https" } else { "http" });
        Ok(Self {
            legacy_origin,
            balancer,
            outliers: Outliers::new(config.outlier, &addrs),
            backend_count: addrs.len(),
            backends: addrs,
            weights: backends.iter().map(|(_, w)| (*w).max(1)).collect(),
            affinity: config.affinity == crate::config::Affinity::Citizen,
            tls: config.tls,
            host,
            host_header,
            base_path: config.base_path.clone(),
            timeouts: config.timeouts,
            breaker,
            budget: RetryBudget::default(),
            health: config.health_check.as_ref().map(|c| HealthSchedule {
                interval: c.interval,
                next_due: Mutex::new(Instant::now()),
                running: AtomicBool::new(false),
            }),
        })
    }

    /// The next backend, round-robin by weight.
    pub fn select(&self) -> Option<SocketAddr> {
        self.select_excluding(&[])
    }

    /// The backend for a request of the citizen whose key `citizen` gives: with
    /// `upstream.affinity = "citizen"`, her own among those in service ([`Self::rendezvous`]);
    /// otherwise, and for a failover (`tried` not empty), as [`Self::select_excluding`].
    /// (`citizen` is asked only then.)
    pub fn select_for(
        &self,
        tried: &[SocketAddr],
        citizen: impl FnOnce() -> Option<u64>,
    ) -> Option<SocketAddr> {
        match (self.affinity && tried.is_empty()).then(citizen).flatten() {
            Some(key) => self.rendezvous(key),
            None => self.select_excluding(tried),
        }
    }

    /// Whether `upstream.affinity = "citizen"`.
    pub fn has_affinity(&self) -> bool {
        self.affinity
    }

    /// Weighted rendezvous hashing: each backend in service scores `weight / -ln(u)`, `u`
    /// a uniform draw from the citizen's key and the backend's address, and the highest
    /// wins. The same key picks the same backend on every instance of the gateway (the
    /// hash has fixed keys); a backend leaving moves only the citizens it had, and one
    /// coming back takes back only those (a consistent hash, as nginx's `hash consistent`).
    fn rendezvous(&self, key: u64) -> Option<SocketAddr> {
        use std::hash::{Hash, Hasher};
        let now = self.outliers.any_marked().then(Instant::now);
        let mut best: Option<(f64, SocketAddr)> = None;
        for (addr, weight) in self.backends.iter().zip(&self.weights) {
            if now.is_some_and(|t| self.outliers.is_ejected(*addr, t))
                || (self.health.is_some() && !self.passes_checks(*addr))
            {
                continue;
            }
            let mut h = std::hash::DefaultHasher::new();
            (key, addr).hash(&mut h);
            // 53 bits, in (0, 1).
            let u = ((h.finish() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let score = f64::from(*weight) / -u.ln();
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, *addr));
            }
        }
        best.map(|(_, a)| a)
    }

    /// The next backend, round-robin by weight, among those that pass their health checks
    /// and are not ejected, skipping those this request already failed to reach (so a retry
    /// after a refused connection goes elsewhere even when other requests move the shared
    /// round-robin counter in between). `None` once none is left.
    ///
    /// A failover (`tried` not empty) takes the next backend after the one that failed, in
    /// the configured order, without moving the shared round-robin counter: moved one step
    /// by each failover, it made the backend that had just failed the next request's first
    /// choice (found when tried: with one of two backends resetting, it was the first
    /// choice of 124 requests in 200, and every other request waited on a hung one).
    pub fn select_excluding(&self, tried: &[SocketAddr]) -> Option<SocketAddr> {
        // The clock is read only when some backend was ejected.
        let now = self.outliers.any_marked().then(Instant::now);
        let ejected = |a: &SocketAddr| now.is_some_and(|t| self.outliers.is_ejected(*a, t));
        if let Some(failed) = tried.last() {
            let n = self.backends.len();
            let after = self.backends.iter().position(|a| a == failed).unwrap_or(n);
            return (1..=n)
                .map(|i| self.backends[(after + i) % n])
                .find(|a| !tried.contains(a) && !ejected(a) && self.passes_checks(*a));
        }
        if let ([only], None) = (self.backends.as_slice(), &self.health) {
            // Nothing to balance and no check to consult (pingora's balancer would hash the
            // backend to look its health up, for every request).
            return (!tried.contains(only) && !ejected(only)).then_some(*only);
        }
        // Bounds the search; round-robin visits every backend within its weighted cycle
        // unless other requests advance the shared counter meanwhile.
        self.balancer
            .select_with(b"", 256, |b, healthy| {
                healthy
                    && b.addr
                        .as_inet()
                        .is_some_and(|a| !tried.contains(a) && !ejected(a))
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

    /// Runs every backend's active check once (all in parallel).
    pub async fn run_health_checks(&self) {
        self.balancer.backends().run_health_check(true).await
    }

    /// Whether `addr` is ejected for failing citizens' requests now.
    pub fn is_ejected(&self, addr: SocketAddr) -> bool {
        self.outliers.any_marked() && self.outliers.is_ejected(addr, Instant::now())
    }

    /// Whether `addr` passes its active checks (always, without checks).
    pub fn passes_checks(&self, addr: SocketAddr) -> bool {
        let backends = self.balancer.backends();
        backends
            .get_backend()
            .iter()
            .find(|b| b.addr.as_inet() == Some(&addr))
            .is_none_or(|b| backends.ready(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backend, BreakerConfig, OutlierConfig};

    fn config(backends: &[SocketAddr]) -> UpstreamConfig {
        let t = Duration::from_secs(1);
        UpstreamConfig {
            tls: false,
            backends: backends
                .iter()
                .map(|a| Backend {
                    host: a.ip().to_string(),
                    port: a.port(),
                    weight: 1,
                })
                .collect(),
            base_path: "/".into(),
            host: "legacy.example".into(),
            timeouts: Timeouts {
                connect: t,
                read: t,
                total: t,
            },
            health_check: None,
            outlier: OutlierConfig::default(),
            breaker: BreakerConfig::default(),
            affinity: crate::config::Affinity::None,
            failover_on: Vec::new(),
        }
    }

    fn upstream(backends: &[(SocketAddr, u32)]) -> Upstream {
        let addrs: Vec<SocketAddr> = backends.iter().map(|(a, _)| *a).collect();
        Upstream::new(&config(&addrs), backends, None).expect("upstream")
    }

    fn with_affinity(backends: &[(SocketAddr, u32)]) -> Upstream {
        let addrs: Vec<SocketAddr> = backends.iter().map(|(a, _)| *a).collect();
        let mut c = config(&addrs);
        c.affinity = crate::config::Affinity::Citizen;
        Upstream::new(&c, backends, None).expect("upstream")
    }

    /// Which backend each of 600 citizens goes to.
    fn chosen(u: &Upstream) -> Vec<Option<SocketAddr>> {
        (0..600u64).map(|k| u.select_for(&[], || Some(k))).collect()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_retry_never_picks_a_backend_the_request_already_tried() {
        let (a, b) = (addr(1001), addr(1002));
        let u = upstream(&[(a, 1), (b, 1)]);
        for _ in 0..8 {
            // Whatever the shared counter says, excluding one backend yields the other.
            assert_eq!(u.select_excluding(&[a]), Some(b));
            assert_eq!(u.select_excluding(&[b]), Some(a));
            let _ = u.select();
        }
        assert_eq!(u.select_excluding(&[a, b]), None);
    }

    #[test]
    fn a_lone_backend_is_chosen_unless_this_request_tried_it() {
        let a = addr(1001);
        let u = upstream(&[(a, 1)]);
        assert_eq!(u.select(), Some(a));
        assert_eq!(
            u.select_excluding(&[a]),
            None,
            "a retry has nowhere else to go"
        );
        // Never ejected: the service's circuit breaker does that job.
        let now = Instant::now();
        for _ in 0..5 {
            u.outliers
                .record(a, Some(crate::resilience::breaker::Failure::Anyone), now);
        }
        assert_eq!(u.select(), Some(a));
    }

    #[test]
    fn a_failover_leaves_the_next_request_its_turn_at_the_backends() {
        let (a, bad) = (addr(1001), addr(1002));
        let u = upstream(&[(a, 1), (bad, 1)]);
        let mut first_at_bad = 0;
        for _ in 0..20 {
            if u.select() == Some(bad) {
                first_at_bad += 1;
                assert_eq!(u.select_excluding(&[bad]), Some(a), "the other one");
            }
        }
        assert_eq!(first_at_bad, 10, "every other request, as without failures");
    }

    #[test]
    fn traffic_follows_the_weights() {
        let (a, b) = (addr(1001), addr(1002));
        let u = upstream(&[(a, 3), (b, 1)]);
        let to_a = (0..400).filter(|_| u.select() == Some(a)).count();
        assert!(
            (280..=320).contains(&to_a),
            "{to_a} of 400 to the weight-3 backend"
        );
    }

    #[test]
    fn with_affinity_a_citizen_keeps_her_backend_and_citizens_spread_by_weight() {
        let (a, b, c) = (addr(1001), addr(1002), addr(1003));
        let u = with_affinity(&[(a, 1), (b, 1), (c, 2)]);
        let first = chosen(&u);
        // Requests in between move the round-robin counter, not her choice.
        for _ in 0..7 {
            let _ = u.select();
        }
        assert_eq!(chosen(&u), first, "each citizen's backend is hers");
        let share = |x| first.iter().filter(|&&f| f == Some(x)).count();
        assert!((110..=190).contains(&share(a)), "{} of 600 to a", share(a));
        assert!((110..=190).contains(&share(b)), "{} of 600 to b", share(b));
        assert!(
            (240..=360).contains(&share(c)),
            "{} of 600 to c (weight 2)",
            share(c)
        );
        // Every instance of the gateway chooses alike.
        assert_eq!(chosen(&with_affinity(&[(a, 1), (b, 1), (c, 2)])), first);
    }

    #[test]
    fn with_affinity_a_backend_out_of_service_moves_only_its_own_citizens() {
        let (a, b, c) = (addr(1001), addr(1002), addr(1003));
        let u = with_affinity(&[(a, 1), (b, 1), (c, 1)]);
        let before = chosen(&u);
        let now = Instant::now();
        for _ in 0..5 {
            u.outliers
                .record(b, Some(crate::resilience::breaker::Failure::Anyone), now);
        }
        let after = chosen(&u);
        for (was, is) in before.iter().zip(&after) {
            assert_ne!(*is, Some(b), "b is out");
            if *was != Some(b) {
                assert_eq!(was, is, "a citizen of another backend stays");
            }
        }
        // A failover goes elsewhere, and without affinity nothing is asked of the key.
        assert_ne!(u.select_for(&[a], || Some(1)), Some(a));
        let plain = upstream(&[(a, 1), (c, 1)]);
        assert!(plain.select_for(&[], || panic!("asked")).is_some());
    }

    #[test]
    fn an_ejected_backend_gets_no_traffic_until_its_ejection_ends() {
        let (a, b) = (addr(1001), addr(1002));
        let u = upstream(&[(a, 1), (b, 1)]);
        let now = Instant::now();
        for _ in 0..5 {
            u.outliers
                .record(a, Some(crate::resilience::breaker::Failure::Anyone), now);
        }
        assert!((0..20).all(|_| u.select() == Some(b)));
    }
}
