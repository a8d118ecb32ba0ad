//! The calls themselves: one `chat/completions` request per attempt under the settings'
//! deadline, retries with backoff, and the circuit breaker around them (see the module
//! above for what counts against it).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use prometheus::{Histogram, IntCounter, IntGauge};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::LlmError;
use super::prompt::{self, ShortlistItem};
use super::settings::{validate, LlmSettings};
use crate::resilience::breaker::{Breaker, BreakerState};

/// Largest response body read from the endpoint.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// First retry backoff; doubled for each further retry.
const BASE_BACKOFF: Duration = Duration::from_millis(50);
/// Longest backoff when the endpoint gave no `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Token counts reported by the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens in the answer.
    pub completion_tokens: u64,
    /// Their sum (as reported, or computed when the endpoint left it out).
    pub total_tokens: u64,
}

/// The LLM's advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmAnswer {
    /// `Some(id)` with an id from the shortlist, `None` when the LLM answered `none`.
    pub choice: Option<String>,
    /// Token usage of the successful attempt, when the endpoint reported it.
    pub usage: Option<Usage>,
    /// Time spent in [`LlmClient::choose`], retries and backoff included.
    pub latency: Duration,
    /// HTTP requests made (1 + retries).
    pub attempts: u32,
}

/// Whose doing a failed call is, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blame {
    /// The endpoint's: no answer, a status, a body that is no chat completion. Anyone
    /// asking would have met it, and met it after a wait: it counts against the breaker.
    Endpoint,
    /// The model's answer to this question: outside the shortlist, prose, a refusal. The
    /// endpoint answered, in time, and the question steers the answer (found when tried:
    /// five questions saying "answer vat" from one address opened the breaker, and nobody's
    /// question reached the LLM for its cool-down, as often as he liked; three addresses,
    /// as the service breakers ask, are as cheap). It does not count against the breaker:
    /// the fallback is safe, and a model that answers nothing usable is an alert's
    /// business (`EgovAssistLlmAnswersUnusable`), not the breaker's.
    Answer,
}

/// Whose doing an endpoint's refusal is. A `400` or `422` refuses this request's content
/// (a provider's content filter, a prompt past the context): the question's, as an
/// unusable answer is. Found when tried: five questions tripping a content filter (400)
/// from one address opened the breaker, and one more every cool-down kept it open.
fn blame_of(error: &LlmError) -> Blame {
    match error {
        LlmError::Status(400 | 422) => Blame::Answer,
        _ => Blame::Endpoint,
    }
}

/// One failed attempt and what the endpoint said about waiting.
struct Failure {
    error: LlmError,
    retry_after: Option<Duration>,
}

impl From<LlmError> for Failure {
    fn from(error: LlmError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

/// The parts of a `chat.completion` object the client reads.
#[derive(Deserialize)]
struct Completion {
    choices: Vec<CompletionChoice>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    message: CompletionMessage,
}

#[derive(Deserialize)]
struct CompletionMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

/// Most tokens one completion is believed to have used, prompt or answer: more than any
/// model's context. The endpoint is not trusted (found when tried: a `usage` of
/// `u64::MAX` wrapped the token counter, which Prometheus then read as a reset).
const MAX_REPORTED_TOKENS: u64 = 10_000_000;

/// `usage` read leniently: a malformed one is dropped, a missing total is computed, and each
/// count is capped at [`MAX_REPORTED_TOKENS`].
fn usage_of(value: Option<&Value>) -> Option<Usage> {
    let value = value?;
    let count = |name: &str| Some(value.get(name)?.as_u64()?.min(MAX_REPORTED_TOKENS));
    let prompt_tokens = count("prompt_tokens")?;
    let completion_tokens = count("completion_tokens")?;
    let total_tokens = count("total_tokens").unwrap_or(prompt_tokens + completion_tokens);
    Some(Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens,
    })
}

/// `retry-after-ms` (OpenAI's) or `Retry-After` in seconds; HTTP dates are ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms.min(3_600_000.0) / 1000.0));
        }
    }
    text("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs.min(3600)))
}

/// The backoff before retry number `retry` (0-based) when the endpoint named no delay.
fn backoff(retry: u32) -> Duration {
    BASE_BACKOFF
        .saturating_mul(1u32 << retry.min(16))
        .min(MAX_BACKOFF)
}

/// A transport error's message with its causes (reqwest hides the useful part in them).
fn transport(error: reqwest::Error) -> LlmError {
    LlmError::Transport(crate::telemetry::log_fields::ErrorChain(&error).to_string())
}

/// The LLM client. Cheap to share (`Send + Sync`); clones of it would not share the breaker,
/// so share one behind an `Arc` instead.
pub struct LlmClient {
    http: reqwest::Client,
    endpoint: Url,
    settings: LlmSettings,
    breaker: Breaker,
    /// Calls waiting on the endpoint now: at most `settings.max_in_flight`, one address's
    /// at most a quarter of them (the services' bulkhead, the same rule). Found when tried:
    /// 40 hesitant questions at once held 40 connections to the endpoint, and from review,
    /// one address's burst (the route budget's 60) would have held most of them.
    in_flight: crate::resilience::bulkhead::Bulkhead,
    /// Where the tokens of every completion received are counted (prompt, completion).
    tokens: Option<(IntCounter, IntCounter)>,
    /// Where the time of every call made is observed, answered or failed.
    durations: Option<Histogram>,
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("settings", &self.settings)
            .field("breaker", &self.breaker_state())
            .finish()
    }
}

impl LlmClient {
    /// Validates `settings` ([`validate`]) and builds the HTTP client (no redirects, no
    /// proxy).
    pub fn new(settings: LlmSettings) -> Result<Self, LlmError> {
        Self::build(settings, None)
    }

    /// [`LlmClient::new`] whose breaker publishes its state to `gauge` on every change,
    /// including the end of a cool-down (0 closed, 1 half-open, 2 open).
    pub fn with_breaker_gauge(settings: LlmSettings, gauge: IntGauge) -> Result<Self, LlmError> {
        Self::build(settings, Some(gauge))
    }

    fn build(settings: LlmSettings, gauge: Option<IntGauge>) -> Result<Self, LlmError> {
        let endpoint = validate(&settings).map_err(|problems| {
            let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
            LlmError::Config(all.join("; "))
        })?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.deadline)
            .user_agent(concat!(
                "egov-gateway/",
                env!("CARGO_PKG_VERSION"),
                " (assist)"
            ))
            .build()
            .map_err(|e| LlmError::Config(format!("HTTP client: {e}")))?;
        let breaker = match gauge {
            Some(gauge) => {
                Breaker::with_gauge(settings.breaker_failures, settings.breaker_open_for, gauge)
            }
            None => Breaker::new(settings.breaker_failures, settings.breaker_open_for),
        };
        Ok(LlmClient {
            http,
            endpoint,
            in_flight: crate::resilience::bulkhead::Bulkhead::new(
                "the routing LLM",
                settings.max_in_flight.max(1) as usize,
                None,
                None,
            ),
            settings,
            breaker,
            tokens: None,
            durations: None,
        })
    }

    /// Observes the time of every call made into `histogram`, retries included, whether
    /// it ended in an answer or not (found when tried: only answered calls were timed, and
    /// a dashboard showed a fast LLM while every call ran into its deadline).
    pub fn timing_calls(mut self, histogram: Histogram) -> Self {
        self.durations = Some(histogram);
        self
    }

    /// Counts the tokens every completion received reports into `prompt` and `completion`:
    /// the endpoint bills each one, the answers the client then refuses (outside the
    /// shortlist, prose) and those of attempts retried too (found when tried: only accepted
    /// answers were counted).
    pub fn counting_tokens(mut self, prompt: IntCounter, completion: IntCounter) -> Self {
        self.tokens = Some((prompt, completion));
        self
    }

    /// The settings the client was built with.
    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The URL requests are sent to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state(Instant::now())
    }

    /// Asks the LLM to pick one service of `shortlist` for `query`, which the caller has
    /// ALREADY redacted. Returns a choice that is one of the shortlist's ids, or `None` for
    /// "none of them"; never anything else.
    ///
    /// Fails fast with [`LlmError::Config`] for an invalid shortlist, with
    /// [`LlmError::BreakerOpen`] (no network call) while the breaker is open, and with
    /// [`LlmError::Busy`] while `max_in_flight` calls wait on the endpoint, or a quarter of
    /// them are `asker`'s (the citizen's address key). Only the
    /// endpoint's failures count against the breaker, not unusable answers ([`Blame`]).
    pub async fn choose(
        &self,
        query: &str,
        shortlist: &[ShortlistItem],
        asker: Option<std::net::IpAddr>,
    ) -> Result<LlmAnswer, LlmError> {
        prompt::validate_shortlist(shortlist)?;
        let body = prompt::request_body(
            &self.settings.model,
            self.settings.max_tokens,
            self.settings.response_format,
            query,
            shortlist,
        )
        .to_string();
        let Some(_slot) = self.in_flight.enter(asker) else {
            tracing::debug!(target: "assist::llm", "as many calls in flight as allowed: LLM not asked");
            return Err(LlmError::Busy);
        };
        let Some(permit) = self.breaker.acquire(Instant::now()) else {
            tracing::debug!(target: "assist::llm", "breaker open: LLM not asked");
            return Err(LlmError::BreakerOpen);
        };
        let trial = permit.is_trial();
        let started = Instant::now();
        let deadline = self.settings.deadline;
        let attempts = AtomicU32::new(0);
        let result = tokio::time::timeout(
            deadline,
            self.attempt_until_done(&body, shortlist, &attempts, started + deadline),
        )
        .await
        .unwrap_or(Err((LlmError::Timeout, Blame::Endpoint)));
        let latency = started.elapsed();
        if let Some(durations) = &self.durations {
            durations.observe(latency.as_secs_f64());
        }
        let attempts = attempts.load(Ordering::Relaxed);
        match result {
            Ok((choice, usage)) => {
                permit.success();
                if trial {
                    tracing::info!(target: "assist::llm", "LLM trial call succeeded: breaker closed");
                }
                tracing::debug!(target: "assist::llm", ?latency, attempts, none = choice.is_none(), "LLM answered");
                Ok(LlmAnswer {
                    choice,
                    usage,
                    latency,
                    attempts,
                })
            }
            Err((error, blame)) => {
                let opened = match blame {
                    Blame::Endpoint => permit.failure(Instant::now()),
                    // The endpoint answered: as far as the breaker knows, it works.
                    Blame::Answer => {
                        permit.success();
                        false
                    }
                };
                tracing::debug!(target: "assist::llm", ?latency, attempts, kind = error.kind(), %error, "LLM call failed");
                if opened {
                    tracing::warn!(
                        target: "assist::llm",
                        kind = error.kind(),
                        %error,
                        open_for = ?self.settings.breaker_open_for,
                        "LLM breaker opened"
                    );
                    self.publish_when_the_cool_down_ends();
                }
                Err(error)
            }
        }
    }

    /// Schedules the breaker's open → half-open change for its gauge: no call marks the end
    /// of a cool-down, and an `open` value left standing would keep the alert firing.
    fn publish_when_the_cool_down_ends(&self) {
        let (Some(until), Ok(runtime)) = (
            self.breaker.open_until(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return;
        };
        let breaker = self.breaker.clone();
        runtime.spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
            breaker.publish(Instant::now());
        });
    }

    /// Attempts until an answer, a non-retryable error, the retry budget's end, or a wait that
    /// would not fit before `deadline_at`.
    async fn attempt_until_done(
        &self,
        body: &str,
        shortlist: &[ShortlistItem],
        attempts: &AtomicU32,
        deadline_at: Instant,
    ) -> Result<(Option<String>, Option<Usage>), (LlmError, Blame)> {
        let mut retry = 0;
        loop {
            attempts.fetch_add(1, Ordering::Relaxed);
            let failure = match self.attempt(body).await {
                Ok(completion) => {
                    if let (Some((prompt, answer)), Some(usage)) =
                        (&self.tokens, usage_of(completion.usage.as_ref()))
                    {
                        prompt.inc_by(usage.prompt_tokens);
                        answer.inc_by(usage.completion_tokens);
                    }
                    return read_completion(completion, shortlist);
                }
                Err(failure) => failure,
            };
            if !failure.error.is_retryable() || retry >= self.settings.max_retries {
                let blame = blame_of(&failure.error);
                return Err((failure.error, blame));
            }
            let wait = failure.retry_after.unwrap_or_else(|| backoff(retry));
            let left = deadline_at.saturating_duration_since(Instant::now());
            if wait >= left {
                // Sleeping would only end in a timeout; report what the endpoint said.
                return Err((failure.error, Blame::Endpoint));
            }
            tracing::debug!(target: "assist::llm", retry, ?wait, kind = failure.error.kind(), "retrying the LLM call");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// One HTTP request.
    async fn attempt(&self, body: &str) -> Result<Completion, Failure> {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body.to_string());
        if let Some(key) = &self.settings.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(Failure {
                error: if status == StatusCode::TOO_MANY_REQUESTS {
                    LlmError::RateLimited
                } else {
                    LlmError::Status(status.as_u16())
                },
                retry_after: retry_after(response.headers()),
            });
        }
        if !status.is_success() {
            return Err(LlmError::Status(status.as_u16()).into());
        }
        let bytes = crate::bounded_body::read_capped(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                crate::bounded_body::BoundedBodyError::TooLarge(max) => {
                    LlmError::Malformed(format!("response over {max} bytes"))
                }
                crate::bounded_body::BoundedBodyError::Transport(e) => transport(e),
            })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| LlmError::Malformed(format!("not a chat completion: {e}")).into())
    }
}

/// The choice in a completion, checked against the shortlist, and its usage. A completion
/// without a choice is the endpoint's failure; what its message says, the answer's.
fn read_completion(
    completion: Completion,
    shortlist: &[ShortlistItem],
) -> Result<(Option<String>, Option<Usage>), (LlmError, Blame)> {
    let usage = usage_of(completion.usage.as_ref());
    let Some(first) = completion.choices.into_iter().next() else {
        return Err((LlmError::Malformed("no choices".into()), Blame::Endpoint));
    };
    read_message(first.message, shortlist)
        .map(|choice| (choice, usage))
        .map_err(|e| (e, Blame::Answer))
}

/// The choice a completion's message names.
fn read_message(
    message: CompletionMessage,
    shortlist: &[ShortlistItem],
) -> Result<Option<String>, LlmError> {
    let content = match message {
        CompletionMessage {
            content: Some(content),
            ..
        } => content,
        CompletionMessage {
            refusal: Some(_), ..
        } => return Err(LlmError::Malformed("the model refused".into())),
        _ => return Err(LlmError::Malformed("the message has no content".into())),
    };
    prompt::parse_answer(&content, shortlist)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResponseFormatMode;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    fn settings() -> LlmSettings {
        LlmSettings::new("http://127.0.0.1:9/v1", "smollm2")
    }

    fn shortlist() -> Vec<ShortlistItem> {
        vec![
            ShortlistItem::new("passport-renewal", "Passport", "Renew a passport."),
            ShortlistItem::new("cnie-renewal", "CNIE", "Renew the identity card."),
        ]
    }

    fn completion(value: Value) -> Completion {
        serde_json::from_value(value).expect("a completion")
    }

    #[test]
    fn the_client_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<LlmClient>();
    }

    #[test]
    fn the_choose_future_is_send() {
        fn check<T: Send>(_: &T) {}
        let client = LlmClient::new(settings()).expect("client");
        let shortlist = shortlist();
        let future = client.choose("q", &shortlist, None);
        check(&future);
    }

    #[test]
    fn the_endpoint_is_the_base_url_plus_chat_completions() {
        for base in ["http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/"] {
            let client = LlmClient::new(LlmSettings::new(base, "m")).expect("client");
            assert_eq!(
                client.endpoint(),
                "http://127.0.0.1:8000/v1/chat/completions"
            );
        }
        let client = LlmClient::new(LlmSettings::new("https://api.ai71.ai/v1", "m"))
            .expect("an https endpoint");
        assert_eq!(client.endpoint(), "https://api.ai71.ai/v1/chat/completions");
    }

    #[test]
    fn invalid_settings_are_configuration_errors() {
        type Tweak = Box<dyn Fn(&mut LlmSettings)>;
        let cases: Vec<(&str, Tweak)> = vec![
            (
                "not a url",
                Box::new(|s| s.base_url = "127.0.0.1:8000".into()),
            ),
            (
                "ftp",
                Box::new(|s| s.base_url = "ftp://127.0.0.1/v1".into()),
            ),
            (
                "query",
                Box::new(|s| s.base_url = "http://127.0.0.1/v1?x=1".into()),
            ),
            (
                "userinfo",
                Box::new(|s| s.base_url = "http://k:s@127.0.0.1/v1".into()),
            ),
            ("empty model", Box::new(|s| s.model = " ".into())),
            ("zero deadline", Box::new(|s| s.deadline = Duration::ZERO)),
            ("zero tokens", Box::new(|s| s.max_tokens = 0)),
            ("zero breaker", Box::new(|s| s.breaker_failures = 0)),
            ("empty key", Box::new(|s| s.api_key = Some(String::new()))),
            (
                "key with newline",
                Box::new(|s| s.api_key = Some("a\nb".into())),
            ),
        ];
        for (name, tweak) in cases {
            let mut s = settings();
            tweak(&mut s);
            assert!(
                matches!(LlmClient::new(s), Err(LlmError::Config(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn validation_names_every_invalid_key() {
        let mut s = settings();
        s.base_url = "http://k:s@127.0.0.1/v1".into();
        s.model = String::new();
        s.max_tokens = 0;
        s.api_key = Some("a\nb".into());
        let keys: Vec<&str> = validate(&s)
            .expect_err("invalid")
            .iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(keys, ["base_url", "model", "max_tokens", "api_key"]);
        let mut s = settings();
        s.base_url = "http://127.0.0.1/v1?tenant=x".into();
        let problems = validate(&s).expect_err("a query is refused");
        assert!(
            problems[0].to_string().starts_with("base_url: "),
            "{problems:?}"
        );
        assert!(validate(&settings()).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_api_key() {
        let mut s = settings();
        s.api_key = Some("sk-secret-123".into());
        let client = LlmClient::new(s.clone()).expect("client");
        assert!(!format!("{s:?}").contains("sk-secret-123"));
        assert!(!format!("{client:?}").contains("sk-secret-123"));
        assert!(format!("{s:?}").contains("<redacted>"));
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let s = settings();
        assert_eq!(s.deadline, Duration::from_secs(2));
        assert_eq!(s.max_retries, 2);
        assert_eq!(s.response_format, ResponseFormatMode::JsonSchema);
        assert_eq!(s.breaker_failures, 5);
        assert_eq!(s.breaker_open_for, Duration::from_secs(30));
    }

    #[tokio::test]
    async fn an_invalid_shortlist_fails_before_the_breaker_or_the_network() {
        let client = LlmClient::new(settings()).expect("client");
        for _ in 0..10 {
            assert!(matches!(
                client.choose("q", &[], None).await,
                Err(LlmError::Config(_))
            ));
        }
        assert_eq!(client.breaker_state(), BreakerState::Closed);
    }

    #[test]
    fn only_429_5xx_and_transport_errors_are_retried() {
        assert!(LlmError::RateLimited.is_retryable());
        assert!(LlmError::Status(500).is_retryable());
        assert!(LlmError::Status(503).is_retryable());
        assert!(LlmError::Transport("reset".into()).is_retryable());
        for no in [
            LlmError::Status(400),
            LlmError::Status(401),
            LlmError::Status(404),
            LlmError::Timeout,
            LlmError::Malformed("x".into()),
            LlmError::OutsideShortlist("x".into()),
            LlmError::BreakerOpen,
            LlmError::Config("x".into()),
            LlmError::Busy,
        ] {
            assert!(!no.is_retryable(), "{no:?}");
        }
    }

    #[test]
    fn retry_after_reads_milliseconds_first_then_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        let mut date = HeaderMap::new();
        date.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&date), None, "dates fall back to the backoff");
    }

    #[test]
    fn backoff_doubles_and_stays_short() {
        assert_eq!(backoff(0), Duration::from_millis(50));
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn a_completion_yields_its_choice_and_usage() {
        let c = completion(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "{\"service\": \"cnie-renewal\"}"}}],
            "usage": {"prompt_tokens": 90, "completion_tokens": 9, "total_tokens": 99}
        }));
        assert_eq!(
            read_completion(c, &shortlist()),
            Ok((
                Some("cnie-renewal".into()),
                Some(Usage {
                    prompt_tokens: 90,
                    completion_tokens: 9,
                    total_tokens: 99
                })
            ))
        );
    }

    #[test]
    fn a_missing_or_odd_usage_does_not_spoil_the_answer() {
        let answer = json!({"role": "assistant", "content": "{\"service\": \"none\"}"});
        let c = completion(json!({"choices": [{"message": answer}]}));
        assert_eq!(read_completion(c, &shortlist()), Ok((None, None)));
        let c =
            completion(json!({"choices": [{"message": answer}], "usage": {"prompt_tokens": "x"}}));
        assert_eq!(read_completion(c, &shortlist()), Ok((None, None)));
        let c = completion(json!({"choices": [{"message": answer}],
                                  "usage": {"prompt_tokens": 3, "completion_tokens": 4}}));
        assert_eq!(
            read_completion(c, &shortlist()).map(|(_, u)| u.map(|u| u.total_tokens)),
            Ok(Some(7))
        );
    }

    #[test]
    fn a_usage_past_any_context_is_capped() {
        let answer = json!({"role": "assistant", "content": "{\"service\": \"none\"}"});
        let c = completion(json!({"choices": [{"message": answer}],
                                  "usage": {"prompt_tokens": u64::MAX, "completion_tokens": 4,
                                            "total_tokens": u64::MAX}}));
        let usage = read_completion(c, &shortlist()).map(|(_, u)| u);
        assert_eq!(
            usage,
            Ok(Some(Usage {
                prompt_tokens: MAX_REPORTED_TOKENS,
                completion_tokens: 4,
                total_tokens: MAX_REPORTED_TOKENS
            }))
        );
    }

    #[test]
    fn completions_without_content_are_malformed() {
        for (value, blame) in [
            (json!({"choices": []}), Blame::Endpoint),
            (
                json!({"choices": [{"message": {"role": "assistant", "content": null}}]}),
                Blame::Answer,
            ),
            (
                json!({"choices": [{"message": {"role": "assistant", "content": null, "refusal": "no"}}]}),
                Blame::Answer,
            ),
        ] {
            let read = read_completion(completion(value.clone()), &shortlist());
            assert!(
                matches!(read, Err((LlmError::Malformed(_), b)) if b == blame),
                "{value}: {read:?}"
            );
        }
    }

    #[test]
    fn a_refusal_of_this_requests_content_is_the_questions_not_the_endpoints() {
        for (code, blame) in [
            (400, Blame::Answer),
            (422, Blame::Answer),
            (401, Blame::Endpoint),
            (404, Blame::Endpoint),
            (500, Blame::Endpoint),
        ] {
            assert_eq!(blame_of(&LlmError::Status(code)), blame, "{code}");
        }
        assert_eq!(blame_of(&LlmError::Timeout), Blame::Endpoint);
    }

    #[test]
    fn an_answer_outside_the_shortlist_is_the_answers_failure_not_the_endpoints() {
        let c = completion(json!({"choices": [{"message":
            {"role": "assistant", "content": "{\"service\": \"vat\"}"}}]}));
        assert!(matches!(
            read_completion(c, &shortlist()),
            Err((LlmError::OutsideShortlist(_), Blame::Answer))
        ));
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transport_error_that_counts_against_the_breaker() {
        // A port that was just free: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let mut s = LlmSettings::new(format!("http://127.0.0.1:{port}/v1"), "m");
        s.max_retries = 0;
        s.breaker_failures = 2;
        let client = LlmClient::new(s).expect("client");
        let shortlist = shortlist();
        for _ in 0..2 {
            let error = client
                .choose("q", &shortlist, None)
                .await
                .expect_err("refused");
            assert!(matches!(error, LlmError::Transport(_)), "{error:?}");
        }
        assert_eq!(client.breaker_state(), BreakerState::Open);
        assert_eq!(
            client.choose("q", &shortlist, None).await,
            Err(LlmError::BreakerOpen)
        );
    }

    #[tokio::test]
    async fn the_breaker_gauge_turns_half_open_when_the_cool_down_ends_without_any_call() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let mut s = LlmSettings::new(format!("http://127.0.0.1:{port}/v1"), "m");
        s.max_retries = 0;
        s.breaker_failures = 1;
        s.breaker_open_for = Duration::from_millis(200);
        let gauge = IntGauge::new("breaker_state", "test").expect("a gauge");
        let client = LlmClient::with_breaker_gauge(s, gauge.clone()).expect("client");
        assert_eq!(gauge.get(), 0);
        let error = client
            .choose("q", &shortlist(), None)
            .await
            .expect_err("refused");
        assert!(matches!(error, LlmError::Transport(_)), "{error:?}");
        assert_eq!(gauge.get(), 2);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            gauge.get(),
            1,
            "nothing asked the breaker, the gauge moved by itself"
        );
    }
}
