//! Measuring the router on a labelled file: `lang<TAB>query<TAB>service_id` lines (a header
//! line is allowed; `none` means "should not be routed"). Accuracy overall and per
//! language, and precision/recall of `none`, in the same JSON shape `egov-gateway eval
//! --json` prints.
//!
//! A hit is what the citizen would actually get: for a service, an answer that *routes* to
//! it (a did-you-mean whose first guess happens to be right is not a hit, since the citizen
//! still has to choose); for `none`, any answer that routes nowhere. Did-you-mean answers
//! are counted separately per language, so a router cannot look accurate by hesitating.

use super::catalog::Catalog;
use super::decide::Assist;
use super::decision::Outcome;
use serde::Serialize;
use std::collections::BTreeMap;

/// The label meaning "no service should be routed to".
pub const NONE: &str = "none";

/// One labelled query.
#[derive(Debug, Clone)]
pub struct Example {
    pub lang: String,
    pub query: String,
    pub expected: String,
}

/// A line that is not `lang<TAB>query<TAB>service_id`.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct EvalParseError {
    pub line: usize,
    pub reason: String,
}

/// A labelled file that names a service the catalog does not have: the file is stale or has
/// a typo, and every such line would silently count as a miss.
#[derive(Debug, thiserror::Error)]
#[error("{} expected id(s) are neither a catalog service nor \"none\": {}", .unknown.len(), .unknown.join(", "))]
pub struct UnknownLabels {
    /// The unknown ids, each once, in file order.
    pub unknown: Vec<String>,
}

/// Parses the TSV; the first line is skipped when it is the header.
pub fn parse(text: &str) -> Result<Vec<Example>, EvalParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || (i == 0 && line.starts_with("lang\t")) {
            continue;
        }
        let parts: Vec<&str> = line.split('\t').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.trim().is_empty()) {
            return Err(EvalParseError {
                line: i + 1,
                reason: "expected lang<TAB>query<TAB>service_id".into(),
            });
        }
        out.push(Example {
            lang: parts[0].trim().to_string(),
            query: parts[1].trim().to_string(),
            expected: parts[2].trim().to_string(),
        });
    }
    Ok(out)
}

/// Checks that every expected id is a service of `snap` or `none`.
pub fn check_labels(snap: &Catalog, examples: &[Example]) -> Result<(), UnknownLabels> {
    let mut unknown: Vec<String> = Vec::new();
    for ex in examples {
        if ex.expected != NONE && !snap.contains(&ex.expected) && !unknown.contains(&ex.expected) {
            unknown.push(ex.expected.clone());
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(UnknownLabels { unknown })
    }
}

/// Per-language counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LangScore {
    pub total: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// Answers that were a did-you-mean (neither routed nor "no service").
    pub ambiguous: usize,
}

/// Precision and recall of the `none` answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NoneScore {
    pub precision: f64,
    pub recall: f64,
}

/// The report `eval --json` prints.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub total: usize,
    pub correct: usize,
    pub accuracy: f64,
    pub by_lang: BTreeMap<String, LangScore>,
    pub none: NoneScore,
    pub llm_calls: usize,
    /// Of the examples that name a service, the share whose service is among the first three
    /// the citizen is shown (the routed one or the did-you-mean list).
    pub top3_accuracy: f64,
    /// The share of queries the LLM is asked on: the did-you-mean answers of a local-only
    /// run (where it would be asked), the calls made otherwise.
    pub llm_rate: f64,
    /// Did-you-mean answers over all examples (also per language in `by_lang`); not in
    /// `--json`, whose top level keeps its documented keys.
    #[serde(skip)]
    pub ambiguous: usize,
    /// Missed examples (`expected`, what the citizen got, language), for humans; not in
    /// `--json`.
    #[serde(skip)]
    pub misses: Vec<(String, String, String)>,
}

impl Report {
    /// The share of answers that were a did-you-mean.
    pub fn ambiguous_rate(&self) -> f64 {
        ratio(self.ambiguous, self.total)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        ((a as f64 / b as f64) * 10_000.0).round() / 10_000.0
    }
}

/// What the citizen got, as the misses list shows it: `<id>` when routed, `ambiguous:<id>`
/// for a did-you-mean (its best guess), or the outcome when no service was offered.
fn shown(outcome: Outcome, service: Option<&str>) -> String {
    match (outcome, service) {
        (Outcome::Routed, Some(id)) => id.to_string(),
        (Outcome::Ambiguous, Some(id)) => format!("ambiguous:{id}"),
        (outcome, _) => format!("{NONE} ({})", outcome.as_str()),
    }
}

/// Runs every example through `assist`, after checking that every label is a service of
/// `snap` or `none`.
pub async fn run(
    assist: &Assist,
    snap: &Catalog,
    examples: &[Example],
    local_only: bool,
) -> Result<Report, UnknownLabels> {
    check_labels(snap, examples)?;
    let mut r = Report::default();
    let (mut none_predicted, mut none_expected, mut none_right) = (0, 0, 0);
    let (mut named, mut top3) = (0, 0);
    for ex in examples {
        let d = assist
            .decide(snap, &ex.query, local_only, None, &super::Unbudgeted)
            .await;
        let routed = d.outcome == Outcome::Routed;
        let ambiguous = d.outcome == Outcome::Ambiguous;
        // "No service" as the citizen is told it: not a government service, or refused.
        let said_none = !routed && !ambiguous;
        let expects_none = ex.expected == NONE;
        let ok = if expects_none {
            !routed
        } else {
            routed && d.service.as_deref() == Some(ex.expected.as_str())
        };
        if !expects_none {
            named += 1;
            let mut shown: Vec<&str> = Vec::with_capacity(3);
            for id in d.service.iter().chain(d.alternatives.iter()) {
                if shown.len() < 3 && !shown.contains(&id.as_str()) {
                    shown.push(id);
                }
            }
            let offered = routed || ambiguous;
            top3 += usize::from(offered && shown.contains(&ex.expected.as_str()));
        }
        r.total += 1;
        r.ambiguous += usize::from(ambiguous);
        r.llm_calls += usize::from(d.llm_called);
        let l = r.by_lang.entry(ex.lang.clone()).or_default();
        l.total += 1;
        l.ambiguous += usize::from(ambiguous);
        if ok {
            r.correct += 1;
            l.correct += 1;
        } else {
            r.misses.push((
                ex.expected.clone(),
                shown(d.outcome, d.service.as_deref()),
                ex.lang.clone(),
            ));
        }
        none_predicted += usize::from(said_none);
        none_expected += usize::from(expects_none);
        none_right += usize::from(said_none && expects_none);
    }
    r.accuracy = ratio(r.correct, r.total);
    r.top3_accuracy = ratio(top3, named);
    r.llm_rate = if local_only {
        ratio(r.ambiguous, r.total)
    } else {
        ratio(r.llm_calls, r.total)
    };
    for l in r.by_lang.values_mut() {
        l.accuracy = ratio(l.correct, l.total);
    }
    r.none = NoneScore {
        precision: ratio(none_right, none_predicted),
        recall: ratio(none_right, none_expected),
    };
    Ok(r)
}
