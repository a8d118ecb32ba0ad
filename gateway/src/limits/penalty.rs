//! Addresses whose connections were closed for a flood, refused at accept for a while.
//!
//! An HTTP/2 connection that floods frames that carry nothing ([`super::h2_frames`]) or
//! abandons its requests in bursts ([`super::streams`]) is closed; but a client that
//! reconnects at once gets a fresh connection, with a fresh budget, each time. Found when
//! tried: one address reconnecting 5,200 times a second kept 0.32 of the 2 cores busy with
//! handshakes and budgets; the flood was only slowed down. Such an address is now refused at
//! accept for `limits.flood_penalty` (10 s unless set): its next connections are closed
//! before a byte is read or written, which costs the process an accept and a close.
//!
//! - A frame flood is penalized at once ([`Offender::penalize`]): no browser sends hundreds
//!   of frames that carry nothing for nothing in return.
//! - Abandoned requests only at the second closure within the penalty
//!   ([`Offender::strike`]): a browser whose citizen leaves two heavy pages in quick
//!   succession, on a slow site, may abandon a burst once (found in review).
//!
//! The penalty falls on an address, so citizens behind the same carrier-grade NAT as an
//! attacker lose the portal for it too, as they do when he fills the address's connection
//! share. Trusted proxies are never refused, nor is any address in their /64. A flood of
//! distinct addresses is the global caps' to bear: each list holds at most
//! [`MAX_PENALIZED`] addresses, and forgets them in the order their time ends.

use crate::client_address::address_key;
use crate::client_address::TrustedProxies;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The most addresses penalized (and struck) at once: what each list may cost (a few MiB).
pub const MAX_PENALIZED: usize = 65_536;

/// The addresses refused now, and those struck once, each until when.
#[derive(Debug)]
pub struct Penalties {
    penalty: Option<Duration>,
    refused: Mutex<Expiring>,
    struck: Mutex<Expiring>,
    /// Addresses in `refused`, read without its lock: zero on every accept but during a flood
    /// (and until the next accept after the last penalty ends).
    held: AtomicUsize,
}

/// Addresses, each until an instant, forgotten in the order they were added: every entry
/// lasts the same penalty, so that is the order their time ends, and forgetting is a pop
/// from the front, never a scan.
#[derive(Debug, Default)]
struct Expiring {
    until: HashMap<IpAddr, Instant>,
    order: VecDeque<(Instant, IpAddr)>,
}

impl Expiring {
    /// Forgets what ended by `now`.
    fn forget_ended(&mut self, now: Instant) {
        while let Some(&(end, address)) = self.order.front() {
            if end > now {
                break;
            }
            self.order.pop_front();
            // Only if not added again since (a later entry is further back in the queue).
            if self.until.get(&address) == Some(&end) {
                self.until.remove(&address);
            }
        }
    }

    fn holds(&self, address: &IpAddr, now: Instant) -> bool {
        self.until.get(address).is_some_and(|&end| now < end)
    }

    /// Adds `address` until `end`, unless it is listed already (what it has runs from the
    /// first time: so each address is in the queue once, found in review), or the list is
    /// full of entries that have not ended.
    fn add(&mut self, address: IpAddr, end: Instant) {
        if self.until.contains_key(&address) || self.until.len() >= MAX_PENALIZED {
            return;
        }
        self.until.insert(address, end);
        self.order.push_back((end, address));
    }

    fn remove(&mut self, address: &IpAddr) {
        self.until.remove(address);
    }
}

/// The address of a connection that may yet turn out to be a flood.
#[derive(Debug, Clone)]
pub struct Offender {
    penalties: Arc<Penalties>,
    address: IpAddr,
}

impl Offender {
    /// The connection flooded: its address is refused for the penalty.
    pub fn penalize(&self) {
        self.penalties.impose(self.address, Instant::now());
    }

    /// The connection abandoned its requests in a burst: its address is refused for the
    /// penalty if it did so before, within the penalty.
    pub fn strike(&self) {
        self.penalties.strike(self.address, Instant::now());
    }
}

fn lock(list: &Mutex<Expiring>) -> MutexGuard<'_, Expiring> {
    list.lock().unwrap_or_else(|e| e.into_inner())
}

impl Penalties {
    /// `penalty`: how long an address is refused (`None` or zero: never).
    pub fn new(penalty: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            penalty: penalty.filter(|d| !d.is_zero()),
            refused: Mutex::default(),
            struck: Mutex::default(),
            held: AtomicUsize::new(0),
        })
    }

    /// The offender a connection from `peer` would be: `None` when there is no penalty, for
    /// an unknown address, and for a `trusted` proxy's /64.
    pub fn offender(
        self: &Arc<Self>,
        peer: Option<IpAddr>,
        trusted: &TrustedProxies,
    ) -> Option<Offender> {
        self.penalty?;
        let address = address_key(peer?);
        if trusted.within_key(address) {
            return None;
        }
        Some(Offender {
            penalties: Arc::clone(self),
            address,
        })
    }

    /// Whether a connection from `peer` is refused now (never a `trusted` proxy's: one may
    /// have been listed since its address was penalized).
    pub fn refuses(&self, peer: Option<IpAddr>, trusted: &TrustedProxies) -> bool {
        self.refuses_at(peer, trusted, Instant::now())
    }

    fn refuses_at(&self, peer: Option<IpAddr>, trusted: &TrustedProxies, now: Instant) -> bool {
        if self.held.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let Some(ip) = peer else { return false };
        let address = address_key(ip);
        let mut refused = lock(&self.refused);
        refused.forget_ended(now);
        self.held.store(refused.until.len(), Ordering::Relaxed);
        refused.holds(&address, now) && !trusted.within_key(address)
    }

    fn impose(&self, address: IpAddr, now: Instant) {
        let Some(penalty) = self.penalty else { return };
        let mut refused = lock(&self.refused);
        refused.forget_ended(now);
        refused.add(address, now + penalty);
        self.held.store(refused.until.len(), Ordering::Relaxed);
    }

    fn strike(&self, address: IpAddr, now: Instant) {
        let Some(penalty) = self.penalty else { return };
        let mut struck = lock(&self.struck);
        struck.forget_ended(now);
        if struck.holds(&address, now) {
            struck.remove(&address);
            drop(struck);
            self.impose(address, now);
        } else {
            struck.add(address, now + penalty);
        }
    }

    /// Addresses refused now (and perhaps a few whose time ended since the last accept).
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    fn ten_seconds() -> Arc<Penalties> {
        Penalties::new(Some(Duration::from_secs(10)))
    }

    fn trusted() -> TrustedProxies {
        ["10.0.0.0/8", "2001:db8:9:9::10/128"]
            .iter()
            .map(|n| n.parse().expect("net"))
            .collect()
    }

    fn offender(penalties: &Arc<Penalties>, s: &str) -> IpAddr {
        penalties
            .offender(ip(s), &trusted())
            .expect("an offender")
            .address
    }

    #[test]
    fn a_penalized_address_is_refused_until_its_penalty_ends() {
        let penalties = ten_seconds();
        let now = Instant::now();
        penalties.impose(offender(&penalties, "192.0.2.1"), now);
        assert!(penalties.refuses_at(ip("192.0.2.1"), &trusted(), now + Duration::from_secs(9)));
        assert!(
            !penalties.refuses_at(ip("192.0.2.2"), &trusted(), now),
            "another address is not"
        );
        assert!(!penalties.refuses_at(ip("192.0.2.1"), &trusted(), now + Duration::from_secs(10)));
    }

    #[test]
    fn once_every_penalty_has_ended_the_next_accept_finds_the_list_empty() {
        let penalties = ten_seconds();
        let now = Instant::now();
        for i in 1..=3 {
            penalties.impose(offender(&penalties, &format!("192.0.2.{i}")), now);
        }
        assert_eq!(penalties.held(), 3);
        // An address that never comes back is forgotten all the same.
        assert!(!penalties.refuses_at(
            ip("198.51.100.7"),
            &trusted(),
            now + Duration::from_secs(10)
        ));
        assert_eq!(penalties.held(), 0, "accepts take the fast path again");
    }

    #[test]
    fn a_penalty_runs_from_the_first_closure_and_may_be_imposed_again_once_over() {
        let penalties = ten_seconds();
        let now = Instant::now();
        let address = offender(&penalties, "192.0.2.1");
        penalties.impose(address, now);
        // Another of its connections, open before, floods too.
        penalties.impose(address, now + Duration::from_secs(5));
        assert!(!penalties.refuses_at(ip("192.0.2.1"), &trusted(), now + Duration::from_secs(10)));
        penalties.impose(address, now + Duration::from_secs(12));
        assert!(penalties.refuses_at(ip("192.0.2.1"), &trusted(), now + Duration::from_secs(21)));
    }

    #[test]
    fn an_ipv6_subscriber_is_penalized_by_its_slash_64() {
        let penalties = ten_seconds();
        penalties
            .offender(ip("2001:db8:1:2::1"), &trusted())
            .expect("an offender")
            .penalize();
        assert!(penalties.refuses(ip("2001:db8:1:2::ffff"), &trusted()));
        assert!(!penalties.refuses(ip("2001:db8:1:3::1"), &trusted()));
    }

    #[test]
    fn a_trusted_proxy_is_never_refused_nor_an_offender() {
        let penalties = ten_seconds();
        assert!(penalties.offender(ip("10.1.2.3"), &trusted()).is_none());
        assert!(
            penalties
                .offender(ip("::ffff:10.1.2.3"), &trusted())
                .is_none(),
            "mapped"
        );
        // Addresses are penalized by /64: a neighbour of the proxy in its /64 is not an
        // offender either, and the proxy's /64 is never refused.
        assert!(penalties
            .offender(ip("2001:db8:9:9::10"), &trusted())
            .is_none());
        assert!(penalties
            .offender(ip("2001:db8:9:9::11"), &trusted())
            .is_none());
        let its_slash_64 = IpAddr::V6("2001:db8:9:9::".parse().expect("v6"));
        penalties.impose(its_slash_64, Instant::now());
        assert!(!penalties.refuses(ip("2001:db8:9:9::10"), &trusted()));
    }

    #[test]
    fn with_the_penalty_off_nobody_is_an_offender() {
        for off in [None, Some(Duration::ZERO)] {
            assert!(Penalties::new(off)
                .offender(ip("192.0.2.1"), &trusted())
                .is_none());
        }
    }

    #[test]
    fn abandoned_bursts_are_penalized_at_the_second_within_the_penalty() {
        let penalties = ten_seconds();
        let now = Instant::now();
        let address = offender(&penalties, "192.0.2.1");
        penalties.strike(address, now);
        assert!(
            !penalties.refuses_at(ip("192.0.2.1"), &trusted(), now),
            "once is forgiven"
        );
        penalties.strike(address, now + Duration::from_secs(11));
        assert!(
            !penalties.refuses_at(ip("192.0.2.1"), &trusted(), now + Duration::from_secs(11)),
            "twice, but further apart than the penalty"
        );
        penalties.strike(address, now + Duration::from_secs(12));
        assert!(penalties.refuses_at(ip("192.0.2.1"), &trusted(), now + Duration::from_secs(12)));
    }

    #[test]
    fn the_list_holds_at_most_its_bound_until_penalties_end() {
        let penalties = ten_seconds();
        let now = Instant::now();
        let address = |i: usize| IpAddr::from(std::net::Ipv4Addr::from(0xC000_0000 + i as u32));
        for i in 0..MAX_PENALIZED {
            penalties.impose(address(i), now);
        }
        penalties.impose(address(MAX_PENALIZED), now);
        assert_eq!(penalties.held(), MAX_PENALIZED);
        assert!(
            !penalties.refuses_at(Some(address(MAX_PENALIZED)), &trusted(), now),
            "no room while every penalty runs"
        );
        let later = now + Duration::from_secs(11);
        penalties.impose(address(MAX_PENALIZED), later);
        assert_eq!(penalties.held(), 1, "the ended penalties made room");
        assert!(penalties.refuses_at(Some(address(MAX_PENALIZED)), &trusted(), later));
    }
}
