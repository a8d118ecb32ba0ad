//! A short in-process cache in front of a shared store, so most requests of a logged-in
//! citizen cost no round trip to the shared store (nor a decode).
//!
//! Entries live `sessions.cache_ttl` (default 5 s). Deletions and revocations made here
//! evict at once; revocations made by other instances arrive on the Redis revocation feed
//! (see [`super::SharedStore`]); the TTL bounds staleness if the feed is down.

use super::{SessionStore, StoreError, UpdateOutcome};
use crate::sso::session::{HopCode, OriginSession, PendingLogin, Session};
use crate::sso::upgrades::LiveUpgrades;
use async_trait::async_trait;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// The cache itself, shared with the revocation feed, and the upgrades (WebSockets) open
/// under each session, which every eviction of an ended session cuts.
#[derive(Clone)]
pub struct SessionCache(Cache<String, Arc<Session>>, Arc<LiveUpgrades>);

impl SessionCache {
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self(
            Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build(),
            Arc::default(),
        )
    }

    /// Session `id` ended (deleted, revoked here or on another instance): forgotten, and
    /// its open upgrades cut.
    pub fn invalidate(&self, id: &str) {
        self.0.invalidate(id);
        self.1.end(id);
    }

    /// Anything may have been revoked (the revocation feed was down): every session is
    /// read again. Open upgrades are not cut, which would end every citizen's WebSocket at
    /// each Redis blip: the look at each of their sessions every few seconds finds those
    /// that ended (`Sso::background`).
    pub fn invalidate_all(&self) {
        self.0.invalidate_all();
    }

    /// The upgrades open under each session.
    pub fn upgrades(&self) -> &Arc<LiveUpgrades> {
        &self.1
    }
}

/// A store with the cache in front of it.
pub struct CachedStore<S> {
    inner: S,
    cache: SessionCache,
    /// Origin sessions (immutable once made).
    origins: Cache<String, Arc<OriginSession>>,
}

impl<S: SessionStore> CachedStore<S> {
    pub fn new(inner: S, cache: SessionCache) -> Self {
        Self {
            inner,
            cache,
            origins: Cache::builder()
                .time_to_live(Duration::from_secs(300))
                .max_capacity(200_000)
                .build(),
        }
    }

    fn invalidate_each(&self, ids: &[String]) {
        for id in ids {
            self.cache.invalidate(id);
        }
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for CachedStore<S> {
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        if let Some(s) = self.cache.0.get(id) {
            return Ok(Some((*s).clone()));
        }
        let found = self.inner.get(id).await?;
        if let Some(s) = &found {
            self.cache.0.insert(id.to_string(), Arc::new(s.clone()));
        }
        Ok(found)
    }

    async fn create(&self, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        self.inner.create(session, ttl).await?;
        self.cache
            .0
            .insert(session.id.clone(), Arc::new(session.clone()));
        Ok(())
    }

    async fn update(&self, session: &Session, ttl: Duration) -> Result<UpdateOutcome, StoreError> {
        let outcome = self.inner.update(session, ttl).await?;
        match outcome {
            UpdateOutcome::Written => self
                .cache
                .0
                .insert(session.id.clone(), Arc::new(session.clone())),
            UpdateOutcome::Gone => self.cache.invalidate(&session.id),
        }
        Ok(outcome)
    }

    async fn touch(&self, session: &Session, ttl: Duration) -> Result<UpdateOutcome, StoreError> {
        let outcome = self.inner.touch(session, ttl).await?;
        // The store's record may differ from this copy (another instance's tokens): read
        // again next time. Gone: forgotten, as by `update`.
        match outcome {
            UpdateOutcome::Written => self.cache.0.invalidate(&session.id),
            UpdateOutcome::Gone => self.cache.invalidate(&session.id),
        }
        Ok(outcome)
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.cache.invalidate(id);
        self.inner.delete(id).await
    }

    async fn revoke_idp_sid(&self, idp_sid: &str) -> Result<Vec<String>, StoreError> {
        let ids = self.inner.revoke_idp_sid(idp_sid).await?;
        // The feed evicts them too, but this instance may not be subscribed yet.
        self.invalidate_each(&ids);
        Ok(ids)
    }

    async fn revoke_sub(&self, sub: &str) -> Result<Vec<String>, StoreError> {
        let ids = self.inner.revoke_sub(sub).await?;
        self.invalidate_each(&ids);
        Ok(ids)
    }

    async fn put_pending(
        &self,
        state: &str,
        login: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.inner.put_pending(state, login, ttl).await
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        self.inner.take_pending(state).await
    }

    async fn remember_jti(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.remember_jti(jti, ttl).await
    }

    async fn forget_jti(&self, jti: &str) -> Result<(), StoreError> {
        self.inner.forget_jti(jti).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn write_probe(&self) -> Result<(), StoreError> {
        self.inner.write_probe().await
    }

    async fn create_origin(
        &self,
        id: &str,
        session: &OriginSession,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.inner.create_origin(id, session, ttl).await?;
        self.origins
            .insert(id.to_string(), Arc::new(session.clone()));
        Ok(())
    }

    /// Cached without eviction on revocation: an origin session never changes, and it is
    /// only ever used through its parent, which the revocation feed does evict.
    async fn get_origin(&self, id: &str) -> Result<Option<Arc<OriginSession>>, StoreError> {
        if let Some(s) = self.origins.get(id) {
            return Ok(Some(s));
        }
        let found = self.inner.get_origin(id).await?;
        if let Some(s) = &found {
            self.origins.insert(id.to_string(), Arc::clone(s));
        }
        Ok(found)
    }

    async fn origin_services(&self, parent: &str) -> Result<Vec<String>, StoreError> {
        self.inner.origin_services(parent).await
    }

    async fn put_hop(&self, code: &str, hop: &HopCode, ttl: Duration) -> Result<(), StoreError> {
        self.inner.put_hop(code, hop, ttl).await
    }

    async fn take_hop(&self, code: &str) -> Result<Option<HopCode>, StoreError> {
        self.inner.take_hop(code).await
    }

    async fn count(&self) -> Result<Option<u64>, StoreError> {
        self.inner.count().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use crate::sso::store::SharedStore;

    const TTL: Duration = Duration::from_secs(60);

    fn cached() -> (Arc<SharedStore>, CachedStore<Arc<SharedStore>>) {
        let inner = Arc::new(SharedStore::new(Arc::new(MemoryKv::default())));
        let cache = SessionCache::new(Duration::from_secs(60), 100);
        (Arc::clone(&inner), CachedStore::new(inner, cache))
    }

    #[tokio::test]
    async fn a_revocation_evicts_exactly_the_revoked_sessions_from_the_cache() {
        let (_, store) = cached();
        let a = Session::for_test("amina", Some("op-1"));
        let b = Session::for_test("youssef", Some("op-2"));
        for s in [&a, &b] {
            store.create(s, TTL).await.expect("create");
            store.get(&s.id).await.expect("get").expect("cached");
        }
        assert_eq!(
            store.revoke_idp_sid("op-1").await.expect("revoke"),
            std::slice::from_ref(&a.id)
        );
        assert!(store.get(&a.id).await.expect("get").is_none());
        assert!(store.get(&b.id).await.expect("get").is_some());
    }

    #[tokio::test]
    async fn an_update_that_finds_the_session_gone_evicts_it_from_the_cache() {
        let (inner, store) = cached();
        let session = Session::for_test("amina", Some("op-1"));
        store.create(&session, TTL).await.expect("create");
        // Revoked behind this cache's back (another instance, before the feed arrives).
        inner.revoke_idp_sid("op-1").await.expect("revoke");
        assert!(
            store.get(&session.id).await.expect("get").is_some(),
            "cached"
        );
        assert_eq!(
            store.update(&session, TTL).await.expect("update"),
            UpdateOutcome::Gone
        );
        assert!(store.get(&session.id).await.expect("get").is_none());
    }
}
