//! The decision policy: local ranker first, the LLM only when the ranker hesitates, and a
//! defined answer for every failure.
//!
//! | ranker verdict | LLM configured and allowed | answer |
//! | --- | --- | --- |
//! | injection | — | refused, no service, nothing sent anywhere |
//! | confident | — | the local top-1 (no LLM cost or latency) |
//! | out of scope | — | "not a government service", with did-you-mean if any |
//! | ambiguous | yes | the LLM's shortlist pick, or "none"; on timeout, error, open breaker or an invalid answer: the local top-1 if its confidence is at least [`FALLBACK_CONFIDENCE`], else did-you-mean top-3 |
//! | ambiguous | no | did-you-mean top-3, with the local top-1 as best guess |

use super::cache::{query_key, Cached, DecisionCache};
use super::llm::{LlmClient, LlmSettings, ResponseFormatMode, ShortlistItem};
use super::normalize::normalize;
use super::ranker::Verdict;
use super::redact::redact;
use super::Catalog;
use crate::config::{AssistSettings, Secrets};
use crate::kv::RedisKv;
use crate::telemetry::Metrics;
use std::sync::Arc;
use std::time::Instant;

/// Below this, a hesitant local answer is not used alone when the LLM fails.
pub const FALLBACK_CONFIDENCE: f32 = 0.5;
/// How many alternatives a did-you-mean shows.
const ALTERNATIVES: usize = 3;
/// Alternatives weaker than this are noise, not suggestions.
const MIN_ALTERNATIVE_CONFIDENCE: f32 = 0.1;
/// Confidence reported for a service the LLM picked from the shortlist.
const LLM_CONFIDENCE: f32 = 0.85;

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

    fn parse(s: &str) -> Option<Self> {
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

/// Routing could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum AssistError {
    #[error("assist.llm.api_key: {0}")]
    ApiKey(String),
    #[error("assist.llm: {0}")]
    Llm(String),
}

/// The intent router.
pub struct Assist {
    llm: Option<LlmClient>,
    cache: DecisionCache,
    shortlist: usize,
    metrics: Arc<Metrics>,
}

impl Assist {
    /// The router for `settings`; the decision cache lives in `kv` when given.
    pub fn new(
        settings: &AssistSettings,
        secrets: &Secrets,
        kv: Option<Arc<RedisKv>>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, AssistError> {
        let llm = match &settings.llm {
            None => None,
            Some(cfg) => {
                let api_key = cfg
                    .api_key
                    .as_ref()
                    .map(|r| secrets.resolve(r))
                    .transpose()
                    .map_err(|e| AssistError::ApiKey(e.to_string()))?
                    .map(|s| s.expose().to_string());
                let mut s = LlmSettings::new(cfg.base_url.clone(), cfg.model.clone());
                s.api_key = api_key;
                s.deadline = cfg.deadline;
                s.max_retries = cfg.retries;
                s.max_tokens = cfg.max_tokens;
                s.breaker_failures = cfg.breaker_failures;
                s.breaker_open_for = cfg.breaker_open_for;
                s.response_format = match cfg.response_format.as_str() {
                    "json_object" => ResponseFormatMode::JsonObject,
                    "json_object_schema" => ResponseFormatMode::JsonObjectWithSchema,
                    "off" => ResponseFormatMode::Off,
                    _ => ResponseFormatMode::JsonSchema,
                };
                Some(LlmClient::new(s).map_err(|e| AssistError::Llm(e.to_string()))?)
            }
        };
        let cache = match kv {
            Some(kv) => DecisionCache::Redis {
                kv,
                ttl: settings.cache_ttl,
            },
            None => DecisionCache::memory(settings.cache_ttl),
        };
        Ok(Self {
            llm,
            cache,
            shortlist: settings.shortlist,
            metrics,
        })
    }

    /// Whether an LLM is configured.
    pub fn has_llm(&self) -> bool {
        self.llm.is_some()
    }

    /// Decides where `query` goes. With `local_only`, the LLM is never called.
    pub async fn decide(&self, snap: &Catalog, query: &str, local_only: bool) -> Decision {
        let started = Instant::now();
        let normalized = normalize(query);
        let key = query_key(&normalized);
        if let Some(d) = self.cached(snap, &key).await {
            self.finish(&key, &d, started);
            return d;
        }
        let decision = self.fresh(snap, query, local_only).await;
        // A fallback after an LLM failure is not remembered: the next asker may get advice.
        if decision.llm_error.is_none()
            && !(local_only && self.llm.is_some() && decision.outcome == Outcome::Ambiguous)
        {
            self.cache
                .put(
                    &key,
                    Cached {
                        service: decision.service.clone(),
                        confidence: decision.confidence,
                        outcome: decision.outcome.as_str().to_string(),
                        alternatives: decision.alternatives.clone(),
                    },
                )
                .await;
        }
        self.finish(&key, &decision, started);
        decision
    }

    fn finish(&self, key: &str, d: &Decision, started: Instant) {
        self.metrics
            .assist_decisions
            .with_label_values(&[d.source.as_str(), d.outcome.as_str()])
            .inc();
        super::audit::record(key, d, started.elapsed());
    }

    async fn cached(&self, snap: &Catalog, key: &str) -> Option<Decision> {
        let hit = self.cache.get(key).await;
        self.metrics
            .cache_requests
            .with_label_values(&["assist", if hit.is_some() { "hit" } else { "miss" }])
            .inc();
        let c = hit?;
        // A service removed since is not offered any more.
        let known = |id: &String| snap.contains(id);
        if c.service.as_ref().is_some_and(|s| !known(s)) {
            return None;
        }
        Some(Decision {
            service: c.service,
            confidence: c.confidence,
            source: Source::Cache,
            outcome: Outcome::parse(&c.outcome)?,
            alternatives: c.alternatives.into_iter().filter(known).collect(),
            candidates: Vec::new(),
            llm_error: None,
            llm_called: false,
        })
    }

    async fn fresh(&self, snap: &Catalog, query: &str, local_only: bool) -> Decision {
        let ranking = snap.ranker().rank(query, self.shortlist);
        let id_of = |i: usize| snap.id(i).map(str::to_string);
        let candidates: Vec<String> = ranking
            .candidates
            .iter()
            .filter_map(|c| id_of(c.index))
            .collect();
        let alternatives: Vec<String> = ranking
            .candidates
            .iter()
            .filter(|c| c.confidence >= MIN_ALTERNATIVE_CONFIDENCE)
            .take(ALTERNATIVES)
            .filter_map(|c| id_of(c.index))
            .collect();
        let top = ranking.candidates.first();
        let local = |outcome: Outcome| Decision {
            service: match outcome {
                Outcome::Routed | Outcome::Ambiguous => top.and_then(|c| id_of(c.index)),
                _ => None,
            },
            confidence: top.map_or(0.0, |c| c.confidence),
            source: Source::Local,
            outcome,
            alternatives: alternatives.clone(),
            candidates: candidates.clone(),
            llm_error: None,
            llm_called: false,
        };
        match ranking.verdict {
            Verdict::Injection => Decision {
                alternatives: Vec::new(),
                ..local(Outcome::Refused)
            },
            Verdict::Confident => local(Outcome::Routed),
            Verdict::OutOfScope => local(Outcome::NotGovernment),
            Verdict::Ambiguous => match (&self.llm, local_only) {
                (Some(llm), false) if !candidates.is_empty() => {
                    self.ask_llm(
                        llm,
                        snap,
                        query,
                        &ranking.candidates,
                        local(Outcome::Ambiguous),
                    )
                    .await
                }
                _ => local(Outcome::Ambiguous),
            },
        }
    }

    async fn ask_llm(
        &self,
        llm: &LlmClient,
        snap: &Catalog,
        query: &str,
        ranked: &[super::ranker::Candidate],
        local: Decision,
    ) -> Decision {
        let shortlist: Vec<ShortlistItem> = ranked
            .iter()
            .filter_map(|c| snap.id(c.index))
            .filter_map(|id| {
                Some(ShortlistItem::new(
                    id,
                    snap.name(id)?.fr.clone(),
                    snap.description(id)?.fr.clone(),
                ))
            })
            .collect();
        let redacted = redact(query);
        let result = llm.choose(&redacted.text, &shortlist).await;
        self.metrics
            .circuit_breaker_state
            .with_label_values(&["assist_llm"])
            .set(match llm.breaker_state() {
                super::llm::BreakerState::Closed => 0,
                super::llm::BreakerState::HalfOpen => 1,
                super::llm::BreakerState::Open => 2,
            });
        match result {
            Ok(answer) => {
                self.metrics
                    .assist_llm_duration
                    .observe(answer.latency.as_secs_f64());
                if let Some(u) = answer.usage {
                    self.metrics
                        .assist_llm_tokens
                        .with_label_values(&["prompt"])
                        .inc_by(u.prompt_tokens);
                    self.metrics
                        .assist_llm_tokens
                        .with_label_values(&["completion"])
                        .inc_by(u.completion_tokens);
                }
                match answer.choice {
                    Some(id) => Decision {
                        service: Some(id),
                        confidence: LLM_CONFIDENCE,
                        source: Source::Llm,
                        outcome: Outcome::Routed,
                        llm_called: true,
                        ..local
                    },
                    None => Decision {
                        service: None,
                        confidence: LLM_CONFIDENCE,
                        source: Source::Llm,
                        outcome: Outcome::NotGovernment,
                        llm_called: true,
                        ..local
                    },
                }
            }
            Err(e) => {
                self.metrics
                    .assist_llm_errors
                    .with_label_values(&[e.kind()])
                    .inc();
                let called = !matches!(
                    e,
                    super::llm::LlmError::BreakerOpen | super::llm::LlmError::Config(_)
                );
                let outcome = if local.confidence >= FALLBACK_CONFIDENCE {
                    Outcome::Routed
                } else {
                    Outcome::Ambiguous
                };
                Decision {
                    outcome,
                    llm_error: Some(e.kind().to_string()),
                    llm_called: called,
                    ..local
                }
            }
        }
    }
}
