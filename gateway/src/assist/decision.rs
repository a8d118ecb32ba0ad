//! What a routing decision is: who made it ([`Source`]), what the citizen is told
//! ([`Outcome`]) and the [`Decision`] itself, shared by the policy that makes decisions, the
//! audit that records them and the API that answers with them.

/// Who made the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Local,
    Llm,
    Cache,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Llm => "llm",
            Source::Cache => "cache",
        }
    }
}

/// What the citizen is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sent to the service.
    Routed,
    /// Several services fit: did-you-mean (the first is the best guess).
    Ambiguous,
    /// Not something a government service does (or too vague to tell).
    NotGovernment,
    /// Looked like an attempt to steer the router; nothing was routed.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Routed => "routed",
            Outcome::Ambiguous => "ambiguous",
            Outcome::NotGovernment => "not_government",
            Outcome::Refused => "refused",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "routed" => Outcome::Routed,
            "ambiguous" => Outcome::Ambiguous,
            "not_government" => Outcome::NotGovernment,
            "refused" => Outcome::Refused,
            _ => return None,
        })
    }
}

/// One routing decision.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The chosen (or best-guess) service id.
    pub service: Option<String>,
    pub confidence: f32,
    pub source: Source,
    pub outcome: Outcome,
    /// Did-you-mean ids, best first.
    pub alternatives: Vec<String>,
    /// The shortlist the decision was made from (ids), for the audit.
    pub candidates: Vec<String>,
    /// Why the LLM's advice was not used, when it was asked and failed.
    pub llm_error: Option<String>,
    /// Whether the LLM endpoint was called for this decision.
    pub llm_called: bool,
}
