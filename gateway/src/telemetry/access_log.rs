//! One JSON line per request (time, trace and request ids, service, ministry, method, path
//! without query values, status, durations, bytes, client IP), to stdout or a file.
//!
//! Never tokens, cookies, query values or bodies. Lines are handed to a writer thread over a
//! bounded channel, so the request path never waits on disk or a pipe; if the writer falls
//! behind, lines are dropped and counted (`egov_access_log_dropped_total`) rather than
//! slowing citizens down.

use crate::config::AccessLogTarget;
use prometheus::IntCounter;
use serde::Serialize;
use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

/// Lines waiting for the writer before new ones are dropped.
const QUEUE: usize = 16_384;

/// One access-log line.
#[derive(Debug, Serialize)]
pub struct AccessLine<'a> {
    pub time: String,
    pub trace_id: &'a str,
    pub request_id: &'a str,
    pub service: &'a str,
    pub ministry: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub duration_ms: f64,
    pub upstream_ms: Option<f64>,
    pub cache: &'a str,
    pub bytes: usize,
    pub client_ip: Option<String>,
}

/// The access log (or nothing, when off).
pub struct AccessLog {
    tx: Option<SyncSender<String>>,
    dropped: IntCounter,
}

impl AccessLog {
    pub fn new(target: &AccessLogTarget, dropped: IntCounter) -> std::io::Result<Self> {
        let sink: Box<dyn Write + Send> = match target {
            AccessLogTarget::Off => return Ok(Self { tx: None, dropped }),
            AccessLogTarget::Stdout => Box::new(std::io::stdout()),
            AccessLogTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let (tx, rx) = sync_channel::<String>(QUEUE);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(sink);
                while let Ok(line) = rx.recv() {
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.write_all(b"\n");
                    // Flush when the queue is empty, so lines appear promptly at low traffic.
                    if let Ok(next) = rx.try_recv() {
                        let _ = out.write_all(next.as_bytes());
                        let _ = out.write_all(b"\n");
                    } else {
                        let _ = out.flush();
                    }
                }
                let _ = out.flush();
            })?;
        Ok(Self {
            tx: Some(tx),
            dropped,
        })
    }

    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues a line; never blocks.
    pub fn write(&self, line: &AccessLine<'_>) {
        let Some(tx) = &self.tx else {
            return;
        };
        let Ok(json) = serde_json::to_string(line) else {
            return;
        };
        if let Err(TrySendError::Full(_)) = tx.try_send(json) {
            self.dropped.inc();
        }
    }
}

/// `path?key1=&key2=`: the query's keys, never its values (they may carry personal data).
pub fn path_without_query_values(path: &str, query: Option<&str>) -> String {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return path.to_string();
    };
    let keys: Vec<&str> = q
        .split('&')
        .map(|kv| kv.split('=').next().unwrap_or(""))
        .filter(|k| !k.is_empty())
        .collect();
    format!(
        "{path}?{}",
        keys.iter()
            .map(|k| format!("{k}="))
            .collect::<Vec<_>>()
            .join("&")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_never_reach_the_log() {
        assert_eq!(
            path_without_query_values("/s/x/suivi", Some("cin=AB123456&ref=42")),
            "/s/x/suivi?cin=&ref="
        );
        assert_eq!(path_without_query_values("/", None), "/");
    }
}
