//! How many requests one service may have waiting on its legacy site at once
//! (`limits.max_in_flight_per_service`): a bulkhead, so that one slow site cannot hold
//! every connection the gateway may have, and with them every other service.
//!
//! Found when tried: a site answering in 8 s, asked by 1,000 clients from five addresses
//! (each under its connection share), held all 800 connection slots; 85-96 % of the
//! requests to every other service, and the portal's home page, got 503 for as long as it
//! lasted. Past its bulkhead a request now gets the 503 page with `Retry-After` (or a stale
//! copy) at once, and holds nothing.

use prometheus::{IntCounter, IntGauge};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One service's count of requests waiting on its site, and its limit.
#[derive(Debug)]
pub struct Bulkhead {
    limit: usize,
    held: Arc<Held>,
}

/// The count, shared with every [`Slot`] so that a request ending after a registry swap
/// gives its place back to the count it took it from.
#[derive(Debug)]
struct Held {
    count: AtomicUsize,
    /// `egov_upstream_requests_in_flight{service}`, when the snapshot serves traffic.
    gauge: Option<IntGauge>,
    /// `egov_rate_limited_total{scope="service_in_flight"}`.
    refused: Option<IntCounter>,
}

/// A request's place in its service's bulkhead, given back when it is dropped (its
/// request's context ends, however the request ends).
#[derive(Debug)]
pub struct Slot(Arc<Held>);

impl Bulkhead {
    /// A bulkhead of `limit` places (at least one), published to `gauge` and counting its
    /// refusals in `refused` when given.
    pub fn new(limit: usize, gauge: Option<IntGauge>, refused: Option<IntCounter>) -> Self {
        Self {
            limit: limit.max(1),
            held: Arc::new(Held {
                count: AtomicUsize::new(0),
                gauge,
                refused,
            }),
        }
    }

    /// Its limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Requests holding a place now.
    pub fn held(&self) -> usize {
        self.held.count.load(Ordering::Relaxed)
    }

    /// A place, unless all [`Self::limit`] are held.
    pub fn enter(&self) -> Option<Slot> {
        let limit = self.limit;
        let taken = self
            .held
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            });
        if taken.is_err() {
            if let Some(refused) = &self.held.refused {
                refused.inc();
            }
            return None;
        }
        if let Some(gauge) = &self.held.gauge {
            gauge.inc();
        }
        Some(Slot(Arc::clone(&self.held)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        if let Some(gauge) = &self.0.gauge {
            gauge.dec();
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
        let bulkhead = Bulkhead::new(2, Some(gauge.clone()), Some(refused.clone()));
        let first = bulkhead.enter().expect("a place");
        let second = bulkhead.enter().expect("a place");
        assert!(bulkhead.enter().is_none(), "the third waits for none");
        assert_eq!((bulkhead.held(), gauge.get(), refused.get()), (2, 2, 1));
        drop(first);
        let third = bulkhead.enter().expect("the place given back");
        drop((second, third));
        assert_eq!((bulkhead.held(), gauge.get()), (0, 0));
    }
}
