//! When each URL was last purged here, so that a fill already on its way when the purge
//! landed is not stored after it.
//!
//! A URL purge deletes the stored answer; a miss whose fetch began before the purge still
//! carries the old page, and stored it once its body ended (found by a cache probe: a page
//! the site took 3 s to send, purged meanwhile, was served as it was on both instances for
//! the next ten minutes, while the purge answered `found: 0`). A whole-service purge did
//! not have the hole: its generation is in the key the miss was looked up under. A fill
//! that began before the last purge of its URL is now dropped when it ends (its citizen
//! still gets the answer); the next request fetches the page again.

use pingora::cache::key::HashBinary;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a purge is remembered: longer than a fill lasts (a fetch's header is bounded by
/// its service's `total` timeout, its body by the site's read timeout and the citizen's
/// `limits.send_timeout` between pieces; a fill still trickling after an hour is kept).
const MEMORY: Duration = Duration::from_secs(3600);

/// At most this many purges are remembered; past it, those past [`MEMORY`] are forgotten,
/// and if that leaves more than half, the oldest half of the rest (purges are rate-limited per ministry, so this is a
/// flood of admin calls, and what is forgotten fails safe only for fills that old).
const MAX_REMEMBERED: usize = 100_000;

/// The extension a miss's metadata carries: when its fetch from the legacy site began
/// (see [`PurgedUrls::since`]).
#[derive(Debug, Clone, Copy)]
pub struct FetchBegan(pub Instant);

/// The URL purges of this process's recent past (its own and other instances').
#[derive(Default)]
pub struct PurgedUrls {
    at: Mutex<HashMap<HashBinary, Instant>>,
}

impl PurgedUrls {
    /// The URL whose primary slot is `slot` was purged now.
    pub fn note(&self, slot: &HashBinary) {
        let Ok(mut at) = self.at.lock() else {
            return;
        };
        let now = Instant::now();
        if at.len() >= MAX_REMEMBERED {
            at.retain(|_, t| now.duration_since(*t) < MEMORY);
            // Down to half at least, so that the next purges do not scan it all again each
            // (from review).
            if at.len() >= MAX_REMEMBERED / 2 {
                let mut times: Vec<Instant> = at.values().copied().collect();
                let (_, median, _) = times.select_nth_unstable(at.len() / 2);
                let median = *median;
                at.retain(|_, t| *t > median);
            }
        }
        at.insert(*slot, now);
    }

    /// Whether the URL at `slot` was purged at or after `began` (a fill that began then
    /// carries what the purge meant to remove).
    pub fn since(&self, slot: &HashBinary, began: Instant) -> bool {
        self.at
            .lock()
            .map(|at| at.get(slot).is_some_and(|t| *t >= began))
            // A poisoned lock: storing nothing is the safe side.
            .unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_began_before_a_purge_of_its_url_is_told_so_and_a_later_one_is_not() {
        let purged = PurgedUrls::default();
        let slot = [7u8; 16];
        let before = Instant::now();
        purged.note(&slot);
        let after = Instant::now() + Duration::from_millis(1);
        assert!(purged.since(&slot, before));
        assert!(!purged.since(&slot, after));
        assert!(!purged.since(&[8u8; 16], before), "another URL");
    }

    #[test]
    fn a_flood_of_purges_keeps_at_most_so_many_in_memory() {
        let purged = PurgedUrls::default();
        for i in 0..(MAX_REMEMBERED as u32 + 10) {
            let mut slot = [0u8; 16];
            slot[..4].copy_from_slice(&i.to_le_bytes());
            purged.note(&slot);
        }
        let held = purged.at.lock().map(|a| a.len()).unwrap_or(0);
        assert!(held <= MAX_REMEMBERED, "{held}");
        assert!(held > MAX_REMEMBERED / 4, "{held}");
    }
}
