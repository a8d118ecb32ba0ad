//! How many connections one client address and everyone together may hold open.
//!
//! A slowloris flood holds sockets without finishing a request; tens of thousands of them
//! exhaust the process's file descriptors and the portal stops answering everyone. Each
//! accepted connection takes a [`Slot`] for its whole life (every request on it); a
//! connection over the per-address cap or the global cap is refused at once, so the cap is
//! reached long before the descriptor limit.

use crate::client_address::address_key;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crowded {
    /// The client address already holds its share.
    PerAddress,
    /// The process holds as many connections as it may.
    Total,
}

/// Connections held now, in total and per client address.
#[derive(Debug)]
pub struct ConnectionSlots {
    max_total: usize,
    max_per_address: usize,
    total: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One held connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<ConnectionSlots>,
    address: Option<IpAddr>,
}

impl ConnectionSlots {
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_address,
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for a connection from `peer`, or says why not. A `trusted` peer (a
    /// proxy, `TrustedProxies` (client_address): a load balancer carries many citizens on its
    /// connections) is only counted against the total.
    pub fn take(self: &Arc<Self>, peer: Option<IpAddr>, trusted: bool) -> Result<Slot, Crowded> {
        let previous = self.total.fetch_add(1, Ordering::AcqRel);
        if previous >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Crowded::Total);
        }
        let address = peer.filter(|_| !trusted).map(address_key);
        if let Some(key) = address {
            let mut map = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
            let held = map.entry(key).or_insert(0);
            if *held >= self.max_per_address {
                drop(map);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(Crowded::PerAddress);
            }
            *held += 1;
        }
        Ok(Slot {
            slots: Arc::clone(self),
            address,
        })
    }

    /// Connections held now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Client addresses holding at least one connection.
    pub fn addresses(&self) -> usize {
        self.per_address
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(key) = self.address {
            let mut map = self
                .slots
                .per_address
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(held) = map.get_mut(&key) {
                *held -= 1;
                if *held == 0 {
                    map.remove(&key);
                }
            }
        }
        self.slots.total.fetch_sub(1, Ordering::AcqRel);
    }
}

pub use crate::open_files::default_max_connections;

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn one_address_gets_its_share_and_no_more() {
        let slots = ConnectionSlots::new(100, 2);
        let a = slots.take(ip("192.0.2.1"), false).expect("first");
        let _b = slots.take(ip("192.0.2.1"), false).expect("second");
        assert_eq!(
            slots.take(ip("192.0.2.1"), false).err(),
            Some(Crowded::PerAddress)
        );
        assert!(
            slots.take(ip("192.0.2.2"), false).is_ok(),
            "another address is not affected"
        );
        drop(a);
        assert!(
            slots.take(ip("192.0.2.1"), false).is_ok(),
            "a closed connection frees its slot"
        );
    }

    #[test]
    fn the_total_cap_holds_across_addresses() {
        let slots = ConnectionSlots::new(2, 10);
        let _a = slots.take(ip("192.0.2.1"), false).expect("first");
        let _b = slots.take(ip("192.0.2.2"), false).expect("second");
        assert_eq!(
            slots.take(ip("192.0.2.3"), false).err(),
            Some(Crowded::Total)
        );
        assert_eq!(slots.open(), 2, "a refused connection holds nothing");
    }

    #[test]
    fn a_trusted_proxy_counts_only_against_the_total() {
        let slots = ConnectionSlots::new(100, 1);
        let held: Vec<Slot> = (0..5)
            .map(|_| slots.take(ip("10.1.2.3"), true).expect("exempt"))
            .collect();
        assert_eq!(slots.open(), 5);
        drop(held);
        assert_eq!((slots.open(), slots.addresses()), (0, 0));
    }

    #[test]
    fn ipv6_clients_are_counted_per_slash_64() {
        let slots = ConnectionSlots::new(100, 1);
        let _a = slots.take(ip("2001:db8:1:2::1"), false).expect("first");
        assert_eq!(
            slots.take(ip("2001:db8:1:2::ffff"), false).err(),
            Some(Crowded::PerAddress)
        );
        assert!(slots.take(ip("2001:db8:1:3::1"), false).is_ok());
    }

    #[test]
    fn the_default_cap_leaves_room_below_the_open_file_limit() {
        let cap = default_max_connections();
        assert!(cap >= 64);
    }
}
