//! Following the store for the life of the server: the files store's directory polled for
//! hand edits; a shared store's change notifications followed, its version polled in case
//! some were missed, and what this instance serves written back to it when it was lost.

use super::{document_of_file, Backing, LiveRegistry, RefreshError};
use crate::registry::store::{BrokenFile, Record, RegistryStore, SharedStore};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often a shared store is asked for its version, besides its change notifications (an
/// instance that missed notifications catches up within this).
const POLL_SHARED: Duration = Duration::from_secs(5);
/// How soon the shared store is asked again after it failed to answer.
const RETRY_SOON: Duration = Duration::from_millis(500);
/// While a refresh fails, the files store's watcher tries it again at every this many looks.
const BEHIND_EVERY: u32 = 3;
/// Every this many polls the whole store is read again even if its version says nothing
/// changed (a resync, as Kubernetes informers do: nothing can stay missed for long).
const RESYNC_EVERY: u32 = 6;

impl LiveRegistry {
    /// Keeps the running snapshot in step with the store for the life of the server: the
    /// files store's directory is polled for edits; a shared store's change notifications
    /// are followed, and its version polled in case some were missed.
    pub async fn follow(self: Arc<Self>) {
        match self.backing.clone() {
            Backing::Files(files) => {
                let interval = self.base().gateway.registry.watch_interval;
                let mut reported: Vec<BrokenFile> = Vec::new();
                let mut looks_behind = 0u32;
                loop {
                    tokio::time::sleep(interval).await;
                    let scan = {
                        let files = Arc::clone(&files);
                        tokio::task::spawn_blocking(move || files.absorb_edits()).await
                    };
                    match scan {
                        Ok(Ok((edits, broken))) => {
                            if broken != reported {
                                for b in &broken {
                                    tracing::warn!(file = %b.file.display(), reason = %b.reason, "registry: unreadable service file ignored");
                                }
                            }
                            let broken_changed = broken != reported;
                            reported = broken;
                            // Behind: what the store holds could not be applied (a torn
                            // secrets file, say); tried again until it is, said once.
                            // Every few looks, not each: a registry of thousands of
                            // services is a build each time, for as long as it fails.
                            let behind = self.behind();
                            looks_behind = if behind { looks_behind + 1 } else { 0 };
                            let retry = behind && looks_behind % BEHIND_EVERY == 1;
                            if edits > 0 || broken_changed || retry {
                                match self.refresh().await {
                                    Err(e) if !behind => {
                                        tracing::warn!(error = %e, "registry: an edit was not applied")
                                    }
                                    Ok(_) if behind => tracing::info!(
                                        "registry: the store's changes held back are applied"
                                    ),
                                    _ => {}
                                }
                                self.add_unreadable(&reported);
                            }
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "registry: cannot scan the services")
                        }
                        Err(e) => tracing::warn!(error = %e, "registry: scan stopped"),
                    }
                }
            }
            Backing::Shared(shared) => {
                // Start from the shared store (importing this instance's files into an empty
                // one), then follow it.
                self.seed_shared(&shared).await;
                let wake = Arc::new(tokio::sync::Notify::new());
                let follower = {
                    let kv = Arc::clone(shared.kv());
                    let channel = shared.channel();
                    let (on_message, on_gap) = (Arc::clone(&wake), Arc::clone(&wake));
                    async move {
                        kv.follow(
                            &channel,
                            Box::new(move |_| on_message.notify_one()),
                            Box::new(move || on_gap.notify_one()),
                        )
                        .await
                    }
                };
                let catch_up = async {
                    let mut polls = 0u32;
                    // After a failure (Redis coming back, its connection being rebuilt), the
                    // next look comes soon, not a whole poll later.
                    let mut wait = POLL_SHARED;
                    loop {
                        tokio::select! {
                            _ = wake.notified() => {}
                            _ = tokio::time::sleep(wait) => polls += 1,
                        }
                        wait = POLL_SHARED;
                        let applied = self.applied.load(Ordering::Relaxed);
                        let (behind, lost) = match shared.version().await {
                            Ok(v) => (v > applied, v < applied),
                            Err(e) => {
                                tracing::debug!(error = %e, "registry store unreachable; serving the last snapshot");
                                wait = RETRY_SOON;
                                continue;
                            }
                        };
                        // Before any refresh: what this instance read before the loss is what
                        // it gives back.
                        let loss = match shared.losses(lost).await {
                            Ok(loss) => loss,
                            Err(e) => {
                                tracing::debug!(error = %e, "registry store unreachable; serving the last snapshot");
                                wait = RETRY_SOON;
                                continue;
                            }
                        };
                        let given_back = self
                            .restored_loss
                            .lock()
                            .map(|r| r.clone())
                            .unwrap_or_default();
                        let restore = loss.is_some() && loss != given_back;
                        if restore {
                            // The store lost its data (its version went back in time, or
                            // another instance found it so). Give it back what this instance
                            // last read; every instance does, and each service's newest
                            // reading wins.
                            tracing::warn!(applied, "the registry store lost its data; restoring it from this instance's last reading");
                            self.restore(&shared).await;
                            if let Ok(mut r) = self.restored_loss.lock() {
                                *r = loss;
                            }
                        }
                        let lost = lost || restore;
                        if behind || lost || polls >= RESYNC_EVERY {
                            polls = 0;
                            if let Err(e) = self.refresh().await {
                                tracing::warn!(error = %e, "registry: a change was not applied");
                                wait = RETRY_SOON;
                            }
                        }
                    }
                };
                tokio::join!(follower, catch_up);
            }
        }
    }

    /// Adds unreadable files to what `/readyz` reports (their services keep serving).
    pub(super) fn add_unreadable(&self, files: &[BrokenFile]) {
        if files.is_empty() {
            return;
        }
        if let Ok(mut b) = self.broken.lock() {
            for f in files {
                b.push(format!("{}: {}", f.file.display(), f.reason));
            }
        }
        self.publish_broken();
    }

    /// A shared store with no services yet gets this instance's (the first deployment of a
    /// registry in Redis starts from the repository's files); then the instance catches up.
    pub(super) async fn seed_shared(&self, shared: &SharedStore) {
        loop {
            match self.try_seed(shared).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "registry store unreachable at start; serving the files' snapshot");
                    tokio::time::sleep(POLL_SHARED).await;
                }
            }
        }
    }

    /// Writes the records and secrets last read back into a store that lost them.
    pub(super) async fn restore(&self, shared: &SharedStore) {
        let (records, secrets) = match self.last_read.lock() {
            Ok(l) => l.clone(),
            Err(_) => return,
        };
        let mut mark = match shared.begin_restore().await {
            Ok(mark) => Some(mark),
            Err(e) => {
                tracing::warn!(error = %e, "the registry store could not be marked as being restored");
                None
            }
        };
        // Versions go on from where this instance saw them, never back.
        let applied = self.applied.load(Ordering::Relaxed);
        if let Err(e) = shared.raise_version(applied).await {
            tracing::warn!(error = %e, "the registry store's version could not be raised before restoring it");
        }
        let author = crate::registry::store::Author {
            actor: "restore".into(),
            action: crate::registry::store::Action::Create,
        };
        let mut by_service: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (k, v) in secrets {
            let id = k.split(':').next().unwrap_or_default().to_string();
            by_service.entry(id).or_default().push((k, v));
        }
        // What failed is tried again, a few times, still marked: the version is raised
        // first, so the store does not look as if it lost its data again, and a record not
        // written back now never would be (found in the last read: every failure was
        // dropped, and the mark lifted over a half-restored store).
        let mut records: Vec<&Record> = records.iter().collect();
        let mut by_service: Vec<(String, Vec<(String, String)>)> = by_service.into_iter().collect();
        for attempt in 0..RESTORE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(RETRY_SOON).await;
            }
            let mut failed = Vec::new();
            for r in records {
                keep_marked(shared, &mut mark).await;
                // Not written where the store holds a newer reading, or a change since.
                if shared.restore_record(r, &author).await.is_err() {
                    failed.push(r);
                }
            }
            records = failed;
            let mut unsent = Vec::new();
            for (id, s) in by_service {
                keep_marked(shared, &mut mark).await;
                if shared.put_secrets(&id, &s).await.is_err() {
                    unsent.push((id, s));
                }
            }
            by_service = unsent;
            if records.is_empty() && by_service.is_empty() {
                break;
            }
        }
        if !records.is_empty() || !by_service.is_empty() {
            tracing::error!(
                records = records.len(),
                services_secrets = by_service.len(),
                "the registry store could not be fully restored; those services are missing until a ministry writes them again"
            );
        }
        if let Some(mark) = mark {
            if let Err(e) = shared.end_restore(mark).await {
                tracing::warn!(error = %e, "the registry store's restore mark stays until it expires");
            }
        }
    }

    pub(super) async fn try_seed(&self, shared: &SharedStore) -> Result<(), RefreshError> {
        let listing = shared.list().await?;
        if listing.records.is_empty() && listing.unreadable.is_empty() {
            // Marked as a restore is: the others apply nothing until every service is in.
            // Found in a bypass probe: instances started together on an empty store applied
            // one another's half-imported registry, and most services answered 404 for 5 s.
            let mut mark = shared.begin_restore().await.ok();
            let author = crate::registry::store::Author {
                actor: "import".into(),
                action: crate::registry::store::Action::Create,
            };
            for s in &self.snapshot().config.services {
                let Some(doc) = document_of_file(&s.file) else {
                    continue;
                };
                keep_marked(shared, &mut mark).await;
                // As the oldest reading there is (version 0): two instances importing at
                // once, the second finds each record there; and a running instance's
                // reading given back after a loss wins over the files (found in review: a
                // fresh instance that found the store emptied first imported its files,
                // and the running instances' newer readings were never written back).
                let imported = Record {
                    id: s.id.clone(),
                    ministry: s.ministry.clone(),
                    version: 0,
                    document: doc,
                    restored_from: None,
                };
                let _ = shared.restore_record(&imported, &author).await;
            }
            if let Some(mark) = mark {
                if let Err(e) = shared.end_restore(mark).await {
                    tracing::warn!(error = %e, "the registry store's import mark stays until it expires");
                }
            }
        }
        // A loss given back before this instance started is not its to give back.
        if let Ok(loss) = shared.losses(false).await {
            if let Ok(mut r) = self.restored_loss.lock() {
                *r = loss;
            }
        }
        self.refresh().await.map(|_| ())
    }
}

/// How many times a restore writes back what failed before it gives up.
const RESTORE_ATTEMPTS: u32 = 5;

/// Renews this instance's restore mark when it is due (see `SharedStore::keep_restoring`).
async fn keep_marked(shared: &SharedStore, mark: &mut Option<crate::registry::store::RestoreMark>) {
    if let Some(m) = mark.as_mut() {
        if let Err(e) = shared.keep_restoring(m).await {
            tracing::warn!(error = %e, "the registry store's restore mark could not be renewed");
        }
    }
}
