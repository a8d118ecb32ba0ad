//! A real Prometheus for the dashboard and alerting tests, and the helpers that check the
//! shipped `dashboards/` against it.
//!
//! [`Prometheus::start`] runs Debian's `prometheus` (2.42) on a free 127.0.0.1 port with a
//! 1 s scrape and rule-evaluation interval, a temporary storage directory and the given rule
//! files, scraping the given targets as job [`JOB`]; it is killed (and its directory removed)
//! on drop. With a 1 s interval a query sees scraped data within a few seconds, and recording
//! rules over `rate(...[5m])` have a value as soon as two scrapes are in.
//!
//! Why a real one: Grafana cannot be installed here, so a dashboard is proven by running each
//! of its queries ([`dashboard_queries`]) against a Prometheus that loaded the recording rules
//! and scraped the gateway; a misspelt recorded series or label then shows up as an empty
//! result instead of an empty panel in production. The rule files themselves are checked by
//! `promtool check rules` and their unit tests by `promtool test rules` ([`promtool_check`]).
//!
//! The HTTP API is read with a tiny blocking HTTP/1.0 client, so the helpers work from plain
//! `#[test]`s and from async tests alike (they block the calling thread: in a tokio test,
//! call them from a multi-thread runtime or `spawn_blocking`, never from the thread that runs
//! the scraped server). The rule files are read line by line (`- record: name`), which suits
//! the block-style YAML of `dashboards/rules/` without a YAML parser.
//!
//! `prometheus` and `promtool` come from `tests/setup.sh` (Debian package `prometheus`).

use crate::scratch::{free_port, tail, temp_dir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `job` label of every target [`Prometheus::start`] scrapes.
pub const JOB: &str = "egov";
/// How long Prometheus may take to answer `/-/ready`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a start is retried when the chosen port was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;
/// Timeout of one HTTP API call.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository's `dashboards/` directory (`grafana/*.json`, `rules/*.yml`).
pub fn dashboards_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dashboards")
}

/// A running `prometheus`, killed on drop.
pub struct Prometheus {
    child: Option<Child>,
    addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
}

enum StartError {
    PortTaken(String),
    Other(String),
}

impl Prometheus {
    /// Starts Prometheus scraping `scrape_targets` (`/metrics`, every second, job [`JOB`])
    /// and evaluating `rule_files` every second, and waits until it is ready.
    ///
    /// Panics with a clear message if `prometheus` is missing (run `tests/setup.sh`), or with
    /// its log if it does not come up (an invalid rule file stops it at start).
    pub fn start(scrape_targets: &[SocketAddr], rule_files: &[PathBuf]) -> Prometheus {
        let dir = temp_dir("prometheus");
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match Self::spawn(&dir, free_port(), scrape_targets, rule_files) {
                Ok(prometheus) => return prometheus,
                Err(StartError::PortTaken(log)) => last = log,
                Err(StartError::Other(message)) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    panic!("{message}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("prometheus found no free port:\n{last}");
    }

    fn spawn(
        dir: &Path,
        port: u16,
        scrape_targets: &[SocketAddr],
        rule_files: &[PathBuf],
    ) -> Result<Prometheus, StartError> {
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, config_yaml(scrape_targets, rule_files))
            .map_err(|e| StartError::Other(format!("cannot write {}: {e}", config.display())))?;
        let data = dir.join(format!("data-{port}"));
        let log = dir.join(format!("prometheus-{port}.log"));
        let log_file = std::fs::File::create(&log)
            .map_err(|e| StartError::Other(format!("cannot create {}: {e}", log.display())))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| StartError::Other(format!("cannot clone the log handle: {e}")))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| {
                StartError::Other(format!("cannot run prometheus ({e}); run tests/setup.sh"))
            })?;
        let mut prometheus = Prometheus {
            child: Some(child),
            addr,
            dir: dir.to_path_buf(),
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if matches!(http_get(addr, "/-/ready"), Ok((200, _))) {
                return Ok(prometheus);
            }
            let exited = prometheus
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                prometheus.child = None;
                let log = tail(&prometheus.log, 30);
                if log.contains("address already in use") {
                    return Err(StartError::PortTaken(log));
                }
                return Err(StartError::Other(format!(
                    "prometheus exited ({status}):\n{log}"
                )));
            }
            if Instant::now() > deadline {
                prometheus.kill();
                return Err(StartError::Other(format!(
                    "prometheus was not ready within {START_TIMEOUT:?}:\n{}",
                    tail(&prometheus.log, 30)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, e.g. for a Grafana data source.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs an instant query and returns `data.result`: an array of `{metric, value}` for a
    /// vector, `[time, "value"]` for a scalar. Errors carry Prometheus's `errorType: error`
    /// (a PromQL syntax error, for instance).
    pub fn query(&self, promql: &str) -> Result<Value, String> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(promql)))?;
        data.get("result")
            .cloned()
            .ok_or_else(|| format!("no data.result in the answer to {promql:?}: {data}"))
    }

    /// Queries `promql` until its result is non-empty; `false` after `timeout` (also when the
    /// query keeps failing).
    pub fn wait_for(&self, promql: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Value::Array(result)) = self.query(promql) {
                if !result.is_empty() {
                    return true;
                }
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `data` of `/api/v1/rules`: `{"groups": [{"name", "file", "rules": [{"name",
    /// "query", "health", "lastError", "type": "recording" | "alerting", ...}]}]}`.
    pub fn rules(&self) -> Result<Value, String> {
        self.api("/api/v1/rules")
    }

    /// The `data` of `/api/v1/alerts`: `{"alerts": [{"labels", "annotations", "state", ...}]}`.
    pub fn alerts(&self) -> Result<Value, String> {
        self.api("/api/v1/alerts")
    }

    /// The `data` of `/api/v1/targets` (scrape health: `activeTargets[].health`,
    /// `lastError`).
    pub fn targets(&self) -> Result<Value, String> {
        self.api("/api/v1/targets")
    }

    /// Prometheus's log so far (its last lines).
    pub fn logs(&self) -> String {
        tail(&self.log, 30)
    }

    /// GETs an API path and returns the answer's `data`, or its error.
    fn api(&self, path_and_query: &str) -> Result<Value, String> {
        let (status, body) = http_get(self.addr, path_and_query)?;
        let json: Value = serde_json::from_slice(&body).map_err(|e| {
            format!(
                "GET {path_and_query}: HTTP {status}, not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        if json.get("status").and_then(Value::as_str) != Some("success") {
            let kind = json.get("errorType").and_then(Value::as_str).unwrap_or("?");
            let error = json.get("error").and_then(Value::as_str).unwrap_or("?");
            return Err(format!("{kind}: {error}"));
        }
        json.get("data")
            .cloned()
            .ok_or_else(|| format!("GET {path_and_query}: no data in {json}"))
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The configuration file: 1 s intervals, `rule_files`, one static job. Strings are written
/// as JSON strings, which YAML reads as double-quoted scalars.
fn config_yaml(scrape_targets: &[SocketAddr], rule_files: &[PathBuf]) -> String {
    let quote = |s: &str| Value::String(s.to_string()).to_string();
    let mut yaml = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n",
    );
    yaml.push_str("rule_files:\n");
    for file in rule_files {
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.clone());
        yaml.push_str(&format!("  - {}\n", quote(&absolute.display().to_string())));
    }
    if rule_files.is_empty() {
        yaml = yaml.replace("rule_files:\n", "rule_files: []\n");
    }
    let targets: Vec<String> = scrape_targets
        .iter()
        .map(|t| quote(&t.to_string()))
        .collect();
    yaml.push_str(&format!(
        "scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    ));
    yaml
}

/// One blocking HTTP/1.0 GET (HTTP/1.0, so the answer is never chunked and ends when the
/// connection closes). Returns the status and the body.
fn http_get(addr: SocketAddr, path_and_query: &str) -> Result<(u16, Vec<u8>), String> {
    let fail = |e: std::io::Error| format!("GET http://{addr}{path_and_query}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(fail)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT)).map_err(fail)?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT)).map_err(fail)?;
    let request = format!(
        "GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(fail)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(fail)?;
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("GET {path_and_query}: no end of headers in the answer"))?;
    let head = String::from_utf8_lossy(&answer[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("GET {path_and_query}: bad status line {head:?}"))?;
    Ok((status, answer[end + 4..].to_vec()))
}

/// Percent-encodes a query-string value (everything but RFC 3986 unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The shipped files: rule files, recorded series, dashboard queries, promtool.

/// Every file under `dir` (recursively) whose name ends with one of `extensions`, sorted.
fn files_under(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Whether a YAML file has `key:` at top level.
fn has_top_level_key(path: &Path, key: &str) -> bool {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .any(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
        })
}

/// The Prometheus rule files under `dir` (recursively): YAML files with a top-level
/// `groups:`. `promtool test rules` files (top-level `rule_files:`) are not among them.
pub fn rule_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir, &["yml", "yaml"])
        .into_iter()
        .filter(|p| has_top_level_key(p, "groups"))
        .collect()
}

/// The `promtool test rules` files under `dir` (recursively): YAML files with a top-level
/// `rule_files:`.
pub fn rule_test_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir, &["yml", "yaml"])
        .into_iter()
        .filter(|p| has_top_level_key(p, "rule_files"))
        .collect()
}

/// The names of the series recorded by the rule files under `dir` (every `- record: name`),
/// in file order, without duplicates.
pub fn recording_rules(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for file in rule_files(dir) {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        for line in text.lines() {
            let line = line.trim_start();
            let line = line.strip_prefix("- ").unwrap_or(line).trim_start();
            let Some(name) = line.strip_prefix("record:") else {
                continue;
            };
            let name = name.split(" #").next().unwrap_or(name).trim();
            let name = name.trim_matches(|c| c == '"' || c == '\'').to_string();
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Runs `promtool check rules` on the rule files under `dir` and `promtool test rules` on the
/// test files there (see [`rule_files`], [`rule_test_files`]). `Err` carries promtool's
/// output.
pub fn promtool_check(dir: &Path) -> Result<(), String> {
    let rules = rule_files(dir);
    if rules.is_empty() {
        return Err(format!("no rule files under {}", dir.display()));
    }
    let run = |args: Vec<std::ffi::OsString>| -> Result<(), String> {
        let output = Command::new("promtool")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run promtool ({e}); run tests/setup.sh"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "promtool {} failed ({}):\n{}{}",
                args.iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    let mut check = vec!["check".into(), "rules".into()];
    check.extend(rules.iter().map(|p| p.clone().into_os_string()));
    run(check)?;
    for test in rule_test_files(dir) {
        run(vec!["test".into(), "rules".into(), test.into_os_string()])?;
    }
    Ok(())
}

/// Every PromQL query of the Grafana dashboards (`*.json`) under `dir` (recursively), with
/// template variables replaced by [`substitute_variables`]: each panel target's `expr`,
/// titled `<dashboard title>/<panel title>` (plus `/<refId>` when the panel has several
/// targets), and each `label_values(selector, label)` query variable as
/// `count by (label) (selector)`, titled `<dashboard title>/$<name>`.
///
/// Panics, naming the file, if a dashboard is not valid JSON.
pub fn dashboard_queries(dir: &Path) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for file in files_under(dir, &["json"]) {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let dashboard: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", file.display()));
        let title = dashboard
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| file.display().to_string());
        collect_panel_queries(&dashboard, &title, &mut queries);
        let variables = dashboard
            .pointer("/templating/list")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for variable in variables {
            if variable.get("type").and_then(Value::as_str) != Some("query") {
                continue;
            }
            let query = match variable.get("query") {
                Some(Value::String(q)) => Some(q.as_str()),
                Some(q) => q.get("query").and_then(Value::as_str),
                None => None,
            };
            let name = variable.get("name").and_then(Value::as_str).unwrap_or("?");
            if let Some(expr) = query.and_then(variable_query_as_promql) {
                queries.push((format!("{title}/${name}"), substitute_variables(&expr)));
            }
        }
    }
    queries
}

/// Walks `panels` (and the `panels` of rows) and collects each target's `expr`.
fn collect_panel_queries(node: &Value, dashboard: &str, out: &mut Vec<(String, String)>) {
    let Some(panels) = node.get("panels").and_then(Value::as_array) else {
        return;
    };
    for panel in panels {
        let title = panel.get("title").and_then(Value::as_str).unwrap_or("?");
        let targets = panel
            .get("targets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let exprs: Vec<(String, String)> = targets
            .iter()
            .filter_map(|t| {
                let expr = t.get("expr").and_then(Value::as_str)?;
                let ref_id = t.get("refId").and_then(Value::as_str).unwrap_or("?");
                Some((ref_id.to_string(), expr.to_string()))
            })
            .filter(|(_, expr)| !expr.trim().is_empty())
            .collect();
        let several = exprs.len() > 1;
        for (ref_id, expr) in exprs {
            let name = if several {
                format!("{dashboard}/{title}/{ref_id}")
            } else {
                format!("{dashboard}/{title}")
            };
            out.push((name, substitute_variables(&expr)));
        }
        collect_panel_queries(panel, dashboard, out);
    }
}

/// A Grafana Prometheus variable query as PromQL: `label_values(selector, label)` becomes
/// `count by (label) (selector)`, `label_values(label)` becomes
/// `count by (label) ({label=~".+"})`, `query_result(expr)` becomes `expr`; other forms
/// (`label_names()`, `metrics(...)`) are not PromQL and give `None`.
fn variable_query_as_promql(query: &str) -> Option<String> {
    let query = query.trim();
    if let Some(inner) = query
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
    {
        return Some(match inner.rsplit_once(',') {
            Some((selector, label)) => {
                format!("count by ({}) ({})", label.trim(), selector.trim())
            }
            None => {
                let label = inner.trim();
                format!("count by ({label}) ({{{label}=~\".+\"}})")
            }
        });
    }
    query
        .strip_prefix("query_result(")
        .and_then(|q| q.strip_suffix(')'))
        .map(|q| q.trim().to_string())
}

/// Replaces Grafana template variables in `expr` so that Prometheus can run it: the
/// interval variables by durations (`$__rate_interval`, `$__interval` → `1m`; `$__range` →
/// `1h`; `_s` and `_ms` forms in seconds and milliseconds), every other variable (`$name`,
/// `${name}`, `${name:format}`, `[[name]]`) by the match-all regex `.+`, as Grafana's "All"
/// does inside `=~"$name"`.
pub fn substitute_variables(expr: &str) -> String {
    let value = |name: &str| -> &'static str {
        match name {
            "__rate_interval" | "__interval" => "1m",
            "__interval_ms" => "60000",
            "__range" => "1h",
            "__range_s" => "3600",
            "__range_ms" => "3600000",
            _ => ".+",
        }
    };
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(braced) = tail.strip_prefix("${") {
            if let Some(end) = braced.find('}') {
                let name = braced[..end].split(':').next().unwrap_or("");
                out.push_str(value(name));
                rest = &braced[end + 1..];
                continue;
            }
        } else if let Some(plain) = tail.strip_prefix('$') {
            let end = plain.find(|c: char| !is_name(c)).unwrap_or(plain.len());
            if end > 0 {
                out.push_str(value(&plain[..end]));
                rest = &plain[end..];
                continue;
            }
        } else if let Some(bracketed) = tail.strip_prefix("[[") {
            if let Some(end) = bracketed.find("]]") {
                let name = bracketed[..end].split(':').next().unwrap_or("");
                if !name.is_empty() && name.chars().all(is_name) {
                    out.push_str(value(name));
                    rest = &bracketed[end + 2..];
                    continue;
                }
            }
        }
        // Not a variable: keep the character.
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// The `level:metric:operations` names a PromQL expression reads (identifiers with two
/// colons), for checking that dashboards only use series the rule files record.
pub fn recorded_names_in(expr: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut in_string = None;
    let mut current = String::new();
    let flush = |current: &mut String, names: &mut Vec<String>| {
        if current.matches(':').count() == 2 && !names.contains(current) {
            names.push(current.clone());
        }
        current.clear();
    };
    for c in expr.chars() {
        match in_string {
            Some(quote) => {
                if c == quote {
                    in_string = None;
                }
            }
            None if c == '"' || c == '\'' || c == '`' => {
                flush(&mut current, &mut names);
                in_string = Some(c);
            }
            None if c.is_ascii_alphanumeric() || c == '_' || c == ':' => current.push(c),
            None => flush(&mut current, &mut names),
        }
    }
    flush(&mut current, &mut names);
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn variables_become_match_all_regexes_and_intervals_durations() {
        assert_eq!(
            substitute_variables(
                r#"sum by (le) (rate(x_bucket{service=~"$service", ministry=~"${ministry:regex}"}[$__rate_interval]))"#
            ),
            r#"sum by (le) (rate(x_bucket{service=~".+", ministry=~".+"}[1m]))"#
        );
        assert_eq!(
            substitute_variables(r#"a{b=~"[[b]]"}[5m]"#),
            r#"a{b=~".+"}[5m]"#
        );
        assert_eq!(
            substitute_variables("a[5m] offset $__range"),
            "a[5m] offset 1h"
        );
        assert_eq!(substitute_variables("up $"), "up $");
        assert_eq!(
            variable_query_as_promql(
                r#"label_values(egov_http_requests_total{ministry=~"$ministry"}, service)"#
            )
            .as_deref(),
            Some(r#"count by (service) (egov_http_requests_total{ministry=~"$ministry"})"#)
        );
        assert_eq!(
            variable_query_as_promql("label_values(ministry)").as_deref(),
            Some(r#"count by (ministry) ({ministry=~".+"})"#)
        );
        assert_eq!(
            recorded_names_in(r#"sum(a:b_c:rate5m{x="a:b:c"}) / rate(d_total[5m]) or x:y:z"#),
            vec!["a:b_c:rate5m".to_string(), "x:y:z".to_string()]
        );
    }

    #[test]
    fn shipped_dashboards_read_only_recorded_series_and_declare_their_variables() {
        let dir = dashboards_dir();
        let recorded = recording_rules(&dir);
        assert!(recorded.contains(&"egov:http_requests:rate5m".to_string()));
        assert!(recorded.contains(&"service_ministry:egov_http_requests:rate5m".to_string()));
        let queries = dashboard_queries(&dir.join("grafana"));
        assert!(queries.len() > 40, "{} queries", queries.len());
        for (title, expr) in &queries {
            assert!(
                !expr.contains('$'),
                "{title}: unsubstituted variable in {expr}"
            );
            for name in recorded_names_in(expr) {
                assert!(
                    recorded.contains(&name),
                    "{title}: {name} is not recorded by dashboards/rules"
                );
            }
        }
        for file in files_under(&dir.join("grafana"), &["json"]) {
            let text = std::fs::read_to_string(&file).expect("read");
            let dashboard: Value = serde_json::from_str(&text).expect("JSON");
            let name = file.display();
            assert_eq!(dashboard["schemaVersion"], 39, "{name}");
            let vars: Vec<&str> = dashboard["templating"]["list"]
                .as_array()
                .expect("templating")
                .iter()
                .filter_map(|v| v["name"].as_str())
                .collect();
            assert!(vars.contains(&"datasource"), "{name}: {vars:?}");
            if text.contains("$service") {
                assert!(vars.contains(&"service"), "{name}: {vars:?}");
            }
            if text.contains("$ministry") {
                assert!(vars.contains(&"ministry"), "{name}: {vars:?}");
            }
            let mut ids = Vec::new();
            walk_panels(&dashboard, &mut |panel| {
                ids.push(panel["id"].as_u64().expect("panel id"));
                if panel["type"] != "row" {
                    assert_eq!(
                        panel["datasource"]["uid"], "${datasource}",
                        "{name}: {}",
                        panel["title"]
                    );
                }
            });
            let count = ids.len();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), count, "{name}: panel ids are not unique");
        }
    }

    fn walk_panels(node: &Value, f: &mut dyn FnMut(&Value)) {
        for panel in node["panels"].as_array().into_iter().flatten() {
            f(panel);
            walk_panels(panel, f);
        }
    }

    #[test]
    fn a_broken_rule_file_stops_the_start_with_prometheus_log() {
        let dir = temp_dir("prometheus-broken-rules");
        let file = dir.join("broken.yml");
        std::fs::write(
            &file,
            "groups:\n  - name: x\n    rules:\n      - record: a:b:c\n        expr: sum(\n",
        )
        .expect("write");
        let started =
            std::panic::catch_unwind(|| Prometheus::start(&[], std::slice::from_ref(&file)));
        let _ = std::fs::remove_dir_all(&dir);
        let message = started
            .err()
            .and_then(|e| e.downcast_ref::<String>().cloned())
            .expect("start panics with a message");
        assert!(message.contains("prometheus exited"), "{message}");
        assert!(message.contains("broken.yml"), "{message}");
    }

    #[test]
    fn promtool_accepts_the_rules_and_their_unit_tests_pass() {
        let dir = dashboards_dir().join("rules");
        assert_eq!(rule_files(&dir).len(), 2, "{:?}", rule_files(&dir));
        assert_eq!(rule_test_files(&dir).len(), 1);
        promtool_check(&dir).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Every metric the gateway exports, with every label value the dashboards and rules look
    /// at: `name{labels} value`, where a counter's value (`_total`) is multiplied by the scrape
    /// number. Histograms are added by [`exposition`].
    const FIXTURE: &str = r#"
egov_build_info{version="0.1.0"} 1
egov_http_requests_in_flight 3
egov_registry_services 56
egov_http_response_bytes_total{service="cnie-renewal",ministry="interior"} 5000
egov_http_response_bytes_total{service="_portal",ministry="_portal"} 900
egov_upstream_errors_total{service="cnie-renewal",ministry="interior",kind="refused"} 1
egov_upstream_errors_total{service="income-tax-declaration",ministry="economy-finance",kind="timeout"} 2
egov_upstream_up{service="cnie-renewal",backend="127.0.0.1:8081"} 1
egov_upstream_up{service="cnie-renewal",backend="127.0.0.1:8082"} 0
egov_upstream_up{service="income-tax-declaration",backend="127.0.0.1:8083"} 1
egov_adapter_body_rewrites_total{service="cnie-renewal",kind="transcode"} 4
egov_adapter_body_rewrites_total{service="income-tax-declaration",kind="links"} 6
egov_sso_logins_total{result="success"} 9
egov_sso_logins_total{result="failure"} 1
egov_sso_logouts_total{kind="rp"} 3
egov_sso_logouts_total{kind="backchannel"} 1
egov_sso_sessions_active 42
egov_sso_session_store_up 1
egov_sso_session_store_errors_total 1
egov_sso_access_denied_total{service="cnie-renewal",reason="login_required"} 5
egov_sso_access_denied_total{service="income-tax-declaration",reason="forbidden"} 1
egov_sso_access_denied_total{service="cnie-renewal",reason="store_unavailable"} 1
egov_assist_decisions_total{source="local",outcome="routed"} 8
egov_assist_decisions_total{source="local",outcome="ambiguous"} 2
egov_assist_decisions_total{source="local",outcome="refused"} 1
egov_assist_decisions_total{source="llm",outcome="routed"} 3
egov_assist_decisions_total{source="llm",outcome="not_government"} 1
egov_assist_decisions_total{source="cache",outcome="routed"} 4
egov_assist_llm_errors_total{kind="timeout"} 1
egov_assist_llm_errors_total{kind="breaker_open"} 1
egov_assist_llm_tokens_total{kind="prompt"} 300
egov_assist_llm_tokens_total{kind="completion"} 5
egov_circuit_breaker_state{breaker="assist_llm"} 0
egov_cache_requests_total{cache="assist",result="hit"} 4
egov_cache_requests_total{cache="assist",result="miss"} 12
egov_access_log_dropped_total 1
"#;

    /// The fixture at scrape number `n`, with requests and histograms (buckets 0.001 * 2^i s,
    /// printed like the gateway's `prometheus` crate does: `le="2.048"`) for three services.
    fn exposition(n: u64) -> String {
        let mut out = String::new();
        for line in FIXTURE.lines().filter(|l| !l.is_empty()) {
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let value: u64 = value.parse().expect("value");
            let name = series.split('{').next().unwrap_or(series);
            let value = if name.ends_with("_total") {
                value * n
            } else {
                value
            };
            out.push_str(&format!("{series} {value}\n"));
        }
        let services = [
            r#"service="cnie-renewal",ministry="interior","#,
            r#"service="income-tax-declaration",ministry="economy-finance","#,
            r#"service="_portal",ministry="_portal","#,
        ];
        for (k, labels) in (1..).zip(services) {
            for (class, f) in [("2xx", 20), ("3xx", 3), ("4xx", 2), ("5xx", 1)] {
                let v = n * k * f;
                out.push_str(&format!(
                    "egov_http_requests_total{{{labels}class=\"{class}\"}} {v}\n"
                ));
            }
            histogram(
                &mut out,
                "egov_http_request_duration_seconds",
                labels,
                n * k,
            );
            histogram(&mut out, "egov_upstream_duration_seconds", labels, n * k);
        }
        histogram(&mut out, "egov_assist_llm_duration_seconds", "", n);
        out
    }

    /// One histogram series set: 12 observations per unit of `n`, all under 2.048 s.
    fn histogram(out: &mut String, name: &str, labels: &str, n: u64) {
        let mut le = 0.001_f64;
        for i in 1..=16_u64 {
            let count = n * i.min(12);
            out.push_str(&format!("{name}_bucket{{{labels}le=\"{le}\"}} {count}\n"));
            le *= 2.0;
        }
        let labels = labels.trim_end_matches(',');
        out.push_str(&format!(
            "{name}_bucket{{{labels}{}le=\"+Inf\"}} {}\n",
            if labels.is_empty() { "" } else { "," },
            n * 12
        ));
        out.push_str(&format!("{name}_sum{{{labels}}} {}\n", n * 7));
        out.push_str(&format!("{name}_count{{{labels}}} {}\n", n * 12));
    }

    /// Serves [`exposition`] at `/metrics` on a free port, from a runtime of its own.
    fn exposition_server() -> (tokio::runtime::Runtime, SocketAddr) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let scrapes = Arc::new(AtomicU64::new(1));
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let n = scrapes.fetch_add(1, Ordering::Relaxed);
                async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        exposition(n),
                    )
                }
            }),
        );
        runtime.spawn(async move { axum::serve(listener, app).await });
        (runtime, addr)
    }

    #[test]
    fn prometheus_scrapes_egov_metrics_and_every_dashboard_query_has_data() {
        let (_runtime, target) = exposition_server();
        let dir = dashboards_dir();
        let started = Instant::now();
        let prometheus = Prometheus::start(&[target], &rule_files(&dir.join("rules")));
        eprintln!("prometheus ready in {:?}", started.elapsed());

        assert!(
            prometheus.wait_for(r#"up{job="egov"} == 1"#, Duration::from_secs(20)),
            "the target is not scraped: {:?}\n{}",
            prometheus.targets(),
            prometheus.logs()
        );
        let result = prometheus
            .query(r#"egov_http_requests_total{service="cnie-renewal",class="5xx"}"#)
            .expect("query");
        assert_eq!(result[0]["metric"]["ministry"], "interior", "{result}");
        assert_eq!(
            result[0]["metric"]["instance"],
            target.to_string(),
            "{result}"
        );
        assert!(
            prometheus.query("sum(").is_err(),
            "a syntax error is an error"
        );
        assert!(prometheus.wait_for("egov:http_requests:rate5m", Duration::from_secs(20)));
        eprintln!("first recorded series after {:?}", started.elapsed());

        // Every dashboard query returns data once the rules have run on scraped samples.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut failures = Vec::new();
        let queries = dashboard_queries(&dir.join("grafana"));
        for (title, expr) in &queries {
            let left = deadline.saturating_duration_since(Instant::now());
            if !prometheus.wait_for(expr, left) {
                failures.push(format!("{title}: {expr} -> {:?}", prometheus.query(expr)));
            }
        }
        assert!(
            failures.is_empty(),
            "queries without data:\n{}",
            failures.join("\n")
        );
        eprintln!("{} dashboard queries have data", queries.len());

        // Every rule was loaded, and every one evaluates without error.
        let groups = prometheus.rules().expect("rules");
        let rules: Vec<&Value> = groups["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        let recorded: Vec<&str> = rules
            .iter()
            .filter(|r| r["type"] == "recording")
            .filter_map(|r| r["name"].as_str())
            .collect();
        let mut expected = recording_rules(&dir);
        expected.sort();
        let mut recorded = recorded;
        recorded.sort();
        assert_eq!(recorded, expected);
        for rule in &rules {
            assert_ne!(rule["health"], "err", "{rule}");
        }
        let alerting = rules.iter().filter(|r| r["type"] == "alerting").count();
        assert!(alerting >= 8, "{alerting} alerting rules");
        // The fixture has a backend down: its alert is pending (`for: 5m`). The session store
        // is up: no alert.
        let alerts = prometheus.alerts().expect("alerts");
        let names: Vec<&str> = alerts["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter_map(|a| a["labels"]["alertname"].as_str())
            .collect();
        assert!(names.contains(&"EgovUpstreamBackendDown"), "{alerts}");
        assert!(!names.contains(&"EgovSessionStoreDown"), "{alerts}");
    }
}
