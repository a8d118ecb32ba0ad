//! The routing LLM client: an advisor, never an authority.
//!
//! When the local ranker is not confident, the gateway may ask an LLM behind an
//! OpenAI-compatible `POST {base_url}/chat/completions` endpoint (AI71's, a local
//! llama.cpp server, ...) to pick one service from the ranker's shortlist. Everything here
//! keeps that LLM in its place:
//!
//! - it only sees the shortlist and the citizen's text, which the caller has already redacted
//!   ([`crate::assist::redact`]); the prompt is built by [`prompt`];
//! - its answer must be exactly one shortlist id or `none` ([`prompt::parse_answer`]);
//!   anything else is an error, never a choice;
//! - the whole call, retries included, runs under one deadline ([`LlmSettings::deadline`]);
//! - 429, 5xx and transport errors are retried a few times with a short backoff that honours
//!   `Retry-After` (or `retry-after-ms`) only if it fits in what is left of the deadline;
//! - a circuit breaker ([`crate::resilience::breaker`]) stops calling an endpoint that keeps failing.
//!
//! **What counts against the breaker.** Every failed call that reached for the network:
//! timeouts, 429, any non-2xx status (a 401 or 404 is a misconfiguration that will not heal by
//! itself either), transport errors, malformed answers, and answers outside the shortlist (a
//! misbehaving advisor is as useless as a silent one, and an endpoint steered by injected text
//! should be left alone for a while). Configuration errors (a bad shortlist) are detected
//! before any call and do not count. A successful answer, `none` included, closes it.
//!
//! The HTTP client never follows redirects and never uses a proxy. The API key is sent as a
//! bearer token marked sensitive, and is never logged or shown by `Debug`.
//!
//! Rooms: [`settings`] (what the client is given and the one rule that validates it),
//! [`prompt`] (the request body and the reading of the answer), [`error`] (why no advice
//! came), and [`client`] (the calls, retries and breaker).

pub mod client;
pub mod error;
pub mod prompt;
pub mod settings;

pub use crate::config::{ResponseFormatMode, UnknownResponseFormat};
pub use crate::resilience::breaker::BreakerState;
pub use client::{LlmAnswer, LlmClient, Usage};
pub use error::LlmError;
pub use prompt::ShortlistItem;
pub use settings::{validate, InvalidSetting, LlmSettings};
