//! Files that hold citizens' or operators' data (the access log, the admin audit, the
//! routing feedback): created readable and writable by the gateway's own user only (0600),
//! whatever the process's umask. Found when tried (a data-protection audit): under the usual
//! umask of 022 they were readable by every account on the machine, while the admin key file
//! beside them was 0600. A file that exists keeps the mode it has (an operator's choice),
//! with a warning when others can read it.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// `path` opened to append, created 0600 if it does not exist. A file that exists readable
/// by others (one made by a version before this, under umask 022) is said in a warning,
/// since its mode is the operator's to change (found in review).
pub fn append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    private(&mut options);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = file.metadata() {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{:o}", meta.permissions().mode() & 0o777),
                    "a file of citizens' or operators' data is readable by other accounts: chmod 600 it"
                );
            }
        }
    }
    Ok(file)
}

/// `path` written with `bytes` (created 0600 if it does not exist, truncated if it does).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut options = OpenOptions::new();
    options.create(true).write(true).truncate(true);
    private(&mut options);
    options.open(path)?.write_all(bytes)
}

fn private(options: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = options;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_file_it_creates_is_readable_by_the_gateways_user_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("egov-private-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let log = dir.join("access.log");
        append(&log).expect("created");
        let feedback = dir.join("feedback.jsonl");
        write(&feedback, b"{}\n").expect("written");
        for path in [log, feedback] {
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
