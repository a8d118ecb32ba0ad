//! What the LLM client is given ([`LlmSettings`]), built from `[assist.llm]` by
//! [`LlmSettings::from_config`], and [`validate`], which applies the configuration's one rule
//! for an endpoint ([`check_llm_endpoint`]) when the router builds its client: the API key is
//! only known then, once its secret is read. The configuration applies the same rule to the
//! rest, so a configuration that passes `egov-gateway check` builds a client.

pub use crate::config::InvalidSetting;
use crate::config::{check_llm_endpoint, LlmConfig, LlmEndpoint, ResponseFormatMode};
use reqwest::Url;
use std::fmt;
use std::time::Duration;

/// How to reach and guard the LLM. Build with [`LlmSettings::new`] and adjust the fields.
#[derive(Clone)]
pub struct LlmSettings {
    /// The API root, e.g. `http://127.0.0.1:8000/v1`; requests go to
    /// `{base_url}/chat/completions`.
    pub base_url: String,
    /// The `model` sent with every request.
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    /// Time allowed for a whole [`LlmClient::choose`], retries included (default 2 s).
    pub deadline: Duration,
    /// Retries after a 429, a 5xx or a transport error (default 2).
    pub max_retries: u32,
    /// The `response_format` to ask for (default [`ResponseFormatMode::JsonSchema`]).
    pub response_format: ResponseFormatMode,
    /// The `max_tokens` of the answer (default 32: `{"service": "<id>"}` is about 10-20).
    pub max_tokens: u32,
    /// Consecutive failures that open the breaker (default 5).
    pub breaker_failures: u32,
    /// How long the breaker stays open before one trial call (default 30 s).
    pub breaker_open_for: Duration,
    /// Calls that may wait on the endpoint at once (default 64); past them a question is
    /// not sent ([`super::LlmError::Busy`]).
    pub max_in_flight: u32,
}

impl LlmSettings {
    /// The settings of `[assist.llm]`, with the API key once its secret is read (`None`
    /// while only the configuration is checked). The one mapping, used by the router and by
    /// the configuration check, so both validate the same settings.
    pub fn from_config(cfg: &LlmConfig, api_key: Option<String>) -> Self {
        let mut s = LlmSettings::new(cfg.base_url.clone(), cfg.model.clone());
        s.api_key = api_key;
        s.deadline = cfg.deadline;
        s.max_retries = cfg.retries;
        s.max_tokens = cfg.max_tokens;
        s.response_format = cfg.response_format;
        s.breaker_failures = cfg.breaker_failures;
        s.breaker_open_for = cfg.breaker_open_for;
        s.max_in_flight = cfg.max_in_flight;
        s
    }

    /// Settings for `model` at `base_url` with the defaults above and no API key.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        LlmSettings {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            deadline: Duration::from_secs(2),
            max_retries: 2,
            response_format: ResponseFormatMode::JsonSchema,
            max_tokens: 32,
            breaker_failures: 5,
            breaker_open_for: Duration::from_secs(30),
            max_in_flight: crate::config::DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

impl fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("deadline", &self.deadline)
            .field("max_retries", &self.max_retries)
            .field("response_format", &self.response_format)
            .field("max_tokens", &self.max_tokens)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_open_for", &self.breaker_open_for)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

/// Checks `settings` and returns the `chat/completions` URL, or every problem found: the
/// configuration's one rule for an endpoint ([`check_llm_endpoint`]), applied to what the
/// client was given, API key included.
pub fn validate(settings: &LlmSettings) -> Result<Url, Vec<InvalidSetting>> {
    check_llm_endpoint(&LlmEndpoint {
        base_url: &settings.base_url,
        model: &settings.model,
        api_key: settings.api_key.as_deref(),
        keyed: settings.api_key.is_some(),
        deadline: settings.deadline,
        max_tokens: settings.max_tokens,
        breaker_failures: settings.breaker_failures,
    })
}
