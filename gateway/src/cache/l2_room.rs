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
//! read back. An overwrite of the same key replaces its count (a page revalidated every
//! minute is counted once, not once a minute); a purge frees nothing here before the
//! entry's expiry (the count errs on the side of Redis). Each process keeps its own count:
//! a restarted process starts from nothing while its predecessor's writes live on, so
//! beside the shares, L2 writes also stop while Redis itself is nearly full
//! ([`super::storage`]'s guard on Redis's `maxmemory`).

use super::shares::{Owner, OwnerBytes, MINISTRY_SHARE, SERVICE_SHARE};
use pingora::cache::key::HashBinary;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What Redis spends on one key beyond its name and value (its hash-table entry, the key's
/// and the value's object headers), counted with each write.
pub(super) const REDIS_ENTRY_OVERHEAD: u64 = 128;

/// One key written and still alive in Redis: until when, what it weighs, and whose it is
/// (the owner's names shared with the counts' keys, not one allocation per entry).
struct Written {
    until: SystemTime,
    weight: u64,
    owner: Owner,
}

/// Stale expiries the heap may hold beyond twice the keys alive before it is compacted.
const COMPACT_SLACK: usize = 64;

#[derive(Default)]
struct Counts {
    total: u64,
    owners: OwnerBytes,
    alive: HashMap<HashBinary, Written>,
    /// Expiries, soonest first; one whose key was written again since is skipped.
    expiries: BinaryHeap<Reverse<(SystemTime, HashBinary)>>,
}

impl Counts {
    fn release(&mut self, gone: &Written) {
        self.total = self.total.saturating_sub(gone.weight);
        self.owners.release(&gone.owner, gone.weight);
    }

    /// Drops the expiries of keys written again since, once they are most of the heap: a
    /// page revalidated at every request (`max-age=0` with a validator) is written again
    /// each time, and each write's expiry stayed until its own time (found in the last
    /// read: a client asking for one such page over and over grew the heap without bound).
    /// Amortised, each write pays for at most one entry dropped.
    fn compact(&mut self) {
        if self.expiries.len() <= 2 * self.alive.len() + COMPACT_SLACK {
            return;
        }
        let alive = &self.alive;
        self.expiries
            .retain(|Reverse((until, hash))| alive.get(hash).is_some_and(|w| w.until == *until));
    }

    /// Forgets the writes that have expired in Redis by `now`.
    fn expire(&mut self, now: SystemTime) {
        while let Some(Reverse((until, hash))) = self.expiries.peek().copied() {
            if until > now {
                break;
            }
            self.expiries.pop();
            if self.alive.get(&hash).is_some_and(|w| w.until == until) {
                if let Some(gone) = self.alive.remove(&hash) {
                    self.release(&gone);
                }
            }
        }
    }

    /// `name` as the counts already hold it (one allocation per service and ministry).
    fn interned(map: &HashMap<Arc<str>, u64>, name: &Arc<str>) -> Arc<str> {
        map.get_key_value(name)
            .map_or_else(|| Arc::clone(name), |(k, _)| Arc::clone(k))
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

    /// Counts a write of `weight` bytes at `hash` for `owner`, alive in Redis until
    /// `until`, if it fits (in all, in its service's share and in its ministry's) once what
    /// this key held before is let go; whether it does. When it does not, the key's earlier
    /// write (still in Redis) stays counted.
    pub(super) fn take(
        &self,
        hash: HashBinary,
        owner: &Owner,
        weight: u64,
        until: SystemTime,
    ) -> bool {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.expire(SystemTime::now());
        let before = counts.alive.get(&hash).map(|w| {
            let same_service = w.owner.service == owner.service;
            let same_ministry = w.owner.ministry == owner.ministry;
            (w.weight, same_service, same_ministry)
        });
        let (old, old_service, old_ministry) = match before {
            Some((w, s, m)) => (w, if s { w } else { 0 }, if m { w } else { 0 }),
            None => (0, 0, 0),
        };
        let (service, ministry) = counts.owners.of(owner);
        let fits = counts.total - old + weight <= self.size
            && service - old_service + weight <= self.size / SERVICE_SHARE
            && ministry - old_ministry + weight <= self.size / MINISTRY_SHARE;
        if !fits {
            return false;
        }
        if let Some(gone) = counts.alive.remove(&hash) {
            counts.release(&gone);
        }
        let owner = Owner {
            service: Counts::interned(&counts.owners.by_service, &owner.service),
            ministry: Counts::interned(&counts.owners.by_ministry, &owner.ministry),
        };
        counts.total += weight;
        counts.owners.add(&owner, weight);
        counts.expiries.push(Reverse((until, hash)));
        counts.alive.insert(
            hash,
            Written {
                until,
                weight,
                owner,
            },
        );
        // After the key is alive again: compacted before, its own expiry went (found in
        // review), and its weight stayed counted for good.
        counts.compact();
        true
    }

    /// The bytes counted now: in all, for `service`.
    #[cfg(test)]
    pub(super) fn held(&self, service: &str) -> (u64, u64) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.expire(SystemTime::now());
        let service = counts.owners.by_service.get(service).copied().unwrap_or(0);
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

    /// A key never written before.
    fn key() -> HashBinary {
        rand::random()
    }

    fn in_an_hour() -> SystemTime {
        SystemTime::now() + Duration::from_secs(3600)
    }

    #[test]
    fn a_page_written_again_and_again_keeps_its_expiries_bounded() {
        let room = L2Room::new(400_000);
        let page = key();
        let site = owner("revalidated", "a");
        for i in 0..10_000u64 {
            let until = in_an_hour() + Duration::from_secs(i);
            assert!(room.take(page, &site, 1_000, until));
        }
        let counts = room.counts.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(counts.alive.len(), 1);
        assert!(
            counts.expiries.len() <= 2 + COMPACT_SLACK + 1,
            "{} expiries held for one key",
            counts.expiries.len()
        );
        assert_eq!(counts.total, 1_000, "counted once");
    }

    #[test]
    fn every_key_alive_keeps_its_expiry_through_every_compaction() {
        let room = L2Room::new(400_000);
        let page = key();
        let site = owner("revalidated", "a");
        for i in 0..1_000u64 {
            let until = in_an_hour() + Duration::from_secs(i);
            assert!(room.take(page, &site, 1_000, until));
            let counts = room.counts.lock().unwrap_or_else(|e| e.into_inner());
            for (hash, written) in &counts.alive {
                assert!(
                    counts
                        .expiries
                        .iter()
                        .any(|Reverse((u, h))| h == hash && *u == written.until),
                    "after write {i}, an alive key has no expiry: it would stay counted for good"
                );
            }
        }
    }

    #[test]
    fn a_flood_of_one_services_pages_stops_at_its_quarter() {
        let room = L2Room::new(400_000);
        let flood = owner("flooded", "a");
        let written = (0..1000)
            .filter(|_| room.take(key(), &flood, 10_000, in_an_hour()))
            .count();
        assert_eq!(written, 10, "a quarter of 400 kB in 10 kB pages");
        assert_eq!(room.held("flooded"), (100_000, 100_000));
    }

    #[test]
    fn another_ministrys_service_still_gets_in_after_a_flood() {
        let room = L2Room::new(400_000);
        for i in 0..1000 {
            room.take(
                key(),
                &owner(&format!("s{}", i % 4), "a"),
                10_000,
                in_an_hour(),
            );
        }
        assert_eq!(
            room.held("s0").0,
            200_000,
            "ministry a holds its half, no more"
        );
        assert!(room.take(key(), &owner("other", "b"), 10_000, in_an_hour()));
    }

    #[test]
    fn the_whole_room_is_never_exceeded_whatever_the_owners() {
        let room = L2Room::new(400_000);
        for i in 0..1000 {
            let ministry = format!("m{i}");
            room.take(key(), &owner(&ministry, &ministry), 10_000, in_an_hour());
        }
        assert_eq!(room.held("m0").0, 400_000);
        assert!(!room.take(key(), &owner("late", "late"), 1, in_an_hour()));
    }

    #[test]
    fn what_has_expired_in_redis_leaves_room_again() {
        let room = L2Room::new(400_000);
        let flood = owner("flooded", "a");
        let soon = SystemTime::now() + Duration::from_millis(50);
        while room.take(key(), &flood, 10_000, soon) {}
        assert!(!room.take(key(), &flood, 10_000, in_an_hour()));
        std::thread::sleep(Duration::from_millis(80));
        assert!(room.take(key(), &flood, 10_000, in_an_hour()));
        assert_eq!(room.held("flooded"), (10_000, 10_000));
    }

    #[test]
    fn a_key_written_again_is_counted_once() {
        let room = L2Room::new(400_000);
        let page = owner("popular", "a");
        let hash = key();
        for _ in 0..100 {
            assert!(
                room.take(hash, &page, 10_000, in_an_hour()),
                "a revalidated page"
            );
        }
        assert_eq!(room.held("popular"), (10_000, 10_000));
    }

    #[test]
    fn a_key_written_again_keeps_only_its_new_expiry() {
        let room = L2Room::new(400_000);
        let page = owner("popular", "a");
        let hash = key();
        assert!(room.take(
            hash,
            &page,
            10_000,
            SystemTime::now() + Duration::from_millis(50)
        ));
        assert!(room.take(hash, &page, 12_000, in_an_hour()));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(
            room.held("popular"),
            (12_000, 12_000),
            "the first expiry is no longer its"
        );
    }
}
