//! Sessions in Redis, standalone or Cluster: every gateway instance sees the same sessions,
//! so a citizen can land on any instance and a logout anywhere ends the session everywhere.
//!
//! Keys (under the configured prefix, default `egov:`): `s:<id>` the session as JSON with
//! its idle TTL; `sid:<provider sid>` and `sub:<sub>` sets of session ids for back-channel
//! logout; `p:<state>` a login in progress (read with GETDEL, so a state works once);
//! `jti:<id>` seen logout tokens. Revocations are published on `<prefix>revoked` so the
//! in-process caches of other instances drop them at once. Connection handling is
//! [`crate::kv::RedisKv`]'s.

use super::{SessionCache, SessionStore, StoreError, UpdateOutcome};
use crate::kv::{KvError, RedisKv};
use crate::sso::session::{PendingLogin, Session};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

impl From<KvError> for StoreError {
    fn from(e: KvError) -> Self {
        StoreError::Unavailable(e.0)
    }
}

/// The Redis store.
pub struct RedisStore {
    kv: Arc<RedisKv>,
}

impl RedisStore {
    pub fn new(kv: Arc<RedisKv>) -> Self {
        Self { kv }
    }

    /// Follows revocations published by any instance, evicting them from `cache`. Runs until
    /// the server stops.
    pub async fn follow_revocations(&self, cache: SessionCache) {
        let channel = self.kv.channel("revoked");
        let gap_cache = cache.clone();
        self.kv
            .follow(
                &channel,
                move |id| cache.invalidate(&id),
                // Anything could have been revoked while we were not listening.
                move || gap_cache.invalidate_all(),
            )
            .await
    }

    async fn publish_revoked(&self, ids: &[String]) {
        let channel = self.kv.channel("revoked");
        for id in ids {
            self.kv.publish(&channel, id).await;
        }
    }

    /// Deletes the sessions an index names; returns their ids. Only the ids read are taken
    /// out of the index (`SREM`, not `DEL`), so a session created meanwhile stays revocable.
    async fn revoke_index(&self, index_key: String) -> Result<Vec<String>, StoreError> {
        let ids: Vec<String> = self.kv.run(redis::cmd("SMEMBERS").arg(&index_key)).await?;
        for id in &ids {
            let _: i64 = self
                .kv
                .run(redis::cmd("DEL").arg(self.kv.key("s", id)))
                .await?;
        }
        if !ids.is_empty() {
            let _: i64 = self
                .kv
                .run(redis::cmd("SREM").arg(&index_key).arg(&ids))
                .await?;
        }
        self.publish_revoked(&ids).await;
        Ok(ids)
    }
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let raw: Option<String> = self
            .kv
            .run(redis::cmd("GET").arg(self.kv.key("s", id)))
            .await?;
        raw.map(|json| serde_json::from_str(&json).map_err(corrupt))
            .transpose()
    }

    async fn create(&self, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        let json = serde_json::to_string(session).map_err(corrupt)?;
        let secs = ttl.as_secs().max(1);
        let key = self.kv.key("s", &session.id);
        let _: () = self
            .kv
            .run(redis::cmd("SET").arg(key).arg(json).arg("EX").arg(secs))
            .await?;
        let index_ttl = secs.max(
            session
                .absolute_expires_at
                .saturating_sub(session.created_at),
        );
        let mut indexes = vec![self.kv.key("sub", &session.sub)];
        if let Some(sid) = &session.idp_sid {
            indexes.push(self.kv.key("sid", sid));
        }
        for index in indexes {
            let _: i64 = self
                .kv
                .run(redis::cmd("SADD").arg(&index).arg(&session.id))
                .await?;
            let _: i64 = self
                .kv
                .run(redis::cmd("EXPIRE").arg(&index).arg(index_ttl))
                .await?;
        }
        Ok(())
    }

    async fn update(&self, session: &Session, ttl: Duration) -> Result<UpdateOutcome, StoreError> {
        let json = serde_json::to_string(session).map_err(corrupt)?;
        let secs = ttl.as_secs().max(1);
        // XX: only if the key still exists; a revocation since the read wins. The indexes
        // were written at creation and outlive the session (`sub` and `sid` do not change).
        let written: Option<String> = self
            .kv
            .run(
                redis::cmd("SET")
                    .arg(self.kv.key("s", &session.id))
                    .arg(json)
                    .arg("XX")
                    .arg("EX")
                    .arg(secs),
            )
            .await?;
        Ok(match written {
            Some(_) => UpdateOutcome::Written,
            None => UpdateOutcome::Gone,
        })
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .kv
            .run(redis::cmd("DEL").arg(self.kv.key("s", id)))
            .await?;
        self.publish_revoked(&[id.to_string()]).await;
        Ok(())
    }

    async fn revoke_idp_sid(&self, idp_sid: &str) -> Result<Vec<String>, StoreError> {
        self.revoke_index(self.kv.key("sid", idp_sid)).await
    }

    async fn revoke_sub(&self, sub: &str) -> Result<Vec<String>, StoreError> {
        self.revoke_index(self.kv.key("sub", sub)).await
    }

    async fn put_pending(
        &self,
        state: &str,
        login: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(login).map_err(corrupt)?;
        let key = self.kv.key("p", state);
        let secs = ttl.as_secs().max(1);
        let _: () = self
            .kv
            .run(redis::cmd("SET").arg(key).arg(json).arg("EX").arg(secs))
            .await?;
        Ok(())
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        let raw: Option<String> = self
            .kv
            .run(redis::cmd("GETDEL").arg(self.kv.key("p", state)))
            .await?;
        raw.map(|json| serde_json::from_str(&json).map_err(corrupt))
            .transpose()
    }

    async fn remember_jti(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = self.kv.key("jti", jti);
        let secs = ttl.as_secs().max(1);
        let set: Option<String> = self
            .kv
            .run(
                redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(secs),
            )
            .await?;
        Ok(set.is_some())
    }

    async fn forget_jti(&self, jti: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .kv
            .run(redis::cmd("DEL").arg(self.kv.key("jti", jti)))
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.kv.run(&redis::cmd("PING")).await?;
        Ok(())
    }

    async fn count(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.kv.count_keys("s").await?)
    }
}
