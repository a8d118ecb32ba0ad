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
    let mut out = String::with_capacity(path.len() + query.map_or(0, str::len));
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        // `;jsessionid=...` and other path parameters carry sessions: never logged.
        let segment = segment.split(';').next().unwrap_or("");
        out.push_str(if looks_like_an_identifier(segment) {
            ":id"
        } else {
            segment
        });
    }
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return out;
    };
    let mut first = true;
    for pair in q.split('&').filter(|kv| !kv.is_empty()) {
        out.push(if first { '?' } else { '&' });
        first = false;
        match pair.split_once('=') {
            Some((key, _)) if !looks_like_an_identifier(key) => {
                out.push_str(key);
                out.push('=');
            }
            // A key without a value (`?AB123456`) is a value.
            _ => out.push_str(":id"),
        }
    }
    out
}

/// A request as pingora's own log lines show it (`ProxyHttp::request_summary`): the method
/// and the path as the access log writes it.
pub fn summary(req: &pingora::http::RequestHeader) -> String {
    format!(
        "{} {}",
        req.method,
        path_without_query_values(req.uri.path(), req.uri.query())
    )
}

/// Whether a path segment or query key is more likely a citizen's identifier than a name:
/// five digits or more (CIN, case and file numbers; years stay), or an e-mail address.
fn looks_like_an_identifier(s: &str) -> bool {
    s.contains('@') || s.contains("%40") || s.bytes().filter(u8::is_ascii_digit).count() >= 5
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

    #[test]
    fn pingoras_own_log_lines_see_the_request_as_the_access_log_does() {
        let req = pingora::http::RequestHeader::build(
            "GET",
            b"/s/x/suivi;jsessionid=S3CR3T?cin=AB123456",
            None,
        )
        .expect("request");
        assert_eq!(summary(&req), "GET /s/x/suivi?cin=");
    }

    #[test]
    fn session_ids_identifiers_and_value_less_keys_never_reach_the_log() {
        assert_eq!(
            path_without_query_values("/s/x/page;jsessionid=ABCDEF0123/next", None),
            "/s/x/page/next"
        );
        assert_eq!(
            path_without_query_values("/s/x/dossier/AB123456/2024", None),
            "/s/x/dossier/:id/2024"
        );
        assert_eq!(
            path_without_query_values("/s/x/suivi", Some("AB123456&lang=fr&mail%40x.ma")),
            "/s/x/suivi?:id&lang=&:id"
        );
    }
}
