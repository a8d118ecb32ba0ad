//! One way to talk to Redis, standalone or Cluster, for every store that needs a shared
//! one (sessions now; the decision cache, registry and rate-limit counters as they come).
//!
//! Connecting is lazy and bounded by short timeouts, so the gateway starts while Redis is
//! down and every caller gets a clear error instead of a hang. Only single-key commands are
//! used, so the same code runs on a Cluster; classic pub/sub is cluster-wide, so one plain
//! connection to the first node is enough for broadcasts.

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue};
use std::time::Duration;
use tokio::sync::Mutex;

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(800);

/// Redis is unreachable, slow or refused the command.
#[derive(Debug, thiserror::Error)]
#[error("Redis unavailable: {0}")]
pub struct KvError(pub String);

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

enum Target {
    Single(redis::Client),
    Cluster(Box<ClusterClient>),
}

/// A Redis deployment and a key prefix.
pub struct RedisKv {
    target: Target,
    pubsub_client: redis::Client,
    conn: Mutex<Option<Conn>>,
    prefix: String,
}

impl RedisKv {
    /// `urls`: one URL for a standalone server, the seed nodes for a Cluster. Does not
    /// connect yet.
    pub fn new(urls: &[String], cluster: bool, prefix: &str) -> Result<Self, KvError> {
        let first = urls
            .first()
            .ok_or_else(|| KvError("no Redis URL configured".into()))?;
        let bad = |e: redis::RedisError| KvError(e.to_string());
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

    /// `<prefix><kind>:<id>`.
    pub fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// `<prefix><name>`, for pub/sub channels.
    pub fn channel(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn conn(&self) -> Result<Conn, KvError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let unavailable = |e: redis::RedisError| KvError(e.to_string());
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
                    .map_err(|_| KvError("Redis Cluster connect timed out".into()))?
                    .map_err(unavailable)?,
            ),
        };
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one command.
    pub async fn run<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, KvError> {
        let conn = self.conn().await?;
        let result = match conn {
            Conn::Single(mut c) => cmd.query_async(&mut c).await,
            Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
        };
        result.map_err(|e| KvError(e.to_string()))
    }

    /// How many keys of `kind` exist, by incremental `SCAN` (standalone only: a Cluster's keys
    /// are spread over its masters, so `None` there).
    pub async fn count_keys(&self, kind: &str) -> Result<Option<u64>, KvError> {
        if matches!(self.target, Target::Cluster(_)) {
            return Ok(None);
        }
        let pattern = format!("{}{kind}:*", self.prefix);
        let mut cursor: u64 = 0;
        let mut n = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .run(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            n += keys.len() as u64;
            if next == 0 {
                return Ok(Some(n));
            }
            cursor = next;
        }
    }

    /// Publishes `message` on `channel` (best effort).
    pub async fn publish(&self, channel: &str, message: &str) {
        let _: Result<i64, _> = self
            .run(redis::cmd("PUBLISH").arg(channel).arg(message))
            .await;
    }

    /// Calls `on_message` for every message on `channel`, resubscribing after failures
    /// (and calling `on_gap` then, since messages may have been missed). Runs until dropped.
    pub async fn follow(&self, channel: &str, on_message: impl Fn(String), on_gap: impl Fn()) {
        loop {
            match self.pubsub_client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(channel).await.is_ok() {
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            if let Ok(text) = msg.get_payload::<String>() {
                                on_message(text);
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, channel, "Redis feed unavailable"),
            }
            on_gap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
