//! The history: one JSON line per change, appended and synced, read line by line, and
//! trimmed per ministry past its budget.

use super::{unavailable, FileStore};
use crate::registry::store::{Change, StoreError};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

impl FileStore {
    /// The most bytes one ministry's lines may hold in the history
    /// (`registry.history_per_ministry`): past it, its oldest are forgotten
    /// ([`Self::forget_oldest_of`]).
    pub fn with_history_per_ministry(mut self, bytes: u64) -> Self {
        self.history_per_ministry = bytes;
        self
    }

    pub(super) fn history_bytes(
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
            action: crate::registry::store::Action,
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
                || (last_of.get(l.id.as_str()) == Some(&i)
                    && l.action != crate::registry::store::Action::Delete)
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
            unreachable.extend(crate::registry::store::secrets_only_named_by(
                changes, &still,
            ));
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

    pub(super) fn read_history(&self) -> Result<Vec<Change>, StoreError> {
        read_history(&self.history)
    }

    pub(super) fn append(&self, change: &Change) -> Result<(), StoreError> {
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
pub(super) struct HistoryBytes {
    pub(super) bytes: u64,
    after_last_trim: u64,
}

/// The bytes `change`'s line holds in the history, its newline included.
pub(super) fn line_len(change: &Change) -> u64 {
    serde_json::to_string(change).map_or(0, |l| l.len() as u64 + 1)
}
