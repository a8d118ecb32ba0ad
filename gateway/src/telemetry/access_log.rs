//! One JSON line per request (time, trace and request ids, service, ministry, method, path
//! without query values, status, durations, bytes, client IP), and per connection a cap
//! refused at accept (`Telemetry::connection_refused`), to stdout or a file.
//!
//! Never tokens, cookies, query values or bodies. A request only formats its line into a
//! lock-free bounded queue; a writer thread drains it in batches every few milliseconds
//! (no wake-up per line, which on a busy machine cost more than the logging itself). If the
//! writer falls behind, lines are dropped and counted (`egov_access_log_dropped_total`)
//! rather than slowing citizens down; so are lines the file does not take (a full disk).

use crate::config::AccessLogTarget;
use crossbeam_queue::ArrayQueue;
use prometheus::IntCounter;
use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Lines waiting for the writer before new ones are dropped.
const QUEUE: usize = 65_536;
/// How often the writer drains the queue.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

/// One access-log line. It is written as JSON straight into the bytes that are queued
/// ([`AccessLine::write_json`]): the time, the path without query values, the numbers and the
/// client address are formatted in place, so a line costs one allocation, its own buffer.
/// (Through `serde_json` and `Display`, a line cost three times the instructions, a tenth of a
/// proxied request's.)
#[derive(Debug, Clone, Copy)]
pub struct AccessLine<'a> {
    pub time: SystemTime,
    pub trace_id: &'a str,
    pub request_id: &'a str,
    pub service: &'a str,
    pub ministry: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// The query, of which only the keys are written.
    pub query: Option<&'a str>,
    pub status: u16,
    pub duration: Duration,
    pub upstream: Option<Duration>,
    /// Why the legacy site gave no answer, when it did not (`egov_upstream_errors_total`'s
    /// `kind`: `refused`, `timeout`, `reset`...). Found when tried: support, given the
    /// request id from a 502 page, found its line with no cause, and pingora's line with
    /// the cause but no request id.
    pub upstream_error: Option<&'a str>,
    pub cache: &'a str,
    /// The gateway answered itself, without the legacy site (a refusal, a service's
    /// redirect, its own endpoints): what `egov_http_requests_refused_total` counts, so
    /// that a line says what the metrics say of it (found when tried: such lines looked
    /// like any answer with no `upstream_ms`).
    pub refused: bool,
    pub bytes: usize,
    pub client_ip: Option<IpAddr>,
}

impl AccessLine<'_> {
    /// The line as one JSON object and its newline, appended to `out`:
    /// `{"time":"2025-12-04T10:00:00.123Z","trace_id":"...","request_id":"...","service":...,
    /// "ministry":...,"method":...,"path":"/s/x/:id?cin=","status":200,"duration_ms":1.25,
    /// "upstream_ms":null,"upstream_error":null,"cache":"none","refused":false,"bytes":1024,
    /// "client_ip":"192.0.2.7"}`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"time\":\"");
        write_time(out, self.time);
        out.push(b'"');
        for (key, value) in [
            (&b",\"trace_id\":"[..], self.trace_id),
            (b",\"request_id\":", self.request_id),
            (b",\"service\":", self.service),
            (b",\"ministry\":", self.ministry),
            (b",\"method\":", self.method),
        ] {
            out.extend_from_slice(key);
            json_str(out, value);
        }
        out.extend_from_slice(b",\"path\":\"");
        let mut path = JsonText {
            out,
            room: PATH_LIMIT,
        };
        // The only failure is running out of room.
        if write_path_without_query_values(&mut path, self.path, self.query).is_err() {
            out.extend_from_slice("…".as_bytes());
        }
        out.extend_from_slice(b"\",\"status\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.status).as_bytes());
        out.extend_from_slice(b",\"duration_ms\":");
        write_millis(out, self.duration);
        out.extend_from_slice(b",\"upstream_ms\":");
        match self.upstream {
            Some(u) => write_millis(out, u),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"upstream_error\":");
        match self.upstream_error {
            Some(kind) => json_str(out, kind),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"cache\":");
        json_str(out, self.cache);
        out.extend_from_slice(if self.refused {
            b",\"refused\":true"
        } else {
            b",\"refused\":false"
        });
        out.extend_from_slice(b",\"bytes\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.bytes).as_bytes());
        out.extend_from_slice(b",\"client_ip\":");
        match self.client_ip {
            Some(ip) => {
                out.push(b'"');
                out.extend_from_slice(crate::ip_text::write_address(ip, &mut [0; 48]));
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}\n");
    }
}

/// `s` as a JSON string, quotes included.
fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    json_text(out, s);
    out.push(b'"');
}

/// `s` escaped for the inside of a JSON string (RFC 8259, section 7): quotes, backslashes and
/// control characters (a tab is valid in a header value, and so in a request id), and the
/// characters JSON leaves as they are that a terminal would obey: DEL, the C1 controls, the
/// bidirectional and invisible ones (`log_fields::must_escape`, as the process and audit
/// logs write them). Found in an observability probe: a path's right-to-left override
/// reached the access log raw, and turned the rest of its line around under `tail`.
fn json_text(out: &mut Vec<u8>, s: &str) {
    use super::log_fields::{json_escape, must_escape};
    let bytes = s.as_bytes();
    let clean = clean_prefix(bytes);
    out.extend_from_slice(&bytes[..clean]);
    let mut from = clean;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => b"",
        };
        if short.is_empty() && (0x20..0x7f).contains(&b) {
            continue;
        }
        // A character's first byte (`None` for the bytes after it, and for the plain ones).
        let escaped = if short.is_empty() {
            s.get(i..)
                .and_then(|rest| rest.chars().next())
                .filter(|&c| must_escape(c))
        } else {
            None
        };
        if short.is_empty() && escaped.is_none() {
            continue;
        }
        out.extend_from_slice(&bytes[from..i]);
        match escaped {
            Some(c) => {
                json_escape(c, |b| out.push(b));
                from = i + c.len_utf8();
            }
            None => {
                out.extend_from_slice(short);
                from = i + 1;
            }
        }
    }
    out.extend_from_slice(&bytes[from..]);
}

/// How many bytes at the start of `bytes` need no escaping, found eight at a time (the usual
/// value, an id or a path, has none): a byte below 0x20, a quote or a backslash stops it.
fn clean_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether any byte of `x` is zero (the classic test: no false answer for the word as a
    // whole), and so, after an XOR, whether any byte equals a given one.
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let mut clean = 0;
    for chunk in bytes.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_ne_bytes(word);
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0;
        // Past ASCII (or DEL): looked at character by character.
        let beyond = x & HIGH != 0 || zero_byte(x ^ (ONES * 0x7f));
        if control
            || beyond
            || zero_byte(x ^ (ONES * u64::from(b'"')))
            || zero_byte(x ^ (ONES * u64::from(b'\\')))
        {
            break;
        }
        clean += 8;
    }
    clean
}

/// At most this many bytes of a request's path and query keys go into its line (then `…`).
/// The path is the citizen's to choose, up to `limits.max_uri_bytes`: a flood of long URLs
/// while the writer is behind would otherwise fill the queue's 65,536 lines with up to half
/// a gigabyte.
const PATH_LIMIT: usize = 1024;

/// A `fmt::Write` that escapes what it is given into a JSON string's inside, until `room`
/// bytes of it are written; then it fails, which ends the writing.
struct JsonText<'a> {
    out: &'a mut Vec<u8>,
    room: usize,
}

impl fmt::Write for JsonText<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let (fits, whole) = fitting(s, &mut self.room);
        json_text(self.out, fits);
        whole.then_some(()).ok_or(fmt::Error)
    }
}

/// The part of `s` that fits in `room` bytes, cut at a character's edge, `room` taken by
/// it, and whether that is all of `s`.
fn fitting<'a>(s: &'a str, room: &mut usize) -> (&'a str, bool) {
    if s.len() <= *room {
        *room -= s.len();
        return (s, true);
    }
    let mut cut = *room;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    *room = 0;
    (&s[..cut], false)
}

/// A duration in milliseconds, to the microsecond: `1.25`, `3.0`, `0.001`.
fn write_millis(out: &mut Vec<u8>, d: Duration) {
    let micros = (d.as_nanos() + 500) / 1000;
    let (whole, frac) = (micros / 1000, micros % 1000);
    out.extend_from_slice(itoa::Buffer::new().format(whole).as_bytes());
    out.push(b'.');
    let digits = [frac / 100, frac / 10 % 10, frac % 10].map(|d| b'0' + d as u8);
    let keep = if frac % 100 == 0 {
        1
    } else if frac % 10 == 0 {
        2
    } else {
        3
    };
    out.extend_from_slice(&digits[..keep]);
}

thread_local! {
    /// The last second this thread wrote a time for, and its `YYYY-MM-DDTHH:MM:SS`: lines
    /// within a second only add their milliseconds.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// `t` in RFC 3339 to the millisecond, UTC (`2025-12-04T10:00:00.123Z`), without the quotes.
fn write_time(out: &mut Vec<u8>, t: SystemTime) {
    // A clock before 1970 or past 9999 (RFC 3339's four-digit year, and humantime's limit)
    // is written as the nearest time that can be.
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs().min(LAST_WRITABLE_SECOND);
    let (cached, mut prefix) = SECOND.get();
    if cached != secs {
        // `YYYY-MM-DDTHH:MM:SSZ`: always 20 bytes up to the last writable second.
        let mut buf = [0u8; 20];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let whole = UNIX_EPOCH + Duration::from_secs(secs);
        if write!(cursor, "{}", humantime::format_rfc3339_seconds(whole)).is_err() {
            buf = *b"1970-01-01T00:00:00Z";
        }
        prefix.copy_from_slice(&buf[..19]);
        SECOND.set((secs, prefix));
    }
    out.extend_from_slice(&prefix);
    write_subsec(out, since.subsec_millis());
}

/// 9999-12-31T23:59:59Z.
const LAST_WRITABLE_SECOND: u64 = 253_402_300_799;

/// `.123Z`.
fn write_subsec(out: &mut Vec<u8>, millis: u32) {
    let digit = |d: u32| b'0' + (d % 10) as u8;
    out.extend_from_slice(&[
        b'.',
        digit(millis / 100),
        digit(millis / 10),
        digit(millis),
        b'Z',
    ]);
}

/// Room for a typical line (about 330 bytes), so writing it never grows the buffer.
const LINE_CAPACITY: usize = 512;

struct Shared {
    queue: ArrayQueue<Vec<u8>>,
    closed: AtomicBool,
    /// Set by [`AccessLog::reopen`]; the writer opens its file again before its next write.
    reopen: AtomicBool,
}

/// The access log's file, opened (created if needed) to append.
fn open_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    crate::private_file::append(path)
}

/// The writer thread's end of the log: lines into a buffer, the buffer into the sink. A
/// line the sink does not take (a full disk) is counted as dropped, with one error logged
/// until lines go through again; what was buffered is let go rather than written again and
/// again into a disk that is full, and the next line starts on a line of its own (found
/// when tried: with a full disk, lines were lost with no count and no log, and the log
/// ended in half a line).
struct Lines {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    /// The sink refused; cleared when lines go through again.
    failing: bool,
    /// A line may have been cut short in the sink: the next one starts with a newline.
    torn: bool,
    lost: IntCounter,
}

impl Lines {
    const BUFFER: usize = 256 * 1024;

    fn new(sink: Box<dyn Write + Send>, lost: IntCounter) -> Self {
        Self {
            out: std::io::BufWriter::with_capacity(Self::BUFFER, sink),
            failing: false,
            torn: false,
            lost,
        }
    }

    fn write(&mut self, line: &[u8]) {
        let written = if self.torn {
            self.out
                .write_all(b"\n")
                .and_then(|()| self.out.write_all(line))
        } else {
            self.out.write_all(line)
        };
        match written {
            Ok(()) => self.torn = false,
            // The line never reached the buffer whole (a line goes in whole or not at
            // all, or, longer than the buffer, straight to the sink).
            Err(e) => self.fail(&e, 1),
        }
    }

    fn flush(&mut self) {
        if self.out.buffer().is_empty() {
            return;
        }
        match self.out.flush() {
            Ok(()) => {
                if std::mem::take(&mut self.failing) {
                    tracing::warn!("the access log is written again");
                }
            }
            Err(e) => self.fail(&e, 0),
        }
    }

    /// The sink refused: the lines still buffered (and `also`) are dropped and counted.
    fn fail(&mut self, e: &std::io::Error, also: u64) {
        if !std::mem::replace(&mut self.failing, true) {
            tracing::error!(error = %e, "the access log cannot be written; its lines are dropped and counted in egov_access_log_dropped_total");
        }
        let out = std::mem::replace(
            &mut self.out,
            std::io::BufWriter::with_capacity(0, Box::new(std::io::sink())),
        );
        let (sink, buffered) = out.into_parts();
        // Lines, not newlines: the newline that starts a line after a torn one is none.
        let left = buffered.map_or(0, |b| {
            b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count()
        });
        self.lost.inc_by(left as u64 + also);
        self.out = std::io::BufWriter::with_capacity(Self::BUFFER, sink);
        self.torn = true;
    }
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
            AccessLogTarget::File(path) => Box::new(open_file(path)?),
        };
        let file = match target {
            AccessLogTarget::File(path) => Some(path.clone()),
            _ => None,
        };
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(QUEUE),
            closed: AtomicBool::new(false),
            reopen: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let lost = dropped.clone();
        let writer = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                let mut out = Lines::new(sink, lost);
                loop {
                    if s.reopen.swap(false, Ordering::AcqRel) {
                        if let Some(path) = &file {
                            out.flush();
                            match open_file(path) {
                                Ok(f) => {
                                    out = Lines::new(Box::new(f), out.lost);
                                    tracing::info!(file = %path.display(), "the access log is opened again");
                                }
                                Err(e) => tracing::error!(file = %path.display(), error = %e, "the access log cannot be opened again; still writing to the old file"),
                            }
                        }
                    }
                    let mut wrote = false;
                    while let Some(line) = s.queue.pop() {
                        out.write(&line);
                        wrote = true;
                    }
                    if wrote {
                        out.flush();
                    }
                    if s.closed.load(Ordering::Acquire) && s.queue.is_empty() {
                        break;
                    }
                    std::thread::sleep(DRAIN_EVERY);
                }
                out.flush();
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

    /// Opens the log's file again (by its name) before the next line: after `logrotate`
    /// moved it away, lines go to the new file, not the moved one (SIGUSR1, as nginx).
    /// Nothing for stdout.
    pub fn reopen(&self) {
        if let Some(s) = &self.shared {
            s.reopen.store(true, Ordering::Release);
        }
    }

    /// Queues a line; never blocks.
    pub fn write(&self, line: &AccessLine<'_>) {
        let Some(shared) = &self.shared else {
            return;
        };
        let mut json = Vec::with_capacity(LINE_CAPACITY);
        line.write_json(&mut json);
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
/// At most `PATH_LIMIT` bytes and an ellipsis, as in the access log: it also goes into
/// trace spans and pingora's log lines, which are made before the request target's own
/// limit is checked (a 64 KB path sat in the span exporter's queue, 2,048 spans deep).
pub fn path_without_query_values(path: &str, query: Option<&str>) -> String {
    let mut out = Bounded {
        out: String::with_capacity((path.len() + query.map_or(0, str::len)).min(PATH_LIMIT)),
        room: PATH_LIMIT,
    };
    // The only failure is running out of room.
    if write_path_without_query_values(&mut out, path, query).is_err() {
        out.out.push('…');
    }
    out.out
}

/// A `String` that takes at most `room` bytes more, cut at a character's edge.
struct Bounded {
    out: String,
    room: usize,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let (fits, whole) = fitting(s, &mut self.room);
        self.out.push_str(fits);
        whole.then_some(()).ok_or(fmt::Error)
    }
}

/// [`path_without_query_values`], written into `out` (the access log's line, without a
/// `String` of its own).
fn write_path_without_query_values(
    out: &mut impl fmt::Write,
    path: &str,
    query: Option<&str>,
) -> fmt::Result {
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.write_char('/')?;
        }
        // `;jsessionid=...` and other path parameters carry sessions: never logged.
        let segment = segment.split(';').next().unwrap_or("");
        out.write_str(if looks_like_an_identifier(segment) {
            ":id"
        } else {
            segment
        })?;
    }
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return Ok(());
    };
    let mut first = true;
    for pair in q.split('&').filter(|kv| !kv.is_empty()) {
        out.write_char(if first { '?' } else { '&' })?;
        first = false;
        match pair.split_once('=') {
            Some((key, _)) if !looks_like_an_identifier(key) => {
                out.write_str(key)?;
                out.write_char('=')?;
            }
            // A key without a value (`?AB123456`) is a value.
            _ => out.write_str(":id")?,
        }
    }
    Ok(())
}

/// Whether pingora's own line for error `e` is withheld (`ProxyHttp::suppress_error_log`):
/// a legacy answer header that does not parse is put whole into the error (its cookies
/// too, about 17 KB a request a hostile site could make the gateway write; found when
/// tried). A line of the gateway's says what happened instead. And a request the gateway's
/// own peer selection did not send on (the service's breaker open, its bulkhead full, no
/// usable backend: `ConnectNoRoute` of no source, where a socket's "no route to host" is
/// the upstream's and keeps its line): the breaker's opening and a full bulkhead are
/// logged once, the citizens' 503s counted; found when tried, a flood of a service behind
/// an open breaker wrote an `ERROR` line for each request, 48,868 lines (9.5 MB) in 40 s.
pub fn withhold_pingora_line(service: Option<&str>, e: &pingora::Error) -> bool {
    if e.etype() == &pingora::ErrorType::ConnectNoRoute
        && e.esource() != &pingora::ErrorSource::Upstream
    {
        return true;
    }
    let unreadable_answer = e.esource() == &pingora::ErrorSource::Upstream
        && e.etype() == &pingora::ErrorType::InvalidHTTPHeader;
    if unreadable_answer {
        tracing::error!(
            service = service.unwrap_or("-"),
            "the legacy site's answer header does not parse as HTTP/1.1: the citizen got the 502 page"
        );
    }
    unreadable_answer
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
/// five digits or more (CIN, case and file numbers; years stay), an e-mail address, words
/// with a space between them (a person's name: `Amina%20El%20Idrissi`), or a run of
/// [`TOKEN_RUN`] letters and digits with a digit among them (a token, a session id). Found when tried (a
/// data-protection audit): names and tokens in paths were logged as written.
///
/// One pass over the bytes: it runs on every segment and query key of every logged request.
fn looks_like_an_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    // `run`: letters and digits in a row; `run_digit`: whether one of them is a digit.
    let (mut digits, mut run, mut run_digit) = (0, 0, false);
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            run += 1;
            run_digit |= c.is_ascii_digit();
        } else {
            (run, run_digit) = (0, false);
        }
        if run >= TOKEN_RUN && run_digit {
            return true;
        }
        match c {
            b'0'..=b'9' => {
                digits += 1;
                if digits == 5 {
                    return true;
                }
            }
            b'@' | b'+' | b' ' | b'\t' => return true,
            b'%' if encoded_separator(b.get(i + 1..i + 3)) => return true,
            _ => {}
        }
    }
    false
}

/// Whether the two hex digits after a `%` encode what separates the words of a name or an
/// address (a space, a tab, `+`, `@`, or the first byte of a no-break space, `%C2%A0`, or
/// of an ideographic one, `%E3%80%80`), in either case. Found when tried: a name written
/// with tabs or no-break spaces between its words was logged as written.
fn encoded_separator(hex: Option<&[u8]>) -> bool {
    let Some([a, b]) = hex else {
        return false;
    };
    let pair = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
    matches!(&pair, b"20" | b"09" | b"2B" | b"40" | b"C2" | b"E3")
}

/// Letters and digits in a row, a digit among them, that make a segment a token rather
/// than a word (words are shorter, and slugs are words joined by `-` or `_`; a session id
/// or a JWT's part is longer).
const TOKEN_RUN: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pingoras_line_for_a_legacy_header_that_does_not_parse_is_withheld() {
        let unreadable = pingora::Error::because(
            pingora::ErrorType::InvalidHTTPHeader,
            "buf: Set-Cookie: JSESSIONID=secret",
            pingora::Error::new(pingora::ErrorType::InternalError),
        );
        let upstream = unreadable.into_up();
        assert!(withhold_pingora_line(Some("cnie-renewal"), &upstream));
        let timeout = pingora::Error::new_up(pingora::ErrorType::ReadTimedout);
        assert!(!withhold_pingora_line(Some("cnie-renewal"), &timeout));
    }

    #[test]
    fn pingoras_line_for_a_request_a_breaker_kept_from_the_site_is_withheld() {
        let refused = pingora::Error::explain(
            pingora::ErrorType::ConnectNoRoute,
            "the service's circuit breaker is open",
        );
        assert!(withhold_pingora_line(Some("cnie-renewal"), &refused));
        // A socket's "no route to host" is the site's network failing: its line stays.
        let unroutable = pingora::Error::new_up(pingora::ErrorType::ConnectNoRoute);
        assert!(!withhold_pingora_line(Some("cnie-renewal"), &unroutable));
    }

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

    fn line<'a>(path: &'a str, query: Option<&'a str>) -> AccessLine<'a> {
        AccessLine {
            time: std::time::UNIX_EPOCH + Duration::from_millis(1_764_842_400_123),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            request_id: "req-1",
            service: "cnie-renewal",
            ministry: "interior",
            method: "GET",
            path,
            query,
            status: 200,
            duration: Duration::from_micros(1_250),
            upstream: None,
            upstream_error: None,
            cache: "none",
            refused: false,
            bytes: 1024,
            client_ip: Some(IpAddr::from([192, 0, 2, 7])),
        }
    }

    /// Lines written through a file target, read back once the log is dropped (which waits
    /// for its writer).
    fn written(lines: &[AccessLine<'_>]) -> Vec<serde_json::Value> {
        let path = std::env::temp_dir().join(format!(
            "egov-access-log-test-{}-{:?}.log",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&path);
        let dropped = IntCounter::new("dropped", "dropped").expect("counter");
        let log = AccessLog::new(&AccessLogTarget::File(path.clone()), dropped).expect("open");
        for l in lines {
            log.write(l);
        }
        drop(log);
        let text = std::fs::read_to_string(&path).expect("read the log");
        let _ = std::fs::remove_file(&path);
        text.lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
            .collect()
    }

    /// Found when tried: after `logrotate` moved the log and signalled, lines went on
    /// into the moved file.
    #[test]
    fn a_reopened_log_writes_to_a_new_file_at_its_name() {
        let dir = std::env::temp_dir().join(format!("egov-access-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let (path, moved) = (dir.join("access.log"), dir.join("access.log.1"));
        let dropped = IntCounter::new("dropped", "dropped").expect("counter");
        let log = AccessLog::new(&AccessLogTarget::File(path.clone()), dropped).expect("open");
        log.write(&line("/before", None));
        let drained = |p: &std::path::Path| {
            (0..100).any(|_| {
                std::thread::sleep(DRAIN_EVERY);
                std::fs::read_to_string(p).is_ok_and(|t| !t.is_empty())
            })
        };
        assert!(drained(&path), "the first line was written");
        std::fs::rename(&path, &moved).expect("rotate");
        log.reopen();
        log.write(&line("/after", None));
        drop(log);
        let old = std::fs::read_to_string(&moved).expect("the moved file");
        let new = std::fs::read_to_string(&path).expect("a new file at the log's name");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(old.contains("/before") && !old.contains("/after"), "{old}");
        assert!(new.contains("/after"), "{new}");
    }

    /// Found in an observability probe: a path's right-to-left override reached the log
    /// raw and turned the rest of its line around in a terminal.
    #[test]
    fn characters_a_terminal_would_obey_are_escaped_and_the_rest_kept() {
        for text in [
            "/x/\u{202e}gpj.exe",
            "\u{85}del\u{7f}",
            "/بطاقة/ⵜⴰⴽⴰⵔⴹⴰ",
            "\u{2066}abcdefgh",
            // From a bypass probe: a tag character, a word joiner, a soft hyphen.
            "/t\u{E0041}\u{2060}\u{AD}\u{206B}x",
        ] {
            let mut out = Vec::new();
            json_str(&mut out, text);
            let line = String::from_utf8(out).expect("UTF-8");
            let obeyed = [
                '\u{202e}',
                '\u{85}',
                '\u{7f}',
                '\u{2066}',
                '\u{E0041}',
                '\u{2060}',
                '\u{AD}',
                '\u{206B}',
            ];
            assert!(!line.contains(obeyed), "{line}");
            let back: String = serde_json::from_str(&line).expect("a JSON string");
            assert_eq!(back, text, "{line}");
        }
        let mut out = Vec::new();
        json_str(&mut out, "/بطاقة");
        assert_eq!(out, "\"/بطاقة\"".as_bytes(), "Arabic is written as it is");
    }

    #[test]
    fn each_request_is_one_json_line_with_its_time_path_and_address_formatted_in_place() {
        let got = written(&[line("/s/x/dossier/AB123456", Some("cin=AB123456&lang=fr"))]);
        assert_eq!(got.len(), 1);
        let l = &got[0];
        assert_eq!(l["time"], "2025-12-04T10:00:00.123Z");
        assert_eq!(l["path"], "/s/x/dossier/:id?cin=&lang=");
        assert_eq!(l["client_ip"], "192.0.2.7");
        assert_eq!(l["upstream_ms"], serde_json::Value::Null);
        assert_eq!(l["status"], 200);
        assert_eq!(l["duration_ms"], 1.25);
        assert_eq!(l["service"], "cnie-renewal");
    }

    #[test]
    fn a_path_with_quotes_backslashes_or_newlines_cannot_break_out_of_its_line() {
        let hostile = "/s/x/\"},\"status\":1,\"x\":\"\\\n{\"forged\":true}";
        let got = written(&[line(hostile, None), line("/next", None)]);
        assert_eq!(got.len(), 2, "two requests, two lines");
        assert_eq!(got[0]["path"], hostile);
        assert_eq!(got[0]["status"], 200);
        assert_eq!(got[1]["path"], "/next");
    }

    #[test]
    fn an_identifier_is_five_digits_an_email_address_a_name_or_a_token_however_written() {
        for id in [
            "AB123456",
            "2024-12345",
            "a.b@x.ma",
            "a.b%40x.ma",
            "1-2-3-4-5",
            "Amina%20El%20Idrissi",
            "amina+el+idrissi",
            "Amina%09El%09Idrissi",
            "Amina%C2%A0El%C2%A0Idrissi",
            "Amina%2bEl%2BIdrissi",
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.e30.sig",
            "abcdefghij1klmnopqrstuvwxyz",
        ] {
            assert!(looks_like_an_identifier(id), "{id}");
        }
        for name in [
            "2024",
            "suivi",
            "%4",
            "%41x",
            "v1.2.3",
            "",
            "x%4",
            "renouvellement-passeport",
            "attestation_de_residence",
            "abcdefghijklmnopqrstuvwxyzab",
            "formulaire-2024-demande-de-permis",
        ] {
            assert!(!looks_like_an_identifier(name), "{name}");
        }
    }

    #[test]
    fn times_are_milliseconds_in_utc_even_when_the_second_changes_between_lines() {
        let at = |ms: u64| {
            let mut l = line("/", None);
            l.time = std::time::UNIX_EPOCH + Duration::from_millis(ms);
            l
        };
        let got = written(&[
            at(1_764_842_400_999),
            at(1_764_842_401_000),
            at(1_764_842_401_007),
            at(951_782_400_050),
        ]);
        let times: Vec<_> = got
            .iter()
            .map(|l| l["time"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            times,
            [
                "2025-12-04T10:00:00.999Z",
                "2025-12-04T10:00:01.000Z",
                "2025-12-04T10:00:01.007Z",
                "2000-02-29T00:00:00.050Z"
            ]
        );
    }

    #[test]
    fn durations_are_milliseconds_to_the_microsecond() {
        let with = |d: Duration, u: Option<Duration>| {
            let mut l = line("/", None);
            l.duration = d;
            l.upstream = u;
            l
        };
        let got = written(&[
            with(
                Duration::from_nanos(3_000_400),
                Some(Duration::from_nanos(500)),
            ),
            with(
                Duration::from_micros(12_340),
                Some(Duration::from_micros(1)),
            ),
            with(Duration::from_secs(31), None),
        ]);
        let ms = |l: &serde_json::Value, k: &str| l[k].as_f64();
        assert_eq!(ms(&got[0], "duration_ms"), Some(3.0));
        assert_eq!(ms(&got[0], "upstream_ms"), Some(0.001));
        assert_eq!(ms(&got[1], "duration_ms"), Some(12.34));
        assert_eq!(ms(&got[1], "upstream_ms"), Some(0.001));
        assert_eq!(ms(&got[2], "duration_ms"), Some(31_000.0));
        assert_eq!(got[2]["upstream_ms"], serde_json::Value::Null);
    }

    #[test]
    fn a_request_id_with_tabs_or_control_bytes_and_an_ipv6_client_stay_one_valid_line() {
        let mut l = line("/", None);
        l.request_id = "a\tb\u{1}c\u{7f}é";
        l.client_ip = Some("2001:db8::7".parse().expect("address"));
        let got = written(&[l, line("/after", None)]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["request_id"], "a\tb\u{1}c\u{7f}é");
        assert_eq!(got[0]["client_ip"], "2001:db8::7");
        assert_eq!(got[1]["path"], "/after");
    }

    #[test]
    fn the_word_at_a_time_scan_stops_at_the_first_word_holding_a_byte_to_look_at() {
        // Past ASCII, a character may be one to escape: looked at one by one.
        let naive = |b: &[u8]| {
            b.iter()
                .position(|&c| !(0x20..0x7f).contains(&c) || c == b'"' || c == b'\\')
        };
        for s in [
            "0123456789abcdef0123",
            "01234567\"abcdefg",
            "0123456789abcde\\",
            "é0123456\u{1f}x",
            "ééééééééééééé\t",
            "~~~~~~~~~~~~~~~~\u{7f}",
            "",
        ] {
            let clean = clean_prefix(s.as_bytes());
            let first = naive(s.as_bytes()).unwrap_or(s.len());
            // Every whole word before the first byte to escape, and none after it.
            assert_eq!(clean, first / 8 * 8, "{s:?}");
        }
    }

    #[test]
    fn the_path_a_span_shows_is_bounded_as_the_logs() {
        // Short segments: a long one is a token, and is logged as `:id`.
        let long = format!(
            "/s/x/{}é{}",
            "a/".repeat((PATH_LIMIT - 6) / 2),
            "b/".repeat(30_000)
        );
        let shown = path_without_query_values(&long, None);
        assert!(
            shown.len() <= PATH_LIMIT + '…'.len_utf8(),
            "{}",
            shown.len()
        );
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn a_long_path_is_logged_up_to_the_limit_and_marked_cut() {
        let long = format!(
            "/s/x/{}é{}",
            "a/".repeat((PATH_LIMIT - 6) / 2),
            "b/".repeat(4000)
        );
        let got = written(&[line(&long, Some("k=v"))]);
        let path = got[0]["path"].as_str().unwrap_or("");
        assert!(path.ends_with('…'), "{path}");
        assert!(path.len() <= PATH_LIMIT + '…'.len_utf8(), "{}", path.len());
        assert!(long.starts_with(path.trim_end_matches('…')));
        let short = written(&[line("/s/x/suivi", Some("k=v"))]);
        assert_eq!(short[0]["path"], "/s/x/suivi?k=");
    }

    #[test]
    fn a_clock_outside_what_rfc_3339_can_write_still_gives_a_valid_time() {
        let mut far = line("/", None);
        far.time = std::time::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        let mut before = line("/", None);
        before.time = std::time::UNIX_EPOCH - Duration::from_secs(5);
        let got = written(&[far, before]);
        assert_eq!(got[0]["time"], "9999-12-31T23:59:59.000Z");
        assert_eq!(got[1]["time"], "1970-01-01T00:00:00.000Z");
    }

    /// A disk with `room` bytes left, which the test can free.
    #[derive(Clone)]
    struct Disk(Arc<std::sync::Mutex<(usize, Vec<u8>)>>);

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut disk = self.0.lock().expect("disk");
            let n = buf.len().min(disk.0);
            if n == 0 && !buf.is_empty() {
                return Err(std::io::Error::other("No space left on device"));
            }
            disk.0 -= n;
            disk.1.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_a_full_disk_does_not_take_are_counted_and_the_log_stays_one_line_each() {
        let disk = Disk(Arc::new(std::sync::Mutex::new((30, Vec::new()))));
        let lost = IntCounter::new("lost", "lost").expect("counter");
        let mut lines = Lines::new(Box::new(disk.clone()), lost.clone());
        let line = |n: u32| format!("{{\"n\":{n},\"pad\":\"{}\"}}\n", "x".repeat(20)).into_bytes();
        for n in 0..3 {
            lines.write(&line(n));
        }
        lines.flush();
        assert_eq!(lost.get(), 3, "none of the three went through whole");
        // Still full: one more line, one more lost (not its leading newline too).
        lines.write(&line(9));
        lines.flush();
        assert_eq!(lost.get(), 4);
        // Room again: the next lines are written, each on a line of its own.
        disk.0.lock().expect("disk").0 = 10_000;
        for n in 3..5 {
            lines.write(&line(n));
        }
        lines.flush();
        assert_eq!(lost.get(), 4);
        let text = String::from_utf8(disk.0.lock().expect("disk").1.clone()).expect("text");
        let whole: Vec<&str> = text
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
            .collect();
        assert_eq!(whole.len(), 2, "{text}");
        assert!(
            whole[0].starts_with("{\"n\":3,") && whole[1].starts_with("{\"n\":4,"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 3, "one torn line on its own:\n{text}");
    }
}
