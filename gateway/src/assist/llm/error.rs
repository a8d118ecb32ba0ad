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
    /// As many calls as `[assist.llm] max_in_flight` allows were waiting on the endpoint:
    /// no call was made.
    #[error("the LLM endpoint already has as many calls in flight as allowed")]
    Busy,
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
            // A revoked key is not an outage: an SRE must tell them apart from the label.
            LlmError::Status(401 | 403) => "unauthorized",
            // This request's content refused (a content filter, a prompt past the context):
            // the question's doing, apart from a wrong path or method (from review).
            LlmError::Status(400 | 422) => "request_refused",
            LlmError::Status(300..=399) => "redirect",
            LlmError::Status(400..=499) => "client_error",
            LlmError::Status(500..=599) => "server_error",
            LlmError::Status(_) => "status",
            LlmError::Transport(_) => "transport",
            LlmError::Malformed(_) => "malformed",
            LlmError::OutsideShortlist(_) => "outside_shortlist",
            LlmError::Config(_) => "config",
            LlmError::Busy => "busy",
        }
    }

    /// Whether a call was made (and timed) before this error: not for an open breaker, an
    /// invalid configuration or a full endpoint, which refuse before any call.
    pub fn was_called(&self) -> bool {
        !matches!(
            self,
            LlmError::BreakerOpen | LlmError::Config(_) | LlmError::Busy
        )
    }
}

#[cfg(test)]
mod tests {
    use super::LlmError;

    /// Found when tried: a revoked key (401), a wrong path (404), an outage (500) and a
    /// redirect were all `status`, in the metric and the log alike.
    #[test]
    fn an_sre_can_tell_a_revoked_key_from_an_outage_by_the_kind() {
        for (code, kind) in [
            (401, "unauthorized"),
            (403, "unauthorized"),
            (404, "client_error"),
            (400, "request_refused"),
            (422, "request_refused"),
            (307, "redirect"),
            (500, "server_error"),
            (503, "server_error"),
            (101, "status"),
        ] {
            assert_eq!(LlmError::Status(code).kind(), kind, "{code}");
        }
    }
}
