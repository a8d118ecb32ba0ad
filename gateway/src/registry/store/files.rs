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

use super::{
    diff, now, Action, Author, Change, Expect, Listing, Record, RegistryStore, StoreError,
};
use crate::config::{hidden, read_config_file, service_file, toml_problem};
use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A file's metadata when its bytes were last read: while it stays the same, so do the
/// bytes. The change time and inode are in it because tools that copy files keep their
/// modification time (`cp -p`, `rsync -a`) but cannot keep those; a write through a
/// temporary file (editors, GitOps, this store) gives a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
    inode: u64,
}

/// A stamp is trusted only once the file's last change is this much older than the stat
/// that took it: a change in the same clock tick as the read could otherwise leave the stamp
/// as it was (git's "racy clean" case). Twice the coarsest timestamps in use (FAT's 2 s;
/// ext4 and xfs keep nanoseconds), since a file's time is rounded down and the clock is not.
const RACY: Duration = Duration::from_secs(4);

impl Stamp {
    /// The stamp of `path` as of now, `None` when it cannot be trusted (too recent, or no
    /// such metadata on this platform): the file is then read at every poll until it can.
    fn of(path: &Path) -> Option<Stamp> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let taken = SystemTime::now();
            let m = std::fs::metadata(path).ok()?;
            let changed = SystemTime::UNIX_EPOCH.checked_add(Duration::new(
                u64::try_from(m.ctime()).ok()?,
                u32::try_from(m.ctime_nsec()).ok()?,
            ))?;
            if taken.duration_since(changed).ok()? < RACY {
                return None;
            }
            Some(Stamp {
                len: m.len(),
                modified: (m.mtime(), m.mtime_nsec()),
                changed: (m.ctime(), m.ctime_nsec()),
                inode: m.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }
}

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

/// `document` if it is the service its file's place names: its `id` the file's name, its
/// `ministry` the directory's. Anything else is not taken in, so never stored, served or
/// written to the history: a ministry that linked `gateway.toml` (or another ministry's
/// file) into its own directory read it back through the admin API, admin keys' hashes
/// included (found when tried).
fn placed(document: Value, id: &str, ministry: &str) -> Result<Value, String> {
    let field = |name: &str| {
        document
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match (field("id"), field("ministry")) {
        (Some(i), Some(m)) if i == id && m == ministry => Ok(document),
        (i, m) => Err(format!(
            "names id {} and ministry {}; a service file's id is its file name ({id:?}) and its ministry its directory ({ministry:?})",
            i.map_or("none".into(), |i| format!("{i:?}")),
            m.map_or("none".into(), |m| format!("{m:?}")),
        )),
    }
}

/// The ministry whose file has `id` when `ministry`'s file with the same id is not the one
/// that counts: the one the registry already knows it from, or, for an id new to it, any
/// other (neither is taken until one is gone).
fn claimed_elsewhere<'a>(
    places: &HashMap<&str, Vec<&'a str>>,
    index: &'a Index,
    id: &str,
    ministry: &str,
) -> Option<&'a str> {
    let here = places.get(id)?;
    if here.len() < 2 {
        return None;
    }
    match index.services.get(id) {
        Some(k) if k.ministry == ministry => None,
        Some(k) if here.contains(&k.ministry.as_str()) => Some(k.ministry.as_str()),
        _ => here.iter().copied().find(|m| *m != ministry),
    }
}

/// A service file's document: its TOML as JSON.
/// A TOML problem says where, on one line (as `check` does): `line 3, column 7: ...`.
pub fn document_of(text: &str) -> Result<Value, String> {
    let value: toml::Value = toml::from_str(text).map_err(|e| toml_problem(text, &e))?;
    let mut document = serde_json::to_value(value).map_err(|e| e.to_string())?;
    drop_written_secrets(&mut document);
    Ok(document)
}

/// What stands in a document for a secret written in its file where a reference belongs.
pub const WRITTEN_SECRET: &str = "(a secret written in the file: never kept)";

/// Replaces every secret an adapter step holds as written (`password = "..."`, or `{ value
/// = "..." }`, which only the API takes) with [`WRITTEN_SECRET`]: the document of a file is
/// what the API reads back, and what the history keeps for good. Found in a bypass probe: a
/// hand-written `password = "..."` was refused with a message that did not repeat it, but
/// the API's read returned it and the history kept it after the file was mended. Such a
/// step is still refused; only references (`env`, `file`, `stored`) are kept.
fn drop_written_secrets(document: &mut Value) {
    let Some(steps) = document.get_mut("adapters").and_then(Value::as_array_mut) else {
        return;
    };
    for step in steps.iter_mut().filter_map(Value::as_object_mut) {
        for field in ["password", "key"] {
            let Some(v) = step.get_mut(field) else {
                continue;
            };
            let reference = v.as_object().is_some_and(|m| {
                m.len() == 1
                    && ["env", "file", "stored"]
                        .iter()
                        .any(|k| m.get(*k).is_some_and(Value::is_string))
            });
            if !reference {
                *v = Value::String(WRITTEN_SECRET.into());
            }
        }
    }
}

/// The TOML text of a document (`null`s are refused: TOML has none).
pub fn toml_of(document: &Value) -> Result<String, String> {
    let value = toml::Value::try_from(document).map_err(|e| e.to_string())?;
    toml::to_string_pretty(&value).map_err(|e| e.to_string())
}

/// A change a file made (a hand or GitOps edit, or the file as found before its first
/// change through the API): from `before` to `after` (`None`: the file is gone).
fn by_file(
    version: u64,
    id: &str,
    ministry: &str,
    before: Option<&Value>,
    after: Option<Value>,
) -> Change {
    Change {
        version,
        id: id.to_string(),
        ministry: ministry.to_string(),
        action: Action::FileEdit,
        actor: "file".into(),
        at: now(),
        diff: diff(before, after.as_ref()),
        document: after,
    }
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
        for (id, ministry, path) in store.files()? {
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

    /// The most bytes one ministry's lines may hold in the history
    /// (`registry.history_per_ministry`): past it, its oldest are forgotten
    /// ([`Self::forget_oldest_of`]).
    pub fn with_history_per_ministry(mut self, bytes: u64) -> Self {
        self.history_per_ministry = bytes;
        self
    }

    fn history_bytes(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, HistoryBytes>>, StoreError> {
        self.history_bytes
            .lock()
            .map_err(|_| StoreError::Unavailable("registry history count lock poisoned".into()))
    }

    /// Counts `change`'s line for its ministry and, past the ministry's budget, forgets its
    /// oldest lines. A failure to forget them is logged: the change itself is recorded.
    fn counted(&self, change: &Change) {
        let over = match self.history_bytes() {
            Ok(mut bytes) => {
                let held = bytes.entry(change.ministry.clone()).or_default();
                held.bytes += line_len(change);
                // Not again before a quarter of the budget more was written: what cannot be
                // forgotten may keep a ministry past its budget, and each rewrite reads and
                // writes the whole file (found in review).
                held.bytes > self.history_per_ministry
                    && held.bytes > held.after_last_trim + self.history_per_ministry / 4
            }
            Err(_) => false,
        };
        if over {
            if let Err(e) = self.forget_oldest_of(&change.ministry) {
                tracing::warn!(error = %e, ministry = %change.ministry, "registry history not trimmed");
            }
        }
    }

    /// Rewrites the history without `ministry`'s oldest lines, down to three quarters of its
    /// budget, and forgets the secrets only those lines named. What stays, whoever's it is:
    /// the file's last line (it holds the registry's version, which must never go back), the
    /// last line of each service that exists (its version and whose it is), and lines that
    /// do not parse. A deleted service's lines go like any others: its creation and
    /// deletion churned through unique ids would otherwise be kept for ever (found in
    /// review); once they are gone, a rollback to it is a 404, and its id is free again.
    ///
    /// Found when tried: the history kept every change for ever. Each of a ministry's
    /// changes rewriting a service's 64 header rules of 1 KB each way is a 400 KB line
    /// (the document and the diff); within the 60 changes a minute a ministry may make,
    /// that is 24 MB a minute on the gateway's disk, until the history, the access log
    /// and the audit log can no longer be written.
    ///
    /// Called with the index locked (every append is), so no append runs meanwhile.
    fn forget_oldest_of(&self, ministry: &str) -> Result<(), StoreError> {
        #[derive(serde::Deserialize)]
        struct Line {
            id: String,
            ministry: String,
            action: super::Action,
        }
        let text = match std::fs::read(&self.history) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(unavailable(e)),
        };
        let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
        let parsed: Vec<Option<Line>> = lines
            .iter()
            .map(|l| serde_json::from_slice(l.trim_ascii()).ok())
            .collect();
        let mut last_of: HashMap<&str, usize> = HashMap::new();
        for (i, line) in parsed.iter().enumerate() {
            if let Some(line) = line {
                last_of.insert(line.id.as_str(), i);
            }
        }
        let last_line = parsed.iter().rposition(Option::is_some);
        let stays = |i: usize, l: &Line| {
            Some(i) == last_line
                || (last_of.get(l.id.as_str()) == Some(&i) && l.action != super::Action::Delete)
        };
        let mut held = self.history_bytes()?.get(ministry).map_or(0, |h| h.bytes);
        let target = self.history_per_ministry / 4 * 3;
        let mut kept = Vec::with_capacity(text.len());
        let mut forgotten: HashMap<&str, Vec<Change>> = HashMap::new();
        let mut gone = vec![false; lines.len()];
        for (i, (raw, line)) in lines.iter().zip(&parsed).enumerate() {
            let forget = held > target
                && raw.ends_with(b"\n")
                && line
                    .as_ref()
                    .is_some_and(|l| l.ministry == ministry && !stays(i, l));
            match line.as_ref().filter(|_| forget) {
                Some(l) => {
                    gone[i] = true;
                    held = held.saturating_sub(raw.len() as u64);
                    if let Ok(change) = serde_json::from_slice(raw.trim_ascii()) {
                        forgotten.entry(l.id.as_str()).or_default().push(change);
                    }
                }
                None => kept.extend_from_slice(raw),
            }
        }
        if forgotten.is_empty() {
            if let Some(h) = self.history_bytes()?.get_mut(ministry) {
                h.after_last_trim = h.bytes;
            }
            return Ok(());
        }
        // The secrets only forgotten versions named go with them (found in review: a
        // ministry giving a new secret at each change while its history was trimmed kept
        // every one of them for good).
        let mut unreachable = Vec::new();
        for (id, changes) in &forgotten {
            let still: Vec<Change> = lines
                .iter()
                .zip(&parsed)
                .zip(&gone)
                .filter(|((_, l), gone)| !**gone && l.as_ref().is_some_and(|l| l.id == *id))
                .filter_map(|((raw, _), _)| serde_json::from_slice(raw.trim_ascii()).ok())
                .collect();
            unreachable.extend(super::secrets_only_named_by(changes, &still));
        }
        Self::write_atomically(&self.history, &kept, false)?;
        if let Some(h) = self.history_bytes()?.get_mut(ministry) {
            h.bytes = held;
            h.after_last_trim = held;
        }
        if !unreachable.is_empty() {
            let mut all = self.read_secrets()?;
            let before = all.len();
            for k in &unreachable {
                all.remove(k);
            }
            if all.len() != before {
                self.write_secrets(&all)?;
            }
        }
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Index>, StoreError> {
        self.index
            .lock()
            .map_err(|_| StoreError::Unavailable("registry index lock poisoned".into()))
    }

    /// `(id, ministry, path)` of every service file, sorted.
    fn files(&self) -> Result<Vec<(String, String, PathBuf)>, StoreError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(unavailable)? {
            let ministry_dir = entry.map_err(unavailable)?.path();
            // Hidden directories are no ministry's, as at start-up (`.git`, a `.trash`).
            if !ministry_dir.is_dir() || hidden(&ministry_dir) {
                continue;
            }
            let Some(ministry) = ministry_dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            for inner in std::fs::read_dir(&ministry_dir).map_err(unavailable)? {
                let path = inner.map_err(unavailable)?.path();
                // Hidden entries are never services, as at start-up (an editor's `.#x.toml`
                // lock is a link to nothing).
                if path.extension().is_some_and(|e| e == "toml") && !hidden(&path) {
                    if let Some(id) = path.file_stem().and_then(|n| n.to_str()) {
                        out.push((id.to_string(), ministry.to_string(), path.clone()));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn read_history(&self) -> Result<Vec<Change>, StoreError> {
        read_history(&self.history)
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

    fn append(&self, change: &Change) -> Result<(), StoreError> {
        use std::io::{Read, Seek, SeekFrom};
        let line = serde_json::to_string(change).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.history)
            .map_err(unavailable)?;
        // After a torn append (a crash, a full disk) the file ends mid-line: that record was
        // never acknowledged, so it goes, and the next starts on a line of its own.
        let mut last = [0u8; 1];
        let torn = f.seek(SeekFrom::End(-1)).is_ok()
            && f.read_exact(&mut last).is_ok()
            && last[0] != b'\n';
        if torn {
            let mut text = Vec::new();
            f.seek(SeekFrom::Start(0)).map_err(unavailable)?;
            f.read_to_end(&mut text).map_err(unavailable)?;
            let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            f.set_len(keep as u64).map_err(unavailable)?;
        }
        // One write of the whole line: a record is torn, never complete without its newline
        // (which the next append would take for a torn one). A record not made durable is
        // taken back whole: left there, it named a change that never happened, with the
        // version the next change then took too (found in review).
        let end = f.seek(SeekFrom::End(0)).map_err(unavailable)?;
        let written = f
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| f.sync_data());
        if let Err(e) = written {
            let _ = f.set_len(end);
            return Err(unavailable(e));
        }
        drop(f);
        self.counted(change);
        Ok(())
    }

    /// Writes `bytes` to `path` through a temporary file renamed over it (readable by the
    /// owner alone when `private`).
    fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> Result<(), StoreError> {
        let staged = Self::stage(path, bytes, private)?;
        std::fs::rename(&staged, path).map_err(|e| {
            let _ = std::fs::remove_file(&staged);
            unavailable(e)
        })
    }

    /// `bytes` written and synced beside `path`, to be renamed over it once the change is
    /// recorded (a rename needs no free space: nothing is undone by writing on a full disk).
    fn stage(path: &Path, bytes: &[u8], private: bool) -> Result<PathBuf, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(unavailable)?;
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp-{}", std::process::id()));
        let tmp = path.with_file_name(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = options.open(&tmp).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        match written {
            Ok(()) => Ok(tmp),
            Err(e) => {
                // A full disk left the partial copy behind.
                let _ = std::fs::remove_file(&tmp);
                Err(unavailable(e))
            }
        }
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

    /// Finds the files edited (created, changed, removed) since the store last read or wrote
    /// them, records each as a `file_edit` change, and returns how many there were. Files
    /// that cannot be read as TOML are reported, not recorded (and keep their old hash, so a
    /// fix is found).
    ///
    /// Every file is judged on its own: one that is not a regular file (a FIFO would block
    /// the read, and the registry with it), is larger than [`crate::config::MAX_FILE_BYTES`],
    /// cannot be read (a dangling link), names an id another ministry's file already has, or
    /// is not the service its place names ([`placed`]) is reported and skipped, and the scan
    /// goes on. (A ministry that put a file with another's id in its own directory took that
    /// service over when its directory sorted later.)
    pub fn absorb_edits(&self) -> Result<(usize, Vec<BrokenFile>), StoreError> {
        let files = self.files()?;
        let mut index = self.lock()?;
        let mut seen = std::collections::HashSet::new();
        let mut edits = 0;
        let mut broken = Vec::new();
        let mut places: HashMap<&str, Vec<&str>> = HashMap::new();
        for (id, ministry, _) in &files {
            places.entry(id).or_default().push(ministry);
        }
        for (id, ministry, path) in &files {
            seen.insert(id.clone());
            if let Some(owner) = claimed_elsewhere(&places, &index, id, ministry) {
                broken.push(BrokenFile {
                    file: path.clone(),
                    reason: format!(
                        "service id {id:?} is also {owner}/{id}.toml; an id has one file, in its ministry's directory"
                    ),
                });
                continue;
            }
            let stamp = Stamp::of(path);
            let same_place = |k: &Known| &k.ministry == ministry;
            if let Some(k) = index.services.get(id) {
                if same_place(k) && stamp.is_some() && k.stamp == stamp {
                    continue;
                }
            }
            #[cfg(test)]
            self.reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let bytes = match read_config_file(path) {
                Ok(b) => b,
                Err(reason) => {
                    broken.push(BrokenFile {
                        file: path.clone(),
                        reason,
                    });
                    continue;
                }
            };
            let h = hash(&bytes);
            if let Some(k) = index.services.get_mut(id) {
                if same_place(k) && k.hash == h {
                    k.stamp = stamp;
                    continue;
                }
            }
            // A broken file keeps the old stamp, so it is read (and reported) again.
            let known = index.services.get(id).cloned();
            let after = match std::str::from_utf8(&bytes)
                .map_err(|e| e.to_string())
                .and_then(document_of)
                .and_then(|d| placed(d, id, ministry))
            {
                Ok(d) => d,
                Err(reason) => {
                    broken.push(BrokenFile {
                        file: path.clone(),
                        reason,
                    });
                    continue;
                }
            };
            // The file as found is a version of its own before its first edit, as before an
            // API change ([`Self::record_as_found`]): found when tried, after a hand edit
            // nothing could bring back the file the repository had held.
            if let Some(k) = known.as_ref().filter(|k| same_place(k)) {
                self.record_as_found(&mut index, id, k)?;
            }
            // Counted only once recorded: a refused record left the version taken and the
            // edit unrecorded for good (found in review).
            let version = index.version + 1;
            let before = known.as_ref().map(|k| &k.document);
            let change = by_file(version, id, ministry, before, Some(after.clone()));
            self.append(&change)?;
            index.version = version;
            index.services.insert(
                id.clone(),
                Known {
                    ministry: ministry.clone(),
                    version,
                    hash: h,
                    stamp,
                    document: after,
                },
            );
            edits += 1;
        }
        let gone: Vec<String> = index
            .services
            .keys()
            .filter(|id| !seen.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            let Some(known) = index.services.get(&id).cloned() else {
                continue;
            };
            // Listed before the lock: a deletion may have had it aside meanwhile, and put
            // it back (found in review).
            if service_file(&self.dir, &known.ministry, &id).exists() {
                continue;
            }
            let version = index.version + 1;
            self.append(&by_file(
                version,
                &id,
                &known.ministry,
                Some(&known.document),
                None,
            ))?;
            index.services.remove(&id);
            index.version = version;
            edits += 1;
        }
        Ok((edits, broken))
    }

    fn read_secrets(&self) -> Result<BTreeMap<String, String>, StoreError> {
        read_secrets(&self.secrets)
    }

    /// Replaces the secrets file with `all` (owner-only, synced, renamed into place).
    fn write_secrets(&self, all: &BTreeMap<String, String>) -> Result<(), StoreError> {
        let json = serde_json::to_vec(all).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Self::write_atomically(&self.secrets, &json, true)
    }
}

/// The files store's history at `path`, one change per line. A last line cut short (an
/// append a crash or a full disk interrupted) is left out with a warning, as JSON-lines
/// readers do; any other unreadable line is an error naming the file and the line (found
/// when tried: a torn last line stopped `serve` with "line 1", naming no file).
pub fn read_history(path: &Path) -> Result<Vec<Change>, StoreError> {
    read_history_lines(path, |_| true)
}

/// The changes of service `id` in the history at `path`. Only its own lines are parsed, one
/// line in memory at a time: the whole file read and parsed for one service's history took
/// seconds and a gigabyte once a ministry had grown it with large documents (found when
/// tried).
pub fn read_history_of(path: &Path, id: &str) -> Result<Vec<Change>, StoreError> {
    // Records are written compactly with `id` right after `version`; a document naming the
    // id elsewhere only costs a parse, filtered out below.
    let needle = format!("\"id\":{}", Value::from(id));
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let mut changes = read_history_lines(path, |line| finder.find(line).is_some())?;
    changes.retain(|c| c.id == id);
    Ok(changes)
}

/// The history's records on the lines `wanted` picks, read line by line as bytes (a line
/// cut short inside a multi-byte character is a torn line too, not an unreadable file;
/// found in review).
fn read_history_lines(
    path: &Path,
    wanted: impl Fn(&[u8]) -> bool,
) -> Result<Vec<Change>, StoreError> {
    use std::io::BufRead;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unavailable(format!("{}: {e}", path.display()))),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut changes = Vec::new();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| unavailable(format!("{}: line {number}: {e}", path.display())))?;
        if read == 0 {
            break;
        }
        let complete = line.ends_with(b"\n");
        let text = line.trim_ascii();
        if text.is_empty() || !wanted(text) {
            continue;
        }
        match serde_json::from_slice(text) {
            Ok(c) => changes.push(c),
            Err(_) if !complete => {
                tracing::warn!(file = %path.display(), line = number, "registry history: a last line cut short is left out");
            }
            Err(e) => {
                return Err(StoreError::Corrupt(format!(
                    "{}: line {number}: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok(changes)
}

/// The bytes one ministry's lines hold in the history, and held after its last trim.
#[derive(Debug, Default, Clone, Copy)]
struct HistoryBytes {
    bytes: u64,
    after_last_trim: u64,
}

/// The bytes `change`'s line holds in the history, its newline included.
fn line_len(change: &Change) -> u64 {
    serde_json::to_string(change).map_or(0, |l| l.len() as u64 + 1)
}

/// The secrets the admin API keeps, in `path` (none if there is no file yet).
pub fn read_secrets(path: &Path) -> Result<BTreeMap<String, String>, StoreError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(unavailable(format!("{}: {e}", path.display()))),
    }
}

/// `secrets` with those a files registry keeps (what the admin API was given), so that the
/// service files' `{ stored = … }` references resolve at start-up and in `check` as they do
/// at every reload. Found when tried: a restart after a ministry gave a secret through the
/// API refused the whole configuration ("no stored secret …, give it again through the
/// admin API", with the API down), so one ordinary restart took the portal down. A shared
/// (Redis) registry is read after start and gives its secrets then.
pub fn with_kept_secrets(
    config: &crate::config::Config,
    secrets: &crate::config::Secrets,
) -> Result<crate::config::Secrets, StoreError> {
    let registry = &config.gateway.registry;
    if registry.store != crate::config::RegistryStoreKind::Files {
        return Ok(secrets.clone());
    }
    let kept = read_secrets(&secrets_file(&registry.history))?;
    Ok(secrets.clone().with_stored(kept))
}

/// Where the files store keeps the secrets given to the admin API: beside its history.
pub fn secrets_file(history: &Path) -> PathBuf {
    history.with_file_name("registry-secrets.json")
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
mod tests {
    use super::*;
    use serde_json::json;

    /// Found in a bypass probe: a secret hand-written in a service file came back from the
    /// API's read and stayed in the history.
    #[test]
    fn a_secret_written_in_a_file_never_reaches_its_document() {
        let text = r#"
id = "x"
[[adapters]]
step = "basic-auth"
username = "svc"
password = "hunter2"
[[adapters]]
step = "api-key"
key = { value = "k-hunter2" }
[[adapters]]
step = "basic-auth"
password = { env = "EGOV_SECRET_X" }
"#;
        let doc = document_of(text).expect("a document");
        assert!(!doc.to_string().contains("hunter2"), "{doc}");
        assert_eq!(doc["adapters"][0]["password"], WRITTEN_SECRET);
        assert_eq!(doc["adapters"][1]["key"], WRITTEN_SECRET);
        assert_eq!(
            doc["adapters"][2]["password"],
            json!({ "env": "EGOV_SECRET_X" })
        );
    }

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch() -> Dir {
        let d = std::env::temp_dir().join(format!(
            "egov-files-{}-{}",
            std::process::id(),
            crate::sso::session::random_token()
        ));
        std::fs::create_dir_all(d.join("services/m")).expect("dir");
        Dir(d)
    }

    fn by(action: Action) -> Author {
        Author {
            actor: "test".into(),
            action,
        }
    }

    #[tokio::test]
    async fn a_written_service_is_a_file_and_a_version_in_the_history() {
        let d = scratch();
        let store =
            FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
        let v = store
            .put(
                "svc",
                "m",
                &json!({"id": "svc", "names": {"fr": "S"}}),
                Expect::Absent,
                &by(Action::Create),
            )
            .await
            .expect("put");
        assert_eq!(v, 1);
        let text = std::fs::read_to_string(d.0.join("services/m/svc.toml")).expect("file");
        assert_eq!(
            document_of(&text).expect("toml"),
            json!({"id": "svc", "names": {"fr": "S"}})
        );
        // A second store over the same files knows the version from the history.
        let again =
            FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
        assert_eq!(
            again
                .get("svc")
                .await
                .expect("get")
                .expect("record")
                .version,
            1
        );
        assert!(matches!(
            again
                .put(
                    "svc",
                    "m",
                    &json!({}),
                    Expect::Version(0),
                    &by(Action::Replace)
                )
                .await,
            Err(StoreError::Conflict { current: Some(1) })
        ));
    }

    /// Found when tried: a history whose last append was cut short stopped `serve`, with an
    /// error naming neither the file nor the line.
    #[tokio::test]
    async fn a_service_found_on_disk_keeps_its_files_version_in_the_history_at_its_first_change() {
        let d = scratch();
        let found = json!({"id": "svc", "names": {"fr": "Du dépôt"}});
        let text = toml_of(&found).expect("toml");
        std::fs::write(d.0.join("services/m/svc.toml"), text).expect("write");
        let gone = json!({"id": "old", "names": {"fr": "Ancien"}});
        std::fs::write(
            d.0.join("services/m/old.toml"),
            toml_of(&gone).expect("toml"),
        )
        .expect("write");
        let store =
            FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
        assert_eq!(
            store.get("svc").await.expect("get").expect("svc").version,
            0
        );

        let changed = json!({"id": "svc", "names": {"fr": "Changé"}});
        let v = store
            .put(
                "svc",
                "m",
                &changed,
                Expect::Version(0),
                &by(Action::Replace),
            )
            .await
            .expect("put");
        let history = store.history("svc").await.expect("history");
        let kept: Vec<_> = history
            .iter()
            .map(|c| (c.version, c.action, c.actor.as_str(), c.document.clone()))
            .collect();
        assert_eq!(
            kept,
            [
                (1, Action::FileEdit, "file", Some(found)),
                (2, Action::Replace, "test", Some(changed)),
            ]
        );
        assert_eq!(v, 2);

        // A deletion is its first change too.
        store
            .delete("old", Expect::Any, &by(Action::Delete))
            .await
            .expect("delete");
        let history = store.history("old").await.expect("history");
        assert_eq!(history.len(), 2, "{history:?}");
        assert_eq!(history[0].document, Some(gone));
        assert_eq!(history[1].document, None);
    }

    #[tokio::test]
    async fn edits_and_removals_made_while_no_gateway_ran_are_recorded_when_it_opens() {
        let d = scratch();
        let open = || FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl"));
        let store = open().expect("open");
        for id in ["kept", "edited", "removed"] {
            store
                .put(
                    id,
                    "m",
                    &json!({"id": id, "names": {"fr": "Avant"}}),
                    Expect::Absent,
                    &by(Action::Create),
                )
                .await
                .expect("put");
        }
        drop(store);
        let edited = json!({"id": "edited", "ministry": "m", "names": {"fr": "Après"}});
        std::fs::write(
            d.0.join("services/m/edited.toml"),
            toml_of(&edited).expect("toml"),
        )
        .expect("edit");
        std::fs::remove_file(d.0.join("services/m/removed.toml")).expect("remove");

        let store = open().expect("open again");
        let record = store.get("edited").await.expect("get").expect("edited");
        assert_eq!((record.version, &record.document), (4, &edited));
        let history = store.history("edited").await.expect("history");
        let last = history.last().expect("a change");
        assert_eq!(
            (last.action, last.actor.as_str()),
            (Action::FileEdit, "file")
        );
        assert_eq!(
            last.diff["/names/fr"],
            json!({"from": "Avant", "to": "Après"})
        );
        let removed = store.history("removed").await.expect("history");
        assert_eq!(
            removed.last().map(|c| (c.version, c.document.is_none())),
            Some((5, true))
        );
        assert_eq!(
            store.get("kept").await.expect("get").map(|r| r.version),
            Some(1)
        );
        // Opened once more, nothing more is recorded.
        drop(store);
        assert_eq!(
            open()
                .expect("a third time")
                .version()
                .await
                .expect("version"),
            5
        );
    }

    #[tokio::test]
    async fn a_history_cut_short_loses_only_its_torn_line_and_goes_on() {
        let d = scratch();
        let history = d.0.join("history.jsonl");
        let store = FileStore::open(&d.0.join("services"), &history).expect("open");
        let doc = json!({"id": "svc", "names": {"fr": "S"}});
        store
            .put("svc", "m", &doc, Expect::Absent, &by(Action::Create))
            .await
            .expect("put");
        let mut text = std::fs::read_to_string(&history).expect("history");
        text.push_str("{\"version\": 2, \"id\": \"svc\", \"act");
        std::fs::write(&history, &text).expect("tear");
        let again =
            FileStore::open(&d.0.join("services"), &history).expect("a torn line is left out");
        let v = again
            .put("svc", "m", &doc, Expect::Version(1), &by(Action::Replace))
            .await
            .expect("put after the torn line");
        assert_eq!(v, 2);
        assert_eq!(read_history(&history).expect("read").len(), 2);
    }

    #[tokio::test]
    async fn a_services_history_is_read_from_its_own_lines_only() {
        let d = scratch();
        let history = d.0.join("history.jsonl");
        let store = FileStore::open(&d.0.join("services"), &history).expect("open");
        for id in ["svc", "other"] {
            store
                .put(
                    id,
                    "m",
                    &json!({ "id": id }),
                    Expect::Absent,
                    &by(Action::Create),
                )
                .await
                .expect("put");
        }
        // Another service's line that no parser would take: never parsed for "svc".
        let mut text = std::fs::read_to_string(&history).expect("history");
        text.push_str("{\"version\":3,\"id\":\"other\",\"document\":[[[\n");
        std::fs::write(&history, &text).expect("write");
        let changes = store.history("svc").await.expect("svc's history");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].id, "svc");
        assert!(
            read_history(&history).is_err(),
            "the whole file is still checked"
        );
    }

    /// Makes the history at `path` refuse every append (a directory in its place, as a
    /// full disk would refuse them); returns what it held.
    fn refuse_appends(path: &Path) -> Vec<u8> {
        let kept = std::fs::read(path).unwrap_or_default();
        let _ = std::fs::remove_file(path);
        std::fs::create_dir(path).expect("a directory in its place");
        kept
    }

    /// Found when tried, with a full disk: the API answered 503 "nothing was changed" while
    /// the service file was already rewritten (or removed), and the next scan recorded it
    /// as a hand edit with no trace of who made it.
    #[tokio::test]
    async fn a_change_the_history_refuses_leaves_the_service_file_as_it_was() {
        let d = scratch();
        let history = d.0.join("history.jsonl");
        let store = FileStore::open(&d.0.join("services"), &history).expect("open");
        let doc = json!({"id": "svc", "names": {"fr": "Avant"}});
        store
            .put("svc", "m", &doc, Expect::Absent, &by(Action::Create))
            .await
            .expect("put");
        let file = service_file(&d.0.join("services"), "m", "svc");
        let before = std::fs::read(&file).expect("the service file");
        refuse_appends(&history);
        let changed = json!({"id": "svc", "names": {"fr": "Après"}});
        assert!(store
            .put("svc", "m", &changed, Expect::Any, &by(Action::Replace))
            .await
            .is_err());
        assert_eq!(std::fs::read(&file).expect("still there"), before);
        assert!(store
            .put("new", "m", &changed, Expect::Absent, &by(Action::Create))
            .await
            .is_err());
        assert!(!service_file(&d.0.join("services"), "m", "new").exists());
        assert!(store
            .delete("svc", Expect::Any, &by(Action::Delete))
            .await
            .is_err());
        assert_eq!(std::fs::read(&file).expect("not removed"), before);
        let kept = store.get("svc").await.expect("get").expect("still known");
        assert_eq!(kept.version, 1);
        assert_eq!(store.version().await.expect("version"), 1);
    }

    /// Found in review: documents hold Arabic as it is, and a full disk may cut a line
    /// inside a character; the whole history then could not be read.
    #[tokio::test]
    async fn a_history_cut_inside_a_character_loses_only_its_torn_line() {
        let d = scratch();
        let history = d.0.join("history.jsonl");
        let store = FileStore::open(&d.0.join("services"), &history).expect("open");
        let doc = json!({"id": "svc", "names": {"ar": "خدمة"}});
        store
            .put("svc", "m", &doc, Expect::Absent, &by(Action::Create))
            .await
            .expect("put");
        let mut bytes = std::fs::read(&history).expect("history");
        let line = bytes.clone();
        let cut = line
            .windows(2)
            .position(|w| w == "خ".as_bytes())
            .expect("an Arabic letter")
            + 1;
        bytes.extend_from_slice(&line[..cut]);
        std::fs::write(&history, &bytes).expect("tear");
        assert_eq!(read_history(&history).expect("read").len(), 1);
        assert_eq!(store.history("svc").await.expect("history").len(), 1);
    }

    #[test]
    fn an_unreadable_history_line_is_named_with_its_file_and_line() {
        let d = scratch();
        let history = d.0.join("history.jsonl");
        std::fs::write(&history, "not json\n{}\n").expect("write");
        let e = read_history(&history).expect_err("corrupt").to_string();
        assert!(e.contains("history.jsonl: line 1"), "{e}");
        let secrets = secrets_file(&history);
        std::fs::write(&secrets, "{\"a\": \"b\", trunc").expect("write");
        let e = read_secrets(&secrets).expect_err("corrupt").to_string();
        assert!(e.contains("registry-secrets.json"), "{e}");
    }

    /// Found in review: a service file removed by hand whose record the history refused
    /// was forgotten by the store at once, and its removal never recorded.
    #[tokio::test]
    async fn a_hand_removal_the_history_refuses_is_recorded_by_the_next_scan() {
        let d = scratch();
        let file = d.0.join("services/m/svc.toml");
        std::fs::write(&file, "id = \"svc\"\nministry = \"m\"\n").expect("write");
        let history = d.0.join("history.jsonl");
        let store = FileStore::open(&d.0.join("services"), &history).expect("open");
        std::fs::remove_file(&file).expect("removed by hand");
        let kept = refuse_appends(&history);
        assert!(store.absorb_edits().is_err());
        std::fs::remove_dir(&history).expect("remove");
        std::fs::write(&history, kept).expect("put back");
        assert_eq!(store.absorb_edits().expect("scan").0, 1);
        let h = store.history("svc").await.expect("history");
        let last = h.last().expect("recorded");
        assert_eq!(last.action, Action::FileEdit);
        assert!(last.document.is_none(), "a removal");
        assert_eq!(store.version().await.expect("version"), last.version);
    }

    #[tokio::test]
    async fn an_edit_by_hand_is_found_and_recorded_and_a_broken_one_reported() {
        let d = scratch();
        std::fs::write(
            d.0.join("services/m/svc.toml"),
            "id = \"svc\"\nministry = \"m\"\n",
        )
        .expect("write");
        let store =
            FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
        assert_eq!(
            store.absorb_edits().expect("scan").0,
            0,
            "nothing changed yet"
        );
        std::fs::write(
            d.0.join("services/m/svc.toml"),
            "id = \"svc\"\nministry = \"m\"\nx = 1\n",
        )
        .expect("write");
        assert_eq!(store.absorb_edits().expect("scan").0, 1);
        let h = store.history("svc").await.expect("history");
        assert_eq!(h.last().map(|c| c.action), Some(Action::FileEdit));
        // The file as it was found is a version of its own, to roll back to.
        let found = h
            .first()
            .and_then(|c| c.document.clone())
            .expect("the file as found");
        assert_eq!(found.get("x"), None, "{found}");
        assert_eq!(h.len(), 2, "{h:?}");
        std::fs::write(d.0.join("services/m/svc.toml"), "id = [broken\n").expect("write");
        let (edits, broken) = store.absorb_edits().expect("scan");
        assert_eq!(edits, 0);
        assert_eq!(broken.len(), 1, "{broken:?}");
    }

    #[test]
    fn a_poll_reads_only_the_files_whose_metadata_moved() {
        let d = scratch();
        let file = d.0.join("services/m/svc.toml");
        std::fs::write(&file, "id = \"svc\"\nministry = \"m\"\nx = 1\n").expect("write");
        // Past the racy window, so the stamp taken at open is trusted.
        std::thread::sleep(RACY + Duration::from_millis(100));
        let store =
            FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
        let reads = || store.reads.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(store.absorb_edits().expect("scan").0, 0);
        assert_eq!(store.absorb_edits().expect("scan").0, 0);
        assert_eq!(reads(), 0, "an unchanged file was read again");

        // The same length and modification time, as a copy that keeps times leaves it.
        let modified = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .expect("mtime");
        std::fs::write(&file, "id = \"svc\"\nministry = \"m\"\nx = 2\n").expect("write");
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(modified))
            .expect("set mtime");
        // Past the racy window again, so the stamp is compared, not distrusted.
        std::thread::sleep(RACY + Duration::from_millis(100));
        assert_eq!(
            store.absorb_edits().expect("scan").0,
            1,
            "the change time gives the edit away"
        );
    }

    #[test]
    fn a_broken_file_is_read_and_reported_at_every_poll() {
        let d = scratch();
        let file = d.0.join("services/m/svc.toml");
        std::fs::write(&file, "id = \"svc\"\nministry = \"m\"\n").expect("write");
        let store =
            FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
        std::fs::write(&file, "id = [broken\n").expect("write");
        std::thread::sleep(RACY + Duration::from_millis(100));
        for _ in 0..2 {
            let (edits, broken) = store.absorb_edits().expect("scan");
            assert_eq!((edits, broken.len()), (0, 1), "{broken:?}");
        }
    }

    /// Found when tried: a ministry copied another's service file into its own directory,
    /// and the later directory in sort order took the service over, unreported.
    #[tokio::test]
    async fn a_second_file_with_a_known_id_is_reported_and_the_owners_kept() {
        let d = scratch();
        std::fs::write(
            d.0.join("services/m/svc.toml"),
            "id = \"svc\"\nministry = \"m\"\nx = 1\n",
        )
        .expect("write");
        let store =
            FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
        std::fs::create_dir_all(d.0.join("services/z")).expect("dir");
        std::fs::write(
            d.0.join("services/z/svc.toml"),
            "id = \"svc\"\nministry = \"m\"\nx = 2\n",
        )
        .expect("write");
        for _ in 0..2 {
            let (edits, broken) = store.absorb_edits().expect("scan");
            assert_eq!(edits, 0, "the copy was taken");
            assert_eq!(broken.len(), 1, "{broken:?}");
            assert!(broken[0].file.ends_with("z/svc.toml"), "{broken:?}");
            assert!(broken[0].reason.contains("m/svc.toml"), "{broken:?}");
        }
        let records = store.list().await.expect("list").records;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].ministry, "m");
        assert_eq!(records[0].document["x"], 1);
    }

    /// Found when tried: a dangling link ended the scan, and an edit found in it before was
    /// never applied; a FIFO named `.toml` held the registry forever.
    #[test]
    fn a_link_to_nothing_a_fifo_or_a_huge_file_is_reported_and_the_rest_still_read() {
        let d = scratch();
        let dir = d.0.join("services/m");
        let store =
            FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
        std::os::unix::fs::symlink(d.0.join("nowhere"), dir.join("a-dangling.toml")).expect("link");
        let fifo = dir.join("b-fifo.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let huge = std::fs::File::create(dir.join("c-huge.toml")).expect("create");
        huge.set_len(crate::config::MAX_FILE_BYTES + 1)
            .expect("sparse");
        std::fs::write(dir.join("d-new.toml"), "id = \"d-new\"\nministry = \"m\"\n")
            .expect("write");
        let (edits, broken) = store.absorb_edits().expect("scan");
        assert_eq!(edits, 1, "the good file after them was read");
        let mut reasons: Vec<String> = broken.iter().map(|b| b.reason.clone()).collect();
        reasons.sort();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].starts_with("cannot read"), "{reasons:?}");
        assert!(reasons[1].contains("at most"), "{reasons:?}");
        assert_eq!(reasons[2], "is not a regular file");
    }

    /// Found when tried: a ministry linked `gateway.toml` into its own directory and read
    /// it back, admin keys' hashes included, through the admin API and the history.
    #[tokio::test]
    async fn a_file_that_is_not_the_service_its_place_names_is_never_taken_in() {
        let d = scratch();
        let store =
            FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
        let dir = d.0.join("services/m");
        std::fs::write(
            d.0.join("gateway.toml"),
            "[admin]\nkeys = [\"secret-hash\"]\n",
        )
        .expect("write");
        std::os::unix::fs::symlink(d.0.join("gateway.toml"), dir.join("leak.toml")).expect("link");
        std::fs::write(dir.join("other.toml"), "id = \"other\"\nministry = \"z\"\n")
            .expect("write");
        std::fs::write(dir.join("renamed.toml"), "id = \"svc\"\nministry = \"m\"\n")
            .expect("write");
        let (edits, broken) = store.absorb_edits().expect("scan");
        assert_eq!(edits, 0, "{broken:?}");
        assert_eq!(broken.len(), 3, "{broken:?}");
        assert!(store.list().await.expect("list").records.is_empty());
        let history = std::fs::read_to_string(d.0.join("history.jsonl")).unwrap_or_default();
        assert!(!history.contains("secret-hash"), "{history}");
    }

    #[test]
    fn a_toml_problem_says_its_line_and_column_on_one_line() {
        let reason = document_of("id = \"x\"\nname = [broken\n").expect_err("broken");
        assert!(reason.starts_with("line 2, column "), "{reason}");
        assert!(!reason.contains('\n'), "{reason}");
    }

    /// A document of service `id` of about `kb` kilobytes, different at each `n`.
    fn large(id: &str, n: u32, kb: usize) -> Value {
        json!({ "id": id, "n": n, "padding": "x".repeat(kb * 1024) })
    }

    /// The bytes `ministry`'s lines hold in the history at `path`.
    fn lines_of(path: &Path, ministry: &str) -> u64 {
        read_history(path)
            .expect("history")
            .iter()
            .filter(|c| c.ministry == ministry)
            .map(line_len)
            .sum()
    }

    #[tokio::test]
    async fn past_its_budget_a_ministrys_oldest_lines_leave_the_history_and_no_other_ministrys() {
        let d = scratch();
        let history = d.0.join("history.jsonl");
        let store = FileStore::open(&d.0.join("services"), &history)
            .expect("open")
            .with_history_per_ministry(1 << 20);
        store
            .put(
                "theirs",
                "o",
                &large("theirs", 0, 100),
                Expect::Absent,
                &by(Action::Create),
            )
            .await
            .expect("the other ministry's service");
        for n in 0..40 {
            store
                .put(
                    "churn",
                    "m",
                    &large("churn", n, 100),
                    Expect::Any,
                    &by(Action::Replace),
                )
                .await
                .expect("change");
        }
        let held = lines_of(&history, "m");
        assert!(held <= 1 << 20, "{held} bytes of a 1 MiB budget");
        let kept = store.history("churn").await.expect("history");
        assert!(kept.len() >= 3, "the newest stay ({} kept)", kept.len());
        assert_eq!(
            kept.last().and_then(|c| c.document.clone()),
            Some(large("churn", 39, 100))
        );
        assert_eq!(store.history("theirs").await.expect("history").len(), 1);
        // A store opened over the trimmed history knows every service's version.
        let version = store.version().await.expect("version");
        let again = FileStore::open(&d.0.join("services"), &history).expect("open again");
        assert_eq!(again.version().await.expect("version"), version);
        assert_eq!(
            again.get("churn").await.expect("get").map(|r| r.version),
            kept.last().map(|c| c.version)
        );
    }

    #[tokio::test]
    async fn a_deleted_services_lines_go_but_a_services_last_line_and_the_version_stay() {
        let d = scratch();
        let history = d.0.join("history.jsonl");
        let store = FileStore::open(&d.0.join("services"), &history)
            .expect("open")
            .with_history_per_ministry(1 << 20);
        for id in ["gone", "kept"] {
            store
                .put(
                    id,
                    "m",
                    &large(id, 0, 300),
                    Expect::Absent,
                    &by(Action::Create),
                )
                .await
                .expect("create");
        }
        store
            .delete("gone", Expect::Any, &by(Action::Delete))
            .await
            .expect("delete");
        for n in 1..8 {
            store
                .put(
                    "kept",
                    "m",
                    &large("kept", n, 300),
                    Expect::Any,
                    &by(Action::Replace),
                )
                .await
                .expect("change");
        }
        assert!(store.history("gone").await.expect("history").is_empty());
        let kept = store.history("kept").await.expect("history");
        assert_eq!(
            kept.last().and_then(|c| c.document.clone()),
            Some(large("kept", 7, 300))
        );
        let version = store.version().await.expect("version");
        let again = FileStore::open(&d.0.join("services"), &history).expect("open again");
        assert_eq!(again.version().await.expect("version"), version);
    }

    #[tokio::test]
    async fn a_churn_of_created_and_deleted_ids_stays_within_the_budget() {
        let d = scratch();
        let history = d.0.join("history.jsonl");
        let store = FileStore::open(&d.0.join("services"), &history)
            .expect("open")
            .with_history_per_ministry(1 << 20);
        for n in 0..30 {
            let id = format!("churn-{n}");
            store
                .put(
                    &id,
                    "m",
                    &large(&id, n, 100),
                    Expect::Absent,
                    &by(Action::Create),
                )
                .await
                .expect("create");
            store
                .delete(&id, Expect::Any, &by(Action::Delete))
                .await
                .expect("delete");
        }
        let held = lines_of(&history, "m");
        assert!(
            held <= (1 << 20) + (1 << 18),
            "{held} bytes of a 1 MiB budget"
        );
    }

    #[tokio::test]
    async fn a_secret_only_forgotten_versions_named_is_forgotten_with_them() {
        let d = scratch();
        let history = d.0.join("history.jsonl");
        let store = FileStore::open(&d.0.join("services"), &history)
            .expect("open")
            .with_history_per_ministry(1 << 20);
        let with_secret = |n: u32| {
            let mut doc = large("svc", n, 100);
            doc["password"] = json!({ "stored": format!("svc:/password:{n}") });
            doc
        };
        for n in 0..30 {
            store
                .put_secrets("svc", &[(format!("svc:/password:{n}"), "s3cret".into())])
                .await
                .expect("secret");
            store
                .put(
                    "svc",
                    "m",
                    &with_secret(n),
                    Expect::Any,
                    &by(Action::Replace),
                )
                .await
                .expect("change");
        }
        let kept = store.history("svc").await.expect("history");
        let secrets: Vec<String> = store
            .secrets()
            .await
            .expect("secrets")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert!(kept.len() < 30, "some versions were forgotten");
        assert_eq!(secrets.len(), kept.len(), "{secrets:?}");
        assert!(secrets.contains(&"svc:/password:29".to_string()));
    }
}
