//! Where sessions, logins in progress and seen logout tokens live.
//!
//! [`SessionStore`] has an in-memory implementation (one instance, the demo) and a Redis one
//! (standalone or Cluster, shared by every instance, so a logout on one revokes everywhere).
//! [`CachedStore`] puts a short in-process cache in front of Redis so a request does not
//! always cost a round trip; revocations are broadcast so caches drop them at once.

mod cached;
mod memory;
mod redis;

pub use cached::{CachedStore, SessionCache};
pub use memory::MemoryStore;
pub use redis::RedisStore;

use super::session::{PendingLogin, Session};
use async_trait::async_trait;
use std::time::Duration;

/// The store could not answer; callers treat the session as unknown *and* unverifiable
/// (protected services answer 503, never "logged out").
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt session record: {0}")]
    Corrupt(String),
}

/// Storage for sessions and the other short-lived SSO records.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError>;
    /// Stores (or replaces) a session for `ttl`, indexed by provider `sid` and `sub`.
    async fn put(&self, session: &Session, ttl: Duration) -> Result<(), StoreError>;
    async fn delete(&self, id: &str) -> Result<(), StoreError>;
    /// Deletes every session of a provider session; returns how many.
    async fn revoke_idp_sid(&self, idp_sid: &str) -> Result<usize, StoreError>;
    /// Deletes every session of a subject; returns how many.
    async fn revoke_sub(&self, sub: &str) -> Result<usize, StoreError>;
    async fn put_pending(
        &self,
        state: &str,
        login: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// Returns and removes a pending login: a `state` works once.
    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError>;
    /// Records a logout token id; `false` if it was already seen (a replay).
    async fn remember_jti(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Whether the store answers (for `/readyz` and the store-up metric).
    async fn ping(&self) -> Result<(), StoreError>;
    /// How many sessions are live, when the store can tell cheaply.
    async fn count(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
}

#[async_trait]
impl<T: SessionStore + ?Sized> SessionStore for std::sync::Arc<T> {
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        (**self).get(id).await
    }
    async fn put(&self, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        (**self).put(session, ttl).await
    }
    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        (**self).delete(id).await
    }
    async fn revoke_idp_sid(&self, idp_sid: &str) -> Result<usize, StoreError> {
        (**self).revoke_idp_sid(idp_sid).await
    }
    async fn revoke_sub(&self, sub: &str) -> Result<usize, StoreError> {
        (**self).revoke_sub(sub).await
    }
    async fn put_pending(
        &self,
        state: &str,
        login: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        (**self).put_pending(state, login, ttl).await
    }
    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        (**self).take_pending(state).await
    }
    async fn remember_jti(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        (**self).remember_jti(jti, ttl).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        (**self).ping().await
    }
    async fn count(&self) -> Result<Option<u64>, StoreError> {
        (**self).count().await
    }
}
