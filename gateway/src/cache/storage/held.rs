//! The bytes each service and each ministry hold in L1, and the order each service's objects
//! came in: what a service must let go of, oldest first, to stay within its share.

use crate::cache::shares::{Owner, OwnerBytes, MINISTRY_SHARE, SERVICE_SHARE};
use pingora::cache::key::HashBinary;
use std::sync::Arc;

/// The bytes each service and each ministry hold in L1, and the order each service's
/// objects came in.
#[derive(Default)]
pub(super) struct Held {
    pub(super) bytes: OwnerBytes,
    pub(super) arrivals: std::collections::HashMap<Arc<str>, Arrivals>,
    /// Objects counted and queued whose insert into L1 (outside the lock) has not happened
    /// yet: not in L1, yet not gone either (found in review: one taken off the queue as
    /// gone in that moment was in L1 a moment later, off the queue for good).
    pub(super) inserting: std::collections::HashSet<HashBinary>,
}

/// A service's objects in the order they came into L1, with their weights: the first to
/// leave when the service needs room for a new one. Some may have left L1 since (expired,
/// evicted, replaced): they are skipped when met, and dropped when the queue has doubled.
#[derive(Default)]
pub(super) struct Arrivals {
    pub(super) queue: std::collections::VecDeque<(HashBinary, u64)>,
    pub(super) compact_at: usize,
}

/// Below this many arrivals a service's queue is never compacted.
pub(super) const ARRIVALS_COMPACTED_PAST: usize = 1024;

impl Held {
    /// How many bytes `owner` must free (of its service's, or its ministry's) before
    /// `weight` more fit in their shares.
    pub(super) fn lacking(&self, owner: &Owner, weight: u64, size: u64) -> u64 {
        let (service, ministry) = self.bytes.of(owner);
        let service = (service + weight).saturating_sub(size / SERVICE_SHARE);
        let ministry = (ministry + weight).saturating_sub(size / MINISTRY_SHARE);
        service.max(ministry)
    }

    /// Counts `weight` more for `owner`, at `hash`, if both its service and its ministry
    /// have room. `live`: whether a key is still in L1 (a queue being compacted).
    pub(super) fn take(
        &mut self,
        owner: &Owner,
        hash: HashBinary,
        weight: u64,
        size: u64,
        live: impl Fn(&HashBinary) -> bool,
    ) -> bool {
        if self.lacking(owner, weight, size) > 0 {
            return false;
        }
        self.bytes.add(owner, weight);
        let inserting = &mut self.inserting;
        let arrivals = self.arrivals.entry(Arc::clone(&owner.service)).or_default();
        if arrivals.queue.len() >= arrivals.compact_at.max(ARRIVALS_COMPACTED_PAST) {
            arrivals
                .queue
                .retain(|(h, _)| live(h) || inserting.contains(h));
            arrivals.compact_at = arrivals.queue.len() * 2;
        }
        arrivals.queue.push_back((hash, weight));
        inserting.insert(hash);
        true
    }

    /// `hash`, counted by [`Self::take`], is in L1 now (or was not put there).
    pub(super) fn inserted(&mut self, hash: &HashBinary) {
        self.inserting.remove(hash);
    }

    /// The oldest object of `owner`'s service still in L1 (by `live`), taken off its queue to
    /// leave and make room for `weight` more; `None` when no room is to be made that way (the
    /// service holds less than is lacking: a page larger than the share, or a ministry's share
    /// held by its other services). Found when tried: a full share refused every new page, so
    /// a flood of one-off URLs (`/?r=1`, `/?r=2`...) kept a service's popular pages out of L1
    /// until the flood's own pages expired. One at a time, each invalidated by its caller
    /// before the next is asked: concurrent inserts never take an object off the queue that
    /// stays in L1 (found in review).
    pub(super) fn oldest_to_leave(
        &mut self,
        owner: &Owner,
        weight: u64,
        size: u64,
        live: impl Fn(&HashBinary) -> bool,
    ) -> Option<HashBinary> {
        let lacking = self.lacking(owner, weight, size);
        if lacking == 0 || self.bytes.of(owner).0 < lacking {
            return None;
        }
        let arrivals = self.arrivals.get_mut(&owner.service)?;
        while let Some((hash, weight)) = arrivals.queue.pop_front() {
            if self.inserting.contains(&hash) {
                // On its way into L1: it stays queued, and no room is made now.
                arrivals.queue.push_front((hash, weight));
                return None;
            }
            if live(&hash) {
                return Some(hash);
            }
        }
        None
    }

    /// Counts `weight` less for `owner` (an object left L1).
    pub(super) fn release(&mut self, owner: &Owner, weight: u64) {
        self.bytes.release(owner, weight);
        if !self.bytes.by_service.contains_key(&owner.service) {
            // Nothing of the service's is left: neither is its queue.
            self.arrivals.remove(&owner.service);
        }
    }
}
