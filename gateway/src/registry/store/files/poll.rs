//! The poll: edits made to the service files by hand or by GitOps, found by their metadata
//! and recorded as `file_edit` changes.

use super::document::{by_file, claimed_elsewhere, document_of, placed};
use super::stamp::Stamp;
use super::{hash, BrokenFile, FileStore, Known};
use crate::config::{read_config_file, service_file};
use crate::registry::store::StoreError;
use std::collections::HashMap;

impl FileStore {
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
        let (files, misplaced) = self.files()?;
        let mut index = self.lock()?;
        let mut seen = std::collections::HashSet::new();
        let mut edits = 0;
        // Reported as a start and `check` report them, which refuse them: found in a reload
        // probe, a stray `services/x.toml` left the running instance silent and the next
        // restart failed.
        let mut broken: Vec<BrokenFile> = misplaced
            .into_iter()
            .map(|file| BrokenFile {
                file,
                reason: crate::config::MISPLACED.to_string(),
            })
            .collect();
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
}
