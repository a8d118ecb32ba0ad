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
//! One address may hold at most a quarter of a service's places (counted in
//! [`ADDRESS_BUCKETS`] buckets by a hash of the address key, so an address sharing its
//! bucket with another busy one may get less, never more): found when tried, 100 slow
//! uploads (or slow downloads) from one address filled a bulkhead of 100, and the service
//! answered 503 to everyone.
//!
//! The count outlives registry swaps: each snapshot's service gets a handle on the same
//! count with the snapshot's limit ([`Bulkhead::with_limit`]), so the requests in flight
//! still hold their places, and a snapshot that is only checked (a dry run, a refused
//! change) changes nothing of the running one.

use prometheus::{IntCounter, IntGauge};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Buckets an address's places are counted in.
pub const ADDRESS_BUCKETS: usize = 64;

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

/// One service's count of requests waiting on its site, and this snapshot's limit.
#[derive(Debug, Clone)]
pub struct Bulkhead {
    held: Arc<Held>,
    limit: usize,
}

#[derive(Debug)]
struct Held {
    service: String,
    count: AtomicUsize,
    /// The places held by the addresses of each bucket.
    by_address: [AtomicUsize; ADDRESS_BUCKETS],
    /// Whether the log said it is full, until it is half empty again.
    told: AtomicBool,
    /// `egov_upstream_requests_in_flight{service}`, when the snapshot serves traffic.
    gauge: Option<IntGauge>,
    /// `egov_rate_limited_total{scope="service_in_flight"}`.
    refused: Option<IntCounter>,
}

/// A request's place in its service's bulkhead (and in its address's bucket, when the
/// address is known), given back when it is dropped (with its request's context, however
/// the request ends).
#[derive(Debug)]
pub struct Slot {
    held: Arc<Held>,
    bucket: Option<usize>,
    limit: usize,
}

/// The bucket of address key `ip`.
fn bucket_of(ip: IpAddr) -> usize {
    let folded = match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let n = u128::from(v6);
            (n as u64) ^ ((n >> 64) as u64)
        }
    };
    // Fibonacci hashing: the high bits of the product mix every bit of the address.
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % ADDRESS_BUCKETS
}

impl Bulkhead {
    /// `service`'s (or another dependency's: the routing LLM's) bulkhead of `limit` places (at least one), published to `gauge` and
    /// counting its refusals in `refused` when given.
    pub fn new(
        service: &str,
        limit: usize,
        gauge: Option<IntGauge>,
        refused: Option<IntCounter>,
    ) -> Self {
        Self {
            held: Arc::new(Held {
                service: service.to_string(),
                count: AtomicUsize::new(0),
                by_address: std::array::from_fn(|_| AtomicUsize::new(0)),
                told: AtomicBool::new(false),
                gauge,
                refused,
            }),
            limit: limit.max(1),
        }
    }

    /// A handle on the same count with `limit` (the next snapshot's): nothing of this one
    /// changes.
    pub fn with_limit(&self, limit: usize) -> Self {
        Self {
            held: Arc::clone(&self.held),
            limit: limit.max(1),
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

    /// Whether every place is held.
    pub fn is_full(&self) -> bool {
        self.held() >= self.limit()
    }

    /// A place for a request of `asker` (its address key, when known), unless all
    /// [`Self::limit`] are held or its address's bucket holds a quarter of them.
    pub fn enter(&self, asker: Option<IpAddr>) -> Option<Slot> {
        let (held, limit) = (&self.held, self.limit);
        let bucket = asker.map(bucket_of);
        if let Some(b) = bucket {
            if !take(&held.by_address[b], (limit / 4).max(1)) {
                held.refuse();
                return None;
            }
        }
        if !take(&held.count, limit) {
            if let Some(b) = bucket {
                held.by_address[b].fetch_sub(1, Ordering::Relaxed);
            }
            held.refuse();
            if !held.told.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    of = %held.service,
                    limit,
                    "as many requests waiting as its bulkhead allows: further ones are \
                     refused until it catches up"
                );
            }
            return None;
        }
        if let Some(gauge) = &held.gauge {
            gauge.inc();
        }
        Some(Slot {
            held: Arc::clone(held),
            bucket,
            limit,
        })
    }
}

/// One more on `counter`, unless it is at `limit` already.
fn take(counter: &AtomicUsize, limit: usize) -> bool {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_ok()
}

impl Held {
    fn refuse(&self) {
        if let Some(refused) = &self.refused {
            refused.inc();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let held = &self.held;
        let before = held.count.fetch_sub(1, Ordering::Relaxed);
        if let Some(b) = self.bucket {
            held.by_address[b].fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(gauge) = &held.gauge {
            gauge.dec();
        }
        if held.told.load(Ordering::Relaxed) && before <= self.limit / 2 {
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
        let first = bulkhead.enter(None).expect("a place");
        let second = bulkhead.enter(None).expect("a place");
        assert!(bulkhead.enter(None).is_none(), "the third waits for none");
        assert_eq!((bulkhead.held(), gauge.get(), refused.get()), (2, 2, 1));
        drop(first);
        let third = bulkhead.enter(None).expect("the place given back");
        drop((second, third));
        assert_eq!((bulkhead.held(), gauge.get()), (0, 0));
    }

    /// From review: a registry swap rebuilt the bulkhead, and the requests in flight on the
    /// old one were forgotten (up to twice the limit got through).
    #[test]
    fn a_new_limit_applies_to_the_requests_already_waiting() {
        let bulkhead = Bulkhead::new("s", 3, None, None);
        let waiting: Vec<Slot> = (0..3).filter_map(|_| bulkhead.enter(None)).collect();
        let after_swap = bulkhead.with_limit(4);
        assert_eq!(after_swap.held(), 3, "the same count");
        assert_eq!(
            bulkhead.limit(),
            3,
            "the running one's limit is untouched (a dry run)"
        );
        let fourth = after_swap.enter(None).expect("one more place");
        assert!(after_swap.enter(None).is_none());
        drop((waiting, fourth));
        assert_eq!(after_swap.held(), 0);
    }

    /// Found when tried: 100 slow uploads from one address filled a bulkhead of 100.
    #[test]
    fn one_address_holds_at_most_a_quarter_of_the_places() {
        let bulkhead = Bulkhead::new("s", 8, None, None);
        let one: IpAddr = [192, 0, 2, 1].into();
        let mine: Vec<Slot> = (0..5).filter_map(|_| bulkhead.enter(Some(one))).collect();
        assert_eq!(mine.len(), 2, "a quarter of 8");
        // Six other addresses, each in a bucket of its own.
        let mut buckets = vec![bucket_of(one)];
        let others: Vec<IpAddr> = (0..=255u8)
            .map(|last| IpAddr::from([198, 51, 100, last]))
            .filter(|ip| {
                let b = bucket_of(*ip);
                let fresh = !buckets.contains(&b);
                buckets.push(b);
                fresh
            })
            .take(6)
            .collect();
        let others: Vec<Slot> = others
            .into_iter()
            .filter_map(|ip| bulkhead.enter(Some(ip)))
            .collect();
        assert_eq!(others.len(), 6, "the rest for the others");
        assert!(bulkhead.is_full());
        drop(mine);
        let again = bulkhead.enter(Some(one));
        assert!(again.is_some(), "its places given back");
        assert_eq!(bulkhead.held(), 7);
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
