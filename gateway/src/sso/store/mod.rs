//! Where sessions, logins in progress and seen logout tokens live.
//!
//! [`SessionStore`] has one implementation, [`SharedStore`], over the shared state
//! ([`crate::kv::Kv`]): in memory for one instance and the demo, in Redis (standalone or
//! Cluster) shared by every instance, so a logout on one revokes everywhere.
//! [`CachedStore`] puts a short in-process cache in front of it so a request does not always
//! cost a round trip (or a JSON decode); revocations are broadcast so caches drop them at
//! once.

mod cached;
mod shared;

pub use cached::{CachedStore, SessionCache};
pub use shared::SharedStore;

use super::session::{HopCode, OriginSession, PendingLogin, Session};
use async_trait::async_trait;
use std::sync::Arc;
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

/// What became of an [`SessionStore::update`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The session was replaced.
    Written,
    /// The session no longer exists (logged out, revoked or expired since it was read):
    /// nothing was written, and the caller must treat the request as having no session.
    Gone,
}

/// Storage for sessions and the other short-lived SSO records.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError>;
    /// Stores a new session for `ttl`, indexed by provider `sid` and `sub` (login only).
    async fn create(&self, session: &Session, ttl: Duration) -> Result<(), StoreError>;
    /// Replaces a session that still exists (idle clock, refreshed tokens). Never brings back
    /// one deleted or revoked after it was read: a back-channel logout that lands while a
    /// request refreshes tokens wins.
    async fn update(&self, session: &Session, ttl: Duration) -> Result<UpdateOutcome, StoreError>;
    /// Moves a session's idle clock on to `session.last_seen` (and its expiry to `ttl`),
    /// keeping the rest as the store holds it: the copy a request read may be seconds old
    /// (an instance's cache), and another instance may have stored rotated tokens since.
    /// Found when tried: an instance wrote its cached copy back for the idle clock over the
    /// refresh token another had just rotated, and the next refresh, sending the used one,
    /// ended the citizen's session. A store that only one process reads has no older copy.
    async fn touch(&self, session: &Session, ttl: Duration) -> Result<UpdateOutcome, StoreError> {
        self.update(session, ttl).await
    }
    async fn delete(&self, id: &str) -> Result<(), StoreError>;
    /// Deletes every session of a provider session; returns their ids (so caches can drop
    /// exactly those).
    async fn revoke_idp_sid(&self, idp_sid: &str) -> Result<Vec<String>, StoreError>;
    /// Deletes every session of a subject; returns their ids.
    async fn revoke_sub(&self, sub: &str) -> Result<Vec<String>, StoreError>;
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
    /// Forgets a logout token id whose logout could not be carried out, so the provider's
    /// retry of the same token is not refused as a replay.
    async fn forget_jti(&self, jti: &str) -> Result<(), StoreError>;
    /// Stores a service origin's session `id` (a child of `session.parent`) for `ttl`.
    async fn create_origin(
        &self,
        id: &str,
        session: &OriginSession,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// A service origin's session (shared: it is read on every request of that origin and
    /// never changes).
    async fn get_origin(&self, id: &str) -> Result<Option<Arc<OriginSession>>, StoreError>;
    /// The services whose own origin holds a session of portal session `parent`: those whose
    /// one-time code was accepted (what a logout goes through to end their cookies).
    async fn origin_services(&self, parent: &str) -> Result<Vec<String>, StoreError>;
    /// Stores a one-time origin code for `ttl`.
    async fn put_hop(&self, code: &str, hop: &HopCode, ttl: Duration) -> Result<(), StoreError>;
    /// Returns and removes a one-time origin code: a code works once.
    async fn take_hop(&self, code: &str) -> Result<Option<HopCode>, StoreError>;
    /// Whether the store answers (for `/readyz` and the store-up metric).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Whether the store takes a write (a Redis at its memory limit answers `PING` and
    /// refuses writes): what ends a failing spell before its 30 s once the store is back.
    async fn write_probe(&self) -> Result<(), StoreError> {
        self.ping().await
    }
    /// How many sessions are live, when the store can tell cheaply.
    async fn count(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
}

#[async_trait]
impl<T: SessionStore + ?Sized> SessionStore for Arc<T> {
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        (**self).get(id).await
    }
    async fn create(&self, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        (**self).create(session, ttl).await
    }
    async fn update(&self, session: &Session, ttl: Duration) -> Result<UpdateOutcome, StoreError> {
        (**self).update(session, ttl).await
    }
    async fn touch(&self, session: &Session, ttl: Duration) -> Result<UpdateOutcome, StoreError> {
        (**self).touch(session, ttl).await
    }
    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        (**self).delete(id).await
    }
    async fn revoke_idp_sid(&self, idp_sid: &str) -> Result<Vec<String>, StoreError> {
        (**self).revoke_idp_sid(idp_sid).await
    }
    async fn revoke_sub(&self, sub: &str) -> Result<Vec<String>, StoreError> {
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
    async fn forget_jti(&self, jti: &str) -> Result<(), StoreError> {
        (**self).forget_jti(jti).await
    }
    async fn create_origin(
        &self,
        id: &str,
        session: &OriginSession,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        (**self).create_origin(id, session, ttl).await
    }
    async fn get_origin(&self, id: &str) -> Result<Option<Arc<OriginSession>>, StoreError> {
        (**self).get_origin(id).await
    }
    async fn origin_services(&self, parent: &str) -> Result<Vec<String>, StoreError> {
        (**self).origin_services(parent).await
    }
    async fn put_hop(&self, code: &str, hop: &HopCode, ttl: Duration) -> Result<(), StoreError> {
        (**self).put_hop(code, hop, ttl).await
    }
    async fn take_hop(&self, code: &str) -> Result<Option<HopCode>, StoreError> {
        (**self).take_hop(code).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        (**self).ping().await
    }
    async fn write_probe(&self) -> Result<(), StoreError> {
        (**self).write_probe().await
    }
    async fn count(&self) -> Result<Option<u64>, StoreError> {
        (**self).count().await
    }
}
