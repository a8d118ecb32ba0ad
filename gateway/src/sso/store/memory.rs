//! Sessions in this process's memory: the embedded default, for one instance and the demo.

use super::{SessionStore, StoreError, UpdateOutcome};
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

    fn insert(&mut self, session: &Session, expires: Instant) {
        if let Some(sid) = &session.idp_sid {
            self.by_idp_sid
                .entry(sid.clone())
                .or_default()
                .insert(session.id.clone());
        }
        self.by_sub
            .entry(session.sub.clone())
            .or_default()
            .insert(session.id.clone());
        self.sessions
            .insert(session.id.clone(), (session.clone(), expires));
    }

    /// Removes every session in an index; returns the ids removed.
    fn revoke(&mut self, ids: HashSet<String>) -> Vec<String> {
        ids.into_iter().filter(|id| self.remove(id)).collect()
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

    async fn create(&self, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        inner.sweep(now);
        inner.remove(&session.id);
        inner.insert(session, now + ttl);
        Ok(())
    }

    async fn update(&self, session: &Session, ttl: Duration) -> Result<UpdateOutcome, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        let live = matches!(inner.sessions.get(&session.id), Some((_, exp)) if *exp > now);
        // Removed first either way: an expired record goes, a live one is re-indexed.
        inner.remove(&session.id);
        if !live {
            return Ok(UpdateOutcome::Gone);
        }
        inner.insert(session, now + ttl);
        Ok(UpdateOutcome::Written)
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.lock()?.remove(id);
        Ok(())
    }

    async fn revoke_idp_sid(&self, idp_sid: &str) -> Result<Vec<String>, StoreError> {
        let mut inner = self.lock()?;
        let ids = inner.by_idp_sid.remove(idp_sid).unwrap_or_default();
        Ok(inner.revoke(ids))
    }

    async fn revoke_sub(&self, sub: &str) -> Result<Vec<String>, StoreError> {
        let mut inner = self.lock()?;
        let ids = inner.by_sub.remove(sub).unwrap_or_default();
        Ok(inner.revoke(ids))
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

    async fn forget_jti(&self, jti: &str) -> Result<(), StoreError> {
        self.lock()?.jtis.remove(jti);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn an_update_after_a_revocation_writes_nothing_and_says_gone() {
        let store = MemoryStore::new();
        let session = Session::for_test("amina", Some("op-1"));
        store.create(&session, TTL).await.expect("create");
        // A request read the session (and is, say, refreshing its tokens)...
        let mut read = store.get(&session.id).await.expect("get").expect("live");
        // ...when the provider's back-channel logout arrives.
        store.revoke_idp_sid("op-1").await.expect("revoke");
        read.last_seen += 1;
        assert_eq!(
            store.update(&read, TTL).await.expect("update"),
            UpdateOutcome::Gone
        );
        assert!(store.get(&session.id).await.expect("get").is_none());
    }

    #[tokio::test]
    async fn an_update_of_a_live_session_is_written() {
        let store = MemoryStore::new();
        let mut session = Session::for_test("amina", None);
        store.create(&session, TTL).await.expect("create");
        session.access_token = "refreshed".into();
        assert_eq!(
            store.update(&session, TTL).await.expect("update"),
            UpdateOutcome::Written
        );
        let stored = store.get(&session.id).await.expect("get").expect("live");
        assert_eq!(stored.access_token, "refreshed");
    }

    #[tokio::test]
    async fn a_revocation_returns_exactly_the_sessions_it_ended() {
        let store = MemoryStore::new();
        let a = Session::for_test("amina", Some("op-1"));
        let b = Session::for_test("amina", Some("op-2"));
        store.create(&a, TTL).await.expect("create");
        store.create(&b, TTL).await.expect("create");
        assert_eq!(
            store.revoke_idp_sid("op-1").await.expect("revoke"),
            std::slice::from_ref(&a.id)
        );
        assert!(store.get(&b.id).await.expect("get").is_some());
        assert_eq!(store.revoke_sub("amina").await.expect("revoke"), [b.id]);
    }

    #[tokio::test]
    async fn a_forgotten_logout_token_id_is_accepted_again() {
        let store = MemoryStore::new();
        assert!(store.remember_jti("j1", TTL).await.expect("remember"));
        assert!(!store.remember_jti("j1", TTL).await.expect("replay"));
        store.forget_jti("j1").await.expect("forget");
        assert!(store.remember_jti("j1", TTL).await.expect("retry"));
    }
}
