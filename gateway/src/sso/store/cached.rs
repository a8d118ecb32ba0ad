//! A short in-process cache in front of a shared store, so most requests of a logged-in
//! citizen cost no Redis round trip.
//!
//! Entries live `sessions.cache_ttl` (default 5 s). Deletions and revocations made here
//! evict at once; revocations made by other instances arrive on the Redis revocation feed
//! (see [`super::RedisStore`]); the TTL bounds staleness if the feed is down.

use super::{SessionStore, StoreError};
use crate::sso::session::{PendingLogin, Session};
use async_trait::async_trait;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// The cache itself, shared with the revocation feed.
#[derive(Clone)]
pub struct SessionCache(Cache<String, Arc<Session>>);

impl SessionCache {
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self(
            Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build(),
        )
    }

    pub fn invalidate(&self, id: &str) {
        self.0.invalidate(id);
    }

    pub fn invalidate_all(&self) {
        self.0.invalidate_all();
    }
}

/// A store with the cache in front of it.
pub struct CachedStore<S> {
    inner: S,
    cache: SessionCache,
}

impl<S: SessionStore> CachedStore<S> {
    pub fn new(inner: S, cache: SessionCache) -> Self {
        Self { inner, cache }
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

    async fn put(&self, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        self.inner.put(session, ttl).await?;
        self.cache
            .0
            .insert(session.id.clone(), Arc::new(session.clone()));
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.cache.invalidate(id);
        self.inner.delete(id).await
    }

    async fn revoke_idp_sid(&self, idp_sid: &str) -> Result<usize, StoreError> {
        let n = self.inner.revoke_idp_sid(idp_sid).await?;
        // The feed evicts the exact ids; this instance may not be subscribed yet.
        self.cache.0.invalidate_entries_if_supported(idp_sid);
        Ok(n)
    }

    async fn revoke_sub(&self, sub: &str) -> Result<usize, StoreError> {
        let n = self.inner.revoke_sub(sub).await?;
        self.cache.0.invalidate_entries_if_supported(sub);
        Ok(n)
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

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn count(&self) -> Result<Option<u64>, StoreError> {
        self.inner.count().await
    }
}

/// Evicts cached sessions of a provider sid or subject directly (no reliance on the feed).
trait InvalidateMatching {
    fn invalidate_entries_if_supported(&self, key: &str);
}

impl InvalidateMatching for Cache<String, Arc<Session>> {
    fn invalidate_entries_if_supported(&self, key: &str) {
        let key = key.to_string();
        let victims: Vec<String> = self
            .iter()
            .filter(|(_, s)| s.sub == key || s.idp_sid.as_deref() == Some(key.as_str()))
            .map(|(id, _)| (*id).clone())
            .collect();
        for id in victims {
            self.invalidate(&id);
        }
    }
}
