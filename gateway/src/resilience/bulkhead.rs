//! How many requests one service may have waiting on its legacy site at once
//! (`limits.max_in_flight_per_service`): a bulkhead, so that one slow site cannot hold
//! every connection the gateway may have, and with them every other service.
//!
//! Found when tried: a site answering in 8 s, asked by 1,000 clients from five addresses
//! (each under its connection share), held all 800 connection slots; 85-96 % of the
//! requests to every other service, and the portal's home page, got 503 for as long as it
//! lasted. Past its bulkhead a request now gets the 503 page with `Retry-After` (or a stale
//! copy) at once, and holds nothing. An upgraded (WebSocket) connection holds its place
//! for its life, as it holds a connection to the site.
//!
//! The count outlives registry swaps: a service whose `[upstream]` changed gets a new
//! balancer but the same count (requests in flight on the old one still hold their place),
//! and a new limit applies to it at once.

use prometheus::{IntCounter, IntGauge};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// `limits.max_in_flight_per_service` as set, or a quarter of the connection cap (as set,
/// or what the open-file limit allows), at most
/// [`crate::config::DEFAULT_MAX_IN_FLIGHT_PER_SERVICE`] and at least 16.
pub fn limit_of(limits: &crate::config::LimitsSettings) -> usize {
    limits.max_in_flight_per_service.unwrap_or_else(|| {
        let cap = limits
            .max_connections
            .unwrap_or_else(crate::open_files::default_max_connections);
        (cap / 4).clamp(16, crate::config::DEFAULT_MAX_IN_FLIGHT_PER_SERVICE)
    })
}

/// One service's count of requests waiting on its site, and its limit.
#[derive(Debug, Clone)]
pub struct Bulkhead(Arc<Held>);

#[derive(Debug)]
struct Held {
    service: String,
    count: AtomicUsize,
    limit: AtomicUsize,
    /// Whether the log said it is full, until it is half empty again.
    told: AtomicBool,
    /// `egov_upstream_requests_in_flight{service}`, when the snapshot serves traffic.
    gauge: Option<IntGauge>,
    /// `egov_rate_limited_total{scope="service_in_flight"}`.
    refused: Option<IntCounter>,
}

/// A request's place in its service's bulkhead, given back when it is dropped (with its
/// request's context, however the request ends).
#[derive(Debug)]
pub struct Slot(Arc<Held>);

impl Bulkhead {
    /// `service`'s bulkhead of `limit` places (at least one), published to `gauge` and
    /// counting its refusals in `refused` when given.
    pub fn new(
        service: &str,
        limit: usize,
        gauge: Option<IntGauge>,
        refused: Option<IntCounter>,
    ) -> Self {
        Self(Arc::new(Held {
            service: service.to_string(),
            count: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit.max(1)),
            told: AtomicBool::new(false),
            gauge,
            refused,
        }))
    }

    /// The same count, with `limit` from now on (a registry swap).
    pub fn with_limit(&self, limit: usize) -> Self {
        self.0.limit.store(limit.max(1), Ordering::Relaxed);
        self.clone()
    }

    /// Its limit.
    pub fn limit(&self) -> usize {
        self.0.limit.load(Ordering::Relaxed)
    }

    /// Requests holding a place now.
    pub fn held(&self) -> usize {
        self.0.count.load(Ordering::Relaxed)
    }

    /// A place, unless all [`Self::limit`] are held.
    pub fn enter(&self) -> Option<Slot> {
        let held = &self.0;
        let limit = held.limit.load(Ordering::Relaxed);
        if held.count.fetch_add(1, Ordering::Relaxed) >= limit {
            held.count.fetch_sub(1, Ordering::Relaxed);
            if let Some(refused) = &held.refused {
                refused.inc();
            }
            if !held.told.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    service = %held.service,
                    limit,
                    "the service's site has as many requests waiting as it may \
                     (limits.max_in_flight_per_service): further ones get 503 until it catches up"
                );
            }
            return None;
        }
        if let Some(gauge) = &held.gauge {
            gauge.inc();
        }
        Some(Slot(Arc::clone(held)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let held = &self.0;
        let before = held.count.fetch_sub(1, Ordering::Relaxed);
        if let Some(gauge) = &held.gauge {
            gauge.dec();
        }
        if held.told.load(Ordering::Relaxed) && before <= held.limit.load(Ordering::Relaxed) / 2 {
            held.told.store(false, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_its_limit_a_request_is_refused_and_a_place_given_back_is_taken_again() {
        let refused = IntCounter::new("refused", "test").expect("a counter");
        let gauge = IntGauge::new("held", "test").expect("a gauge");
        let bulkhead = Bulkhead::new("s", 2, Some(gauge.clone()), Some(refused.clone()));
        let first = bulkhead.enter().expect("a place");
        let second = bulkhead.enter().expect("a place");
        assert!(bulkhead.enter().is_none(), "the third waits for none");
        assert_eq!((bulkhead.held(), gauge.get(), refused.get()), (2, 2, 1));
        drop(first);
        let third = bulkhead.enter().expect("the place given back");
        drop((second, third));
        assert_eq!((bulkhead.held(), gauge.get()), (0, 0));
    }

    /// From review: a registry swap rebuilt the bulkhead, and the requests in flight on the
    /// old one were forgotten (up to twice the limit got through).
    #[test]
    fn a_new_limit_applies_to_the_requests_already_waiting() {
        let bulkhead = Bulkhead::new("s", 3, None, None);
        let waiting: Vec<Slot> = (0..3).filter_map(|_| bulkhead.enter()).collect();
        let after_swap = bulkhead.with_limit(4);
        assert_eq!(after_swap.held(), 3, "the same count");
        let fourth = after_swap.enter().expect("one more place");
        assert!(after_swap.enter().is_none());
        drop((waiting, fourth));
        assert_eq!(after_swap.held(), 0);
    }

    #[test]
    fn unset_it_is_a_quarter_of_the_connection_cap_at_most_1024() {
        let mut limits = crate::config::fixtures::config_without_secrets()
            .gateway
            .limits;
        for (cap, expected) in [(800, 200), (40, 16), (100_000, 1024)] {
            limits.max_connections = Some(cap);
            assert_eq!(limit_of(&limits), expected, "{cap}");
        }
        limits.max_in_flight_per_service = Some(5);
        assert_eq!(limit_of(&limits), 5, "as set");
    }
}
