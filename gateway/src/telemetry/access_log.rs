//! One JSON line per request (time, trace and request ids, service, ministry, method, path
//! without query values, status, durations, bytes, client IP), to stdout or a file.
//!
//! Never tokens, cookies, query values or bodies. A request only formats its line into a
//! lock-free bounded queue; a writer thread drains it in batches every few milliseconds
//! (no wake-up per line, which on a busy machine cost more than the logging itself). If the
//! writer falls behind, lines are dropped and counted (`egov_access_log_dropped_total`)
//! rather than slowing citizens down.

use crate::config::AccessLogTarget;
use crossbeam_queue::ArrayQueue;
use prometheus::IntCounter;
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Lines waiting for the writer before new ones are dropped.
const QUEUE: usize = 65_536;
/// How often the writer drains the queue.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

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

struct Shared {
    queue: ArrayQueue<String>,
    closed: AtomicBool,
}

/// The access log (or nothing, when off).
pub struct AccessLog {
    shared: Option<Arc<Shared>>,
    writer: Option<std::thread::JoinHandle<()>>,
    dropped: IntCounter,
}

impl AccessLog {
    pub fn new(target: &AccessLogTarget, dropped: IntCounter) -> std::io::Result<Self> {
        let sink: Box<dyn Write + Send> = match target {
            AccessLogTarget::Off => {
                return Ok(Self {
                    shared: None,
                    writer: None,
                    dropped,
                })
            }
            AccessLogTarget::Stdout => Box::new(std::io::stdout()),
            AccessLogTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(QUEUE),
            closed: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::with_capacity(256 * 1024, sink);
                loop {
                    let mut wrote = false;
                    while let Some(line) = s.queue.pop() {
                        let _ = out.write_all(line.as_bytes());
                        let _ = out.write_all(b"\n");
                        wrote = true;
                    }
                    if wrote {
                        let _ = out.flush();
                    }
                    if s.closed.load(Ordering::Acquire) && s.queue.is_empty() {
                        break;
                    }
                    std::thread::sleep(DRAIN_EVERY);
                }
                let _ = out.flush();
            })?;
        Ok(Self {
            shared: Some(shared),
            writer: Some(writer),
            dropped,
        })
    }

    pub fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Queues a line; never blocks.
    pub fn write(&self, line: &AccessLine<'_>) {
        let Some(shared) = &self.shared else {
            return;
        };
        let Ok(json) = serde_json::to_string(line) else {
            return;
        };
        if shared.queue.push(json).is_err() {
            self.dropped.inc();
        }
    }
}

impl Drop for AccessLog {
    /// Writes what is queued before the process goes.
    fn drop(&mut self) {
        if let Some(s) = &self.shared {
            s.closed.store(true, Ordering::Release);
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// `path?key1=&key2=`: the query's keys, never its values (they may carry personal data).
pub fn path_without_query_values(path: &str, query: Option<&str>) -> String {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return path.to_string();
    };
    let mut out = String::with_capacity(path.len() + q.len());
    out.push_str(path);
    let mut first = true;
    for key in q.split('&').map(|kv| kv.split('=').next().unwrap_or("")) {
        if key.is_empty() {
            continue;
        }
        out.push(if first { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        first = false;
    }
    out
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
