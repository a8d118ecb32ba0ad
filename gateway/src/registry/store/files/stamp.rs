//! A service file's metadata as a cheap "has it changed?" test, as git's index keeps one.

use std::path::Path;
use std::time::{Duration, SystemTime};

/// A file's metadata when its bytes were last read: while it stays the same, so do the
/// bytes. The change time and inode are in it because tools that copy files keep their
/// modification time (`cp -p`, `rsync -a`) but cannot keep those; a write through a
/// temporary file (editors, GitOps, this store) gives a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
    inode: u64,
}

/// A stamp is trusted only once the file's last change is this much older than the stat
/// that took it: a change in the same clock tick as the read could otherwise leave the stamp
/// as it was (git's "racy clean" case). Twice the coarsest timestamps in use (FAT's 2 s;
/// ext4 and xfs keep nanoseconds), since a file's time is rounded down and the clock is not.
pub(super) const RACY: Duration = Duration::from_secs(4);

impl Stamp {
    /// The stamp of `path` as of now, `None` when it cannot be trusted (too recent, or no
    /// such metadata on this platform): the file is then read at every poll until it can.
    pub(super) fn of(path: &Path) -> Option<Stamp> {
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
