//! A real Prometheus for the dashboard and alerting test, and what that test reads from the
//! shipped `dashboards/`: the rule files, their rules, and every Grafana panel query.
//!
//! [`Prometheus::start`] runs Debian's `prometheus` (2.42) on a free 127.0.0.1 port with a
//! 1 s scrape and rule-evaluation interval and the given rule files, scraping the given
//! targets as job [`JOB`]; it is killed (and its directory removed) on drop. With a 1 s
//! interval a query sees scraped data within a few seconds, and recording rules over
//! `rate(...[5m])` have a value as soon as two scrapes are in.
//!
//! Why a real one: Grafana cannot be installed here, so a dashboard is proven by running each
//! of its queries ([`dashboard_queries`]) against a Prometheus that loaded the recording rules
//! and scraped the gateway. An empty result only catches a misspelt series where nothing pads
//! it: the ratios complete their numerator with `or 0 * ...` and some panels end in
//! `or vector(0)`, so the test also checks values (a ratio of an event the traffic produced is
//! above 0, series backed by traffic are not NaN). The rule files themselves are checked by
//! `promtool check rules` and their unit tests by `promtool test rules` ([`promtool_check`]).
//!
//! `prometheus` and `promtool` come from `tests/setup.sh` (Debian package `prometheus`).

use crate::scratch::{spawn_on_free_ports, tail, Spawned};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The `job` label of every target [`Prometheus::start`] scrapes.
pub const JOB: &str = "egov";
/// How long Prometheus may take to be ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// What Prometheus logs once it has bound its port and loaded its rules.
const READY: &str = "Server is ready to receive web requests.";

/// The repository's `dashboards/` directory (`grafana/*.json`, `rules/*.yml`).
pub fn dashboards_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dashboards")
}

/// One series of an instant vector.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The series' labels (`__name__` included when it has one).
    pub metric: Value,
    /// Its value (`NaN` and infinities included, as Prometheus wrote them).
    pub value: f64,
}

/// A running `prometheus`, killed on drop.
pub struct Prometheus {
    process: Spawned,
    http: reqwest::Client,
    url: String,
}

impl Prometheus {
    /// Starts Prometheus scraping `scrape_targets` (`/metrics`, every second, job [`JOB`])
    /// and evaluating `rule_files` every second, and waits until it is ready.
    ///
    /// Panics with its log if it does not come up (an invalid rule file stops it at start),
    /// or with a hint if it is not installed (run `tests/setup.sh`).
    pub fn start(scrape_targets: &[SocketAddr], rule_files: &[PathBuf]) -> Prometheus {
        let config = config_yaml(scrape_targets, rule_files);
        let command = |ports: &[u16], dir: &Path| {
            let file = dir.join("prometheus.yml");
            std::fs::write(&file, &config)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
            let mut command = Command::new("prometheus");
            command
                .arg(format!("--config.file={}", file.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{}", ports[0]));
            command
        };
        let ready = |p: &Spawned| std::fs::read_to_string(&p.log).is_ok_and(|l| l.contains(READY));
        let process = spawn_on_free_ports("prometheus", 1, START_TIMEOUT, &command, &ready)
            .unwrap_or_else(|e| panic!("{e}"));
        let url = format!("http://127.0.0.1:{}", process.ports[0]);
        Prometheus {
            process,
            http: crate::client(),
            url,
        }
    }

    /// Runs an instant query that yields a vector. Errors carry Prometheus's `errorType:
    /// error` (a PromQL syntax error, for instance).
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>, String> {
        let data = self.api("query", &[("query", promql)]).await?;
        if data["resultType"] != "vector" {
            return Err(format!("{promql}: not a vector: {data}"));
        }
        let result = data["result"].as_array().cloned().unwrap_or_default();
        result
            .into_iter()
            .map(|s| {
                let value = s["value"][1].as_str().and_then(|v| v.parse().ok());
                match value {
                    Some(value) => Ok(Sample {
                        metric: s["metric"].clone(),
                        value,
                    }),
                    None => Err(format!("{promql}: a sample without a value: {s}")),
                }
            })
            .collect()
    }

    /// Queries `promql` until `done` holds for its result, and returns that result; after
    /// `timeout`, `Err` with the last result or error.
    pub async fn wait_until(
        &self,
        promql: &str,
        timeout: Duration,
        done: impl Fn(&[Sample]) -> bool,
    ) -> Result<Vec<Sample>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let result = self.query(promql).await;
            if let Ok(samples) = &result {
                if done(samples) {
                    return result;
                }
            }
            if Instant::now() > deadline {
                return Err(format!("{promql} after {timeout:?}: {result:?}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Queries `promql` until its result is non-empty.
    pub async fn wait_for(&self, promql: &str, timeout: Duration) -> Result<Vec<Sample>, String> {
        self.wait_until(promql, timeout, |s| !s.is_empty()).await
    }

    /// Every rule Prometheus loaded, from `/api/v1/rules`: `{"name", "query", "health",
    /// "lastError", "type": "recording" | "alerting", ...}`.
    pub async fn loaded_rules(&self) -> Result<Vec<Value>, String> {
        let data = self.api("rules", &[]).await?;
        Ok(data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect())
    }

    /// Prometheus's log so far (its last lines).
    pub fn logs(&self) -> String {
        tail(&self.process.log, 30)
    }

    /// GETs `/api/v1/<endpoint>` and returns the answer's `data`, or its error.
    async fn api(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        let url = format!("{}/api/v1/{endpoint}", self.url);
        let answer: Value = self
            .http
            .get(&url)
            .query(query)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("GET {url}: not JSON: {e}"))?;
        if answer["status"] != "success" {
            return Err(format!("{}: {}", answer["errorType"], answer["error"]));
        }
        Ok(answer["data"].clone())
    }
}

/// The configuration file: 1 s intervals, `rule_files`, one static job. Strings are written
/// as JSON strings, which YAML reads as double-quoted scalars.
fn config_yaml(scrape_targets: &[SocketAddr], rule_files: &[PathBuf]) -> String {
    let quote = |s: String| Value::String(s).to_string();
    let files: Vec<String> = rule_files
        .iter()
        .map(|f| {
            quote(
                std::path::absolute(f)
                    .unwrap_or_else(|_| f.clone())
                    .display()
                    .to_string(),
            )
        })
        .collect();
    let targets: Vec<String> = scrape_targets
        .iter()
        .map(|t| quote(t.to_string()))
        .collect();
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files: [{}]\n\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{}]\n",
        files.join(", "),
        targets.join(", ")
    )
}

// ---------------------------------------------------------------------------------------------
// The shipped files: rule files and their rules, dashboard queries, promtool.

/// `dashboards/rules/*.yml`, parsed, sorted by name.
fn rules_dir_yaml() -> Vec<(PathBuf, serde_yaml::Value)> {
    let dir = dashboards_dir().join("rules");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            let yaml = serde_yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", file.display()));
            (file, yaml)
        })
        .collect()
}

/// The Prometheus rule files of `dashboards/rules` (those with top-level `groups`); the
/// `promtool test rules` file (top-level `rule_files`) is not one.
pub fn rule_files() -> Vec<PathBuf> {
    rules_dir_yaml()
        .into_iter()
        .filter(|(_, yaml)| yaml.get("groups").is_some())
        .map(|(file, _)| file)
        .collect()
}

/// Every rule of the rule files as (`recording` | `alerting`, name), sorted, as
/// `/api/v1/rules` names them.
pub fn shipped_rules() -> Vec<(String, String)> {
    let mut rules: Vec<(String, String)> = rules_dir_yaml()
        .iter()
        .filter_map(|(_, yaml)| yaml.get("groups")?.as_sequence())
        .flatten()
        .filter_map(|group| group.get("rules")?.as_sequence())
        .flatten()
        .filter_map(|rule| {
            let (kind, key) = match rule.get("record") {
                Some(_) => ("recording", "record"),
                None => ("alerting", "alert"),
            };
            Some((kind.to_string(), rule.get(key)?.as_str()?.to_string()))
        })
        .collect();
    rules.sort();
    rules
}

/// The names of the series the rule files record, sorted, without duplicates.
pub fn recording_rules() -> Vec<String> {
    let mut names: Vec<String> = shipped_rules()
        .into_iter()
        .filter(|(kind, _)| kind == "recording")
        .map(|(_, name)| name)
        .collect();
    names.dedup();
    names
}

/// Runs `promtool check rules` on the rule files and `promtool test rules` on the test files
/// of `dashboards/rules`, from that directory. `Err` carries promtool's output.
pub fn promtool_check() -> Result<(), String> {
    let dir = dashboards_dir().join("rules");
    let (rules, tests): (Vec<_>, Vec<_>) = rules_dir_yaml()
        .into_iter()
        .partition(|(_, yaml)| yaml.get("groups").is_some());
    let mut check: Vec<std::ffi::OsString> = vec!["check".into(), "rules".into()];
    check.extend(
        rules
            .iter()
            .filter_map(|(f, _)| f.file_name())
            .map(Into::into),
    );
    let mut runs = vec![check];
    for name in tests.iter().filter_map(|(f, _)| f.file_name()) {
        runs.push(vec!["test".into(), "rules".into(), name.into()]);
    }
    for args in runs {
        let output = Command::new("promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("cannot run promtool ({e}); run tests/setup.sh"))?;
        if !output.status.success() {
            return Err(format!(
                "promtool {args:?} failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}

/// Every PromQL query of `dashboards/grafana/*.json`, with [`substitute_variables`] applied:
/// each panel target's `expr`, titled `<dashboard>/<panel>/<refId>`, and each query variable
/// `label_values(selector, label)` as `count by (label) (selector)`, titled
/// `<dashboard>/$<name>`.
///
/// Panics, naming the file, if a dashboard is not valid JSON or a variable query has another
/// form.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let dir = dashboards_dir().join("grafana");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut queries = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let dashboard: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", file.display()));
        let title = dashboard["title"].as_str().unwrap_or("?").to_string();
        collect_panel_queries(&dashboard, &title, &mut queries);
        for variable in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if variable["type"] != "query" {
                continue;
            }
            let query = variable["query"]["query"].as_str().unwrap_or("");
            let (selector, label) = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .and_then(|q| q.rsplit_once(','))
                .unwrap_or_else(|| {
                    panic!("{}: unsupported variable query {query:?}", file.display())
                });
            let expr = format!("count by ({}) ({})", label.trim(), selector.trim());
            let name = format!("{title}/${}", variable["name"].as_str().unwrap_or("?"));
            queries.push((name, substitute_variables(&expr)));
        }
    }
    queries
}

/// Walks `panels` (and the `panels` of rows) and collects each target's `expr`.
fn collect_panel_queries(node: &Value, dashboard: &str, out: &mut Vec<(String, String)>) {
    for panel in node["panels"].as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str().filter(|e| !e.trim().is_empty()) else {
                continue;
            };
            let ref_id = target["refId"].as_str().unwrap_or("?");
            out.push((
                format!("{dashboard}/{title}/{ref_id}"),
                substitute_variables(expr),
            ));
        }
        collect_panel_queries(panel, dashboard, out);
    }
}

/// Replaces the Grafana variables of the dashboards (`$ministry`, `$service`: multi-value,
/// used as `label=~"$name"`) by `.+`, which is what Grafana's "All" sends. Other variable
/// forms (`${name}`, `[[name]]`, `$__interval`) are not used in `dashboards/` and are left
/// as they are, so Prometheus rejects a query that starts using them.
pub fn substitute_variables(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if end > 0 && !after.starts_with("__") {
            out.push_str(".+");
        } else {
            out.push('$');
            out.push_str(&after[..end]);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::substitute_variables;

    #[test]
    fn dashboard_variables_become_the_match_all_regex_and_other_forms_stay() {
        assert_eq!(
            substitute_variables(r#"sum(rate(x{service=~"$service", ministry=~"$ministry"}[5m]))"#),
            r#"sum(rate(x{service=~".+", ministry=~".+"}[5m]))"#
        );
        assert_eq!(
            substitute_variables("rate(x[$__rate_interval]) ${a} $"),
            "rate(x[$__rate_interval]) ${a} $"
        );
    }
}
