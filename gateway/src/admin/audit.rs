//! The admin audit log: one JSON line per change asked of the ministries' API, accepted or
//! refused (time, actor, ministry, action, service, version, result, client address),
//! appended to `[admin] audit_log`. Never a secret, never a document.

use crate::config::AuditTarget;
use serde::Serialize;
use std::io::Write;
use std::sync::Mutex;

/// One audit line.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub actor: &'a str,
    pub ministry: &'a str,
    pub action: &'a str,
    pub service: Option<&'a str>,
    pub version: Option<u64>,
    pub result: &'a str,
    pub client_ip: Option<String>,
}

/// Where lines go.
pub struct AuditLog {
    out: Mutex<Option<Box<dyn Write + Send>>>,
    /// The file, when it is one: [`AuditLog::reopen`] opens it again by name.
    file: Option<std::path::PathBuf>,
}

impl AuditLog {
    /// Opens the target (a file is created if needed and appended to).
    pub fn open(target: &AuditTarget) -> std::io::Result<Self> {
        let out: Option<Box<dyn Write + Send>> = match target {
            AuditTarget::Off => None,
            AuditTarget::Stdout => Some(Box::new(std::io::stdout())),
            AuditTarget::File(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                Some(Box::new(crate::private_file::append(path)?))
            }
        };
        let file = match target {
            AuditTarget::File(path) => Some(path.clone()),
            _ => None,
        };
        Ok(Self {
            out: Mutex::new(out),
            file,
        })
    }

    /// Opens the file again by its name (after `logrotate` moved it away; SIGUSR1). On a
    /// failure the old file stays in use and the error is logged.
    pub fn reopen(&self) {
        let Some(path) = &self.file else {
            return;
        };
        match crate::private_file::append(path) {
            Ok(f) => {
                if let Ok(mut out) = self.out.lock() {
                    *out = Some(Box::new(f));
                }
                tracing::info!(file = %path.display(), "the audit log is opened again");
            }
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "the audit log cannot be opened again; still writing to the old file");
            }
        }
    }

    /// Appends one line; `false` if the target did not take it (logged: the change itself
    /// stands, and the caller counts it).
    pub fn record(&self, entry: &Entry<'_>) -> bool {
        let Ok(line) = serde_json::to_string(entry) else {
            return false;
        };
        // What callers wrote (ids in paths) reaches the line: no viewer may reorder it.
        let line = crate::telemetry::log_fields::json_safe(&line);
        let Ok(mut out) = self.out.lock() else {
            return false;
        };
        if let Some(w) = out.as_mut() {
            if let Err(e) = writeln!(w, "{line}").and_then(|_| w.flush()) {
                tracing::error!(error = %e, "admin audit line not written");
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> Entry<'_> {
        Entry {
            time: "2026-12-04T00:00:00.000Z".into(),
            actor: "key:x",
            ministry: "interior",
            action,
            service: Some("cnie-renewal"),
            version: None,
            result: "ok",
            client_ip: None,
        }
    }

    /// Found when tried: after `logrotate` moved the audit log and signalled, lines went
    /// on into the moved file.
    #[test]
    fn a_reopened_audit_log_writes_to_a_new_file_at_its_name() {
        let dir = std::env::temp_dir().join(format!("egov-audit-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (path, moved) = (dir.join("audit.jsonl"), dir.join("audit.jsonl.1"));
        let log = AuditLog::open(&AuditTarget::File(path.clone())).expect("open");
        log.record(&entry("before"));
        std::fs::rename(&path, &moved).expect("rotate");
        log.reopen();
        log.record(&entry("after"));
        let old = std::fs::read_to_string(&moved).expect("the moved file");
        let new = std::fs::read_to_string(&path).expect("a new file at the log's name");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(old.contains("before") && !old.contains("after"), "{old}");
        assert!(new.contains("after"), "{new}");
    }

    /// A disk that takes nothing more (`ENOSPC`).
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28))
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Found in an SRE probe: on a full disk, a change's audit line was lost with one log
    /// line to say so; the caller is told, and counts it.
    #[test]
    fn a_line_the_disk_does_not_take_is_reported_to_the_caller() {
        let full = AuditLog {
            out: Mutex::new(Some(Box::new(Full))),
            file: None,
        };
        assert!(!full.record(&entry("patch")));
        let off = AuditLog::open(&AuditTarget::Off).expect("off");
        assert!(off.record(&entry("patch")), "nothing asked, nothing lost");
    }
}
