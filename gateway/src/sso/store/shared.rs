//! Sessions in the shared store ([`Kv`]): in this process's memory by default, in Redis
//! (standalone or Cluster) when `[redis]` is configured, so every gateway instance sees the
//! same sessions, a citizen can land on any instance, and a logout anywhere ends the session
//! everywhere.
//!
//! Keys (under the deployment's prefix, default `egov:`), where an id is a session's
//! [`crate::sso::session::SessionHandle`] (a digest of its cookie, never the cookie):
//! `s:<id>` the session as JSON with its idle TTL; `sid:<provider sid>` and `sub:<sub>` sets of session ids for back-channel
//! logout; `p:<state>` a login in progress (taken with `GETDEL`, so a state works once);
//! `jti:<id>` seen logout tokens; `o:<id>` a service origin's session (a child of a portal
//! session, listed in the set `kids:<portal session id>` so ending the portal session removes
//! them too), all with the session's idle TTL and moved on with it; `hop:<code>` a one-time origin code (taken with `GETDEL`). Revocations are
//! published on `<prefix>revoked` so the in-process caches of every instance drop them at
//! once.

use super::{SessionCache, SessionStore, StoreError, UpdateOutcome};
use crate::kv::{Kv, KvError, Write};
use crate::sso::session::{HopCode, OriginSession, PendingLogin, Session};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

impl From<KvError> for StoreError {
    fn from(e: KvError) -> Self {
        StoreError::Unavailable(e.0)
    }
}

/// The session store over the shared state.
pub struct SharedStore {
    kv: Arc<dyn Kv>,
}

impl SharedStore {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        Self { kv }
    }

    /// Claims the refresh of session `id`'s tokens for `ttl`, for this instance among all
    /// that share the store: `false` while another holds it. A rotating refresh token used
    /// twice makes the provider revoke the whole grant (OAuth 2.0 Security BCP 4.14.2), so
    /// two instances refreshing one session at once, or one refreshing with the token it
    /// read before the other's refresh, ended the citizen's session (found when tried). The
    /// claim is not given back: it lapses, and so also paces a session whose refresh the
    /// provider keeps declining.
    pub async fn claim_refresh(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self
            .kv
            .set(
                &self.kv.key("refreshing", id),
                b"1",
                Some(at_least_a_second(ttl)),
                Write::IfAbsent,
            )
            .await?)
    }

    /// Follows revocations published by any instance, evicting them from `cache`. Runs until
    /// the server stops.
    pub async fn follow_revocations(&self, cache: SessionCache) {
        let channel = self.kv.channel("revoked");
        let gap_cache = cache.clone();
        self.kv
            .follow(
                &channel,
                Box::new(move |id| cache.invalidate(&id)),
                // Anything could have been revoked while we were not listening.
                Box::new(move || gap_cache.invalidate_all()),
            )
            .await
    }

    /// Marks session `public_id` as seen in the current activity window.
    async fn seen(&self, public_id: &str) -> Result<(), StoreError> {
        let window = crate::sso::session::now_secs() / ACTIVITY_WINDOW.as_secs();
        self.kv
            .distinct_add(
                &activity_key(self.kv.as_ref(), window),
                public_id,
                ACTIVITY_WINDOW * 2,
            )
            .await?;
        Ok(())
    }

    async fn publish_revoked(&self, ids: &[String]) {
        let channel = self.kv.channel("revoked");
        for id in ids {
            if let Err(e) = self.kv.publish(&channel, id).await {
                // The other instances' caches drop it within their TTL anyway.
                tracing::debug!(error = %e, "revocation not broadcast");
            }
        }
    }

    /// Deletes the sessions an index names; returns the ids of those that were live (an
    /// index may still name sessions that ended another way). Only the ids read are taken
    /// out of the index (not the whole set), so a session created meanwhile stays revocable.
    async fn revoke_index(&self, index_key: String) -> Result<Vec<String>, StoreError> {
        let named = self.kv.set_members(&index_key).await?;
        let mut ended = Vec::with_capacity(named.len());
        for id in &named {
            // Read first, to take it out of its other index too (found when tried: a
            // back-channel logout by provider session left it in its subject's index).
            let session: Option<Session> = self.get(id).await.unwrap_or(None);
            if self.kv.delete(&self.kv.key("s", id)).await? {
                ended.push(id.clone());
            }
            if let Some(session) = session {
                self.leave_indexes(&session).await?;
            }
            self.end_children(id).await?;
        }
        self.kv.set_remove(&index_key, &named).await?;
        self.publish_revoked(&ended).await;
        Ok(ended)
    }
}

impl SharedStore {
    /// The index keys that list `session`: its provider subject, and its provider session.
    fn indexes(&self, session: &Session) -> Vec<String> {
        let mut indexes = vec![self.kv.key("sub", &session.sub)];
        if let Some(sid) = &session.idp_sid {
            indexes.push(self.kv.key("sid", sid));
        }
        indexes
    }

    /// Takes `session` out of the indexes that list it.
    async fn leave_indexes(&self, session: &Session) -> Result<(), StoreError> {
        for index in self.indexes(session) {
            self.kv
                .set_remove(&index, std::slice::from_ref(&session.id))
                .await?;
        }
        Ok(())
    }

    /// Takes out of `index` the sessions that ended by themselves (idled out): it then
    /// names only live ones, and no line from a subject to an ended session stays for as
    /// long as another of her sessions lives (found when tried).
    ///
    /// At most [`PRUNE_AT_MOST`] of them are looked at a login, so a login's cost does not
    /// grow with a citizen's sessions (a script logging in thousands of times would have
    /// made each next login read thousands of records); what is left goes at the next.
    async fn prune(&self, index: &str) -> Result<(), StoreError> {
        let mut ended = Vec::new();
        for id in self
            .kv
            .set_members(index)
            .await?
            .into_iter()
            .take(PRUNE_AT_MOST)
        {
            if self.kv.get(&self.kv.key("s", &id)).await?.is_none() {
                ended.push(id);
            }
        }
        self.kv.set_remove(index, &ended).await?;
        Ok(())
    }

    /// Ends the citizen's least recently used sessions while she has more than
    /// [`MAX_SESSIONS_PER_CITIZEN`] (`session`, just made, is never one of them). Found when
    /// tried: one account logged in 3,000 times from 300 addresses in 14 s, and each
    /// session stayed 30 minutes in the Redis that must not evict: 5,000 addresses would
    /// have held 5 GB. At most twice the cap of her index is read a login, so an index grown
    /// before the cap shrinks over her next logins.
    async fn end_the_oldest_past_the_cap(&self, session: &Session) -> Result<(), StoreError> {
        let index = self.kv.key("sub", &session.sub);
        let members = self.kv.set_members(&index).await?;
        if members.len() <= MAX_SESSIONS_PER_CITIZEN {
            return Ok(());
        }
        let mut live = Vec::new();
        for id in members
            .iter()
            .filter(|id| **id != session.id)
            .take(2 * MAX_SESSIONS_PER_CITIZEN)
        {
            match self.get(id).await {
                Ok(Some(s)) => live.push((s.last_seen, id.clone())),
                Ok(None) | Err(StoreError::Corrupt(_)) => {
                    self.kv.set_remove(&index, std::slice::from_ref(id)).await?;
                }
                Err(e) => return Err(e),
            }
        }
        // Hers now, and the others she used last.
        let keep = MAX_SESSIONS_PER_CITIZEN - 1;
        if live.len() <= keep {
            return Ok(());
        }
        live.sort_unstable();
        let past = live.len() - keep;
        for (_, id) in live.into_iter().take(past) {
            self.delete(&id).await?;
        }
        Ok(())
    }

    /// Moves every record that names `session` on with its idle clock: its indexes, its
    /// list of origin sessions and each of them. Found when tried (a data-protection
    /// audit): they were kept for the session's whole absolute lifetime (12 h), so after a
    /// citizen's session idled out, `sub:` → session → `kids:` → `o:` still said which
    /// services she had used (a criminal record, a health reimbursement) for hours.
    ///
    /// The indexes are written again, not only extended: one another login's prune took it
    /// out of in a race, or that expired while its extension failed, lists it again from the
    /// next touch (found in review). The origin sessions are extended side by side, not one
    /// round trip after another.
    async fn extend_records_of(&self, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        for index in self.indexes(session) {
            self.kv.set_add(&index, &session.id, ttl).await?;
        }
        let kids_key = self.kv.key("kids", &session.id);
        let kids = self.kv.set_members(&kids_key).await?;
        let keys: Vec<String> = kids
            .iter()
            .map(|kid| self.kv.key("o", kid_of(kid)))
            .collect();
        for extended in
            futures_util::future::join_all(keys.iter().map(|k| self.kv.extend(k, ttl))).await
        {
            extended?;
        }
        self.kv.extend(&kids_key, ttl).await?;
        Ok(())
    }

    /// Removes the origin sessions of portal session `id` (they could no longer be used:
    /// each is read through its parent; this only frees their room early).
    async fn end_children(&self, id: &str) -> Result<(), StoreError> {
        let kids_key = self.kv.key("kids", id);
        let kids = self.kv.set_members(&kids_key).await?;
        for kid in &kids {
            self.kv.delete(&self.kv.key("o", kid_of(kid))).await?;
        }
        if !kids.is_empty() {
            self.kv.delete(&kids_key).await?;
        }
        Ok(())
    }
}

/// How many times [`SharedStore::touch`] reads and writes again a record another writer
/// changed in between.
const TOUCH_TRIES: usize = 3;

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(raw: Option<Vec<u8>>) -> Result<Option<T>, StoreError> {
    raw.map(|json| serde_json::from_slice(&json).map_err(corrupt))
        .transpose()
}

/// A TTL of whole seconds, at least one (sessions and logins are counted in seconds).
fn at_least_a_second(ttl: Duration) -> Duration {
    Duration::from_secs(ttl.as_secs().max(1))
}

#[async_trait]
impl SessionStore for SharedStore {
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        decode(self.kv.get(&self.kv.key("s", id)).await?)
    }

    async fn create(&self, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        let json = serde_json::to_vec(session).map_err(corrupt)?;
        let ttl = at_least_a_second(ttl);
        // The indexes first: a session that exists is always revocable. They live as long
        // as the session (`update` moves them on with it), not its whole absolute lifetime.
        for index in self.indexes(session) {
            self.prune(&index).await?;
            self.kv.set_add(&index, &session.id, ttl).await?;
        }
        self.end_the_oldest_past_the_cap(session).await?;
        self.kv
            .set(
                &self.kv.key("s", &session.id),
                &json,
                Some(ttl),
                Write::Always,
            )
            .await?;
        self.seen(&session.public_id).await?;
        Ok(())
    }

    async fn update(&self, session: &Session, ttl: Duration) -> Result<UpdateOutcome, StoreError> {
        let json = serde_json::to_vec(session).map_err(corrupt)?;
        // Only if the key still exists: a revocation since the read wins. The indexes were
        // written at creation and outlive the session (`sub` and `sid` do not change).
        let written = self
            .kv
            .set(
                &self.kv.key("s", &session.id),
                &json,
                Some(at_least_a_second(ttl)),
                Write::IfPresent,
            )
            .await?;
        if written {
            // (Updates come at most once a minute per session: the idle clock's touch.)
            self.seen(&session.public_id).await?;
            self.extend_records_of(session, at_least_a_second(ttl))
                .await?;
        }
        Ok(if written {
            UpdateOutcome::Written
        } else {
            UpdateOutcome::Gone
        })
    }

    async fn touch(&self, session: &Session, ttl: Duration) -> Result<UpdateOutcome, StoreError> {
        let key = self.kv.key("s", &session.id);
        let ttl = at_least_a_second(ttl);
        // Read, moved on, written only over what was read; a write in between (a refresh on
        // another instance) is read again. A few tries: each loss is another writer's win.
        for _ in 0..TOUCH_TRIES {
            let Some(current) = self.kv.get(&key).await? else {
                return Ok(UpdateOutcome::Gone);
            };
            // A record this version cannot read is no session (the next read deletes it),
            // not a store that fails: readiness is not to say the store is down.
            let Ok(mut stored) = serde_json::from_slice::<Session>(&current) else {
                return Ok(UpdateOutcome::Gone);
            };
            if stored.last_seen >= session.last_seen {
                // Moved on already (by another instance, or a later request).
                return Ok(UpdateOutcome::Written);
            }
            stored.last_seen = session.last_seen;
            let json = serde_json::to_vec(&stored).map_err(corrupt)?;
            if self.kv.replace_if(&key, &current, &json, ttl).await? {
                self.seen(&stored.public_id).await?;
                self.extend_records_of(&stored, ttl).await?;
                return Ok(UpdateOutcome::Written);
            }
        }
        // Others kept writing it: they move the clock on too.
        Ok(UpdateOutcome::Written)
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        // Read first, to take it out of its indexes (a logout leaves no line from the
        // provider's subject to it). A record that cannot be read is deleted all the same.
        let ended: Option<Session> = self.get(id).await.unwrap_or(None);
        self.kv.delete(&self.kv.key("s", id)).await?;
        self.publish_revoked(&[id.to_string()]).await;
        // Its origin sessions end even if its indexes cannot be written now (found in
        // review); the first error is the answer.
        let children = self.end_children(id).await;
        if let Some(session) = ended {
            self.leave_indexes(&session).await?;
        }
        children
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
        let json = serde_json::to_vec(login).map_err(corrupt)?;
        self.kv
            .set(
                &self.kv.key("p", state),
                &json,
                Some(at_least_a_second(ttl)),
                Write::Always,
            )
            .await?;
        Ok(())
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        decode(self.kv.take(&self.kv.key("p", state)).await?)
    }

    async fn remember_jti(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self
            .kv
            .set(
                &self.kv.key("jti", jti),
                b"1",
                Some(at_least_a_second(ttl)),
                Write::IfAbsent,
            )
            .await?)
    }

    async fn forget_jti(&self, jti: &str) -> Result<(), StoreError> {
        self.kv.delete(&self.kv.key("jti", jti)).await?;
        Ok(())
    }

    async fn create_origin(
        &self,
        id: &str,
        session: &OriginSession,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_vec(session).map_err(corrupt)?;
        let ttl = at_least_a_second(ttl);
        let kids_key = self.kv.key("kids", &session.parent);
        // One origin session a service: the one this makes replaces any other of the same
        // service, so a portal session's list is bounded by the services (found in review:
        // a script looping through the hop grew it without end, and every touch paid for
        // each one; then by a bypass probe: ending them all past a cap let 129 hops end
        // every origin session of the citizen's, and raced into records a logout missed).
        let member = kid_member(&session.service, id);
        let replaced: Vec<String> = self
            .kv
            .set_members(&kids_key)
            .await?
            .into_iter()
            .filter(|m| m.split_once(':').is_some_and(|(s, _)| s == session.service))
            .collect();
        // Listed under its parent first, so a logout that lands in between still finds it.
        self.kv.set_add(&kids_key, &member, ttl).await?;
        self.kv
            .set(&self.kv.key("o", id), &json, Some(ttl), Write::Always)
            .await?;
        for old in &replaced {
            self.kv.delete(&self.kv.key("o", kid_of(old))).await?;
        }
        self.kv.set_remove(&kids_key, &replaced).await?;
        Ok(())
    }

    async fn get_origin(&self, id: &str) -> Result<Option<Arc<OriginSession>>, StoreError> {
        Ok(decode(self.kv.get(&self.kv.key("o", id)).await?)?.map(Arc::new))
    }

    async fn origin_services(&self, parent: &str) -> Result<Vec<String>, StoreError> {
        let kids = self.kv.set_members(&self.kv.key("kids", parent)).await?;
        Ok(kids
            .iter()
            .filter_map(|m| m.rsplit_once(':').map(|(service, _)| service.to_owned()))
            .collect())
    }

    async fn put_hop(&self, code: &str, hop: &HopCode, ttl: Duration) -> Result<(), StoreError> {
        let json = serde_json::to_vec(hop).map_err(corrupt)?;
        self.kv
            .set(
                &self.kv.key("hop", code),
                &json,
                Some(at_least_a_second(ttl)),
                Write::Always,
            )
            .await?;
        Ok(())
    }

    async fn take_hop(&self, code: &str) -> Result<Option<HopCode>, StoreError> {
        decode(self.kv.take(&self.kv.key("hop", code)).await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.kv.ping().await?)
    }

    async fn write_probe(&self) -> Result<(), StoreError> {
        let key = self.kv.key("health", "write-probe");
        self.kv
            .set(
                &key,
                b"1",
                Some(Duration::from_secs(10)),
                crate::kv::Write::Always,
            )
            .await?;
        Ok(())
    }

    async fn count(&self) -> Result<Option<u64>, StoreError> {
        if let Some(n) = self.kv.count("s").await? {
            return Ok(Some(n));
        }
        // A Cluster cannot be walked: the sessions seen in this activity window and the one
        // before (an idle session ends after 30 minutes), as one distinct count.
        let window = crate::sso::session::now_secs() / ACTIVITY_WINDOW.as_secs();
        let keys = [
            activity_key(self.kv.as_ref(), window),
            activity_key(self.kv.as_ref(), window.saturating_sub(1)),
        ];
        Ok(Some(self.kv.distinct_count(&keys).await?))
    }
}

/// The most members of an index one login looks at ([`SharedStore::prune`]).
const PRUNE_AT_MOST: usize = 32;

/// The most sessions one citizen (one provider subject) keeps at once; a login past it ends
/// the one she used least recently ([`SharedStore::end_the_oldest_past_the_cap`]).
pub const MAX_SESSIONS_PER_CITIZEN: usize = 32;

/// How a portal session's list names one of its origin sessions: `<service>:<id>`, so the
/// next one of the same service replaces it.
fn kid_member(service: &str, id: &str) -> String {
    format!("{service}:{id}")
}

/// The origin session id of a list member ([`kid_member`]).
fn kid_of(member: &str) -> &str {
    member.rsplit_once(':').map_or(member, |(_, id)| id)
}

/// How long one activity window lasts: the default idle timeout, so "seen in this window or
/// the last" is "not idle-expired yet", give or take a window.
const ACTIVITY_WINDOW: Duration = Duration::from_secs(30 * 60);

/// The distinct-count key of activity window `window`. Every window shares the `{active}`
/// hash tag, so one `PFCOUNT` over two windows stays on one Cluster slot.
fn activity_key(kv: &dyn crate::kv::Kv, window: u64) -> String {
    kv.key("{active}", &window.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    const TTL: Duration = Duration::from_secs(60);

    fn store() -> SharedStore {
        SharedStore::new(Arc::new(MemoryKv::default()))
    }

    #[tokio::test]
    async fn live_sessions_are_marked_in_a_distinct_count_keyed_for_one_cluster_slot() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::default());
        let store = SharedStore::new(Arc::clone(&kv));
        for who in ["amina", "youssef", "amina"] {
            store
                .create(&Session::for_test(who, None), TTL)
                .await
                .expect("create");
        }
        let window = crate::sso::session::now_secs() / ACTIVITY_WINDOW.as_secs();
        let key = activity_key(kv.as_ref(), window);
        assert!(key.contains("{active}"), "{key}: no hash tag");
        // Three sessions (amina twice, on two devices): three distinct public ids.
        assert_eq!(kv.distinct_count(&[key]).await.expect("count"), 3);
    }

    #[tokio::test]
    async fn an_update_after_a_revocation_writes_nothing_and_says_gone() {
        let store = store();
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

    /// Found when tried: with two instances, one wrote its cached copy back for the idle
    /// clock over the refresh token the other had just rotated, and the next refresh, with
    /// the used token, ended the citizen's session. A touch moves the idle clock alone.
    #[tokio::test]
    async fn a_touch_from_an_older_copy_keeps_the_tokens_stored_since() {
        let store = store();
        let mut session = Session::for_test("amina", None);
        session.refresh_token = Some("rt-1".into());
        store.create(&session, TTL).await.expect("create");
        // Another instance's cached copy, from before the refresh.
        let mut older = store.get(&session.id).await.expect("get").expect("live");
        session.refresh_token = Some("rt-2".into());
        session.access_expires_at += 300;
        store.update(&session, TTL).await.expect("the refresh");
        older.last_seen += 30;
        assert_eq!(
            store.touch(&older, TTL).await.expect("touch"),
            UpdateOutcome::Written
        );
        let stored = store.get(&session.id).await.expect("get").expect("live");
        assert_eq!(stored.refresh_token.as_deref(), Some("rt-2"));
        assert_eq!(stored.access_expires_at, session.access_expires_at);
        assert_eq!(stored.last_seen, older.last_seen, "the idle clock moved on");
    }

    /// A record this version cannot read, met by a touch, is no session: not a store
    /// failure (which readiness would report as the store down).
    #[tokio::test]
    async fn a_touch_of_an_unreadable_record_says_gone() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::default());
        let store = SharedStore::new(Arc::clone(&kv));
        let mut session = Session::for_test("amina", None);
        store.create(&session, TTL).await.expect("create");
        kv.set(
            &kv.key("s", &session.id),
            b"{torn",
            Some(TTL),
            Write::Always,
        )
        .await
        .expect("tear it");
        session.last_seen += 30;
        assert_eq!(
            store.touch(&session, TTL).await.expect("no store failure"),
            UpdateOutcome::Gone
        );
    }

    #[tokio::test]
    async fn a_touch_after_a_revocation_writes_nothing_and_says_gone() {
        let store = store();
        let session = Session::for_test("amina", Some("op-1"));
        store.create(&session, TTL).await.expect("create");
        let mut read = store.get(&session.id).await.expect("get").expect("live");
        store.revoke_idp_sid("op-1").await.expect("revoke");
        read.last_seen += 1;
        assert_eq!(
            store.touch(&read, TTL).await.expect("touch"),
            UpdateOutcome::Gone
        );
        assert!(store.get(&session.id).await.expect("get").is_none());
    }

    #[tokio::test]
    async fn an_update_of_a_live_session_is_written() {
        let store = store();
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
        let store = store();
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

    /// Found when tried: a back-channel logout by provider session left the session in its
    /// subject's index, and a session that idled out stayed there while another lived.
    #[tokio::test]
    async fn a_subjects_index_names_only_her_live_sessions() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::default());
        let store = SharedStore::new(Arc::clone(&kv));
        let sub = kv.key("sub", "amina");
        let revoked = Session::for_test("amina", Some("op-1"));
        store.create(&revoked, TTL).await.expect("create");
        store.revoke_idp_sid("op-1").await.expect("revoke");
        assert!(kv.set_members(&sub).await.expect("members").is_empty());

        let idle = Session::for_test("amina", None);
        store
            .create(&idle, Duration::from_secs(1))
            .await
            .expect("create");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let live = Session::for_test("amina", None);
        store.create(&live, TTL).await.expect("create");
        assert_eq!(kv.set_members(&sub).await.expect("members"), [live.id]);
    }

    /// Found when tried: one account logged in 3,000 times in 14 s, each session kept 30
    /// minutes in a Redis that must not evict.
    #[tokio::test]
    async fn a_citizen_keeps_at_most_her_cap_of_sessions_and_the_least_recently_used_end() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::default());
        let store = SharedStore::new(Arc::clone(&kv));
        let mut made = Vec::new();
        for i in 0..MAX_SESSIONS_PER_CITIZEN as u64 + 5 {
            let mut s = Session::for_test("amina", None);
            s.last_seen = 1_000 + i;
            store.create(&s, TTL).await.expect("create");
            made.push(s.id);
        }
        let sub = kv.key("sub", "amina");
        assert_eq!(
            kv.set_members(&sub).await.expect("members").len(),
            MAX_SESSIONS_PER_CITIZEN
        );
        for ended in &made[..5] {
            assert!(store.get(ended).await.expect("read").is_none(), "{ended}");
        }
        for kept in &made[5..] {
            assert!(store.get(kept).await.expect("read").is_some(), "{kept}");
        }
        // Another citizen's are her own.
        let youssef = Session::for_test("youssef", None);
        store.create(&youssef, TTL).await.expect("create");
        assert!(store.get(&youssef.id).await.expect("read").is_some());
    }

    /// Found in review: another login's prune could take a live session out of its
    /// subject's index in a race, and nothing put it back.
    #[tokio::test]
    async fn a_sessions_touch_lists_it_again_in_its_indexes() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::default());
        let store = SharedStore::new(Arc::clone(&kv));
        let session = Session::for_test("amina", None);
        store.create(&session, TTL).await.expect("create");
        let sub = kv.key("sub", "amina");
        kv.set_remove(&sub, std::slice::from_ref(&session.id))
            .await
            .expect("lost in a race");
        store.update(&session, TTL).await.expect("touch");
        assert_eq!(kv.set_members(&sub).await.expect("members"), [session.id]);
    }

    /// A login looks at a bounded number of the subject's sessions, whatever their number.
    #[tokio::test]
    async fn a_login_prunes_a_bounded_number_of_ended_sessions() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::default());
        let store = SharedStore::new(Arc::clone(&kv));
        let sub = kv.key("sub", "amina");
        for i in 0..1_000 {
            kv.set_add(&sub, &format!("ended-{i}"), TTL)
                .await
                .expect("add");
        }
        store
            .create(&Session::for_test("amina", None), TTL)
            .await
            .expect("login");
        // The prune looks at 32, and the cap of her sessions at twice 32 more.
        let left = kv.set_members(&sub).await.expect("members").len();
        assert_eq!(
            left,
            1_000 - PRUNE_AT_MOST - 2 * MAX_SESSIONS_PER_CITIZEN + 1
        );
    }

    /// Found in review: a script looping through the hop grew a session's list of origin
    /// sessions without end; then by a bypass probe: a cap that ended them all let 129 hops
    /// end every origin session of the citizen's.
    #[tokio::test]
    async fn a_portal_session_keeps_one_origin_session_a_service() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::default());
        let store = SharedStore::new(Arc::clone(&kv));
        let parent = Session::for_test("amina", None);
        store.create(&parent, TTL).await.expect("create");
        let child = |service: &str| OriginSession {
            parent: parent.id.clone(),
            service: service.into(),
            created_at: 0,
        };
        store
            .create_origin("tax-0", &child("tax-certificates"), TTL)
            .await
            .expect("create");
        for i in 0..200 {
            store
                .create_origin(&format!("cnie-{i}"), &child("cnie-renewal"), TTL)
                .await
                .expect("create");
        }
        let kids = kv
            .set_members(&kv.key("kids", &parent.id))
            .await
            .expect("kids");
        assert_eq!(kids.len(), 2, "{kids:?}");
        assert!(store.get_origin("cnie-0").await.expect("get").is_none());
        assert!(store.get_origin("cnie-199").await.expect("get").is_some());
        assert!(
            store.get_origin("tax-0").await.expect("get").is_some(),
            "another service's stays"
        );
        store.delete(&parent.id).await.expect("logout");
        assert!(store.get_origin("cnie-199").await.expect("get").is_none());
        assert!(store.get_origin("tax-0").await.expect("get").is_none());
    }

    #[tokio::test]
    async fn a_forgotten_logout_token_id_is_accepted_again() {
        let store = store();
        assert!(store.remember_jti("j1", TTL).await.expect("remember"));
        assert!(!store.remember_jti("j1", TTL).await.expect("replay"));
        store.forget_jti("j1").await.expect("forget");
        assert!(store.remember_jti("j1", TTL).await.expect("retry"));
    }

    #[tokio::test]
    async fn a_pending_login_is_taken_once() {
        let store = store();
        let login = PendingLogin {
            pkce_verifier: "v".into(),
            nonce: "n".into(),
            return_to: "/s/x/".into(),
            created_at: 0,
            client: None,
            reauthenticate: false,
        };
        store.put_pending("st", &login, TTL).await.expect("put");
        assert!(store.take_pending("st").await.expect("take").is_some());
        assert!(store.take_pending("st").await.expect("again").is_none());
    }
}
