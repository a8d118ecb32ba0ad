//! One way to talk to Redis, standalone or Cluster, for every store that needs a shared
//! one (sessions now; the decision cache, registry and rate-limit counters as they come).
//!
//! Connecting is lazy and bounded by short timeouts, so the gateway starts while Redis is
//! down and every caller gets a clear error instead of a hang; callers share one connect
//! attempt and never queue behind each other's. Only single-key commands are
//! used, so the same code runs on a Cluster; classic pub/sub is cluster-wide, so one plain
//! connection to the first node is enough for broadcasts.

use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(800);
/// After a failed Cluster connect, callers fail at once for this long instead of each
/// trying again (a Redis behind a black hole must not cost every request a timeout).
const CLUSTER_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Redis is unreachable, slow or refused the command.
#[derive(Debug, thiserror::Error)]
#[error("Redis unavailable: {0}")]
pub struct KvError(pub String);

enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

enum Target {
    /// The manager connects lazily, shares one connection attempt among every caller and
    /// reconnects by itself, so no caller ever waits behind another one's connect. It is
    /// made on first use because making it spawns a task (a runtime is needed).
    Single {
        client: redis::Client,
        manager: OnceLock<ConnectionManager>,
    },
    Cluster(Box<ClusterSlot>),
}

/// How a Cluster connect attempt ended; cloneable so every waiter gets it.
#[derive(Clone)]
struct ClusterFailure {
    message: String,
    at: Instant,
}

type ClusterAttempt = Shared<BoxFuture<'static, Result<ClusterConnection, ClusterFailure>>>;

/// The Cluster connection, or the one attempt in flight (awaited by every caller, outside
/// the lock), or the last failure (answered at once for [`CLUSTER_RETRY_AFTER`]).
struct ClusterSlot {
    client: ClusterClient,
    attempt: Mutex<Option<ClusterAttempt>>,
}

impl ClusterSlot {
    fn start_attempt(&self) -> ClusterAttempt {
        let client = self.client.clone();
        async move {
            let failed = |message: String| ClusterFailure {
                message,
                at: Instant::now(),
            };
            match tokio::time::timeout(CONNECT_TIMEOUT * 4, client.get_async_connection()).await {
                Ok(Ok(conn)) => Ok(conn),
                Ok(Err(e)) => Err(failed(e.to_string())),
                Err(_) => Err(failed("Redis Cluster connect timed out".into())),
            }
        }
        .boxed()
        .shared()
    }

    async fn conn(&self) -> Result<ClusterConnection, KvError> {
        let attempt = {
            let mut slot = self
                .attempt
                .lock()
                .map_err(|_| KvError("Redis Cluster slot lock poisoned".into()))?;
            match slot.as_ref().map(|a| (a, a.peek())) {
                Some((_, Some(Ok(conn)))) => return Ok(conn.clone()),
                Some((_, Some(Err(f)))) if f.at.elapsed() < CLUSTER_RETRY_AFTER => {
                    return Err(KvError(f.message.clone()))
                }
                Some((pending, None)) => pending.clone(),
                _ => {
                    let fresh = self.start_attempt();
                    *slot = Some(fresh.clone());
                    fresh
                }
            }
        };
        attempt.await.map_err(|f| KvError(f.message))
    }
}

/// A Redis deployment and a key prefix.
pub struct RedisKv {
    target: Target,
    pubsub_client: redis::Client,
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
            Target::Cluster(Box::new(ClusterSlot {
                client: ClusterClient::builder(urls.iter().map(String::as_str))
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .retries(1)
                    .build()
                    .map_err(bad)?,
                attempt: Mutex::new(None),
            }))
        } else {
            Target::Single {
                client: pubsub_client.clone(),
                manager: OnceLock::new(),
            }
        };
        Ok(Self {
            target,
            pubsub_client,
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
        match &self.target {
            Target::Single { client, manager } => {
                if let Some(m) = manager.get() {
                    return Ok(Conn::Single(m.clone()));
                }
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(1);
                let made = ConnectionManager::new_lazy_with_config(client.clone(), config)
                    .map_err(|e| KvError(e.to_string()))?;
                // Two first callers may both make one; the loser is dropped unconnected.
                Ok(Conn::Single(manager.get_or_init(|| made).clone()))
            }
            Target::Cluster(slot) => slot.conn().await.map(Conn::Cluster),
        }
    }

    /// Runs one command.
    pub async fn run<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, KvError> {
        let result = match self.conn().await? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A TCP port that accepts connections (the kernel's backlog does) and never answers:
    /// Redis as seen behind a black hole.
    fn silent_redis() -> (std::net::TcpListener, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("redis://{}", listener.local_addr().expect("addr"));
        (listener, url)
    }

    async fn concurrent_pings(kv: Arc<RedisKv>, n: usize) -> Duration {
        let started = Instant::now();
        let calls: Vec<_> = (0..n)
            .map(|_| {
                let kv = Arc::clone(&kv);
                tokio::spawn(async move { kv.run::<String>(&redis::cmd("PING")).await })
            })
            .collect();
        for call in calls {
            assert!(
                call.await.expect("task").is_err(),
                "a silent Redis answered"
            );
        }
        started.elapsed()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_redis_silent_concurrent_callers_fail_together_not_in_a_queue() {
        let (_listener, url) = silent_redis();
        let kv = Arc::new(RedisKv::new(&[url], false, "t:").expect("kv"));
        let took = concurrent_pings(kv, 8).await;
        assert!(took < Duration::from_secs(4), "8 callers took {took:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_a_silent_cluster_callers_share_one_attempt_then_fail_fast() {
        let (_listener, url) = silent_redis();
        let kv = Arc::new(RedisKv::new(&[url], true, "t:").expect("kv"));
        let took = concurrent_pings(Arc::clone(&kv), 8).await;
        assert!(took < Duration::from_secs(4), "8 callers took {took:?}");
        let again = concurrent_pings(kv, 1).await;
        assert!(
            again < Duration::from_millis(200),
            "no fail-fast: {again:?}"
        );
    }
}
