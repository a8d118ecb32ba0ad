//! The registry in the shared state ([`Kv`]): what every instance of a deployment with
//! `[registry] store = "redis"` reads and writes.
//!
//! Keys (under the deployment's prefix): `reg:svc:<id>` a [`Record`] as JSON, `reg:ids` the
//! set of ids, `reg:version` the version counter, `reg:change:<version>` one [`Change`],
//! `reg:history:<id>` the set of a service's versions, `reg:secrets:<id>` its stored secrets
//! (JSON map). Writes are optimistic: a record is replaced only if it is still the one the
//! writer read (compare-and-set), so of two concurrent writers exactly one wins. Each change
//! is published on the `reg:changed` channel; an instance that missed some (a restart, a
//! Redis blip) sees `reg:version` ahead of what it applied and reloads.

use super::{diff, now, Author, Change, Expect, Listing, Record, RegistryStore, StoreError};
use crate::kv::{Kv, KvError, Write};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

impl From<KvError> for StoreError {
    fn from(e: KvError) -> Self {
        StoreError::Unavailable(e.0)
    }
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// What a delete writes over a record before removing its key: compare-and-set, so a
/// concurrent write is not lost. Left behind when the deleting process stops between its
/// two steps, it reads as no record, and a create may write over it.
const TOMBSTONE: &[u8] = b"{}";

/// The bytes under a service's key (what a compare-and-set must name) and the record they
/// hold (none for a [`TOMBSTONE`]).
struct Stored {
    bytes: Vec<u8>,
    record: Option<Record>,
}

/// The registry over [`Kv`].
pub struct SharedStore {
    kv: Arc<dyn Kv>,
    /// The highest version this instance applied ([`Self::seen`]).
    seen: std::sync::atomic::AtomicU64,
    /// The bytes of change records one ministry's history may hold
    /// (`registry.history_per_ministry`, see [`Self::keep_history_within_budget`]).
    history_per_ministry: u64,
}

/// How long a restorer's mark lasts unless renewed ([`SharedStore::begin_restore`]) ...
pub const RESTORE_MARK_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// ... and how old it is when renewed ([`SharedStore::keep_restoring`]).
pub const RESTORE_MARK_RENEW: std::time::Duration = std::time::Duration::from_secs(20);

/// One instance's mark that it is restoring the store.
#[derive(Debug)]
pub struct RestoreMark {
    key: String,
    token: String,
    renewed: std::time::Instant,
}

/// How long a change record (and so a version of the history) is kept.
const HISTORY_TTL: std::time::Duration = std::time::Duration::from_secs(400 * 24 * 3600);

impl SharedStore {
    /// The registry in `kv`, each ministry's history within `history_per_ministry` bytes.
    pub fn new(kv: Arc<dyn Kv>, history_per_ministry: u64) -> Self {
        Self {
            kv,
            seen: std::sync::atomic::AtomicU64::new(0),
            history_per_ministry,
        }
    }

    /// The channel every change is announced on (its version as the message).
    pub fn channel(&self) -> String {
        self.kv.channel("reg:changed")
    }

    /// The shared state it lives in (for following changes).
    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    async fn raw(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let Some(bytes) = self.kv.get(&self.kv.key("reg:svc", id)).await? else {
            return Ok(None);
        };
        if bytes == TOMBSTONE {
            return Ok(Some(Stored {
                bytes,
                record: None,
            }));
        }
        let record: Record = serde_json::from_slice(&bytes).map_err(corrupt)?;
        Ok(Some(Stored {
            bytes,
            record: Some(record),
        }))
    }

    /// The record as `expect`ed (a tombstone counts as no record), or a conflict.
    async fn expected(&self, id: &str, expect: Expect) -> Result<Option<Stored>, StoreError> {
        let current = self.raw(id).await?;
        let version = current
            .as_ref()
            .and_then(|s| s.record.as_ref())
            .map(|r| r.version);
        let ok = match expect {
            Expect::Absent => version.is_none(),
            Expect::Version(v) => version == Some(v),
            Expect::Any => true,
        };
        if ok {
            Ok(current)
        } else {
            Err(StoreError::Conflict { current: version })
        }
    }

    /// The version now under `id`, for a conflict's answer.
    async fn version_of(&self, id: &str) -> Option<u64> {
        let stored = self.raw(id).await.ok().flatten()?;
        stored.record.map(|r| r.version)
    }

    /// Records `change` and announces it.
    async fn record(&self, change: &Change) -> Result<(), StoreError> {
        let json = serde_json::to_vec(change).map_err(corrupt)?;
        self.kv
            .set(
                &self.kv.key("reg:change", &change.version.to_string()),
                &json,
                Some(HISTORY_TTL),
                Write::Always,
            )
            .await?;
        self.kv
            .set_add(
                &self.kv.key("reg:history", &change.id),
                &change.version.to_string(),
                HISTORY_TTL,
            )
            .await?;
        if let Err(e) = self
            .keep_history_within_budget(&change.ministry, change.version, json.len())
            .await
        {
            // The change is made; its ministry's oldest are forgotten at its next change.
            tracing::warn!(error = %e, ministry = %change.ministry, "registry history not trimmed");
        }
        if let Err(e) = self
            .kv
            .publish(&self.channel(), &change.version.to_string())
            .await
        {
            // Other instances catch up from the version counter.
            tracing::warn!(error = %e, "registry change not announced");
        }
        Ok(())
    }

    /// Counts `bytes` more of `ministry`'s history (its change at `version`) and, past
    /// `registry.history_per_ministry`, forgets its oldest changes: their records, and
    /// their versions in their services' histories (a rollback to one is then a 404).
    ///
    /// Found when tried: every change was kept for 400 days in the Redis that holds
    /// sessions and must not evict. A ministry's credential rewrote a service's 64 header
    /// rules of 1 KB each way at every change: each record (the document and the diff)
    /// weighed 400 KB, 21 changes held 8.4 MB. Within the 60 changes a minute a ministry may
    /// make through each instance, that is 24 MB a minute per instance, until Redis
    /// refuses every session write (every login in the country, as a full Redis did in the
    /// response cache's test). A ministry's history now costs at most its budget, and only
    /// its own oldest versions go.
    ///
    /// Changes made before this count existed are not counted; they expire after their
    /// 400 days.
    async fn keep_history_within_budget(
        &self,
        ministry: &str,
        version: u64,
        bytes: usize,
    ) -> Result<(), StoreError> {
        let versions_key = self.kv.key("reg:history-of", ministry);
        let bytes_key = self.kv.key("reg:history-bytes", ministry);
        self.kv
            .set_add(&versions_key, &version.to_string(), HISTORY_TTL)
            .await?;
        let by = i64::try_from(bytes).unwrap_or(i64::MAX);
        let mut held = self.kv.incr(&bytes_key, by, Some(HISTORY_TTL)).await?;
        // The count lives as long as the newest change it counts.
        self.kv.extend(&bytes_key, HISTORY_TTL).await?;
        // Not again before a quarter of the budget more was written, as in the files store:
        // what cannot be forgotten (each service's latest change) may keep a ministry past
        // its budget, and each trim reads its changes (found in review: 200 services of
        // 400 KB read 80 MB from the Redis that holds sessions at every change).
        let trimmed_key = self.kv.key("reg:history-trimmed", ministry);
        let after_last_trim = match self.kv.get(&trimmed_key).await? {
            Some(v) => std::str::from_utf8(&v)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0),
            None => 0,
        };
        let over = |held: i64| {
            let held = u64::try_from(held).unwrap_or(0);
            held > self.history_per_ministry
        };
        if !over(held)
            || u64::try_from(held).unwrap_or(0) <= after_last_trim + self.history_per_ministry / 4
        {
            return Ok(());
        }
        let mut forgotten: BTreeMap<String, Vec<Change>> = BTreeMap::new();
        let trimmed = self
            .forget_oldest(ministry, version, &mut held, &mut forgotten)
            .await;
        // Whatever went before an error: its secrets go with it all the same.
        let secrets = self.forget_secrets_of(forgotten).await;
        self.kv
            .set(
                &trimmed_key,
                held.max(0).to_string().as_bytes(),
                Some(HISTORY_TTL),
                Write::Always,
            )
            .await?;
        trimmed.and(secrets)
    }

    /// Forgets `ministry`'s oldest changes (not `version`, the one just made, nor a
    /// service's latest) until `held` is within its budget, collecting what went in
    /// `forgotten`.
    async fn forget_oldest(
        &self,
        ministry: &str,
        version: u64,
        held: &mut i64,
        forgotten: &mut BTreeMap<String, Vec<Change>>,
    ) -> Result<(), StoreError> {
        let versions_key = self.kv.key("reg:history-of", ministry);
        let bytes_key = self.kv.key("reg:history-bytes", ministry);
        // Each service's live version, read once per trim.
        let mut live_versions: HashMap<String, Option<u64>> = HashMap::new();
        let mut versions: Vec<u64> = self
            .kv
            .set_members(&versions_key)
            .await?
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect();
        versions.sort_unstable();
        for old in versions {
            if u64::try_from(*held).unwrap_or(0) <= self.history_per_ministry {
                break;
            }
            if old == version {
                continue; // the change just made stays, however large
            }
            let change_key = self.kv.key("reg:change", &old.to_string());
            if let Some(record) = self.kv.get(&change_key).await? {
                let change = serde_json::from_slice::<Change>(&record).ok();
                if let Some(change) = &change {
                    // An existing service's latest change stays, as in the files store: it
                    // is what a rollback of its next change restores, and it names the
                    // secrets the live record uses (found in the last read: a busy
                    // sibling's churn forgot a quiet service's only change and deleted the
                    // password its live record still named).
                    let live = match live_versions.get(&change.id) {
                        Some(v) => *v,
                        None => {
                            let v = RegistryStore::get(self, &change.id)
                                .await?
                                .map(|r| r.version);
                            live_versions.insert(change.id.clone(), v);
                            v
                        }
                    };
                    if live == Some(old) {
                        continue;
                    }
                }
                // Only the instance whose delete removed it counts it off.
                if self.kv.delete(&change_key).await? {
                    if let Some(change) = change {
                        self.kv
                            .set_remove(&self.kv.key("reg:history", &change.id), &[old.to_string()])
                            .await?;
                        forgotten.entry(change.id.clone()).or_default().push(change);
                    }
                    let by = i64::try_from(record.len()).unwrap_or(i64::MAX);
                    *held = self.kv.incr(&bytes_key, -by, Some(HISTORY_TTL)).await?;
                }
            }
            self.kv
                .set_remove(&versions_key, &[old.to_string()])
                .await?;
        }
        Ok(())
    }

    /// The secrets only `forgotten` versions named go with them (found in review: a
    /// ministry giving a new secret at each change while its history was trimmed kept every
    /// one of them for good), but never one the live record names: its change may not be
    /// in the history yet (another instance's change lands the record first, then its
    /// change; found in review).
    async fn forget_secrets_of(
        &self,
        forgotten: BTreeMap<String, Vec<Change>>,
    ) -> Result<(), StoreError> {
        for (id, changes) in forgotten {
            let kept = RegistryStore::history(self, &id).await?;
            let mut unreachable = super::secrets_only_named_by(&changes, &kept);
            if let Some(live) = RegistryStore::get(self, &id).await? {
                let mut in_use = std::collections::HashSet::new();
                super::stored_references(&live.document, &mut in_use);
                unreachable.retain(|key| !in_use.contains(key));
            }
            RegistryStore::forget_secrets(self, &id, &unreachable).await?;
        }
        Ok(())
    }

    /// Writes `record`, as this instance last read it, back into a store that lost its
    /// data: where there is no record (or a tombstone), or where another instance wrote back
    /// an older reading of it. A record changed since the loss (a ministry's change), or
    /// written back from a reading as new or newer, stays. Found when tried: the first
    /// instance to restore won, so one that had missed a change (frozen, or cut off past
    /// its poll) undid it for every instance, a change the API had acknowledged.
    /// `Ok(false)`: the store's record stays.
    pub async fn restore_record(
        &self,
        record: &Record,
        author: &Author,
    ) -> Result<bool, StoreError> {
        let origin = record.origin();
        for _ in 0..RESTORE_RACE_ATTEMPTS {
            let current = self.raw(&record.id).await?;
            let older = match current.as_ref().and_then(|s| s.record.as_ref()) {
                None => true,
                Some(there) => there.restored_from.is_some_and(|o| o < origin),
            };
            if !older {
                return Ok(false);
            }
            let restored = Some(origin);
            match self
                .write_over(
                    current,
                    &record.id,
                    &record.ministry,
                    &record.document,
                    restored,
                    author,
                )
                .await
            {
                // Another instance's write came between: look again.
                Err(StoreError::Conflict { .. }) => continue,
                other => return other.map(|_| true),
            }
        }
        Err(StoreError::Conflict {
            current: self.version_of(&record.id).await,
        })
    }

    /// The store's last loss of its data, as a token the first instance to find it lost
    /// wrote (`lost`: this instance found it so), or `None` if it never lost any since that
    /// key's life began. Every instance gives its reading back once per loss, not only the
    /// first to find it: found in a bypass probe, the first raised the version past what the
    /// others had applied, so they never saw the loss, and applied its older reading over a
    /// change they held (each restored record now says which change it was read at, and the
    /// newer reading wins: [`Self::restore_record`]).
    ///
    /// A loss this instance finds always writes a new token: found in review, written only
    /// where none was, a loss that kept the old token (a lagging replica taking over, keys
    /// evicted) was never restored, and the older store was applied. Two instances finding
    /// one loss at once make two tokens, and each instance gives its reading back twice,
    /// which writes nothing the second time (the newer reading is already there).
    pub async fn losses(&self, lost: bool) -> Result<Option<String>, StoreError> {
        let key = self.kv.key("reg", "lost");
        if lost {
            let token = format!("{:032x}", rand::random::<u128>());
            self.kv
                .set(&key, token.as_bytes(), Some(HISTORY_TTL), Write::Always)
                .await?;
        }
        Ok(self
            .kv
            .get(&key)
            .await?
            .map(|t| String::from_utf8_lossy(&t).into_owned()))
    }

    /// Marks the store as being restored by this instance: the others apply nothing from
    /// it until every restorer's mark is gone ([`Self::restoring`]). Each restorer has a
    /// mark of its own, listed in `reg:restorers`: found in review, two instances restoring
    /// at once shared one mark, and the first to finish lifted it for both. A mark lasts
    /// [`RESTORE_MARK_TTL`] unless renewed ([`Self::keep_restoring`]), so an instance that
    /// stops halfway holds the others back for at most that.
    pub async fn begin_restore(&self) -> Result<RestoreMark, StoreError> {
        let token = format!("{:032x}", rand::random::<u128>());
        let mark = RestoreMark {
            key: self.restore_mark_key(&token),
            token,
            renewed: std::time::Instant::now(),
        };
        self.mark_restoring(&mark).await?;
        Ok(mark)
    }

    /// Renews `mark` once it is [`RESTORE_MARK_RENEW`] old, so a restore that takes longer
    /// than [`RESTORE_MARK_TTL`] (thousands of services over a slow link) stays marked to its
    /// end: a mark of a fixed minute ran out halfway through one.
    pub async fn keep_restoring(&self, mark: &mut RestoreMark) -> Result<(), StoreError> {
        if mark.renewed.elapsed() < RESTORE_MARK_RENEW {
            return Ok(());
        }
        // Only once renewed: a failed renewal is tried again at the next record.
        self.mark_restoring(mark).await?;
        mark.renewed = std::time::Instant::now();
        Ok(())
    }

    async fn mark_restoring(&self, mark: &RestoreMark) -> Result<(), StoreError> {
        self.kv
            .set(&mark.key, b"1", Some(RESTORE_MARK_TTL), Write::Always)
            .await?;
        self.kv
            .set_add(
                &self.kv.key("reg", "restorers"),
                &mark.token,
                RESTORE_MARK_TTL,
            )
            .await?;
        // The one mark the instances before per-restorer marks know, for a rolling upgrade.
        self.kv
            .set(
                &self.legacy_restore_mark(),
                b"1",
                Some(RESTORE_MARK_TTL),
                Write::Always,
            )
            .await?;
        Ok(())
    }

    /// `reg:restoring`: the mark every restorer shared before each had its own.
    fn legacy_restore_mark(&self) -> String {
        self.kv.key("reg", "restoring")
    }

    fn restore_mark_key(&self, token: &str) -> String {
        self.kv.key("reg", &format!("restoring:{token}"))
    }

    /// This instance's restore is over (another's may go on).
    pub async fn end_restore(&self, mark: RestoreMark) -> Result<(), StoreError> {
        self.kv.delete(&mark.key).await?;
        self.kv
            .set_remove(&self.kv.key("reg", "restorers"), &[mark.token])
            .await?;
        if !self.restorer_listed().await? {
            self.kv.delete(&self.legacy_restore_mark()).await?;
        }
        Ok(())
    }

    /// Whether an instance is writing back what the store lost. Its records go back one at
    /// a time, each a new version: found when tried, another instance applied the store
    /// halfway, and its services not yet written back answered 404. A restorer that
    /// stopped halfway stays listed until the list expires, but its mark has: it holds
    /// nobody back. (Striking it off here could race its renewal and hide it, found in
    /// review.) The shared mark of instances before per-restorer marks counts too.
    pub async fn restoring(&self) -> Result<bool, StoreError> {
        Ok(self.restorer_listed().await?
            || self.kv.get(&self.legacy_restore_mark()).await?.is_some())
    }

    /// `Unavailable` (503, retry) when the store, at `version` (its counter as just read),
    /// lost data this instance applied: the counter behind what it applied, or a restore
    /// under way.
    pub async fn intact_at(&self, version: u64) -> Result<(), StoreError> {
        if version < self.seen_version() || self.restoring().await? {
            return Err(being_restored());
        }
        Ok(())
    }

    /// Whether a listed restorer's mark is still there.
    async fn restorer_listed(&self) -> Result<bool, StoreError> {
        for token in self
            .kv
            .set_members(&self.kv.key("reg", "restorers"))
            .await?
        {
            if self.kv.get(&self.restore_mark_key(&token)).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Raises the version counter to at least `version`. A store that lost its data (a
    /// Redis restarted without persistence) must not hand out versions it gave before:
    /// an ETag read earlier still names one, and an `If-Match` on it would match another
    /// document (found when tried: versions went back from 58 to 50 after a restore).
    pub async fn raise_version(&self, version: u64) -> Result<(), StoreError> {
        let now = RegistryStore::version(self).await?;
        if now < version {
            let by = i64::try_from(version - now).unwrap_or(i64::MAX);
            self.kv
                .incr(&self.kv.key("reg", "version"), by, None)
                .await?;
        }
        Ok(())
    }

    /// This instance has applied `version`: no version it hands out is ever at or below it.
    pub fn seen(&self, version: u64) {
        self.seen
            .fetch_max(version, std::sync::atomic::Ordering::Relaxed);
    }

    /// The highest version this instance applied.
    pub fn seen_version(&self) -> u64 {
        self.seen.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The next version. One at or below a version this instance applied means the store
    /// lost its data: the write is refused (503, retry) until the store is restored, and the
    /// counter is left below, so every instance sees the loss. Found when tried: a write in
    /// the seconds before the restore got version 1, an ETag given before; and raising the
    /// counter instead hid the loss, and that one record became the whole registry.
    async fn next_version(&self) -> Result<u64, StoreError> {
        let key = self.kv.key("reg", "version");
        let v = u64::try_from(self.kv.incr(&key, 1, None).await?).unwrap_or(0);
        if v <= self.seen_version() {
            return Err(being_restored());
        }
        Ok(v)
    }
}

/// What a store that lost its data answers until it is restored.
fn being_restored() -> StoreError {
    StoreError::Unavailable(
        "the registry store lost its data; it is being restored, retry in a few seconds".into(),
    )
}

/// How many times a write without a precondition (`Expect::Any`) is retried when another
/// writer got in between its read and its compare-and-set.
const UNCONDITIONAL_ATTEMPTS: usize = 5;

impl SharedStore {
    async fn put_once(
        &self,
        id: &str,
        ministry: &str,
        document: &Value,
        expect: Expect,
        author: &Author,
    ) -> Result<u64, StoreError> {
        let current = self.expected(id, expect).await?;
        self.write_over(current, id, ministry, document, None, author)
            .await
    }

    /// Writes `document` as `id`'s record in place of `current` (compared and swapped: a
    /// conflict if it changed since it was read), at a new version, and records the change.
    async fn write_over(
        &self,
        current: Option<Stored>,
        id: &str,
        ministry: &str,
        document: &Value,
        restored_from: Option<u64>,
        author: &Author,
    ) -> Result<u64, StoreError> {
        let before = current.as_ref().and_then(|s| s.record.as_ref());
        let version = self.next_version().await?;
        let record = Record {
            id: id.to_string(),
            ministry: ministry.to_string(),
            version,
            document: document.clone(),
            restored_from,
        };
        let json = serde_json::to_vec(&record).map_err(corrupt)?;
        let swapped = self
            .kv
            .compare_and_set(
                &self.kv.key("reg:svc", id),
                current.as_ref().map(|s| s.bytes.as_slice()),
                &json,
            )
            .await?;
        if !swapped {
            return Err(StoreError::Conflict {
                current: self.version_of(id).await,
            });
        }
        // The index only grows here; a delete removes the record first.
        self.kv
            .set_add(&self.kv.key("reg", "ids"), id, HISTORY_TTL)
            .await?;
        self.record(&Change {
            version,
            id: id.to_string(),
            ministry: ministry.to_string(),
            action: author.action,
            actor: author.actor.clone(),
            at: now(),
            diff: diff(before.map(|r| &r.document), Some(document)),
            document: Some(document.clone()),
        })
        .await?;
        Ok(version)
    }

    async fn delete_once(
        &self,
        id: &str,
        expect: Expect,
        author: &Author,
    ) -> Result<u64, StoreError> {
        let Some(Stored {
            bytes,
            record: Some(record),
        }) = self.expected(id, expect).await?
        else {
            return Err(StoreError::Conflict { current: None });
        };
        let version = self.next_version().await?;
        if !self
            .kv
            .compare_and_set(&self.kv.key("reg:svc", id), Some(&bytes), TOMBSTONE)
            .await?
        {
            return Err(StoreError::Conflict {
                current: self.version_of(id).await,
            });
        }
        self.kv.delete(&self.kv.key("reg:svc", id)).await?;
        self.kv
            .set_remove(&self.kv.key("reg", "ids"), &[id.to_string()])
            .await?;
        self.record(&Change {
            version,
            id: id.to_string(),
            ministry: record.ministry.clone(),
            action: author.action,
            actor: author.actor.clone(),
            at: now(),
            diff: diff(Some(&record.document), None),
            document: None,
        })
        .await?;
        Ok(version)
    }
}

#[async_trait]
impl RegistryStore for SharedStore {
    async fn list(&self) -> Result<Listing, StoreError> {
        let mut ids = self.kv.set_members(&self.kv.key("reg", "ids")).await?;
        ids.sort();
        let mut listing = Listing {
            records: Vec::with_capacity(ids.len()),
            unreadable: Vec::new(),
        };
        for id in ids {
            match self.raw(&id).await {
                Ok(stored) => listing.records.extend(stored.and_then(|s| s.record)),
                Err(StoreError::Corrupt(why)) => listing.unreadable.push((id, why)),
                Err(e) => return Err(e),
            }
        }
        Ok(listing)
    }

    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.raw(id).await?.and_then(|s| s.record))
    }

    async fn put(
        &self,
        id: &str,
        ministry: &str,
        document: &Value,
        expect: Expect,
        author: &Author,
    ) -> Result<u64, StoreError> {
        let mut attempt = 1;
        loop {
            match self.put_once(id, ministry, document, expect, author).await {
                Err(StoreError::Conflict { .. })
                    if expect == Expect::Any && attempt < UNCONDITIONAL_ATTEMPTS =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn delete(&self, id: &str, expect: Expect, author: &Author) -> Result<u64, StoreError> {
        let mut attempt = 1;
        loop {
            match self.delete_once(id, expect, author).await {
                Err(StoreError::Conflict { current: Some(_) })
                    if expect == Expect::Any && attempt < UNCONDITIONAL_ATTEMPTS =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn history(&self, id: &str) -> Result<Vec<Change>, StoreError> {
        let mut versions: Vec<u64> = self
            .kv
            .set_members(&self.kv.key("reg:history", id))
            .await?
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect();
        versions.sort_unstable();
        let mut out = Vec::with_capacity(versions.len());
        for v in versions {
            if let Some(bytes) = self
                .kv
                .get(&self.kv.key("reg:change", &v.to_string()))
                .await?
            {
                out.push(serde_json::from_slice(&bytes).map_err(corrupt)?);
            }
        }
        Ok(out)
    }

    async fn put_secrets(&self, id: &str, secrets: &[(String, String)]) -> Result<(), StoreError> {
        if secrets.is_empty() {
            return Ok(());
        }
        let key = self.kv.key("reg:secrets", id);
        // Replaced atomically, so two writers of one service's secrets do not lose either.
        loop {
            let current = self.kv.get(&key).await?;
            let mut map: BTreeMap<String, String> = match &current {
                Some(b) => serde_json::from_slice(b).map_err(corrupt)?,
                None => BTreeMap::new(),
            };
            for (k, v) in secrets {
                map.insert(k.clone(), v.clone());
            }
            let json = serde_json::to_vec(&map).map_err(corrupt)?;
            if self
                .kv
                .compare_and_set(&key, current.as_deref(), &json)
                .await?
            {
                self.kv
                    .set_add(&self.kv.key("reg", "secret-ids"), id, HISTORY_TTL)
                    .await?;
                return Ok(());
            }
        }
    }

    async fn forget_secrets(&self, id: &str, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let key = self.kv.key("reg:secrets", id);
        loop {
            let Some(current) = self.kv.get(&key).await? else {
                return Ok(());
            };
            let mut map: BTreeMap<String, String> =
                serde_json::from_slice(&current).map_err(corrupt)?;
            let before = map.len();
            for k in keys {
                map.remove(k);
            }
            if map.len() == before {
                return Ok(());
            }
            let json = serde_json::to_vec(&map).map_err(corrupt)?;
            if self.kv.compare_and_set(&key, Some(&current), &json).await? {
                return Ok(());
            }
        }
    }

    async fn secrets(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for id in self
            .kv
            .set_members(&self.kv.key("reg", "secret-ids"))
            .await?
        {
            if let Some(b) = self.kv.get(&self.kv.key("reg:secrets", &id)).await? {
                let map: BTreeMap<String, String> = serde_json::from_slice(&b).map_err(corrupt)?;
                out.extend(map);
            }
        }
        Ok(out)
    }

    async fn version(&self) -> Result<u64, StoreError> {
        let raw = self.kv.get(&self.kv.key("reg", "version")).await?;
        Ok(raw
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }
}

/// How many times [`SharedStore::restore_record`] looks again when other instances' writes
/// keep coming between its reading and its write.
const RESTORE_RACE_ATTEMPTS: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use crate::registry::store::Action;
    use serde_json::json;

    fn store() -> SharedStore {
        SharedStore::new(Arc::new(MemoryKv::default()), 8 << 20)
    }

    fn by(action: Action) -> Author {
        Author {
            actor: "test".into(),
            action,
        }
    }

    /// What two instances read of service `a` before Redis lost its data: one saw the
    /// ministry's change at version 5, the other missed it and last read version 3.
    fn readings() -> (Record, Record) {
        let reading = |version, name: &str| Record {
            id: "a".into(),
            ministry: "m".into(),
            version,
            document: json!({ "name": name }),
            restored_from: None,
        };
        (reading(5, "changed"), reading(3, "before the change"))
    }

    async fn document_of(s: &SharedStore) -> Value {
        RegistryStore::get(s, "a")
            .await
            .expect("read")
            .expect("a record")
            .document
    }

    #[tokio::test]
    async fn a_restore_from_a_reading_that_missed_a_change_does_not_undo_it() {
        let (newer, older) = readings();
        let restore = by(Action::Create);
        // The lagging instance restores first; the other's newer reading wins all the same.
        let s = store();
        assert!(s.restore_record(&older, &restore).await.expect("written"));
        assert!(s.restore_record(&newer, &restore).await.expect("written"));
        assert_eq!(document_of(&s).await, json!({ "name": "changed" }));
        // The other way round, the older reading is not written over the newer. (A restore
        // first raises the version to what its instance applied.)
        let s = store();
        s.raise_version(5).await.expect("raised");
        assert!(s.restore_record(&newer, &restore).await.expect("written"));
        assert!(!s.restore_record(&older, &restore).await.expect("kept"));
        assert_eq!(document_of(&s).await, json!({ "name": "changed" }));
        // A reading of a restored record keeps the change it came from.
        let reread = RegistryStore::get(&s, "a")
            .await
            .expect("read")
            .expect("a record");
        assert_eq!(reread.origin(), 5);
        assert!(
            reread.version > 5,
            "a new version: no ETag of before names it"
        );
    }

    #[tokio::test]
    async fn a_file_import_gives_way_to_a_running_instances_reading() {
        let (newer, _) = readings();
        let s = store();
        let mut imported = newer.clone();
        imported.version = 0;
        imported.document = json!({ "name": "from the files" });
        let import = by(Action::Create);
        assert!(s
            .restore_record(&imported, &import)
            .await
            .expect("imported"));
        assert!(
            !s.restore_record(&imported, &import).await.expect("once"),
            "a second import finds it there"
        );
        assert!(s.restore_record(&newer, &import).await.expect("given back"));
        assert_eq!(document_of(&s).await, json!({ "name": "changed" }));
    }

    #[tokio::test]
    async fn a_change_made_since_the_loss_is_never_written_over_by_a_restore() {
        let (newer, _) = readings();
        let s = store();
        s.put(
            "a",
            "m",
            &json!({ "name": "since" }),
            Expect::Absent,
            &by(Action::Create),
        )
        .await
        .expect("a ministry's change");
        assert!(!s
            .restore_record(&newer, &by(Action::Create))
            .await
            .expect("kept"));
        assert_eq!(document_of(&s).await, json!({ "name": "since" }));
    }

    #[tokio::test]
    async fn a_store_behind_what_was_applied_or_being_restored_lost_data() {
        let s = store();
        let v = s
            .put(
                "a",
                "m",
                &json!({"x": 1}),
                Expect::Absent,
                &by(Action::Create),
            )
            .await
            .expect("create");
        s.seen(v);
        assert!(s.intact_at(v).await.is_ok(), "intact");
        // What a Redis restarted empty looks like to this instance.
        let emptied = SharedStore::new(Arc::new(MemoryKv::default()), 8 << 20);
        emptied.seen(v);
        assert!(matches!(
            emptied.intact_at(0).await,
            Err(StoreError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn of_two_writers_that_read_one_version_exactly_one_wins() {
        let s = store();
        let v1 = s
            .put(
                "a",
                "m",
                &json!({"x": 1}),
                Expect::Absent,
                &by(Action::Create),
            )
            .await
            .expect("create");
        let first = s
            .put(
                "a",
                "m",
                &json!({"x": 2}),
                Expect::Version(v1),
                &by(Action::Replace),
            )
            .await;
        let second = s
            .put(
                "a",
                "m",
                &json!({"x": 3}),
                Expect::Version(v1),
                &by(Action::Replace),
            )
            .await;
        assert!(first.is_ok());
        assert!(
            matches!(second, Err(StoreError::Conflict { .. })),
            "{second:?}"
        );
        assert_eq!(
            s.get("a").await.expect("get").expect("record").document,
            json!({"x": 2})
        );
    }

    #[tokio::test]
    async fn every_change_is_in_the_history_with_its_diff() {
        let s = store();
        s.put(
            "a",
            "m",
            &json!({"x": 1}),
            Expect::Absent,
            &by(Action::Create),
        )
        .await
        .expect("create");
        s.put("a", "m", &json!({"x": 2}), Expect::Any, &by(Action::Patch))
            .await
            .expect("patch");
        s.delete("a", Expect::Any, &by(Action::Delete))
            .await
            .expect("delete");
        let h = s.history("a").await.expect("history");
        let actions: Vec<Action> = h.iter().map(|c| c.action).collect();
        assert_eq!(actions, [Action::Create, Action::Patch, Action::Delete]);
        assert_eq!(h[1].diff["/x"], json!({"from": 1, "to": 2}));
        assert!(h[2].document.is_none());
        assert!(s.list().await.expect("list").records.is_empty());
        assert_eq!(s.version().await.expect("version"), 3);
    }

    #[tokio::test]
    async fn a_create_over_an_existing_service_is_a_conflict() {
        let s = store();
        s.put("a", "m", &json!({}), Expect::Absent, &by(Action::Create))
            .await
            .expect("create");
        assert!(matches!(
            s.put("a", "m", &json!({}), Expect::Absent, &by(Action::Create))
                .await,
            Err(StoreError::Conflict { current: Some(1) })
        ));
    }

    /// A document of about `kb` kilobytes, different at each `n`.
    fn large(n: u32, kb: usize) -> Value {
        json!({ "n": n, "padding": "x".repeat(kb * 1024) })
    }

    /// Replaces service `id` of ministry `m` once for each `n` of `changes`, with 100 KB
    /// documents: a busy service's history.
    async fn churn(s: &SharedStore, id: &str, changes: std::ops::Range<u32>) {
        for n in changes {
            s.put(id, "m", &large(n, 100), Expect::Any, &by(Action::Replace))
                .await
                .expect("change");
        }
    }

    #[tokio::test]
    async fn past_its_budget_a_ministrys_oldest_versions_are_forgotten_and_no_other_ministrys() {
        let s = SharedStore::new(Arc::new(MemoryKv::default()), 1 << 20);
        s.put(
            "theirs",
            "other",
            &large(0, 100),
            Expect::Absent,
            &by(Action::Create),
        )
        .await
        .expect("other ministry's service");
        churn(&s, "churned", 0..40).await;
        let kept = s.history("churned").await.expect("history");
        let bytes: usize = kept
            .iter()
            .map(|c| serde_json::to_vec(c).map_or(0, |b| b.len()))
            .sum();
        assert!(bytes <= 1 << 20, "{bytes} bytes kept of a 1 MiB budget");
        assert!(
            kept.len() >= 3,
            "the newest versions stay ({} kept)",
            kept.len()
        );
        assert_eq!(
            kept.last().map(|c| c.document.clone()),
            Some(Some(large(39, 100))),
            "the change just made stays"
        );
        assert!(
            kept.windows(2).all(|w| w[0].version < w[1].version)
                && kept.first().map(|c| c.version) > Some(3),
            "the oldest went first"
        );
        assert_eq!(s.history("theirs").await.expect("history").len(), 1);
    }

    #[tokio::test]
    async fn a_change_larger_than_the_whole_budget_is_still_kept_as_the_newest_version() {
        let s = SharedStore::new(Arc::new(MemoryKv::default()), 1 << 20);
        s.put(
            "a",
            "m",
            &large(0, 100),
            Expect::Absent,
            &by(Action::Create),
        )
        .await
        .expect("create");
        s.put("a", "m", &large(1, 1200), Expect::Any, &by(Action::Replace))
            .await
            .expect("a large change");
        let kept = s.history("a").await.expect("history");
        assert_eq!(kept.len(), 1, "only the newest");
        assert_eq!(kept[0].document, Some(large(1, 1200)));
    }

    #[tokio::test]
    async fn a_secret_only_forgotten_versions_named_is_forgotten_with_them() {
        let s = SharedStore::new(Arc::new(MemoryKv::default()), 1 << 20);
        for n in 0..30 {
            s.put_secrets("svc", &[(format!("svc:/password:{n}"), "s3cret".into())])
                .await
                .expect("secret");
            let mut doc = large(n, 100);
            doc["password"] = json!({ "stored": format!("svc:/password:{n}") });
            s.put("svc", "m", &doc, Expect::Any, &by(Action::Replace))
                .await
                .expect("change");
        }
        let kept = s.history("svc").await.expect("history");
        let secrets = s.secrets().await.expect("secrets");
        assert!(kept.len() < 30, "some versions were forgotten");
        assert_eq!(secrets.len(), kept.len(), "{secrets:?}");
    }

    /// Found in the last read: a ministry's busy service pushing it past its budget
    /// forgot a quiet sibling's only change, and with it the secret the sibling's live
    /// record still named.
    #[tokio::test]
    async fn a_quiet_services_latest_change_and_its_secrets_outlive_a_busy_siblings_churn() {
        let s = SharedStore::new(Arc::new(MemoryKv::default()), 1 << 20);
        s.put_secrets("quiet", &[("quiet:/password:1".into(), "s3cret".into())])
            .await
            .expect("secret");
        let mut doc = large(0, 100);
        doc["password"] = json!({ "stored": "quiet:/password:1" });
        s.put("quiet", "m", &doc, Expect::Absent, &by(Action::Create))
            .await
            .expect("create");
        churn(&s, "busy", 1..40).await;
        let quiet = s.history("quiet").await.expect("history");
        assert_eq!(quiet.len(), 1, "its only change stays: {quiet:?}");
        assert_eq!(quiet[0].document, Some(doc));
        let secrets = s.secrets().await.expect("secrets");
        assert!(
            secrets.iter().any(|(k, _)| k == "quiet:/password:1"),
            "{secrets:?}"
        );
        let busy = s.history("busy").await.expect("history");
        assert!(busy.len() < 39, "the busy service's old versions went");
    }

    /// Found in the last review: another instance's change lands the record first and its
    /// change after; a trim in between saw the secret only in forgotten versions and
    /// deleted the password the live record names.
    #[tokio::test]
    async fn a_secret_the_live_record_names_outlives_a_trim_its_change_is_not_in_yet() {
        let s = SharedStore::new(Arc::new(MemoryKv::default()), 1 << 20);
        let secret = "svc:/password:1".to_string();
        s.put_secrets("svc", &[(secret.clone(), "s3cret".into())])
            .await
            .expect("secret");
        let mut doc = large(0, 1);
        doc["password"] = json!({ "stored": secret });
        s.put("svc", "m", &doc, Expect::Absent, &by(Action::Create))
            .await
            .expect("create");
        let mut named = s.history("svc").await.expect("history");
        // Its change not in the history yet: as another instance's trim sees it.
        s.kv.set_remove(&s.kv.key("reg:history", "svc"), &["1".to_string()])
            .await
            .expect("not yet");
        let forgotten = BTreeMap::from([("svc".to_string(), std::mem::take(&mut named))]);
        s.forget_secrets_of(forgotten).await.expect("trim");
        let secrets = s.secrets().await.expect("secrets");
        assert!(secrets.iter().any(|(k, _)| *k == secret), "{secrets:?}");
    }

    #[tokio::test]
    async fn a_store_being_restored_says_so_until_the_restore_ends() {
        let s = store();
        assert!(!s.restoring().await.expect("read"));
        let mark = s.begin_restore().await.expect("mark");
        assert!(s.restoring().await.expect("read"));
        s.end_restore(mark).await.expect("unmark");
        assert!(!s.restoring().await.expect("read"));
    }

    #[tokio::test]
    async fn one_restorer_finishing_leaves_the_store_marked_while_another_goes_on() {
        let s = store();
        let first = s.begin_restore().await.expect("mark");
        let second = s.begin_restore().await.expect("mark");
        s.end_restore(first).await.expect("unmark");
        assert!(
            s.restoring().await.expect("read"),
            "the second restorer is still writing"
        );
        s.end_restore(second).await.expect("unmark");
        assert!(!s.restoring().await.expect("read"));
    }

    #[tokio::test]
    async fn a_restorer_that_stopped_halfway_holds_nobody_back_once_its_marks_expired() {
        let s = store();
        let mark = s.begin_restore().await.expect("mark");
        // Its marks expire (the instance stopped); its name stays on the list.
        s.kv.delete(&mark.key).await.expect("expire");
        s.kv.delete(&s.legacy_restore_mark()).await.expect("expire");
        assert!(!s.restoring().await.expect("read"));
    }

    #[tokio::test]
    async fn a_restore_by_an_instance_before_per_restorer_marks_is_honoured_and_told() {
        let s = store();
        s.kv.set(&s.legacy_restore_mark(), b"1", None, Write::Always)
            .await
            .expect("an older instance restores");
        assert!(s.restoring().await.expect("read"), "honoured");
        s.kv.delete(&s.legacy_restore_mark())
            .await
            .expect("it ends");
        let mark = s.begin_restore().await.expect("mark");
        let told = s.kv.get(&s.legacy_restore_mark()).await.expect("read");
        assert!(told.is_some(), "an older instance sees this restore");
        s.end_restore(mark).await.expect("unmark");
        assert!(!s.restoring().await.expect("read"));
    }

    #[tokio::test]
    async fn a_long_restore_renews_its_mark() {
        let s = store();
        let mut mark = s.begin_restore().await.expect("mark");
        s.kv.delete(&mark.key).await.expect("expire");
        s.kv.delete(&s.legacy_restore_mark()).await.expect("expire");
        s.keep_restoring(&mut mark).await.expect("renew");
        assert!(
            !s.restoring().await.expect("read"),
            "not renewed while young"
        );
        mark.renewed -= RESTORE_MARK_RENEW;
        s.keep_restoring(&mut mark).await.expect("renew");
        assert!(s.restoring().await.expect("read"), "renewed once old");
    }
}
