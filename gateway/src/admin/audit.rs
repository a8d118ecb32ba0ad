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
                Some(Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                ))
            }
        };
        Ok(Self {
            out: Mutex::new(out),
        })
    }

    /// Appends one line (a failure to write is logged: the change itself stands).
    pub fn record(&self, entry: &Entry<'_>) {
        let Ok(line) = serde_json::to_string(entry) else {
            return;
        };
        let Ok(mut out) = self.out.lock() else {
            return;
        };
        if let Some(w) = out.as_mut() {
            if let Err(e) = writeln!(w, "{line}").and_then(|_| w.flush()) {
                tracing::error!(error = %e, "admin audit line not written");
            }
        }
    }
}
