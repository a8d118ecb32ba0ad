//! Sessions in Redis, standalone or Cluster: every gateway instance sees the same sessions,
//! so a citizen can land on any instance and a logout anywhere ends the session everywhere.
//!
//! Keys (all under the configured prefix, default `egov:`): `s:<id>` the session as JSON
//! with its idle TTL; `sid:<provider sid>` and `sub:<sub>` sets of session ids for
//! back-channel logout; `p:<state>` a login in progress (read with GETDEL, so a state works
//! once); `jti:<id>` seen logout tokens. Every command is single-key, so the same code
//! works on a Cluster. Revocations are published on `<prefix>revoked` so the in-process
//! caches of other instances drop them at once.
//!
//! Connecting is lazy and bounded by short timeouts: a gateway starts while Redis is down,
//! public services keep working, and protected ones answer 503 until Redis is back.

use super::{SessionCache, SessionStore, StoreError};
use crate::sso::session::{PendingLogin, Session};
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue};
use std::time::Duration;
use tokio::sync::Mutex;

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

enum Target {
    Single(redis::Client),
    Cluster(Box<ClusterClient>),
}

/// The Redis store.
pub struct RedisStore {
    target: Target,
    /// A plain client for pub/sub (classic pub/sub is cluster-wide).
    pubsub_client: redis::Client,
    conn: Mutex<Option<Conn>>,
    prefix: String,
}

impl RedisStore {
    /// A store for `urls` (one URL: standalone; several or `cluster`: a Cluster). Does not
    /// connect yet. When `cache` is given, revocations published by any instance are
    /// removed from it.
    pub fn new(urls: &[String], cluster: bool, prefix: &str) -> Result<Self, StoreError> {
        let first = urls
            .first()
            .ok_or_else(|| StoreError::Unavailable("no Redis URL configured".into()))?;
        let bad = |e: redis::RedisError| StoreError::Unavailable(e.to_string());
        let pubsub_client = redis::Client::open(first.as_str()).map_err(bad)?;
        let target = if cluster {
            Target::Cluster(Box::new(
                ClusterClient::builder(urls.iter().map(String::as_str))
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .retries(1)
                    .build()
                    .map_err(bad)?,
            ))
        } else {
            Target::Single(pubsub_client.clone())
        };
        Ok(Self {
            target,
            pubsub_client,
            conn: Mutex::new(None),
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}revoked", self.prefix)
    }

    /// Subscribes (and resubscribes after failures) to revocations published by any
    /// instance, evicting them from `cache`. Runs until the server stops.
    pub async fn follow_revocations(&self, cache: SessionCache) {
        let client = self.pubsub_client.clone();
        let channel = self.channel();
        {
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(&channel).await.is_ok() {
                            let mut messages = pubsub.on_message();
                            while let Some(msg) = messages.next().await {
                                if let Ok(id) = msg.get_payload::<String>() {
                                    cache.invalidate(&id);
                                }
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "revocation feed: Redis unavailable"),
                }
                // Anything could have been revoked while we were not listening.
                cache.invalidate_all();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let unavailable = |e: redis::RedisError| StoreError::Unavailable(e.to_string());
        let conn = match &self.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(1);
                Conn::Single(
                    ConnectionManager::new_with_config(client.clone(), config)
                        .await
                        .map_err(unavailable)?,
                )
            }
            Target::Cluster(client) => Conn::Cluster(
                tokio::time::timeout(CONNECT_TIMEOUT * 4, client.get_async_connection())
                    .await
                    .map_err(|_| StoreError::Unavailable("Redis Cluster connect timed out".into()))?
                    .map_err(unavailable)?,
            ),
        };
        *guard = Some(conn.clone());
        Ok(conn)
    }

    async fn run<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let conn = self.conn().await?;
        let result = match conn {
            Conn::Single(mut c) => cmd.query_async(&mut c).await,
            Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
        };
        result.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn publish_revoked(&self, ids: &[String]) {
        let channel = self.channel();
        for id in ids {
            let _: Result<i64, _> = self.run(redis::cmd("PUBLISH").arg(&channel).arg(id)).await;
        }
    }

    async fn revoke_index(&self, index_key: String) -> Result<usize, StoreError> {
        let ids: Vec<String> = self.run(redis::cmd("SMEMBERS").arg(&index_key)).await?;
        let mut removed = 0;
        for id in &ids {
            let n: i64 = self.run(redis::cmd("DEL").arg(self.key("s", id))).await?;
            removed += n as usize;
        }
        let _: i64 = self.run(redis::cmd("DEL").arg(&index_key)).await?;
        self.publish_revoked(&ids).await;
        Ok(removed)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let raw: Option<String> = self.run(redis::cmd("GET").arg(self.key("s", id))).await?;
        raw.map(|json| serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn put(&self, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(session).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let secs = ttl.as_secs().max(1);
        let _: () = self
            .run(
                redis::cmd("SET")
                    .arg(self.key("s", &session.id))
                    .arg(json)
                    .arg("EX")
                    .arg(secs),
            )
            .await?;
        let index_ttl = secs.max(
            session
                .absolute_expires_at
                .saturating_sub(session.created_at),
        );
        let mut indexes = vec![self.key("sub", &session.sub)];
        if let Some(sid) = &session.idp_sid {
            indexes.push(self.key("sid", sid));
        }
        for index in indexes {
            let _: i64 = self
                .run(redis::cmd("SADD").arg(&index).arg(&session.id))
                .await?;
            let _: i64 = self
                .run(redis::cmd("EXPIRE").arg(&index).arg(index_ttl))
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let _: i64 = self.run(redis::cmd("DEL").arg(self.key("s", id))).await?;
        self.publish_revoked(&[id.to_string()]).await;
        Ok(())
    }

    async fn revoke_idp_sid(&self, idp_sid: &str) -> Result<usize, StoreError> {
        self.revoke_index(self.key("sid", idp_sid)).await
    }

    async fn revoke_sub(&self, sub: &str) -> Result<usize, StoreError> {
        self.revoke_index(self.key("sub", sub)).await
    }

    async fn put_pending(
        &self,
        state: &str,
        login: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(login).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let _: () = self
            .run(
                redis::cmd("SET")
                    .arg(self.key("p", state))
                    .arg(json)
                    .arg("EX")
                    .arg(ttl.as_secs().max(1)),
            )
            .await?;
        Ok(())
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        let raw: Option<String> = self
            .run(redis::cmd("GETDEL").arg(self.key("p", state)))
            .await?;
        raw.map(|json| serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn remember_jti(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        let set: Option<String> = self
            .run(
                redis::cmd("SET")
                    .arg(self.key("jti", jti))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl.as_secs().max(1)),
            )
            .await?;
        Ok(set.is_some())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.run(&redis::cmd("PING")).await?;
        Ok(())
    }
}
