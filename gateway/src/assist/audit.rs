//! One audit line per routing decision, for the people who answer for the portal's choices:
//! which question (as a hash), which candidates, who decided (local, LLM, cache), what was
//! chosen and how long it took. Never the citizen's text or anything personal in it.

use super::decision::Decision;
use std::time::Duration;

/// Writes the audit line for `decision` (to the `egov::assist::audit` log target).
pub fn record(query_hash: &str, decision: &Decision, latency: Duration) {
    let candidates: Vec<&str> = decision.candidates.iter().map(String::as_str).collect();
    tracing::info!(
        target: "egov::assist::audit",
        query_hash,
        candidates = ?candidates,
        source = decision.source.as_str(),
        outcome = decision.outcome.as_str(),
        chosen = decision.service.as_deref().unwrap_or("none"),
        confidence = decision.confidence,
        latency_ms = latency.as_secs_f64() * 1000.0,
        llm_error = decision.llm_error.as_deref().unwrap_or(""),
        "routing decision"
    );
}
