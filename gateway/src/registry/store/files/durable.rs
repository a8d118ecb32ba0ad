//! Writes a reader never sees half done: a temporary file beside the target, synced, renamed
//! over it.

use super::{unavailable, FileStore};
use crate::registry::store::StoreError;
use std::io::Write as _;
use std::path::{Path, PathBuf};

impl FileStore {
    /// Writes `bytes` to `path` through a temporary file renamed over it (readable by the
    /// owner alone when `private`).
    pub(super) fn write_atomically(
        path: &Path,
        bytes: &[u8],
        private: bool,
    ) -> Result<(), StoreError> {
        let staged = Self::stage(path, bytes, private)?;
        std::fs::rename(&staged, path).map_err(|e| {
            let _ = std::fs::remove_file(&staged);
            unavailable(e)
        })
    }

    /// `bytes` written and synced beside `path`, to be renamed over it once the change is
    /// recorded (a rename needs no free space: nothing is undone by writing on a full disk).
    pub(super) fn stage(path: &Path, bytes: &[u8], private: bool) -> Result<PathBuf, StoreError> {
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
}
