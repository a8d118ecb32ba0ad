//! Measuring the router on a labelled file: `lang<TAB>query<TAB>service_id` lines (a header
//! line is allowed; `none` means "should not be routed"). Accuracy overall and per
//! language, and precision/recall of `none`, in the same JSON shape `egov-gateway eval
//! --json` prints.

use super::decide::Assist;
use super::Catalog;
use serde::Serialize;
use std::collections::BTreeMap;

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

/// Per-language counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LangScore {
    pub total: usize,
    pub correct: usize,
    pub accuracy: f64,
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
    /// Misrouted examples (`expected`, `got`, language), for humans; not in `--json`.
    #[serde(skip)]
    pub misses: Vec<(String, String, String)>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        ((a as f64 / b as f64) * 10_000.0).round() / 10_000.0
    }
}

/// Runs every example through `assist`.
pub async fn run(
    assist: &Assist,
    snap: &Catalog,
    examples: &[Example],
    local_only: bool,
) -> Report {
    let mut r = Report::default();
    let (mut none_predicted, mut none_expected, mut none_right) = (0, 0, 0);
    for ex in examples {
        let d = assist.decide(snap, &ex.query, local_only).await;
        let got = d.service.clone().unwrap_or_else(|| "none".to_string());
        let ok = got == ex.expected;
        r.total += 1;
        r.llm_calls += usize::from(d.llm_called);
        let l = r.by_lang.entry(ex.lang.clone()).or_default();
        l.total += 1;
        if ok {
            r.correct += 1;
            l.correct += 1;
        } else {
            r.misses
                .push((ex.expected.clone(), got.clone(), ex.lang.clone()));
        }
        none_predicted += usize::from(got == "none");
        none_expected += usize::from(ex.expected == "none");
        none_right += usize::from(got == "none" && ex.expected == "none");
    }
    r.accuracy = ratio(r.correct, r.total);
    for l in r.by_lang.values_mut() {
        l.accuracy = ratio(l.correct, l.total);
    }
    r.none = NoneScore {
        precision: ratio(none_right, none_predicted),
        recall: ratio(none_right, none_expected),
    };
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_skipped_and_bad_lines_are_named() {
        let ok =
            parse("lang\tquery\tservice_id\nfr\tpasseport\tpassport-application\n").expect("valid");
        assert_eq!(ok.len(), 1);
        let err = parse("fr\tonly two\n").expect_err("invalid");
        assert_eq!(err.line, 1);
    }
}
