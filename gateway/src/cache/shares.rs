//! Whose a cached object is (its service and that service's ministry), and the share of
//! the cache each may hold: one ministry's popular pages cannot evict another's.

use pingora::cache::key::{CacheHashKey, CacheKey};
use std::sync::Arc;

/// The most of L1 one service's objects may hold: 1 / this. Found when tried: one
/// ministry's service cached `/**` for an hour with 2 MB pages and a loop of requests,
/// and held all of L1 (268 MB), so another ministry's copies (kept for `stale_if_error`,
/// its protection while its site is down) were evicted.
pub(super) const SERVICE_SHARE: u64 = 4;
/// The most of L1 one ministry's objects may hold, all its services together: 1 / this.
/// Found when tried: with four services a ministry still held all of L1.
pub(super) const MINISTRY_SHARE: u64 = 2;

/// Whose an object is: its service and that service's ministry (its key's user tag), each
/// held to its share of L1.
#[derive(Clone)]
pub(super) struct Owner {
    pub(super) service: Arc<str>,
    pub(super) ministry: Arc<str>,
}

/// The owner a cache key names.
pub(super) fn owner_of(key: &CacheKey) -> Owner {
    Owner {
        service: service_of(key),
        ministry: Arc::from(key.user_tag()),
    }
}

/// The bytes each service and each ministry hold of a tier (L1's memory, this instance's
/// room in L2), the one count both tiers keep their shares by.
#[derive(Default)]
pub(super) struct OwnerBytes {
    pub(super) by_service: std::collections::HashMap<Arc<str>, u64>,
    pub(super) by_ministry: std::collections::HashMap<Arc<str>, u64>,
}

impl OwnerBytes {
    /// What `owner`'s service and its ministry hold now.
    pub(super) fn of(&self, owner: &Owner) -> (u64, u64) {
        let held = |map: &std::collections::HashMap<Arc<str>, u64>, k: &Arc<str>| {
            map.get(k).copied().unwrap_or(0)
        };
        (
            held(&self.by_service, &owner.service),
            held(&self.by_ministry, &owner.ministry),
        )
    }

    /// Counts `weight` more for `owner`.
    pub(super) fn add(&mut self, owner: &Owner, weight: u64) {
        *self
            .by_service
            .entry(Arc::clone(&owner.service))
            .or_default() += weight;
        *self
            .by_ministry
            .entry(Arc::clone(&owner.ministry))
            .or_default() += weight;
    }

    /// Counts `weight` less for `owner`; a service or ministry at nothing is forgotten.
    pub(super) fn release(&mut self, owner: &Owner, weight: u64) {
        for (map, k) in [
            (&mut self.by_service, &owner.service),
            (&mut self.by_ministry, &owner.ministry),
        ] {
            if let Some(bytes) = map.get_mut(k) {
                *bytes = bytes.saturating_sub(weight);
                if *bytes == 0 {
                    map.remove(k);
                }
            }
        }
    }
}

/// The service a cache key is of: the first length-prefixed part of its primary key (see
/// `ResponseCache::key`).
pub(super) fn service_of(key: &CacheKey) -> Arc<str> {
    let primary = key.primary_key();
    let part = primary
        .get(..4)
        .and_then(|n| <[u8; 4]>::try_from(n).ok())
        .map(|n| u32::from_be_bytes(n) as usize)
        .and_then(|n| primary.get(4..4 + n))
        .unwrap_or_default();
    Arc::from(String::from_utf8_lossy(part).as_ref())
}
