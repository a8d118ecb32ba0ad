//! Where cached answers live: an in-memory tier (L1) bounded in bytes, evicting with moka's
//! TinyLFU policy (frequency-aware admission, as pingora's TinyUFO), in front of an optional
//! shared tier (L2) in `[redis]` that every instance reads. An L2 hit fills L1. L2 writes never
//! delay an answer (they run after it), and after an L2 failure L2 is skipped for a second,
//! so a Redis outage costs each request nothing: the cache is then L1 only. What this
//! instance may hold of L2 is bounded ([`super::l2_room`]), as that Redis holds sessions too.
//!
//! Objects are kept whole: admission stops at the object limit (pingora streams larger
//! answers straight through), so nothing larger than that is ever buffered.

mod handles;
mod held;
mod object;

#[cfg(test)]
mod tests;

use super::l2_room::{L2Room, REDIS_ENTRY_OVERHEAD};
use super::shares::{owner_of, Owner};
use crate::kv::{Kv, Write};
use async_trait::async_trait;
use bytes::BytesMut;
use handles::{Hit, Miss};
use held::Held;
use object::{decode, encode, remaining, until, Lifetime, Object};
use pingora::cache::key::{CacheHashKey, CacheKey, HashBinary};
use pingora::cache::storage::{
    HitHandler, MissHandler, PurgeOutcome, PurgeTarget, PurgeType, Storage,
};
use pingora::cache::trace::SpanHandle;
use pingora::cache::CacheMeta;
use pingora::{Error, ErrorType, Result};
use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much of a body one `read_body` hands over.
const CHUNK: usize = 64 * 1024;
/// How long L2 is left alone after it failed.
const L2_BACKOFF: Duration = Duration::from_secs(1);
/// Past this share of Redis's `maxmemory` (in percent), L2 writes stop: the rest is for
/// sessions, logins in progress and the registry.
const REDIS_FULL_PERCENT: u64 = 90;
/// The most bytes of L2 writes a fresh process keeps waiting for its first look at how
/// full Redis is.
const FIRST_LOOK_WAITING: u64 = 8 << 20;
/// How often L2 writes look at how full Redis is.
const REDIS_LOOK_EVERY_MS: u64 = 1_000;
/// The most maintenance rounds a purge of a whole service runs to take its objects out of
/// L1 (each takes out a few hundred, within 100 ms): a full L1 of small objects is freed
/// well within it.
const PURGE_ROUNDS: usize = 1_024;

/// What the storage reports, for metrics.
pub trait StorageEvents: Send + Sync {
    /// L1 evicted an object to make room.
    fn evicted(&self);
    /// L1 now holds `bytes` in `objects`.
    fn l1_size(&self, bytes: u64, objects: u64);
    /// An L2 operation (`read`, `write`, `delete`) ended with `result`.
    fn l2(&self, op: &'static str, result: &'static str);
    /// What the last look at Redis found: past [`REDIS_FULL_PERCENT`] of its `maxmemory`
    /// (L2 writes stopped) or not. Found when tried: only the counted refusals of writes
    /// showed it, mixed with the services' shares, and nothing alerted.
    fn redis_nearly_full(&self, _full: bool) {}
}

/// A condition told once each time it begins, not once per process: the cache's guard
/// cannot see how full Redis is, told at the first look that fails after one that
/// succeeded.
#[derive(Debug, Default)]
struct OncePerEpisode(std::sync::atomic::AtomicBool);

impl OncePerEpisode {
    /// The condition holds now; whether it just began (to be told).
    fn begins(&self) -> bool {
        !self.0.swap(true, std::sync::atomic::Ordering::Relaxed)
    }

    /// The condition is over.
    fn ends(&self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The two tiers.
pub struct TieredStorage {
    l1: moka::sync::Cache<HashBinary, Object>,
    /// The bytes each service's and each ministry's objects weigh in L1
    /// ([`SERVICE_SHARE`], [`MINISTRY_SHARE`]).
    held: Arc<std::sync::Mutex<Held>>,
    /// L1's size in bytes.
    size: u64,
    l2: Option<Arc<dyn Kv>>,
    /// What this instance's writes may hold of L2 (the Redis sessions live in too).
    l2_room: L2Room,
    /// Whether Redis was past [`REDIS_FULL_PERCENT`] of its `maxmemory` when last looked at
    /// (L2 writes stop), and when that look began (milliseconds since `started`).
    redis_full: std::sync::atomic::AtomicBool,
    redis_looked_at: std::sync::atomic::AtomicU64,
    /// The process's first look, which its first L2 writes wait for: found in the last
    /// read, a fresh process wrote unchecked until its first look came back, so a restart
    /// under load wrote into a Redis its predecessors had nearly filled.
    first_look: tokio::sync::OnceCell<()>,
    /// The bytes of the writes waiting for it: at most [`FIRST_LOOK_WAITING`], so a restart
    /// under a flood of misses, with Redis slow to answer, holds no more pages than that.
    first_look_waiting: std::sync::atomic::AtomicU64,
    /// Whether the operator was told the guard cannot see how full Redis is.
    redis_blind: OncePerEpisode,
    started: Instant,
    /// L2 is skipped for a moment after a failure.
    l2_resting: crate::kv::Resting,
    events: Arc<dyn StorageEvents>,
    /// The URL purges of the recent past: a miss begun before one of its URL is not kept.
    pub purged: super::purged_urls::PurgedUrls,
}

impl TieredStorage {
    /// L1 of `memory_size` bytes; L2 in `l2` when given, with the room for this instance's
    /// writes there (`cache.shared_size` bytes).
    pub fn new(
        memory_size: usize,
        l2: Option<(Arc<dyn Kv>, usize)>,
        events: Arc<dyn StorageEvents>,
    ) -> Self {
        let (l2, shared_size) = l2.map_or((None, 0), |(kv, size)| (Some(kv), size));
        let listener_events = Arc::clone(&events);
        let held: Arc<std::sync::Mutex<Held>> = Arc::default();
        let released = Arc::clone(&held);
        let l1 = moka::sync::Cache::builder()
            .max_capacity(memory_size as u64)
            .weigher(|_: &HashBinary, v: &Object| v.weight())
            .expire_after(Lifetime)
            .eviction_listener(move |_, v: Object, cause| {
                if cause == moka::notification::RemovalCause::Size {
                    listener_events.evicted();
                }
                let mut held = released.lock().unwrap_or_else(|e| e.into_inner());
                held.release(&v.owner, u64::from(v.weight()));
            })
            .build();
        Self {
            l1,
            held,
            size: memory_size as u64,
            l2,
            l2_room: L2Room::new(shared_size as u64),
            redis_full: std::sync::atomic::AtomicBool::new(false),
            redis_looked_at: std::sync::atomic::AtomicU64::new(0),
            first_look: tokio::sync::OnceCell::new(),
            first_look_waiting: std::sync::atomic::AtomicU64::new(0),
            redis_blind: OncePerEpisode::default(),
            started: Instant::now(),
            l2_resting: crate::kv::Resting::new(L2_BACKOFF),
            events,
            purged: super::purged_urls::PurgedUrls::default(),
        }
    }

    fn l2(&self) -> Option<&Arc<dyn Kv>> {
        let l2 = self.l2.as_ref()?;
        (!self.l2_resting.now()).then_some(l2)
    }

    fn l2_failed(&self, op: &'static str, e: &crate::kv::KvError) {
        tracing::debug!(error = %e, op, "response cache: L2 unavailable, L1 only for a moment");
        self.l2_resting.failed();
        self.events.l2(op, "error");
    }

    fn l2_key(kv: &dyn Kv, hash: &HashBinary) -> String {
        kv.key("rc", &hex::encode(hash))
    }

    /// Reports L1's size (after a change: inserts and removals, never on hits).
    fn report_size(&self) {
        self.l1.run_pending_tasks();
        self.events
            .l1_size(self.l1.weighted_size(), self.l1.entry_count());
    }

    /// Keeps `object` in L1. Where its service or its ministry already holds its share
    /// there, the service's oldest objects leave to make room; where even that would not
    /// (an object larger than the share, a ministry's share held by its other services), it
    /// is not kept (it is then served from L2, or fetched again).
    fn put_l1(&self, hash: HashBinary, object: Object) {
        let weight = u64::from(object.weight());
        let live = |h: &HashBinary| self.l1.contains_key(h);
        let room = loop {
            let leaving = {
                let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
                if held.take(&object.owner, hash, weight, self.size, live) {
                    break true;
                }
                held.oldest_to_leave(&object.owner, weight, self.size, live)
            };
            match leaving {
                // Outside the lock: the removal's listener takes it to count the bytes freed.
                // An eviction to make room as much as one for L1's size, which the listener
                // counts (found when tried: a flood of one service's query strings pushed
                // its pages out with `egov_response_cache_evictions_total` at 0).
                Some(old) => {
                    self.l1.invalidate(&old);
                    self.events.evicted();
                }
                None => break false,
            }
        };
        if room {
            self.l1.insert(hash, object);
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.inserted(&hash);
        } else {
            // An older copy at the same key is no longer the answer (a revalidation's new
            // metadata, a new body): it goes too, and hits find L2 or the site (found in
            // review: the old copy was served, and revalidated, on every request).
            self.l1.invalidate(&hash);
        }
        self.report_size();
    }

    /// Drops every object of `service` from this instance's L1: after a purge of the whole
    /// service (a new generation) they can no longer be hit, and would hold its share until
    /// they expire (found in review: up to an hour out of L1 after a purge).
    pub fn forget_service(&self, service: &str) {
        // Each of its objects taken out now, and moka's maintenance run until their room is
        // counted back: an invalidation predicate left them to its rounds, a few hundred a
        // round, at the cache's next requests, and never those stamped in the predicate's
        // clock tick (found in a soak probe: a purge of 33,000 objects freed a tenth of
        // their memory until the next requests).
        let gone: Vec<Arc<HashBinary>> = (self.l1.iter())
            .filter(|(_, object)| *object.owner.service == *service)
            .map(|(hash, _)| hash)
            .collect();
        for hash in gone {
            self.l1.invalidate(&*hash);
        }
        for _ in 0..PURGE_ROUNDS {
            self.l1.run_pending_tasks();
            if self.holds(service) == 0 {
                break;
            }
        }
        self.report_size();
    }

    /// The bytes `service`'s objects hold in L1, as last counted.
    fn holds(&self, service: &str) -> u64 {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.bytes.by_service.get(service).copied().unwrap_or(0)
    }

    /// The bytes `service`'s objects hold in L1 now.
    #[cfg(test)]
    fn held_by(&self, service: &str) -> u64 {
        self.l1.run_pending_tasks();
        self.holds(service)
    }

    /// The bytes `ministry`'s objects hold in L1 now.
    #[cfg(test)]
    fn held_by_ministry(&self, ministry: &str) -> u64 {
        self.l1.run_pending_tasks();
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.bytes.by_ministry.get(ministry).copied().unwrap_or(0)
    }

    /// Whether Redis is too full for cache writes, as last seen; looks again (in the
    /// background, never delaying a write) when that was more than [`REDIS_LOOK_EVERY_MS`] ago.
    /// The room's count is this process's alone: a restarted process, or one of many, may
    /// find Redis filled by others' writes (found in review), and the last tenth of Redis
    /// is the sessions'.
    fn redis_nearly_full(&'static self, kv: &Arc<dyn Kv>) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.started.elapsed().as_millis() as u64 + REDIS_LOOK_EVERY_MS;
        let last = self.redis_looked_at.load(Relaxed);
        if now.saturating_sub(last) >= REDIS_LOOK_EVERY_MS
            && self
                .redis_looked_at
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            let kv = Arc::clone(kv);
            tokio::spawn(async move { self.look_at_redis(&kv).await });
        }
        self.redis_full.load(Relaxed)
    }

    /// Reads how full Redis is, for [`Self::redis_nearly_full`].
    async fn look_at_redis(&self, kv: &Arc<dyn Kv>) {
        use std::sync::atomic::Ordering::Relaxed;
        // Without a reading, only this instance's counts bound the cache in Redis:
        // the operator is told (found in the last read: a Redis that refuses `INFO` to the
        // gateway's user, or has no `maxmemory`, turned the guard off without a word).
        let blind = |why: String| {
            if self.redis_blind.begins() {
                tracing::warn!(
                    "response cache: {why}; the L2 writes are bounded by cache.shared_size alone, not by how full Redis is"
                );
            }
        };
        let full = match kv.fullness().await {
            Ok(Some((used, limit))) => {
                // Seen again: a later blindness is told again (found in the last read: a
                // passing outage spent the one warning for good).
                self.redis_blind.ends();
                used >= limit / 100 * REDIS_FULL_PERCENT
            }
            Ok(None) => {
                blind("Redis has no maxmemory (or INFO memory does not say)".into());
                false
            }
            Err(e) => {
                // The write's own failure rests L2 if Redis is down.
                blind(format!("Redis did not answer INFO memory ({e})"));
                return;
            }
        };
        self.redis_full.store(full, Relaxed);
        self.events.redis_nearly_full(full);
    }

    /// Writes `owner`'s answer (`meta`, `body`) to L2 after the answer is sent (never
    /// delaying it), if it fits in this instance's room there ([`L2Room`]).
    fn put_l2(&'static self, hash: HashBinary, owner: &Owner, meta: &CacheMeta, body: &[u8]) {
        let Some(kv) = self.l2().cloned() else {
            return;
        };
        let until = until(meta);
        let ttl = remaining(until);
        if ttl.is_zero() {
            return;
        }
        let encoded = match encode(meta, body) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(error = %e, "response cache: cannot serialise an answer for L2");
                return;
            }
        };
        let key = Self::l2_key(kv.as_ref(), &hash);
        let weight = (key.len() + encoded.len()) as u64 + REDIS_ENTRY_OVERHEAD;
        // The process's first writes wait for its first look at Redis (the answer has gone;
        // only the write waits), a few MiB of them: past that, skipped as when Redis is
        // nearly full (L1 keeps the page; found in review: the wait was unbounded).
        let waits = !self.first_look.initialized();
        if waits {
            use std::sync::atomic::Ordering::Relaxed;
            let before = self.first_look_waiting.fetch_add(weight, Relaxed);
            if before + weight > FIRST_LOOK_WAITING {
                self.first_look_waiting.fetch_sub(weight, Relaxed);
                // Not "full": Redis may have room; what is full is the wait for the look.
                self.events.l2("write", "waiting");
                return;
            }
        }
        let owner = owner.clone();
        tokio::spawn(async move {
            if waits {
                self.first_look
                    .get_or_init(|| async {
                        // Counted as the periodic look's: the writes after it ask no second.
                        let began = self.started.elapsed().as_millis() as u64;
                        self.redis_looked_at.store(
                            began + REDIS_LOOK_EVERY_MS,
                            std::sync::atomic::Ordering::Relaxed,
                        );
                        self.look_at_redis(&kv).await
                    })
                    .await;
                self.first_look_waiting
                    .fetch_sub(weight, std::sync::atomic::Ordering::Relaxed);
            }
            // Its lifetime counted from now: Redis never keeps it past the room's count (and
            // one that ended while it waited takes no room).
            let ttl = remaining(until);
            if ttl.is_zero() {
                return;
            }
            if self.redis_nearly_full(&kv) || !self.l2_room.take(hash, &owner, weight, until) {
                self.events.l2("write", "full");
                return;
            }
            match kv.set(&key, &encoded, Some(ttl), Write::Always).await {
                Ok(_) => self.events.l2("write", "ok"),
                Err(e) => self.l2_failed("write", &e),
            }
        });
    }

    async fn find(&'static self, key: &CacheKey, hash: &HashBinary) -> Option<Object> {
        if let Some(o) = self.l1.get(hash) {
            return Some(o);
        }
        let kv = self.l2()?;
        match kv.get(&Self::l2_key(kv.as_ref(), hash)).await {
            Ok(Some(raw)) => {
                let object = decode(raw, owner_of(key))?;
                self.events.l2("read", "hit");
                self.put_l1(*hash, object.clone());
                Some(object)
            }
            Ok(None) => {
                self.events.l2("read", "miss");
                None
            }
            Err(e) => {
                self.l2_failed("read", &e);
                None
            }
        }
    }

    /// Removes the object at `hash` from this instance's L1 only (another instance purged
    /// it and already removed it from L2).
    pub fn forget_local(&self, hash: &HashBinary) {
        self.l1.invalidate(hash);
        self.report_size();
    }

    /// Removes the object at `hash` from L1 and L2; whether it was found in either.
    pub async fn remove(&self, hash: &HashBinary) -> bool {
        let local = self.l1.remove(hash).is_some();
        self.report_size();
        let mut shared = false;
        if let Some(kv) = self.l2() {
            match kv.delete(&Self::l2_key(kv.as_ref(), hash)).await {
                Ok(found) => {
                    shared = found;
                    self.events.l2("delete", "ok");
                }
                Err(e) => self.l2_failed("delete", &e),
            }
        }
        local || shared
    }

    /// Bytes and objects in L1 now.
    pub fn l1_size(&self) -> (u64, u64) {
        self.l1.run_pending_tasks();
        (self.l1.weighted_size(), self.l1.entry_count())
    }
}

fn storage_error(what: &str) -> Box<Error> {
    Error::explain(ErrorType::InternalError, what.to_string())
}

#[async_trait]
impl Storage for TieredStorage {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let hash = key.combined_bin();
        let Some(object) = self.find(key, &hash).await else {
            return Ok(None);
        };
        let meta = object.meta.rebuild();
        let hit = Hit {
            body: object.body,
            at: 0,
            end: None,
        };
        Ok(Some((meta, Box::new(hit))))
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        let began = meta
            .extensions()
            .get::<super::purged_urls::FetchBegan>()
            .map_or_else(Instant::now, |b| b.0);
        Ok(Box::new(Miss {
            storage: self,
            hash: key.combined_bin(),
            slot: key.primary_bin(),
            began,
            owner: owner_of(key),
            meta: meta
                .serialize()
                .and_then(|(i, h)| CacheMeta::deserialize(&i, &h))?,
            body: BytesMut::new(),
        }))
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        purge_type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        let hash = target.key().combined_bin();
        let found = match purge_type {
            // Eviction is L1's own business; L2 expires by itself.
            PurgeType::Eviction => {
                let found = self.l1.remove(&hash).is_some();
                self.report_size();
                found
            }
            PurgeType::Invalidation => self.remove(&hash).await,
        };
        Ok(if found {
            PurgeOutcome::Purged(None)
        } else {
            PurgeOutcome::NotFound
        })
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let hash = key.combined_bin();
        let Some(old) = self.find(key, &hash).await else {
            return Ok(false);
        };
        // A revalidation whose URL was purged meanwhile does not put the old body back
        // (from review).
        let began = meta.extensions().get::<super::purged_urls::FetchBegan>();
        if began.is_some_and(|b| self.purged.since(&key.primary_bin(), b.0)) {
            return Ok(false);
        }
        let object = Object::new(meta, old.body, old.owner);
        self.put_l2(hash, &object.owner, meta, &object.body);
        self.put_l1(hash, object);
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}
