//! Why the routing LLM gave no usable advice: one error type for the client, its prompt
//! checks and the router that falls back on the local ranker.

/// Why the LLM gave no usable advice. The caller falls back to the local ranker in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The deadline passed before a usable answer arrived.
    #[error("the LLM did not answer within the deadline")]
    Timeout,
    /// The circuit breaker is open: no call was made.
    #[error("the LLM circuit breaker is open")]
    BreakerOpen,
    /// The endpoint kept answering 429 Too Many Requests.
    #[error("the LLM endpoint is rate limiting (429)")]
    RateLimited,
    /// The endpoint answered this non-2xx status (after retries for a 5xx).
    #[error("the LLM endpoint answered HTTP {0}")]
    Status(u16),
    /// No HTTP answer: connection refused or reset, TLS failure, broken body...
    #[error("cannot reach the LLM endpoint: {0}")]
    Transport(String),
    /// The response was not a chat completion, or its content held no readable answer (or
    /// repeated the instructions).
    #[error("malformed LLM answer: {0}")]
    Malformed(String),
    /// The LLM named something that is neither a shortlist id nor `none` (shown clipped).
    #[error("the LLM answered {0:?}, which is neither a shortlist id nor \"none\"")]
    OutsideShortlist(String),
    /// Invalid settings or shortlist; detected before any call.
    #[error("invalid LLM configuration: {0}")]
    Config(String),
}

impl LlmError {
    /// Whether another attempt may succeed: 429, 5xx and transport errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::RateLimited | LlmError::Transport(_) => true,
            LlmError::Status(code) => (500..600).contains(code),
            _ => false,
        }
    }

    /// A short, stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Timeout => "timeout",
            LlmError::BreakerOpen => "breaker_open",
            LlmError::RateLimited => "rate_limited",
            LlmError::Status(_) => "status",
            LlmError::Transport(_) => "transport",
            LlmError::Malformed(_) => "malformed",
            LlmError::OutsideShortlist(_) => "outside_shortlist",
            LlmError::Config(_) => "config",
        }
    }
}
