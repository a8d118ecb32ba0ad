//! How much of the shared Redis this instance's cache writes may hold: the bytes it wrote to
//! L2 that have not yet expired there, in all (`cache.shared_size`), per service (a quarter)
//! and per ministry (half), the shares L1 keeps too.
//!
//! Found when tried: L2 admitted every miss, into the one `[redis]` that also holds
//! sessions, logins in progress, the registry and the logout indexes, which must run with
//! `noeviction`. A flood of one-off URLs of a cached public service (`/?r=1`, `/?r=2`...),
//! each answer kept for its `max_ttl` and stale windows, filled that Redis; every session
//! write, and so every login in the country, was then refused until the flood's pages
//! expired. Past its room, an answer is kept in L1 only (and counted as
//! `egov_response_cache_l2_operations_total{op="write",result="full"}`).
//!
//! Redis entries expire by themselves, so what was written is counted until its expiry, not
//! read back: a purge or an overwrite of the same key frees nothing here before then (the
//! count errs on the side of Redis). Each instance keeps its own count; Redis needs room for
//! `shared_size` per instance.

use super::storage::{Owner, MINISTRY_SHARE, SERVICE_SHARE};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What Redis spends on one key beyond its name and value (its hash-table entry, the key's
/// and the value's object headers), counted with each write.
pub(super) const REDIS_ENTRY_OVERHEAD: u64 = 128;

/// One write still alive in Redis: when it expires there, what it weighs, and whose it is.
struct Written {
    until: SystemTime,
    weight: u64,
    owner: Owner,
}

impl PartialEq for Written {
    fn eq(&self, other: &Self) -> bool {
        self.until == other.until
    }
}
impl Eq for Written {}
impl PartialOrd for Written {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Written {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.until.cmp(&other.until)
    }
}

#[derive(Default)]
struct Counts {
    total: u64,
    by_service: HashMap<Arc<str>, u64>,
    by_ministry: HashMap<Arc<str>, u64>,
    /// Soonest expiry first.
    alive: BinaryHeap<Reverse<Written>>,
}

impl Counts {
    fn held(map: &HashMap<Arc<str>, u64>, k: &Arc<str>) -> u64 {
        map.get(k).copied().unwrap_or(0)
    }

    /// Forgets the writes that have expired in Redis by `now`.
    fn expire(&mut self, now: SystemTime) {
        while self.alive.peek().is_some_and(|w| w.0.until <= now) {
            let Some(Reverse(gone)) = self.alive.pop() else {
                break;
            };
            self.total = self.total.saturating_sub(gone.weight);
            for (map, k) in [
                (&mut self.by_service, &gone.owner.service),
                (&mut self.by_ministry, &gone.owner.ministry),
            ] {
                if let Some(bytes) = map.get_mut(k) {
                    *bytes = bytes.saturating_sub(gone.weight);
                    if *bytes == 0 {
                        map.remove(k);
                    }
                }
            }
        }
    }
}

/// This instance's writes to L2 that Redis still holds.
pub(super) struct L2Room {
    size: u64,
    counts: Mutex<Counts>,
}

impl L2Room {
    /// Room for `size` bytes in all.
    pub(super) fn new(size: u64) -> Self {
        Self {
            size,
            counts: Mutex::default(),
        }
    }

    /// Counts a write of `weight` bytes for `owner`, alive in Redis until `until`, if it
    /// fits (in all, in its service's share and in its ministry's); whether it does.
    pub(super) fn take(&self, owner: &Owner, weight: u64, until: SystemTime) -> bool {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.expire(SystemTime::now());
        let fits = counts.total + weight <= self.size
            && Counts::held(&counts.by_service, &owner.service) + weight
                <= self.size / SERVICE_SHARE
            && Counts::held(&counts.by_ministry, &owner.ministry) + weight
                <= self.size / MINISTRY_SHARE;
        if !fits {
            return false;
        }
        counts.total += weight;
        *counts
            .by_service
            .entry(Arc::clone(&owner.service))
            .or_default() += weight;
        *counts
            .by_ministry
            .entry(Arc::clone(&owner.ministry))
            .or_default() += weight;
        counts.alive.push(Reverse(Written {
            until,
            weight,
            owner: owner.clone(),
        }));
        true
    }

    /// The bytes counted now: in all, for `service`.
    #[cfg(test)]
    pub(super) fn held(&self, service: &str) -> (u64, u64) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.expire(SystemTime::now());
        let service = counts.by_service.get(service).copied().unwrap_or(0);
        (counts.total, service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn owner(service: &str, ministry: &str) -> Owner {
        Owner {
            service: Arc::from(service),
            ministry: Arc::from(ministry),
        }
    }

    fn in_an_hour() -> SystemTime {
        SystemTime::now() + Duration::from_secs(3600)
    }

    #[test]
    fn a_flood_of_one_services_pages_stops_at_its_quarter() {
        let room = L2Room::new(400_000);
        let flood = owner("flooded", "a");
        let written = (0..1000)
            .filter(|_| room.take(&flood, 10_000, in_an_hour()))
            .count();
        assert_eq!(written, 10, "a quarter of 400 kB in 10 kB pages");
        assert_eq!(room.held("flooded"), (100_000, 100_000));
    }

    #[test]
    fn another_ministrys_service_still_gets_in_after_a_flood() {
        let room = L2Room::new(400_000);
        for i in 0..1000 {
            room.take(&owner(&format!("s{}", i % 4), "a"), 10_000, in_an_hour());
        }
        assert_eq!(
            room.held("s0").0,
            200_000,
            "ministry a holds its half, no more"
        );
        assert!(room.take(&owner("other", "b"), 10_000, in_an_hour()));
    }

    #[test]
    fn the_whole_room_is_never_exceeded_whatever_the_owners() {
        let room = L2Room::new(400_000);
        for i in 0..1000 {
            let ministry = format!("m{i}");
            room.take(&owner(&ministry, &ministry), 10_000, in_an_hour());
        }
        assert_eq!(room.held("m0").0, 400_000);
        assert!(!room.take(&owner("late", "late"), 1, in_an_hour()));
    }

    #[test]
    fn what_has_expired_in_redis_leaves_room_again() {
        let room = L2Room::new(400_000);
        let flood = owner("flooded", "a");
        let soon = SystemTime::now() + Duration::from_millis(50);
        while room.take(&flood, 10_000, soon) {}
        assert!(!room.take(&flood, 10_000, in_an_hour()));
        std::thread::sleep(Duration::from_millis(80));
        assert!(room.take(&flood, 10_000, in_an_hour()));
        assert_eq!(room.held("flooded"), (10_000, 10_000));
    }
}
