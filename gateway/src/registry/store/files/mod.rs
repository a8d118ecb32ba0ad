//! The registry in files, the embedded default: `services_dir` (one TOML file per service,
//! `<ministry>/<id>.toml`) stays the source of truth, so what an operator reads in the
//! repository is what runs.
//!
//! A write goes to a temporary file beside the target and is renamed over it (a reader never
//! sees half a file). The history is a JSON-lines file (`[registry] history`), one [`Change`]
//! per line, appended; versions number its lines across the whole registry. A service found
//! on disk without history is at version 0. Edits made by hand (or by GitOps) are found by
//! [`FileStore::absorb_edits`] (the directory is polled) and recorded as `file_edit`
//! changes. A poll reads only the files whose metadata moved since they were last read
//! ([`Stamp`], as git's index does), so it costs a `stat` per service, not a read and a
//! hash. Secrets given to the admin API are kept in `registry-secrets.json` beside the
//! history, readable by the gateway's user only.

mod document;
mod durable;
mod history;
mod poll;
mod secrets;
mod stamp;

pub use document::{document_of, toml_of, WRITTEN_SECRET};
pub use history::{read_history, read_history_of};
pub use secrets::{read_secrets, secrets_file, with_kept_secrets};

use super::{diff, now, Author, Change, Expect, Listing, Record, RegistryStore, StoreError};
use crate::config::{read_config_file, service_file, service_files};
use async_trait::async_trait;
use document::by_file;
use history::{line_len, HistoryBytes};
use serde_json::Value;
use sha2::{Digest, Sha256};
use stamp::Stamp;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What the store knows of one service file.
#[derive(Debug, Clone)]
struct Known {
    ministry: String,
    version: u64,
    /// SHA-256 of the file's bytes as last read or written.
    hash: [u8; 32],
    /// The file's metadata before it was last read (`None`: read it at the next poll).
    stamp: Option<Stamp>,
    /// The document as last read or written; a later edit that does not parse leaves this
    /// (the last good version) in place.
    document: Value,
}

#[derive(Debug, Default)]
struct Index {
    services: HashMap<String, Known>,
    /// The registry's latest version.
    version: u64,
}

/// A file that cannot be read as a service document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenFile {
    pub file: PathBuf,
    pub reason: String,
}

/// The files store.
pub struct FileStore {
    dir: PathBuf,
    history: PathBuf,
    secrets: PathBuf,
    index: Mutex<Index>,
    /// The bytes each ministry's lines hold in the history, and the most they may
    /// ([`FileStore::with_history_per_ministry`]).
    history_bytes: Mutex<HashMap<String, HistoryBytes>>,
    history_per_ministry: u64,
    /// Service files read by polls, for the test that unchanged ones are not.
    #[cfg(test)]
    reads: std::sync::atomic::AtomicUsize,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A hash no file's bytes have: the file is read and compared at the next scan.
const UNREAD: [u8; 32] = [0; 32];

/// A service as its last history line recorded it (`None`: that line is its deletion),
/// marked to be compared with its file at the next scan.
fn as_recorded(change: &Change) -> Option<Known> {
    Some(Known {
        ministry: change.ministry.clone(),
        version: change.version,
        hash: UNREAD,
        stamp: None,
        document: change.document.clone()?,
    })
}

impl FileStore {
    /// The store over `dir` (the services directory), with its history in `history`. Reads
    /// the history to know each service's version.
    pub fn open(dir: &Path, history: &Path) -> Result<Self, StoreError> {
        let store = Self {
            dir: dir.to_path_buf(),
            history: history.to_path_buf(),
            secrets: secrets_file(history),
            index: Mutex::new(Index::default()),
            history_bytes: Mutex::default(),
            history_per_ministry: crate::config::DEFAULT_HISTORY_PER_MINISTRY,
            #[cfg(test)]
            reads: Default::default(),
        };
        let changes = store.read_history()?;
        {
            let mut bytes = store.history_bytes()?;
            for c in &changes {
                bytes.entry(c.ministry.clone()).or_default().bytes += line_len(c);
            }
        }
        let mut index = Index::default();
        let mut last: HashMap<&str, &Change> = HashMap::new();
        for c in &changes {
            index.version = index.version.max(c.version);
            last.insert(c.id.as_str(), c);
        }
        // The index starts from what the history last said of each service; the first scan
        // (below) then records what the files say differently, edits and removals made
        // while no gateway ran, by the path live edits take. Found when tried: the history
        // ended on a version the file no longer held, and its ETag named it.
        for (id, ministry, path) in store.files()?.0 {
            let stamp = Stamp::of(&path);
            let read = read_config_file(&path).and_then(|bytes| {
                let document = std::str::from_utf8(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(document_of)?;
                Ok((bytes, document))
            });
            let recorded = last.get(id.as_str()).copied();
            let known = match (read, recorded) {
                // As the history last recorded it, or found without history (version 0).
                (Ok((bytes, document)), recorded)
                    if recorded.is_none_or(|c| {
                        c.document.as_ref() == Some(&document) && c.ministry == ministry
                    }) =>
                {
                    Known {
                        ministry,
                        version: recorded.map_or(0, |c| c.version),
                        hash: hash(&bytes),
                        stamp,
                        document,
                    }
                }
                // Otherwise as the history has it, for the scan to compare the file with
                // (one that does not read keeps that version, reported).
                (_, Some(c)) => match as_recorded(c) {
                    Some(k) => k,
                    None => continue,
                },
                // Unreadable and never recorded: the scan reports it.
                (_, None) => continue,
            };
            index.services.insert(id, known);
        }
        // Removed while no gateway ran: known as recorded, so the scan records the removal.
        for c in last.values() {
            if !index.services.contains_key(&c.id) {
                if let Some(k) = as_recorded(c) {
                    index.services.insert(c.id.clone(), k);
                }
            }
        }
        *store.lock()? = index;
        // A failure to record them (a full disk) is the poller's to retry, not a reason
        // not to start.
        if let Err(e) = store.absorb_edits() {
            tracing::warn!(error = %e, "registry: the edits made while no gateway ran are not recorded yet");
        }
        Ok(store)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Index>, StoreError> {
        self.index
            .lock()
            .map_err(|_| StoreError::Unavailable("registry index lock poisoned".into()))
    }

    /// `(id, ministry, path)` of every service file, sorted, and the files in the wrong
    /// place (`crate::config::service_files`, the listing a start and `check` make).
    #[allow(clippy::type_complexity)]
    fn files(&self) -> Result<(Vec<(String, String, PathBuf)>, Vec<PathBuf>), StoreError> {
        let (files, misplaced) = service_files(&self.dir).map_err(unavailable)?;
        let named = |p: Option<&std::ffi::OsStr>| p.and_then(|n| n.to_str()).map(str::to_string);
        let out = files
            .into_iter()
            .filter_map(|path| {
                let ministry = named(path.parent().and_then(Path::file_name))?;
                let id = named(path.file_stem())?;
                Some((id, ministry, path))
            })
            .collect();
        Ok((out, misplaced))
    }

    /// A service found on disk without history is at version 0, which no history line
    /// holds: before its first change, its file is recorded as a version of its own (a
    /// `file_edit` by `file`), the version a rollback to what the repository held names.
    /// Found when tried: once a ministry had changed a service through the API, nothing
    /// could bring back the version its file had.
    fn record_as_found(
        &self,
        index: &mut Index,
        id: &str,
        known: &Known,
    ) -> Result<(), StoreError> {
        if known.version != 0 {
            return Ok(());
        }
        let version = index.version + 1;
        self.append(&by_file(
            version,
            id,
            &known.ministry,
            None,
            Some(known.document.clone()),
        ))?;
        index.version = version;
        if let Some(k) = index.services.get_mut(id) {
            k.version = version;
        }
        Ok(())
    }

    fn check(known: Option<&Known>, expect: Expect) -> Result<(), StoreError> {
        let current = known.map(|k| k.version);
        let ok = match expect {
            Expect::Absent => known.is_none(),
            Expect::Version(v) => current == Some(v),
            Expect::Any => true,
        };
        if ok {
            Ok(())
        } else {
            Err(StoreError::Conflict { current })
        }
    }
}

#[async_trait]
impl RegistryStore for FileStore {
    async fn list(&self) -> Result<Listing, StoreError> {
        let index = self.lock()?;
        let mut out: Vec<Record> = index
            .services
            .iter()
            .map(|(id, k)| Record {
                id: id.clone(),
                ministry: k.ministry.clone(),
                version: k.version,
                document: k.document.clone(),
                restored_from: None,
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        // A file that cannot be read is reported by the scan that finds it.
        Ok(Listing {
            records: out,
            unreadable: Vec::new(),
        })
    }

    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.lock()?.services.get(id).map(|k| Record {
            id: id.to_string(),
            ministry: k.ministry.clone(),
            version: k.version,
            document: k.document.clone(),
            restored_from: None,
        }))
    }

    async fn put(
        &self,
        id: &str,
        ministry: &str,
        document: &Value,
        expect: Expect,
        author: &Author,
    ) -> Result<u64, StoreError> {
        let mut index = self.lock()?;
        let known = index.services.get(id).cloned();
        Self::check(known.as_ref(), expect)?;
        // Written over the file it replaces, that file's comments and order kept: only the
        // text this store last read or wrote (a file since swapped for a link to
        // `/dev/zero`, a FIFO or another file is read with the scan's bounds, and not used;
        // found in review).
        let old = known.as_ref().and_then(|k| {
            let bytes = read_config_file(&service_file(&self.dir, &k.ministry, id)).ok()?;
            let text = String::from_utf8(bytes).ok()?;
            (hash(text.as_bytes()) == k.hash).then_some(text)
        });
        let text = match old {
            Some(old) => super::file_text::edited(&old, document),
            None => toml_of(document),
        }
        .map_err(StoreError::Corrupt)?;
        let before = known.as_ref().map(|k| k.document.clone());
        let path = service_file(&self.dir, ministry, id);
        // Staged, recorded, then put in place: a change the history refuses never reaches
        // the file (the API answered 503 "nothing was changed" while the file was
        // rewritten, and the next scan recorded it as a hand edit; found when tried).
        let staged = Self::stage(&path, text.as_bytes(), false)?;
        if let Some(k) = &known {
            if let Err(e) = self.record_as_found(&mut index, id, k) {
                let _ = std::fs::remove_file(&staged);
                return Err(e);
            }
        }
        let version = index.version + 1;
        let recorded = self.append(&Change {
            version,
            id: id.to_string(),
            ministry: ministry.to_string(),
            action: author.action,
            actor: author.actor.clone(),
            at: now(),
            diff: diff(before.as_ref(), Some(document)),
            document: Some(document.clone()),
        });
        if let Err(e) = recorded {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
        index.version = version;
        if let Err(e) = std::fs::rename(&staged, &path) {
            let _ = std::fs::remove_file(&staged);
            tracing::error!(file = %path.display(), error = %e, "registry: a recorded change could not be put in place; the next scan records the file as it is");
            // Recorded: the store knows the change (the version is taken), and the file,
            // which differs from it, is recorded as it is by the next scan.
            index.services.insert(
                id.to_string(),
                Known {
                    ministry: ministry.to_string(),
                    version,
                    hash: hash(text.as_bytes()),
                    stamp: None,
                    document: document.clone(),
                },
            );
            return Err(unavailable(e));
        }
        if let Some(k) = &known {
            if k.ministry != ministry {
                let _ = std::fs::remove_file(service_file(&self.dir, &k.ministry, id));
            }
        }
        index.services.insert(
            id.to_string(),
            Known {
                ministry: ministry.to_string(),
                version,
                hash: hash(text.as_bytes()),
                // Just written, so too recent to trust: the next poll reads it once.
                stamp: None,
                document: document.clone(),
            },
        );
        Ok(version)
    }

    async fn delete(&self, id: &str, expect: Expect, author: &Author) -> Result<u64, StoreError> {
        let mut index = self.lock()?;
        let Some(known) = index.services.get(id).cloned() else {
            return Err(StoreError::Conflict { current: None });
        };
        Self::check(Some(&known), expect)?;
        let before = Some(known.document.clone());
        let path = service_file(&self.dir, &known.ministry, id);
        // Moved aside (no space needed), recorded, then removed; put back if refused.
        let aside = path.with_extension(format!("toml.deleted-{}", std::process::id()));
        std::fs::rename(&path, &aside).map_err(unavailable)?;
        if let Err(e) = self.record_as_found(&mut index, id, &known) {
            if let Err(back) = std::fs::rename(&aside, &path) {
                tracing::error!(file = %path.display(), error = %back, "registry: a refused deletion could not be undone on disk");
            }
            return Err(e);
        }
        let version = index.version + 1;
        let recorded = self.append(&Change {
            version,
            id: id.to_string(),
            ministry: known.ministry,
            action: author.action,
            actor: author.actor.clone(),
            at: now(),
            diff: diff(before.as_ref(), None),
            document: None,
        });
        if let Err(e) = recorded {
            if let Err(back) = std::fs::rename(&aside, &path) {
                tracing::error!(file = %path.display(), error = %back, "registry: a refused deletion could not be undone on disk");
            }
            return Err(e);
        }
        let _ = std::fs::remove_file(&aside);
        index.services.remove(id);
        index.version = version;
        Ok(version)
    }

    async fn history(&self, id: &str) -> Result<Vec<Change>, StoreError> {
        // Off the runtime: a large history held the admin listener's /readyz for seconds.
        let (path, id) = (self.history.clone(), id.to_string());
        tokio::task::spawn_blocking(move || read_history_of(&path, &id))
            .await
            .map_err(unavailable)?
    }

    async fn put_secrets(&self, _id: &str, secrets: &[(String, String)]) -> Result<(), StoreError> {
        if secrets.is_empty() {
            return Ok(());
        }
        let _index = self.lock()?;
        let mut all = self.read_secrets()?;
        all.extend(secrets.iter().cloned());
        self.write_secrets(&all)
    }

    async fn forget_secrets(&self, _id: &str, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let _index = self.lock()?;
        let mut all = self.read_secrets()?;
        let before = all.len();
        for k in keys {
            all.remove(k);
        }
        if all.len() == before {
            return Ok(());
        }
        self.write_secrets(&all)
    }

    async fn secrets(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self.read_secrets()?.into_iter().collect())
    }

    async fn version(&self) -> Result<u64, StoreError> {
        Ok(self.lock()?.version)
    }
}

#[cfg(test)]
mod tests;
