//! Citizen intent routing: free text in Arabic, Darija (both scripts), French or English →
//! the right one of the registered services, or a kind "not a government service".
//!
//! The local ranker ([`ranker`], over each service's names, descriptions, keywords and
//! example utterances) always has an answer and decides alone when it is confident. When it
//! is not, an LLM behind an OpenAI-compatible endpoint ([`llm`]) may be asked to pick from
//! the ranker's shortlist only, with personal data redacted first ([`redact`]), under a
//! deadline and a circuit breaker. The LLM is an advisor, never an authority: its answer
//! must be a shortlist id or `none`, and any failure falls back to the local answer.
//! The LLM's answers are cached by normalised query ([`cache`]); every decision is audited
//! without raw text ([`audit`]). [`api`] serves `POST /api/route`; [`eval`] measures accuracy on a TSV.

pub mod api;
pub mod audit;
pub mod breaker;
pub mod cache;
mod decide;
pub mod eval;
pub mod fuzzy;
pub mod index;
pub mod injection;
pub mod lexicon;
pub mod llm;
pub mod normalize;
pub mod prompt;
pub mod ranker;
pub mod redact;
pub mod redact_names;
pub mod stopwords;

pub use decide::{Assist, AssistError, Decision, Outcome, Source};

/// Longest citizen query, in characters: `/api/route` refuses longer ones, and the LLM
/// prompt never carries more (for callers of the client that skip the API).
pub const MAX_QUERY_CHARS: usize = 1000;

use crate::config::{LlmConfig, Localized, ServiceConfig};
use ranker::{Ranker, ServiceDoc};
use std::collections::HashMap;

/// What the router knows of the services: their ranker index and how to name them. Built
/// once per registry snapshot (and by the CLI straight from the configuration).
#[derive(Debug)]
pub struct Catalog {
    ranker: Ranker,
    ids: Vec<String>,
    names: Vec<Localized>,
    descriptions: Vec<Localized>,
    by_id: HashMap<String, usize>,
}

impl Catalog {
    pub fn new(services: &[ServiceConfig]) -> Self {
        Self {
            ranker: build_ranker(services),
            ids: services.iter().map(|s| s.id.clone()).collect(),
            names: services.iter().map(|s| s.names.clone()).collect(),
            descriptions: services.iter().map(|s| s.descriptions.clone()).collect(),
            by_id: services
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect(),
        }
    }

    pub fn ranker(&self) -> &Ranker {
        &self.ranker
    }

    /// The id of the service at ranker index `i`.
    pub fn id(&self, i: usize) -> Option<&str> {
        self.ids.get(i).map(String::as_str)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn name(&self, id: &str) -> Option<&Localized> {
        self.by_id.get(id).and_then(|&i| self.names.get(i))
    }

    pub fn description(&self, id: &str) -> Option<&Localized> {
        self.by_id.get(id).and_then(|&i| self.descriptions.get(i))
    }
}

/// The LLM client settings of `[assist.llm]`, with the API key once its secret is read
/// (`None` while only the configuration is checked). One mapping, used by the
/// configuration check and by the router, so both validate the same settings.
pub fn llm_settings(cfg: &LlmConfig, api_key: Option<String>) -> llm::LlmSettings {
    let mut s = llm::LlmSettings::new(cfg.base_url.clone(), cfg.model.clone());
    s.api_key = api_key;
    s.deadline = cfg.deadline;
    s.max_retries = cfg.retries;
    s.max_tokens = cfg.max_tokens;
    s.response_format = cfg.response_format;
    s.breaker_failures = cfg.breaker_failures;
    s.breaker_open_for = cfg.breaker_open_for;
    s
}

/// Builds the ranker over `services` (in registry order: candidate indexes are service
/// indexes).
fn build_ranker(services: &[ServiceConfig]) -> Ranker {
    let docs: Vec<ServiceDoc> = services
        .iter()
        .map(|s| ServiceDoc {
            id: s.id.clone(),
            names: [s.names.ar.clone(), s.names.fr.clone(), s.names.en.clone()],
            descriptions: [
                s.descriptions.ar.clone(),
                s.descriptions.fr.clone(),
                s.descriptions.en.clone(),
            ],
            keywords: s.keywords.clone(),
            examples: s.examples.clone(),
        })
        .collect();
    Ranker::build(&docs)
}
