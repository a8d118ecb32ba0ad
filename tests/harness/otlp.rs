//! A real OTLP receiver for the tracing tests: `rotel-agent` (PyPI `rotel`, a collector
//! written in Rust) with OTLP/HTTP and OTLP/gRPC endpoints on free 127.0.0.1 ports, the
//! blackhole exporter, and its debug log of traces at detailed verbosity captured and parsed
//! back into [`SpanRecord`]s. Killed on drop.
//!
//! Why a real one: the gateway's exporter is only proven once a collector written by someone
//! else has decoded what it sent (ids, parent links, kinds, attributes). Neither the
//! OpenTelemetry Collector nor Jaeger can be installed here; rotel can, from PyPI.
//!
//! `rotel-agent` is looked for at `$EGOV_ROTEL_AGENT`, then on `PATH`, then inside the `rotel`
//! Python package of `$EGOV_PYTHON` (else `python3`); `tests/setup.sh` installs it.
//!
//! # What rotel (PyPI `rotel` 0.0.1a15, `rotel-agent --version`: `rotel 0.0.1-alpha10`) does
//! - The wheel ships the binary *inside* the package (`site-packages/rotel/rotel-agent`); no
//!   `rotel-agent` lands on `PATH`. Its version string does not match the PyPI version.
//! - The debug log goes to **stdout** as plain text in the Go collector's debug-exporter layout,
//!   printed on receipt (before batching: a span is readable ~5 ms after the POST returns):
//!   ```text
//!   ResourceSpans #0
//!   Resource SchemaURL:
//!   Resource attributes:
//!        -> service.name: Str(egov-gateway)
//!   ScopeSpans #0
//!   ScopeSpans SchemaURL:
//!   InstrumentationScope probe 1.0
//!   Span #0
//!       Trace ID       : 5b8efff798038103d269b633813fc60c
//!       Parent ID      :
//!       ID             : eee19b7ec3c1b174
//!       Name           : GET /s/{service}
//!       Kind           : SPAN_KIND_SERVER
//!   Start time: 1700000000000000000
//!   End time: 1700000001000000000
//!       Status code    : STATUS_CODE_ERROR
//!       Status message : boom
//!   Attributes:
//!        -> http.response.status_code: Int(200)
//!   Events:
//!   SpanEvent #0
//!        -> Name: ev
//!        -> Attributes::
//!             -> ek: Str(ev)
//!   Links:
//!   SpanLink #0
//!        -> Trace ID: ...
//!   ```
//!   Root spans print an empty `Parent ID`; `Start time`/`End time` are raw Unix nanoseconds,
//!   not indented; `TraceState` and the `Status` lines appear only when set, and
//!   `InstrumentationScope` only when the scope has a name, `Attributes:` only when there are
//!   some. Values are typed: `Str(..)`, `Int(..)`, `Bool(..)`, `Double(..)`, `Slice(Str(a),
//!   Int(2))`, `Map(k:Str(v))`, `Bytes([104, 105])`; event and link attributes use the same
//!   `->` arrows (under `Attributes::`, two colons), so they must not be read as span ones.
//! - Nothing is escaped: a newline inside a span name or a string attribute splits it over
//!   several output lines (the parser joins such continuation lines back).
//! - Its own log lines (`<timestamp>  INFO Starting Rotel. ...`, `ERROR Failed to decode OTLP
//!   HTTP/JSON request`) are also on stdout, ANSI-coloured even into a pipe; they are stripped.
//! - OTLP/HTTP JSON needs hex trace and span ids (the OTLP/JSON rule, not protobuf-JSON's
//!   base64); a body it cannot decode gets `400` with an *empty* body, and an accepted one
//!   `200 {"partialSuccess":null}`.
//! - A port already in use makes it exit with status 1 (`ERROR: unable to bind to ...:
//!   Address already in use`): the start is retried on other ports.
//! - It reads `ROTEL_*` environment variables as options (they are cleared for the child), and
//!   defaults its pid and log files to `/tmp/rotel-agent.{pid,log}` (used by `--daemon` only;
//!   they are pointed into a directory of our own anyway).

use crate::scratch::{python, spawn_on_free_ports, Spawned};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// How long rotel may take to listen on both ports.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Output younger than this may be a span block still being written.
const SETTLE: Duration = Duration::from_millis(100);

/// One span as rotel printed it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpanRecord {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// `None` for a root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    /// `server`, `client`, `internal`, `producer`, `consumer` or `unspecified`.
    pub kind: String,
    /// Span attributes; scalar values unwrapped (`Str(GET)` → `GET`, `Int(200)` → `200`),
    /// others as rotel printed them (`Slice(Str(a), Int(2))`).
    pub attributes: BTreeMap<String, String>,
    /// The attributes of the span's resource (`service.name`, ...), unwrapped likewise.
    pub resource: BTreeMap<String, String>,
    /// The instrumentation scope line (`name version`), empty when absent.
    pub scope: String,
    /// `ok` or `error` when the span has a status; `None` when unset.
    pub status_code: Option<String>,
    pub status_message: Option<String>,
    pub trace_state: Option<String>,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
}

impl SpanRecord {
    /// Whether the span has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none()
    }

    /// The attribute `key`, if present.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// A running `rotel-agent`, killed on drop. Its output (the debug log of the spans, and its
/// own log lines) is in its log file.
pub struct OtlpReceiver {
    process: Spawned,
}

impl OtlpReceiver {
    /// Starts `rotel-agent` and waits until both its OTLP ports accept connections.
    ///
    /// Panics with a hint if rotel is not installed (run `tests/setup.sh`), or with its output
    /// if it does not come up.
    pub fn start() -> OtlpReceiver {
        let agent = agent_path();
        let command = |ports: &[u16], dir: &Path| {
            let mut command = Command::new(&agent);
            command
                .arg("start")
                .args(["--otlp-http-endpoint", &format!("127.0.0.1:{}", ports[0])])
                .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{}", ports[1])])
                .args(["--exporter", "blackhole"])
                .args(["--debug-log", "traces"])
                .args(["--debug-log-verbosity", "detailed"])
                .arg("--pid-file")
                .arg(dir.join("rotel.pid"))
                .arg("--log-file")
                .arg(dir.join("rotel-daemon.log"));
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("ROTEL_") {
                    command.env_remove(key);
                }
            }
            command
        };
        let listening = |p: &Spawned| {
            p.ports.iter().all(|port| {
                let addr = SocketAddr::from(([127, 0, 0, 1], *port));
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            })
        };
        let process = spawn_on_free_ports("otlp", 2, START_TIMEOUT, &command, &listening)
            .unwrap_or_else(|e| panic!("{e}"));
        OtlpReceiver { process }
    }

    /// `http://127.0.0.1:<port>`: the OTLP/HTTP base URL (traces at `/v1/traces`).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.ports[0])
    }

    /// `http://127.0.0.1:<port>/v1/traces`.
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.http_endpoint())
    }

    /// `http://127.0.0.1:<port>`: the OTLP/gRPC endpoint.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.ports[1])
    }

    /// Every span received so far, in arrival order. Waits (up to 2 s) until the output has
    /// been quiet for 100 ms, so that a span block being printed is not read half-way.
    pub fn spans(&self) -> Vec<SpanRecord> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let quiet = std::fs::metadata(&self.process.log)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= SETTLE);
            if quiet || Instant::now() > deadline {
                return parse_debug_output(&self.lines());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls [`Self::spans`] until `pred` holds for them; `None` after `timeout`.
    pub fn wait_for_spans(
        &self,
        pred: impl Fn(&[SpanRecord]) -> bool,
        timeout: Duration,
    ) -> Option<Vec<SpanRecord>> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if pred(&spans) {
                return Some(spans);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything rotel printed, ANSI colours removed.
    pub fn logs(&self) -> String {
        self.lines().join("\n")
    }

    /// The output's lines, ANSI colours removed.
    fn lines(&self) -> Vec<String> {
        let bytes = std::fs::read(&self.process.log).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(strip_ansi)
            .collect()
    }
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `line` is one of rotel's own log lines (`2026-11-29T06:27:28.596063Z  INFO ...`).
fn is_log_line(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
}

/// Where the next continuation line (a value with a newline inside) belongs.
enum Open {
    Nothing,
    Name,
    StatusMessage,
    SpanAttribute(String),
    ResourceAttribute(String),
}

#[derive(PartialEq)]
enum Section {
    Outside,
    Resource,
    Span,
    SpanAttributes,
    /// Events and links: their `->` lines are not span attributes.
    Skipped,
}

/// Parses rotel's `--debug-log traces --debug-log-verbosity detailed` output (see the module
/// documentation for its layout). Lines it does not know continue the last value.
fn parse_debug_output(lines: &[String]) -> Vec<SpanRecord> {
    let mut spans = Vec::new();
    let mut current: Option<SpanRecord> = None;
    let mut resource = BTreeMap::new();
    let mut scope = String::new();
    let mut section = Section::Outside;
    let mut open = Open::Nothing;
    let finish = |current: &mut Option<SpanRecord>, spans: &mut Vec<SpanRecord>| {
        if let Some(mut span) = current.take() {
            for value in span.attributes.values_mut() {
                *value = unwrap_value(value);
            }
            spans.push(span);
        }
    };
    for raw in lines {
        if is_log_line(raw) {
            continue;
        }
        let line = raw.trim();
        if line.starts_with("ResourceSpans #") {
            finish(&mut current, &mut spans);
            resource.clear();
            scope.clear();
            section = Section::Outside;
            open = Open::Nothing;
        } else if line.starts_with("ScopeSpans #") {
            finish(&mut current, &mut spans);
            scope.clear();
            section = Section::Outside;
            open = Open::Nothing;
        } else if line.starts_with("Resource SchemaURL:")
            || line.starts_with("ScopeSpans SchemaURL:")
        {
            open = Open::Nothing;
        } else if line == "Resource attributes:" {
            section = Section::Resource;
            open = Open::Nothing;
        } else if let Some(rest) = line.strip_prefix("InstrumentationScope") {
            scope = rest.trim().to_string();
            open = Open::Nothing;
        } else if line.starts_with("Span #") {
            finish(&mut current, &mut spans);
            current = Some(SpanRecord {
                resource: resource
                    .iter()
                    .map(|(k, v): (&String, &String)| (k.clone(), unwrap_value(v)))
                    .collect(),
                scope: scope.clone(),
                ..SpanRecord::default()
            });
            section = Section::Span;
            open = Open::Nothing;
        } else if let (Some(span), Some(t)) = (current.as_mut(), line.strip_prefix("Start time:")) {
            span.start_unix_nano = t.trim().parse().unwrap_or(0);
            open = Open::Nothing;
        } else if let (Some(span), Some(t)) = (current.as_mut(), line.strip_prefix("End time:")) {
            span.end_unix_nano = t.trim().parse().unwrap_or(0);
            open = Open::Nothing;
        } else if line == "Attributes:" && current.is_some() {
            section = Section::SpanAttributes;
            open = Open::Nothing;
        } else if matches!(line, "Events:" | "Links:")
            || line.starts_with("SpanEvent #")
            || line.starts_with("SpanLink #")
        {
            section = Section::Skipped;
            open = Open::Nothing;
        } else if let Some(attribute) = line.strip_prefix("-> ") {
            let (key, value) = attribute.split_once(": ").unwrap_or((attribute, ""));
            let (key, value) = (key.to_string(), value.to_string());
            match (&section, current.as_mut()) {
                (Section::Resource, _) => {
                    resource.insert(key.clone(), value);
                    open = Open::ResourceAttribute(key);
                }
                (Section::SpanAttributes, Some(span)) => {
                    span.attributes.insert(key.clone(), value);
                    open = Open::SpanAttribute(key);
                }
                _ => open = Open::Nothing,
            }
        } else if let (Section::Span, Some(span), Some((key, value))) =
            (&section, current.as_mut(), line.split_once(':'))
        {
            let value = value.strip_prefix(' ').unwrap_or(value).to_string();
            open = Open::Nothing;
            match key.trim() {
                "Trace ID" => span.trace_id = value,
                "Parent ID" => span.parent_span_id = Some(value).filter(|v| !v.is_empty()),
                "ID" => span.span_id = value,
                "Name" => {
                    span.name = value;
                    open = Open::Name;
                }
                "Kind" => {
                    span.kind = value
                        .strip_prefix("SPAN_KIND_")
                        .unwrap_or(&value)
                        .to_ascii_lowercase();
                }
                "TraceState" => span.trace_state = Some(value),
                "Status code" => {
                    span.status_code = Some(
                        value
                            .strip_prefix("STATUS_CODE_")
                            .unwrap_or(&value)
                            .to_ascii_lowercase(),
                    );
                }
                "Status message" => {
                    span.status_message = Some(value);
                    open = Open::StatusMessage;
                }
                _ => continue_value(&mut open, Some(span), &mut resource, raw),
            }
        } else {
            continue_value(&mut open, current.as_mut(), &mut resource, raw);
        }
    }
    finish(&mut current, &mut spans);
    spans
}

/// Appends a continuation line to the value that is still open.
fn continue_value(
    open: &mut Open,
    span: Option<&mut SpanRecord>,
    resource: &mut BTreeMap<String, String>,
    raw: &str,
) {
    let append = |value: &mut String| {
        value.push('\n');
        value.push_str(raw);
    };
    match (open, span) {
        (Open::Name, Some(span)) => append(&mut span.name),
        (Open::StatusMessage, Some(span)) => {
            if let Some(message) = span.status_message.as_mut() {
                append(message);
            }
        }
        (Open::SpanAttribute(key), Some(span)) => {
            if let Some(value) = span.attributes.get_mut(key.as_str()) {
                append(value);
            }
        }
        (Open::ResourceAttribute(key), _) => {
            if let Some(value) = resource.get_mut(key.as_str()) {
                append(value);
            }
        }
        _ => {}
    }
}

/// `Str(x)` → `x`, `Int(1)` → `1`, `Bool(true)` → `true`, `Double(1.5)` → `1.5`; other
/// values as printed.
fn unwrap_value(value: &str) -> String {
    for prefix in ["Str(", "Int(", "Bool(", "Double("] {
        if let Some(inner) = value.strip_prefix(prefix).and_then(|v| v.strip_suffix(')')) {
            return inner.to_string();
        }
    }
    value.to_string()
}

/// The `rotel-agent` binary: `$EGOV_ROTEL_AGENT`, else on `PATH`, else inside the `rotel`
/// Python package. Panics with a hint when none is found.
pub fn agent_path() -> PathBuf {
    if let Some(path) = std::env::var_os("EGOV_ROTEL_AGENT") {
        return PathBuf::from(path);
    }
    if let Some(path) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("rotel-agent"))
            .find(|p| p.is_file())
    }) {
        return path;
    }
    let python = python();
    let script = "import importlib.util, pathlib\n\
                  spec = importlib.util.find_spec('rotel')\n\
                  print(pathlib.Path(spec.origin).parent / 'rotel-agent' if spec else '')";
    let found = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "rotel-agent not found ($EGOV_ROTEL_AGENT, PATH, or {python}'s rotel package): \
             run tests/setup.sh (pip install rotel)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TRACE: &str = "5b8efff798038103d269b633813fc60c";
    const PARENT: &str = "eee19b7ec3c1b174";
    const CHILD: &str = "eee19b7ec3c1b173";

    fn string(key: &str, value: &str) -> serde_json::Value {
        json!({"key": key, "value": {"stringValue": value}})
    }

    /// A trace as OTLP/HTTP JSON: a server span and its client child, with events and links
    /// whose attributes must not leak into the span's.
    fn trace() -> serde_json::Value {
        json!({"resourceSpans": [{
            "resource": {"attributes": [string("service.name", "egov-gateway")]},
            "scopeSpans": [{
                "scope": {"name": "egov", "version": "0.1.0"},
                "spans": [
                    {
                        "traceId": TRACE, "spanId": PARENT, "name": "GET /s/{service}: portal",
                        "kind": 2,
                        "startTimeUnixNano": "1700000000000000000",
                        "endTimeUnixNano": "1700000001000000000",
                        "attributes": [
                            string("http.request.method", "GET"),
                            {"key": "http.response.status_code", "value": {"intValue": "200"}},
                            {"key": "egov.cached", "value": {"boolValue": false}},
                            {"key": "egov.score", "value": {"doubleValue": 0.5}},
                            string("egov.note", "two\nlines"),
                            string("egov.service", "cnie-renewal")
                        ]
                    },
                    {
                        "traceId": TRACE, "spanId": CHILD, "parentSpanId": PARENT,
                        "name": "upstream", "kind": 3,
                        "startTimeUnixNano": "1700000000100000000",
                        "endTimeUnixNano": "1700000000900000000",
                        "attributes": [string("server.address", "127.0.0.1")],
                        "status": {"code": 2, "message": "connection refused"},
                        "events": [{"timeUnixNano": "1700000000200000000", "name": "retry",
                                    "attributes": [string("event.only", "x")]}],
                        "links": [{"traceId": TRACE, "spanId": PARENT,
                                   "attributes": [string("link.only", "y")]}]
                    }
                ]
            }]
        }]})
    }

    #[test]
    fn rotel_receives_an_otlp_http_json_trace_and_the_parent_link_survives() {
        let started = Instant::now();
        let receiver = OtlpReceiver::start();
        eprintln!("rotel-agent ready in {:?}", started.elapsed());
        assert!(receiver.http_endpoint().starts_with("http://127.0.0.1:"));
        let grpc: SocketAddr = receiver
            .grpc_endpoint()
            .trim_start_matches("http://")
            .parse()
            .expect("grpc addr");
        assert!(TcpStream::connect(grpc).is_ok(), "gRPC endpoint listens");

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let post = |body: String| {
            runtime.block_on(async {
                let response = crate::client()
                    .post(receiver.traces_url())
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("POST /v1/traces");
                let status = response.status().as_u16();
                (status, response.text().await.expect("body"))
            })
        };
        let (status, body) = post(trace().to_string());
        assert_eq!(status, 200, "{body}");
        // Base64 ids (protobuf JSON) are refused: OTLP/JSON wants hex.
        let (status, _) = post(
            trace()
                .to_string()
                .replace(TRACE, "W47/95gDgQPSabYzgT/GDA=="),
        );
        assert_eq!(status, 400);

        let spans = receiver
            .wait_for_spans(|s| s.len() >= 2, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no spans:\n{}", receiver.logs()));
        assert_eq!(spans.len(), 2, "{spans:#?}");
        let parent = spans.iter().find(|s| s.span_id == PARENT).expect("parent");
        let child = spans.iter().find(|s| s.span_id == CHILD).expect("child");

        assert!(parent.is_root());
        assert_eq!(child.parent_span_id.as_deref(), Some(PARENT));
        assert_eq!(
            (parent.trace_id.as_str(), child.trace_id.as_str()),
            (TRACE, TRACE)
        );
        assert_eq!(parent.name, "GET /s/{service}: portal");
        assert_eq!(
            (parent.kind.as_str(), child.kind.as_str()),
            ("server", "client")
        );
        assert_eq!(parent.attribute("http.request.method"), Some("GET"));
        assert_eq!(parent.attribute("http.response.status_code"), Some("200"));
        assert_eq!(parent.attribute("egov.cached"), Some("false"));
        assert_eq!(parent.attribute("egov.score"), Some("0.5"));
        assert_eq!(parent.attribute("egov.note"), Some("two\nlines"));
        assert_eq!(parent.attribute("egov.service"), Some("cnie-renewal"));
        assert_eq!(parent.status_code, None);
        assert_eq!(
            (parent.start_unix_nano, parent.end_unix_nano),
            (1_700_000_000_000_000_000, 1_700_000_001_000_000_000)
        );
        assert_eq!(
            parent.resource.get("service.name").map(String::as_str),
            Some("egov-gateway")
        );
        assert_eq!(parent.scope, "egov 0.1.0");
        assert_eq!(
            child.attributes,
            BTreeMap::from([("server.address".to_string(), "127.0.0.1".to_string())]),
            "event and link attributes stay out"
        );
        assert_eq!(child.status_code.as_deref(), Some("error"));
        assert_eq!(child.status_message.as_deref(), Some("connection refused"));
    }

    #[test]
    fn the_parser_skips_log_lines_and_joins_continued_values() {
        let output = "\
2026-11-29T06:27:28.596063Z  INFO Starting Rotel. grpc_endpoint=\"127.0.0.1:1\"
ResourceSpans #0
Resource SchemaURL: 
ScopeSpans #0
ScopeSpans SchemaURL: 
Span #0
    Trace ID       : 0af7651916cd43dd8448eb211c80319c
    Parent ID      : 
    ID             : b7ad6b7169203332
    Name           : multi
line
    Kind           : SPAN_KIND_UNSPECIFIED
    TraceState     : a=b
Start time: 1
End time: 2
Attributes:
     -> nl: Str(x
y)
     -> arr: Slice(Str(a), Int(2))
     -> empty: Str()";
        let lines: Vec<String> = output.lines().map(str::to_string).collect();
        let spans = parse_debug_output(&lines);
        assert_eq!(spans.len(), 1, "{spans:#?}");
        let span = &spans[0];
        assert_eq!(span.name, "multi\nline");
        assert_eq!(span.kind, "unspecified");
        assert_eq!(span.trace_state.as_deref(), Some("a=b"));
        assert_eq!(span.scope, "");
        assert!(span.resource.is_empty());
        assert_eq!(span.attribute("nl"), Some("x\ny"));
        assert_eq!(span.attribute("arr"), Some("Slice(Str(a), Int(2))"));
        assert_eq!(span.attribute("empty"), Some(""));
        assert_eq!(strip_ansi("\u{1b}[2mdim\u{1b}[0m text"), "dim text");
    }
}
