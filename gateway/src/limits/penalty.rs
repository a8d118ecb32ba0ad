//! Addresses whose connection was closed for a flood, refused at accept for a while.
//!
//! An HTTP/2 connection that floods frames that carry nothing ([`super::h2_frames`]) or
//! abandons its requests in bursts ([`super::streams`]) is closed; but a client that
//! reconnects at once gets a fresh connection, with a fresh budget, each time. Found when
//! tried: one address reconnecting 5,200 times a second kept 0.32 of the 2 cores busy with
//! handshakes and budgets, the flood only slowed down. Such an address is now refused at
//! accept for `limits.flood_penalty` (10 s unless set): its next connections are closed
//! before a byte is read or written, which costs the process an accept and a close.
//!
//! Neither closure is anything a browser does, so the penalty falls on attackers; but it
//! falls on their address, and citizens behind the same carrier-grade NAT lose the portal
//! for the penalty too (as they do when an attacker fills the address's connection share).
//! Trusted proxies are never penalized: every citizen comes from them. A flood of distinct
//! addresses is the global caps' to bear: the penalty list holds at most
//! [`MAX_PENALIZED`] addresses.

use super::connections::address_key;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most addresses penalized at once: what a penalty list may cost (about 4 MiB).
pub const MAX_PENALIZED: usize = 65_536;

/// The addresses refused now, each until when.
#[derive(Debug)]
pub struct Penalties {
    penalty: Option<Duration>,
    exempt: Vec<IpNet>,
    until: Mutex<HashMap<IpAddr, Instant>>,
    /// Entries in `until`, read without its lock: zero on every accept but during a flood.
    held: AtomicUsize,
}

/// The address of a connection that may yet turn out to be a flood, to penalize if it does.
#[derive(Debug, Clone)]
pub struct Offender {
    penalties: Arc<Penalties>,
    address: IpAddr,
}

impl Offender {
    /// The connection was closed for a flood: its address is refused for the penalty.
    pub fn penalize(&self) {
        self.penalties.impose(self.address, Instant::now());
    }
}

impl Penalties {
    /// `penalty`: how long an address is refused (`None`: never); `exempt`: trusted proxies.
    pub fn new(penalty: Option<Duration>, exempt: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self {
            penalty: penalty.filter(|d| !d.is_zero()),
            exempt,
            until: Mutex::new(HashMap::new()),
            held: AtomicUsize::new(0),
        })
    }

    /// The offender a connection from `peer` would be: `None` when there is no penalty, or
    /// for a trusted proxy or an unknown address.
    pub fn offender(self: &Arc<Self>, peer: Option<IpAddr>) -> Option<Offender> {
        self.penalty?;
        let ip = peer.filter(|ip| !self.exempt.iter().any(|net| net.contains(ip)))?;
        Some(Offender {
            penalties: Arc::clone(self),
            address: address_key(ip),
        })
    }

    /// Whether a connection from `peer` is refused now.
    pub fn refuses(&self, peer: Option<IpAddr>) -> bool {
        self.refuses_at(peer, Instant::now())
    }

    fn refuses_at(&self, peer: Option<IpAddr>, now: Instant) -> bool {
        if self.held.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let Some(ip) = peer else { return false };
        let key = address_key(ip);
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        match until.get(&key) {
            Some(&end) if now < end => true,
            Some(_) => {
                until.remove(&key);
                self.held.store(until.len(), Ordering::Relaxed);
                false
            }
            None => false,
        }
    }

    fn impose(&self, address: IpAddr, now: Instant) {
        let Some(penalty) = self.penalty else { return };
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if until.len() >= MAX_PENALIZED && !until.contains_key(&address) {
            until.retain(|_, end| *end > now);
            if until.len() >= MAX_PENALIZED {
                return;
            }
        }
        until.insert(address, now + penalty);
        self.held.store(until.len(), Ordering::Relaxed);
    }

    /// Addresses penalized now (some may have served their time and not been asked since).
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
        Penalties::new(
            Some(Duration::from_secs(10)),
            vec!["10.0.0.0/8".parse().expect("net")],
        )
    }

    #[test]
    fn a_penalized_address_is_refused_until_its_penalty_ends() {
        let penalties = ten_seconds();
        let now = Instant::now();
        let offender = penalties.offender(ip("192.0.2.1")).expect("an offender");
        penalties.impose(offender.address, now);
        assert!(penalties.refuses_at(ip("192.0.2.1"), now + Duration::from_secs(9)));
        assert!(
            !penalties.refuses_at(ip("192.0.2.2"), now),
            "another address is not"
        );
        assert!(!penalties.refuses_at(ip("192.0.2.1"), now + Duration::from_secs(10)));
        assert_eq!(penalties.held(), 0, "a served penalty is forgotten");
    }

    #[test]
    fn an_ipv6_subscriber_is_penalized_by_its_slash_64() {
        let penalties = ten_seconds();
        penalties
            .offender(ip("2001:db8:1:2::1"))
            .expect("an offender")
            .penalize();
        assert!(penalties.refuses(ip("2001:db8:1:2::ffff")));
        assert!(!penalties.refuses(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn a_trusted_proxy_is_never_an_offender() {
        assert!(ten_seconds().offender(ip("10.1.2.3")).is_none());
    }

    #[test]
    fn with_the_penalty_off_nobody_is_an_offender() {
        for off in [None, Some(Duration::ZERO)] {
            assert!(Penalties::new(off, Vec::new())
                .offender(ip("192.0.2.1"))
                .is_none());
        }
    }

    #[test]
    fn the_list_holds_at_most_its_bound_and_makes_room_from_served_penalties() {
        let penalties = ten_seconds();
        let now = Instant::now();
        let address = |i: usize| IpAddr::from(std::net::Ipv4Addr::from(0xC000_0000 + i as u32));
        for i in 0..MAX_PENALIZED {
            penalties.impose(address(i), now);
        }
        penalties.impose(address(MAX_PENALIZED), now);
        assert_eq!(penalties.held(), MAX_PENALIZED);
        assert!(
            !penalties.refuses_at(Some(address(MAX_PENALIZED)), now),
            "no room while every penalty runs"
        );
        let later = now + Duration::from_secs(11);
        penalties.impose(address(MAX_PENALIZED), later);
        assert_eq!(penalties.held(), 1, "the served penalties made room");
        assert!(penalties.refuses_at(Some(address(MAX_PENALIZED)), later));
    }
}
