//! [`Kv`] in this process's memory: the embedded default for one instance and the demo.
//!
//! It keeps Redis's promises where the stores rely on them: TTLs (an expired key is absent),
//! `NX`/`XX` writes, `GETDEL`, atomic increments, sets, and publish/follow within the
//! process. It is bounded: past [`MAX_KEYS`] live keys a new key is refused with an error
//! (as Redis's `noeviction` policy does) rather than silently evicting a citizen's session;
//! expired keys are swept as writes come.

use super::{Kv, KvError, OnGap, OnMessage, Write};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Most live keys held; new keys beyond it are refused.
pub const MAX_KEYS: usize = 1_000_000;
/// Messages a slow follower may fall behind by before it is told it missed some.
const CHANNEL_BACKLOG: usize = 1024;
/// Expired keys are swept after this many writes, or at a write this long after the last
/// sweep. Found when tried: after a flood of login starts expired, its records (300 MB)
/// stayed until 4,096 more writes came, which a quiet night can take hours to bring.
const SWEEP_EVERY: u64 = 4096;
const SWEEP_GAP: Duration = Duration::from_secs(60);

enum Value {
    Bytes(Vec<u8>),
    Int(i64),
    Set(HashSet<String>),
}

struct Entry {
    value: Value,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

/// A full store sweeps for expired keys at most this often (found when tried: full, every
/// write walked the million keys under the store's one lock).
const FULL_SWEEP_GAP: Duration = Duration::from_secs(1);

struct Inner {
    entries: HashMap<String, Entry>,
    writes: u64,
    max_keys: usize,
    swept_when_full: Option<Instant>,
    swept: Instant,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            writes: 0,
            max_keys: MAX_KEYS,
            swept_when_full: None,
            swept: Instant::now(),
        }
    }
}

impl Inner {
    /// The live entry at `key`; an expired one is removed.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| !e.live(now)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// Room for a new key: sweeps now and then, refuses when full.
    fn admit(&mut self, key: &str, now: Instant) -> Result<(), KvError> {
        self.writes += 1;
        let full = self.entries.len() >= self.max_keys;
        let full_sweep_due = full
            && self
                .swept_when_full
                .is_none_or(|t| now.saturating_duration_since(t) >= FULL_SWEEP_GAP);
        let sweep_due = self.writes % SWEEP_EVERY == 0
            || now.saturating_duration_since(self.swept) >= SWEEP_GAP;
        if sweep_due || full_sweep_due {
            self.entries.retain(|_, e| e.live(now));
            self.swept = now;
            if full {
                self.swept_when_full = Some(now);
            }
            // The table a flood grew is given back once the flood has expired.
            let len = self.entries.len();
            if self.entries.capacity() > 4 * len.max(1024) {
                self.entries.shrink_to(2 * len);
            }
        }
        if self.entries.len() >= self.max_keys && !self.entries.contains_key(key) {
            return Err(KvError(format!(
                "the in-memory store holds {} keys and refuses new ones",
                self.max_keys
            )));
        }
        Ok(())
    }
}

/// The in-memory store, with a key prefix like [`super::RedisKv`]'s.
pub struct MemoryKv {
    prefix: String,
    inner: Mutex<Inner>,
    channels: Mutex<HashMap<String, broadcast::Sender<String>>>,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new("egov:")
    }
}

impl MemoryKv {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            inner: Mutex::new(Inner::default()),
            channels: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, KvError> {
        self.inner
            .lock()
            .map_err(|_| KvError("in-memory store lock poisoned".into()))
    }

    fn sender(&self, channel: &str) -> Result<broadcast::Sender<String>, KvError> {
        let mut channels = self
            .channels
            .lock()
            .map_err(|_| KvError("in-memory channels lock poisoned".into()))?;
        Ok(channels
            .entry(channel.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_BACKLOG).0)
            .clone())
    }
}

fn wrong_type(key: &str) -> KvError {
    KvError(format!("{key} holds another kind of value"))
}

#[async_trait]
impl Kv for MemoryKv {
    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn channel(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let mut inner = self.lock()?;
        match inner.live(key, Instant::now()).map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Bytes(b)) => Ok(Some(b.clone())),
            Some(Value::Int(i)) => Ok(Some(i.to_string().into_bytes())),
            Some(Value::Set(_)) => Err(wrong_type(key)),
        }
    }

    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        when: Write,
    ) -> Result<bool, KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        let exists = inner.live(key, now).is_some();
        let allowed = match when {
            Write::Always => true,
            Write::IfAbsent => !exists,
            Write::IfPresent => exists,
        };
        if !allowed {
            return Ok(false);
        }
        inner.admit(key, now)?;
        inner.entries.insert(
            key.to_string(),
            Entry {
                value: Value::Bytes(value.to_vec()),
                expires: ttl.map(|t| now + t),
            },
        );
        Ok(true)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        let matches = match (inner.live(key, now).map(|e| &e.value), current) {
            (None, None) => true,
            (Some(Value::Bytes(b)), Some(c)) => b.as_slice() == c,
            _ => false,
        };
        if !matches {
            return Ok(false);
        }
        inner.admit(key, now)?;
        inner.entries.insert(
            key.to_string(),
            Entry {
                value: Value::Bytes(new.to_vec()),
                expires: None,
            },
        );
        Ok(true)
    }

    async fn replace_if(
        &self,
        key: &str,
        current: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        let matches = matches!(
            inner.live(key, now).map(|e| &e.value),
            Some(Value::Bytes(b)) if b.as_slice() == current
        );
        if !matches {
            return Ok(false);
        }
        inner.entries.insert(
            key.to_string(),
            Entry {
                value: Value::Bytes(new.to_vec()),
                expires: Some(now + ttl),
            },
        );
        Ok(true)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        match inner
            .live(key, now)
            .map(|e| matches!(e.value, Value::Set(_)))
        {
            None => return Ok(None),
            Some(true) => return Err(wrong_type(key)),
            Some(false) => {}
        }
        Ok(match inner.entries.remove(key).map(|e| e.value) {
            Some(Value::Bytes(b)) => Some(b),
            Some(Value::Int(i)) => Some(i.to_string().into_bytes()),
            _ => None,
        })
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        let existed = inner.live(key, now).is_some();
        inner.entries.remove(key);
        Ok(existed)
    }

    async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        if let Some(entry) = inner.live(key, now) {
            return match &mut entry.value {
                Value::Int(i) => {
                    *i = i
                        .checked_add(by)
                        .ok_or_else(|| KvError(format!("{key}: increment overflows")))?;
                    Ok(*i)
                }
                Value::Bytes(b) => {
                    let current: i64 = std::str::from_utf8(b)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| wrong_type(key))?;
                    let next = current
                        .checked_add(by)
                        .ok_or_else(|| KvError(format!("{key}: increment overflows")))?;
                    entry.value = Value::Int(next);
                    Ok(next)
                }
                Value::Set(_) => Err(wrong_type(key)),
            };
        }
        inner.admit(key, now)?;
        inner.entries.insert(
            key.to_string(),
            Entry {
                value: Value::Int(by),
                expires: ttl.map(|t| now + t),
            },
        );
        Ok(by)
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        if let Some(entry) = inner.live(key, now) {
            let Value::Set(set) = &mut entry.value else {
                return Err(wrong_type(key));
            };
            set.insert(member.to_string());
            entry.expires = entry.expires.map(|e| e.max(now + ttl));
            return Ok(());
        }
        inner.admit(key, now)?;
        inner.entries.insert(
            key.to_string(),
            Entry {
                value: Value::Set(HashSet::from([member.to_string()])),
                expires: Some(now + ttl),
            },
        );
        Ok(())
    }

    async fn extend(&self, key: &str, ttl: Duration) -> Result<(), KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        if let Some(entry) = inner.live(key, now) {
            entry.expires = entry.expires.map(|e| e.max(now + ttl));
        }
        Ok(())
    }

    async fn distinct_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), KvError> {
        // Exact in memory: a set.
        self.set_add(key, member, ttl).await
    }

    async fn distinct_count(&self, keys: &[String]) -> Result<u64, KvError> {
        let mut all = HashSet::new();
        for key in keys {
            all.extend(self.set_members(key).await?);
        }
        Ok(all.len() as u64)
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, KvError> {
        let mut inner = self.lock()?;
        match inner.live(key, Instant::now()).map(|e| &e.value) {
            None => Ok(Vec::new()),
            Some(Value::Set(s)) => Ok(s.iter().cloned().collect()),
            Some(_) => Err(wrong_type(key)),
        }
    }

    async fn set_remove(&self, key: &str, members: &[String]) -> Result<(), KvError> {
        let mut inner = self.lock()?;
        let empty = match inner.live(key, Instant::now()) {
            None => return Ok(()),
            Some(Entry {
                value: Value::Set(s),
                ..
            }) => {
                for m in members {
                    s.remove(m);
                }
                s.is_empty()
            }
            Some(_) => return Err(wrong_type(key)),
        };
        if empty {
            // As Redis does: an empty set is no key.
            inner.entries.remove(key);
        }
        Ok(())
    }

    async fn publish(&self, channel: &str, message: &str) -> Result<(), KvError> {
        // No follower yet is not an error: nobody needed the message.
        let _ = self.sender(channel)?.send(message.to_string());
        Ok(())
    }

    async fn follow(&self, channel: &str, on_message: OnMessage, on_gap: OnGap) {
        let Ok(sender) = self.sender(channel) else {
            return;
        };
        let mut rx = sender.subscribe();
        drop(sender);
        loop {
            match rx.recv().await {
                Ok(message) => on_message(message),
                Err(broadcast::error::RecvError::Lagged(_)) => on_gap(),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn ping(&self) -> Result<(), KvError> {
        self.lock().map(|_| ())
    }

    async fn fullness(&self) -> Result<Option<(u64, u64)>, KvError> {
        Ok(None)
    }

    async fn count(&self, kind: &str) -> Result<Option<u64>, KvError> {
        let prefix = self.key(kind, "");
        let now = Instant::now();
        let inner = self.lock()?;
        Ok(Some(
            inner
                .entries
                .iter()
                .filter(|(k, e)| k.starts_with(&prefix) && e.live(now))
                .count() as u64,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(expires: Option<Instant>) -> Entry {
        Entry {
            value: Value::Int(1),
            expires,
        }
    }

    #[test]
    fn a_quiet_store_sweeps_what_expired_a_minute_later_and_gives_the_table_back() {
        let t0 = Instant::now();
        let mut inner = Inner::default();
        for i in 0..20_000 {
            inner.entries.insert(
                format!("flood-{i}"),
                entry(Some(t0 + Duration::from_millis(10))),
            );
        }
        inner.entries.insert("session".into(), entry(None));
        let grown = inner.entries.capacity();
        inner.admit("x", t0 + Duration::from_secs(1)).expect("room");
        assert_eq!(inner.entries.len(), 20_001, "not yet: a few writes");
        inner
            .admit("x", t0 + SWEEP_GAP + Duration::from_secs(1))
            .expect("room");
        assert_eq!(inner.entries.len(), 1);
        assert!(inner.entries.contains_key("session"));
        assert!(
            inner.entries.capacity() < grown / 4,
            "{}",
            inner.entries.capacity()
        );
    }

    #[test]
    fn a_full_store_sweeps_at_most_once_a_second() {
        let t0 = Instant::now();
        let mut inner = Inner {
            max_keys: 3,
            ..Inner::default()
        };
        inner.entries.insert("a".into(), entry(None));
        inner.entries.insert("b".into(), entry(None));
        inner
            .entries
            .insert("c".into(), entry(Some(t0 + Duration::from_millis(10))));
        assert!(inner.admit("d", t0).is_err(), "full, nothing expired");
        // "c" has expired, but the full store swept 20 ms ago.
        assert!(inner.admit("d", t0 + Duration::from_millis(20)).is_err());
        assert_eq!(inner.entries.len(), 3);
        assert!(inner.admit("d", t0 + FULL_SWEEP_GAP).is_ok());
        assert!(!inner.entries.contains_key("c"));
    }
}
