//! Sessions in this process's memory: the embedded default, for one instance and the demo.

use super::{SessionStore, StoreError};
use crate::sso::session::{PendingLogin, Session};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, (Session, Instant)>,
    by_idp_sid: HashMap<String, HashSet<String>>,
    by_sub: HashMap<String, HashSet<String>>,
    pending: HashMap<String, (PendingLogin, Instant)>,
    jtis: HashMap<String, Instant>,
    writes: u64,
}

impl Inner {
    /// Drops expired records now and then, so memory follows live sessions only.
    fn sweep(&mut self, now: Instant) {
        self.writes += 1;
        if self.writes % 1024 != 0 {
            return;
        }
        let dead: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, (_, exp))| *exp <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            self.remove(&id);
        }
        self.pending.retain(|_, (_, exp)| *exp > now);
        self.jtis.retain(|_, exp| *exp > now);
    }

    fn remove(&mut self, id: &str) -> bool {
        let Some((s, _)) = self.sessions.remove(id) else {
            return false;
        };
        if let Some(sid) = &s.idp_sid {
            if let Some(set) = self.by_idp_sid.get_mut(sid) {
                set.remove(id);
                if set.is_empty() {
                    self.by_idp_sid.remove(sid);
                }
            }
        }
        if let Some(set) = self.by_sub.get_mut(&s.sub) {
            set.remove(id);
            if set.is_empty() {
                self.by_sub.remove(&s.sub);
            }
        }
        true
    }
}

/// The in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let mut inner = self.lock()?;
        match inner.sessions.get(id) {
            Some((s, exp)) if *exp > Instant::now() => Ok(Some(s.clone())),
            Some(_) => {
                inner.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn put(&self, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        inner.sweep(now);
        if let Some(sid) = &session.idp_sid {
            inner
                .by_idp_sid
                .entry(sid.clone())
                .or_default()
                .insert(session.id.clone());
        }
        inner
            .by_sub
            .entry(session.sub.clone())
            .or_default()
            .insert(session.id.clone());
        inner
            .sessions
            .insert(session.id.clone(), (session.clone(), now + ttl));
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.lock()?.remove(id);
        Ok(())
    }

    async fn revoke_idp_sid(&self, idp_sid: &str) -> Result<usize, StoreError> {
        let mut inner = self.lock()?;
        let ids = inner.by_idp_sid.remove(idp_sid).unwrap_or_default();
        Ok(ids.iter().filter(|id| inner.remove(id)).count())
    }

    async fn revoke_sub(&self, sub: &str) -> Result<usize, StoreError> {
        let mut inner = self.lock()?;
        let ids = inner.by_sub.remove(sub).unwrap_or_default();
        Ok(ids.iter().filter(|id| inner.remove(id)).count())
    }

    async fn put_pending(
        &self,
        state: &str,
        login: &PendingLogin,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        inner.sweep(now);
        inner
            .pending
            .insert(state.to_string(), (login.clone(), now + ttl));
        Ok(())
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        let mut inner = self.lock()?;
        Ok(inner
            .pending
            .remove(state)
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(p, _)| p))
    }

    async fn remember_jti(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        inner.sweep(now);
        match inner.jtis.get(jti) {
            Some(exp) if *exp > now => Ok(false),
            _ => {
                inner.jtis.insert(jti.to_string(), now + ttl);
                Ok(true)
            }
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.lock().map(|_| ())
    }

    async fn count(&self) -> Result<Option<u64>, StoreError> {
        let now = Instant::now();
        Ok(Some(
            self.lock()?
                .sessions
                .values()
                .filter(|(_, exp)| *exp > now)
                .count() as u64,
        ))
    }
}
