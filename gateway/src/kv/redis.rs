//! [`Kv`] on Redis, standalone or Cluster (`[redis]`): shared by every instance.
//!
//! Connecting is lazy and bounded by the configured timeouts, so the gateway starts while
//! Redis is down and every caller gets a clear error instead of a hang; callers share one
//! connect attempt and never queue behind each other's. Only single-key commands are used,
//! so the same code runs on a Cluster. Classic pub/sub is cluster-wide, so following a
//! channel needs one plain connection to any node: when that node goes away, the follower
//! moves on to the next configured URL (a Cluster's seed nodes), so losing the node it
//! subscribed through does not silence it.

use super::{Kv, KvError, OnGap, OnMessage, Write};
use crate::config::{RedisSettings, Secret};
use async_trait::async_trait;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, IntoConnectionInfo};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// After a failed Cluster connect, callers fail at once for this long instead of each
/// trying again (a Redis behind a black hole must not cost every request a timeout).
const CLUSTER_RETRY_AFTER: Duration = Duration::from_secs(1);
/// `SET` only if the value is still the expected one (`ARGV[1]` = "1" when a value is
/// expected, `ARGV[2]` that value), in one step.
const CAS_SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
if (ARGV[1] == '0' and v == false) or (ARGV[1] == '1' and v == ARGV[2]) then \
redis.call('SET', KEYS[1], ARGV[3]) return 1 end return 0";

/// `replace_if`: the value replaced, with its expiry (ARGV[3] ms), only if it is still
/// ARGV[1].
const REPLACE_IF_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0";

/// Pause between two attempts to follow a channel.
const FOLLOW_RETRY: Duration = Duration::from_secs(1);

/// `INCRBY` that sets the expiry of a key it creates, in one step (a crash between two
/// commands must not leave a counter that never expires).
const INCR_SCRIPT: &str = "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) \
if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) < 0 then \
redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return v";

/// `SADD`, then the set's expiry moved to at least ARGV[2] ms from now (never earlier); a
/// new set gets it, a set kept without one keeps none (as in memory).
const SET_ADD_SCRIPT: &str = "local new = redis.call('EXISTS', KEYS[1]) == 0 \
redis.call('SADD', KEYS[1], ARGV[1]) \
local t = redis.call('PTTL', KEYS[1]) \
if new or (t >= 0 and t < tonumber(ARGV[2])) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end \
return 1";

/// The expiry of an existing key moved to at least ARGV[1] ms from now (never earlier).
const EXTEND_SCRIPT: &str = "local t = redis.call('PTTL', KEYS[1]) \
if t >= 0 and t < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
return 1";

/// `EVAL script 1 key`, for the script's own arguments to follow (one key: a Cluster runs
/// it on the key's node).
fn on_one_key(script: &str, key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(1).arg(key);
    cmd
}

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
    connect_timeout: Duration,
}

impl ClusterSlot {
    fn start_attempt(&self) -> ClusterAttempt {
        let client = self.client.clone();
        let limit = self.connect_timeout * 4;
        async move {
            let failed = |message: String| ClusterFailure {
                message,
                at: Instant::now(),
            };
            match tokio::time::timeout(limit, client.get_async_connection()).await {
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
    /// One client per configured URL, for following channels (see the module doc).
    pubsub_clients: Vec<redis::Client>,
    /// Which of them the next follow attempt starts with.
    pubsub_next: AtomicUsize,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
}

impl RedisKv {
    /// The deployment `settings` describe, authenticating with `password` (`redis.password`,
    /// read) when given. Does not connect yet.
    pub fn new(settings: &RedisSettings, password: Option<&Secret>) -> Result<Self, KvError> {
        let bad = |e: redis::RedisError| KvError(e.to_string());
        let pubsub_clients = settings
            .urls
            .iter()
            .map(|u| {
                let info = u.as_str().into_connection_info().map_err(bad)?;
                let info = match password {
                    Some(p) => {
                        let auth = info.redis_settings().clone().set_password(p.expose());
                        info.set_redis_settings(auth)
                    }
                    None => info,
                };
                redis::Client::open(info).map_err(bad)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let first = pubsub_clients
            .first()
            .cloned()
            .ok_or_else(|| KvError("no Redis URL configured".into()))?;
        let target = if settings.cluster {
            let mut builder = ClusterClient::builder(settings.urls.iter().map(String::as_str))
                .connection_timeout(settings.connect_timeout)
                .response_timeout(settings.response_timeout)
                .retries(1);
            if let Some(p) = password {
                builder = builder.password(p.expose());
            }
            Target::Cluster(Box::new(ClusterSlot {
                client: builder.build().map_err(bad)?,
                attempt: Mutex::new(None),
                connect_timeout: settings.connect_timeout,
            }))
        } else {
            Target::Single {
                client: first,
                manager: OnceLock::new(),
            }
        };
        Ok(Self {
            target,
            pubsub_clients,
            pubsub_next: AtomicUsize::new(0),
            prefix: settings.key_prefix.clone(),
            connect_timeout: settings.connect_timeout,
            response_timeout: settings.response_timeout,
        })
    }

    async fn conn(&self) -> Result<Conn, KvError> {
        match &self.target {
            Target::Single { client, manager } => {
                if let Some(m) = manager.get() {
                    return Ok(Conn::Single(m.clone()));
                }
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.response_timeout))
                    .set_number_of_retries(1);
                let made = ConnectionManager::new_lazy_with_config(client.clone(), config)
                    .map_err(|e| KvError(e.to_string()))?;
                // Two first callers may both make one; the loser is dropped unconnected.
                Ok(Conn::Single(manager.get_or_init(|| made).clone()))
            }
            Target::Cluster(slot) => slot.conn().await.map(Conn::Cluster),
        }
    }

    /// The eviction policy a server of this Redis runs under (`maxmemory-policy`), when it
    /// is one that evicts keys (anything but `noeviction`): `None` when none does.
    pub async fn eviction_policy(&self) -> Result<Option<String>, KvError> {
        Ok(self
            .memory_infos()
            .await?
            .iter()
            .find_map(|text| evicting(text)))
    }

    /// `INFO memory` of the server, or of every master of a Cluster.
    async fn memory_infos(&self) -> Result<Vec<String>, KvError> {
        let mut info = redis::cmd("INFO");
        info.arg("memory");
        Ok(match self.target {
            // Asked of every master (the client routes INFO so), one answer each.
            Target::Cluster(_) => self
                .run::<std::collections::HashMap<String, String>>(&info)
                .await?
                .into_values()
                .collect(),
            _ => vec![self.run::<String>(&info).await?],
        })
    }

    /// Runs one command (for what the [`Kv`] operations do not cover).
    pub async fn run<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, KvError> {
        let result = match self.conn().await? {
            Conn::Single(mut c) => cmd.query_async(&mut c).await,
            Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
        };
        result.map_err(|e| KvError(e.to_string()))
    }

    /// One subscription through the next node in turn, until it breaks.
    /// Follows `channel` on one node until the subscription ends; `on_subscribed` runs
    /// once it is up (before any message).
    async fn follow_once(
        &self,
        channel: &str,
        on_message: &OnMessage,
        on_subscribed: &(dyn Fn() + Sync),
    ) -> Result<(), KvError> {
        let n = self.pubsub_clients.len().max(1);
        let at = self.pubsub_next.fetch_add(1, Ordering::Relaxed) % n;
        let client = self
            .pubsub_clients
            .get(at)
            .ok_or_else(|| KvError("no Redis URL configured".into()))?;
        let connect = tokio::time::timeout(self.connect_timeout, client.get_async_pubsub());
        let mut pubsub = match connect.await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(KvError(e.to_string())),
            Err(_) => return Err(KvError("Redis connect timed out".into())),
        };
        pubsub
            .subscribe(channel)
            .await
            .map_err(|e| KvError(e.to_string()))?;
        on_subscribed();
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            if let Ok(text) = msg.get_payload::<String>() {
                on_message(text);
            }
        }
        // The node went away: start with the next one.
        self.pubsub_next.store(at + 1, Ordering::Relaxed);
        Err(KvError("the subscription ended".into()))
    }
}

fn secs(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

/// The field `name` of one server's `INFO` answer.
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// The policy a server's `INFO memory` names, when it is one that evicts keys: not
/// `noeviction`, and a `maxmemory` to evict at (without one, Redis never evicts).
fn evicting(info: &str) -> Option<String> {
    let limit = info_field(info, "maxmemory").and_then(|v| v.parse::<u64>().ok());
    info_field(info, "maxmemory_policy")
        .filter(|p| *p != "noeviction" && limit.is_some_and(|l| l > 0))
        .map(str::to_string)
}

/// `(used_memory, maxmemory)` of one server's `INFO memory`, when it has a `maxmemory`.
fn memory_of(info: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> { info_field(info, name)?.parse().ok() };
    match (field("used_memory"), field("maxmemory")) {
        (Some(used), Some(limit)) if limit > 0 => Some((used, limit)),
        _ => None,
    }
}

#[async_trait]
impl Kv for RedisKv {
    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn channel(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.run(redis::cmd("GET").arg(key)).await
    }

    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        when: Write,
    ) -> Result<bool, KvError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        match when {
            Write::Always => {}
            Write::IfAbsent => {
                cmd.arg("NX");
            }
            Write::IfPresent => {
                cmd.arg("XX");
            }
        }
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        let written: Option<String> = self.run(&cmd).await?;
        Ok(written.is_some())
    }

    async fn compare_and_set(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        let done: i64 = self
            .run(
                on_one_key(CAS_SCRIPT, key)
                    .arg(if current.is_some() { "1" } else { "0" })
                    .arg(current.unwrap_or_default())
                    .arg(new),
            )
            .await?;
        Ok(done == 1)
    }

    async fn replace_if(
        &self,
        key: &str,
        current: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, KvError> {
        let done: i64 = self
            .run(
                on_one_key(REPLACE_IF_SCRIPT, key)
                    .arg(current)
                    .arg(new)
                    .arg(ttl.as_millis().max(1) as u64),
            )
            .await?;
        Ok(done == 1)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.run(redis::cmd("GETDEL").arg(key)).await
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let n: i64 = self.run(redis::cmd("DEL").arg(key)).await?;
        Ok(n > 0)
    }

    async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        let ms = ttl.map_or(0, |t| t.as_millis().max(1) as u64);
        self.run(on_one_key(INCR_SCRIPT, key).arg(by).arg(ms)).await
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), KvError> {
        let ms = ttl.as_millis().max(1) as u64;
        let _: i64 = self
            .run(on_one_key(SET_ADD_SCRIPT, key).arg(member).arg(ms))
            .await?;
        Ok(())
    }

    async fn extend(&self, key: &str, ttl: Duration) -> Result<(), KvError> {
        let ms = ttl.as_millis().max(1) as u64;
        let _: i64 = self.run(on_one_key(EXTEND_SCRIPT, key).arg(ms)).await?;
        Ok(())
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, KvError> {
        self.run(redis::cmd("SMEMBERS").arg(key)).await
    }

    async fn set_remove(&self, key: &str, members: &[String]) -> Result<(), KvError> {
        if members.is_empty() {
            return Ok(());
        }
        let _: i64 = self.run(redis::cmd("SREM").arg(key).arg(members)).await?;
        Ok(())
    }

    async fn distinct_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), KvError> {
        let _: i64 = self.run(redis::cmd("PFADD").arg(key).arg(member)).await?;
        let _: i64 = self
            .run(redis::cmd("EXPIRE").arg(key).arg(secs(ttl)))
            .await?;
        Ok(())
    }

    async fn distinct_count(&self, keys: &[String]) -> Result<u64, KvError> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.run(redis::cmd("PFCOUNT").arg(keys)).await
    }

    async fn publish(&self, channel: &str, message: &str) -> Result<(), KvError> {
        let _: i64 = self
            .run(redis::cmd("PUBLISH").arg(channel).arg(message))
            .await?;
        Ok(())
    }

    /// A gap is told twice: when the subscription ends (whatever comes now is missed) and
    /// once the next one is up (whatever came in between was missed). Found when tried:
    /// told only at the end, the follower read its state again before a purge made during
    /// the second until the new subscription was written, and served the purged pages
    /// another 30 s (its periodic catch-up) after the ministry was told "purged".
    async fn follow(&self, channel: &str, on_message: OnMessage, on_gap: OnGap) {
        let mut resubscribing = false;
        loop {
            let caught_up = || {
                if resubscribing {
                    on_gap();
                }
            };
            if let Err(e) = self.follow_once(channel, &on_message, &caught_up).await {
                tracing::debug!(error = %e, channel, "Redis feed interrupted");
            }
            on_gap();
            resubscribing = true;
            tokio::time::sleep(FOLLOW_RETRY).await;
        }
    }

    async fn ping(&self) -> Result<(), KvError> {
        let _: String = self.run(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// `used_memory` and `maxmemory` of `INFO memory`: of the server, or on a Cluster of its
    /// fullest master (keys are spread over the masters, and a write to the full one is
    /// refused whatever the others hold); `None` where no server has a `maxmemory`.
    async fn fullness(&self) -> Result<Option<(u64, u64)>, KvError> {
        let servers = self.memory_infos().await?;
        Ok(servers
            .iter()
            .filter_map(|text| memory_of(text))
            .max_by(|(u1, l1), (u2, l2)| {
                // used/limit compared without division: u1 * l2 against u2 * l1.
                (u128::from(*u1) * u128::from(*l2)).cmp(&(u128::from(*u2) * u128::from(*l1)))
            }))
    }

    /// By incremental `SCAN` on a standalone server; `None` on a Cluster, whose keys are
    /// spread over its masters.
    async fn count(&self, kind: &str) -> Result<Option<u64>, KvError> {
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
}

#[cfg(test)]
mod tests {

    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_policy_that_evicts_is_told_and_noeviction_is_not() {
        let info = |policy: &str| {
            format!("# Memory\r\nused_memory:1\r\nmaxmemory:1000\r\nmaxmemory_policy:{policy}\r\n")
        };
        assert_eq!(
            evicting(&info("allkeys-lru")).as_deref(),
            Some("allkeys-lru")
        );
        assert_eq!(
            evicting(&info("volatile-ttl")).as_deref(),
            Some("volatile-ttl")
        );
        assert_eq!(evicting(&info("noeviction")), None);
        assert_eq!(evicting("# Memory\r\nused_memory:1\r\n"), None, "not said");
        // Without a maxmemory, Redis never evicts, whatever its policy says.
        assert_eq!(
            evicting("# Memory\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\n"),
            None
        );
    }

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
        let kv = Arc::new(RedisKv::new(&RedisSettings::new(vec![url]), None).expect("kv"));
        let took = concurrent_pings(kv, 8).await;
        assert!(took < Duration::from_secs(4), "8 callers took {took:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_a_silent_cluster_callers_share_one_attempt_then_fail_fast() {
        let (_listener, url) = silent_redis();
        let mut settings = RedisSettings::new(vec![url]);
        settings.cluster = true;
        let kv = Arc::new(RedisKv::new(&settings, None).expect("kv"));
        let took = concurrent_pings(Arc::clone(&kv), 8).await;
        assert!(took < Duration::from_secs(4), "8 callers took {took:?}");
        let again = concurrent_pings(kv, 1).await;
        assert!(
            again < Duration::from_millis(200),
            "no fail-fast: {again:?}"
        );
    }
}
