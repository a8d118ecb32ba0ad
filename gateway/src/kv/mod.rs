//! The shared-state seam: one small key-value trait ([`Kv`]) that every piece of state
//! shared between requests or instances goes through (sessions, routing decisions, and next
//! the response cache's second tier, rate-limit counters, the registry store and its change
//! notifications), with two implementations:
//!
//! - [`MemoryKv`], the embedded default: this process only, for one instance and the demo;
//! - [`RedisKv`], `[redis]`: standalone Redis or Redis Cluster, shared by every instance.
//!
//! Both keep the same promises (TTLs, conditional writes, atomic take and increment, sets,
//! publish/follow), so a store written against [`Kv`] behaves the same on one machine and on
//! many; the integration tests run one suite against both. Only single-key operations exist,
//! so everything runs on a Cluster without cross-slot errors; multi-key work is a sequence of
//! single-key steps whose order is chosen so a crash in between leaves nothing dangerous.

mod memory;
mod redis;
mod resting;

pub use self::redis::RedisKv;
pub use memory::MemoryKv;
pub use resting::Resting;

use crate::config::{RedisSettings, Secrets};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// The store is unreachable, slow, full, or refused the operation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("shared store unavailable: {0}")]
pub struct KvError(pub String);

/// When a [`Kv::set`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Always (Redis `SET`).
    Always,
    /// Only if the key does not exist (`SET NX`): a first writer wins.
    IfAbsent,
    /// Only if the key still exists (`SET XX`): an update never resurrects a deleted key.
    IfPresent,
}

/// Called with each message of a followed channel.
pub type OnMessage = Box<dyn Fn(String) + Send + Sync>;
/// Called when messages may have been missed (a reconnect, a slow follower).
pub type OnGap = Box<dyn Fn() + Send + Sync>;

/// Shared key-value state. Keys are built with [`Kv::key`], so every implementation applies
/// the deployment's prefix.
#[async_trait]
pub trait Kv: Send + Sync {
    /// `<prefix><kind>:<id>`.
    fn key(&self, kind: &str, id: &str) -> String;
    /// `<prefix><name>`, for channels.
    fn channel(&self, name: &str) -> String;
    /// The value of `key`, if it exists and has not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Writes `value` (for `ttl`, or without expiry) when `when` allows; whether it wrote.
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        when: Write,
    ) -> Result<bool, KvError>;
    /// Replaces the value at `key` with `new` only if it is still exactly `current` (`None`:
    /// only if the key does not exist); whether it did. The one atomic read-modify-write,
    /// for optimistic concurrency: two writers that read the same value cannot both win.
    async fn compare_and_set(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError>;
    /// [`Self::compare_and_set`] of a value that lives `ttl`: replaces the value at `key`
    /// with `new`, expiring after `ttl`, only if it is still exactly `current`; whether it
    /// did. For a record that expires, written back after a read-modify-write.
    async fn replace_if(
        &self,
        key: &str,
        current: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, KvError>;
    /// Returns and deletes the value in one step (`GETDEL`): only one caller gets it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Deletes `key`; whether it existed.
    async fn delete(&self, key: &str) -> Result<bool, KvError>;
    /// Adds `by` to the integer at `key` (0 when absent) and returns the new value; `ttl` is
    /// set when the key is created, so a counter of a window ends with its window.
    async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, KvError>;
    /// Adds `member` to the set at `key`, which then lives at least `ttl` from now: its
    /// expiry is moved later, never earlier, so an index a longer-lived member relies on
    /// is not cut short by a shorter-lived one added after it.
    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), KvError>;
    /// Moves the expiry of `key`, if it exists, to at least `ttl` from now (never earlier).
    async fn extend(&self, key: &str, ttl: Duration) -> Result<(), KvError>;
    /// Every member of the set at `key`.
    async fn set_members(&self, key: &str) -> Result<Vec<String>, KvError>;
    /// Removes `members` from the set at `key`.
    async fn set_remove(&self, key: &str, members: &[String]) -> Result<(), KvError>;
    /// Adds `member` to the distinct-count sketch at `key` (a HyperLogLog: 12 KB whatever
    /// the count) and (re)sets its expiry to `ttl`.
    async fn distinct_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), KvError>;
    /// About how many distinct members the sketches at `keys` hold together (±1 % on
    /// Redis, exact in memory). On a Cluster the keys must share a hash tag (`{...}`).
    async fn distinct_count(&self, keys: &[String]) -> Result<u64, KvError>;
    /// Sends `message` to every follower of `channel`, on every instance.
    async fn publish(&self, channel: &str, message: &str) -> Result<(), KvError>;
    /// Calls `on_message` for each message on `channel` until dropped, following the store
    /// through failures; `on_gap` is called whenever messages may have been missed, so the
    /// follower can resynchronise.
    async fn follow(&self, channel: &str, on_message: OnMessage, on_gap: OnGap);
    /// Whether the store answers.
    async fn ping(&self) -> Result<(), KvError>;
    /// How many live keys of `kind` exist, when the store can tell without walking every
    /// node (`None` on a Cluster).
    async fn count(&self, kind: &str) -> Result<Option<u64>, KvError>;
    /// How full the store is, `(used, limit)` in bytes, when it has a limit: a Cluster's
    /// fullest master (`None` in memory and without `maxmemory`).
    async fn fullness(&self) -> Result<Option<(u64, u64)>, KvError>;
}

/// Where the deployment's shared state lives: `[redis]`, shared by every instance, or this
/// process. Each concern (sessions, routing decisions, ...) asks it for its store.
pub struct SharedState {
    redis: Option<Arc<RedisKv>>,
    prefix: String,
}

impl SharedState {
    /// The deployment `settings` describe (`None`: this process only), its password read
    /// from `secrets`. Connects nothing yet.
    pub fn new(settings: Option<&RedisSettings>, secrets: &Secrets) -> Result<Self, KvError> {
        let redis = match settings {
            None => None,
            Some(s) => {
                let password = s
                    .password
                    .as_ref()
                    .map(|r| secrets.resolve(r))
                    .transpose()
                    .map_err(|e| KvError(format!("redis.password: {e}")))?;
                Some(Arc::new(RedisKv::new(s, password.as_ref())?))
            }
        };
        Ok(Self {
            redis,
            prefix: settings.map_or_else(
                || crate::config::DEFAULT_KEY_PREFIX.to_string(),
                |s| s.key_prefix.clone(),
            ),
        })
    }

    /// Whether state is shared with other instances.
    pub fn is_distributed(&self) -> bool {
        self.redis.is_some()
    }

    /// The store of one concern: the deployment's Redis, or a memory store of its own (in
    /// one process nothing is shared, so one concern can never fill another's room).
    pub fn store(&self) -> Arc<dyn Kv> {
        match &self.redis {
            Some(r) => Arc::clone(r) as Arc<dyn Kv>,
            None => self.memory(),
        }
    }

    /// A memory store of its own, whatever the deployment (`sessions.store = "memory"`).
    pub fn memory(&self) -> Arc<dyn Kv> {
        Arc::new(MemoryKv::new(&self.prefix))
    }

    /// Looks at the shared Redis's eviction policy every [`POLICY_LOOK_EVERY`] for the life
    /// of the process, and warns when it evicts keys (once, until it no longer does).
    /// Found when tried: under `allkeys-lru`, a Redis filled by the response cache evicted
    /// the registry's history records, and `GET .../history` answered an empty list
    /// without a word; sessions and logins in progress go the same way. Only the missing
    /// `maxmemory` was ever warned about.
    pub async fn watch_eviction_policy(self: Arc<Self>) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        let mut evicting = false;
        loop {
            match redis.eviction_policy().await {
                Ok(Some(policy)) if !evicting => {
                    evicting = true;
                    tracing::warn!(
                        %policy,
                        "Redis evicts keys when full (maxmemory-policy {policy}): sessions, \
                         logins in progress and the registry's records and history can go \
                         without a word; set maxmemory-policy noeviction"
                    );
                }
                Ok(None) if evicting => {
                    evicting = false;
                    tracing::info!("Redis no longer evicts keys (maxmemory-policy noeviction)");
                }
                // Unchanged, or Redis did not answer (its failures are told where they hurt).
                _ => {}
            }
            tokio::time::sleep(POLICY_LOOK_EVERY).await;
        }
    }
}

/// How often [`SharedState::watch_eviction_policy`] looks.
const POLICY_LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(300);
