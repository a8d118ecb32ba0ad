//! What every harness piece that starts an external program needs: a free port for it to
//! bind, a private temporary directory for its files, the end of its log for a panic message
//! when it does not come up, and [`spawn_on_free_ports`], which puts these together: start,
//! retry on a port taken meanwhile, wait until ready, kill on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How many times a start is retried when a chosen port was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;
/// How many log lines a start failure shows.
const TAIL_LINES: usize = 30;

/// A fresh, empty directory under the system temp dir, named after `kind`.
pub fn temp_dir(kind: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "egov-{kind}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A [`temp_dir`] removed when dropped, for a test's own scratch files.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory named after `kind`.
    pub fn new(kind: &str) -> Self {
        Self(temp_dir(kind))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port on 127.0.0.1 that was free a moment ago, for a program that binds it itself
/// (callers retry on the rare collision).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// The last `lines` lines of the file at `path`.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The Python interpreter of the test tools `tests/setup.sh` installs: `$EGOV_PYTHON`, else
/// `python3`.
pub fn python() -> String {
    std::env::var("EGOV_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// An external program the harness started, with its stdout and stderr in [`Self::log`]
/// inside its private [`Self::dir`]. Killed, and the directory removed, on drop.
pub struct Spawned {
    child: Option<Child>,
    /// The program's private directory (its data, configuration and log).
    pub dir: PathBuf,
    /// The program's stdout and stderr.
    pub log: PathBuf,
    /// The 127.0.0.1 ports it was started on, in the order asked for.
    pub ports: Vec<u16>,
}

/// Why [`spawn_on`] gave up.
#[derive(Debug)]
pub enum SpawnError {
    /// The program said a port was taken ("address already in use"); carries its log.
    PortTaken(String),
    /// Anything else: it could not run, exited, or was not ready in time; carries its log.
    Failed(String),
}

impl Spawned {
    /// The last lines of the program's output.
    pub fn logs(&self) -> String {
        tail(&self.log, TAIL_LINES)
    }

    /// Whether the program is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the program (its directory stays until drop).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the program `command(ports, dir)` builds, on `ports` of 127.0.0.1, in a fresh
/// [`temp_dir`] named after `kind`, and waits until `ready` holds (polled every 20 ms) or
/// `timeout` has passed. The command's stdin is closed and its stdout and stderr go to
/// [`Spawned::log`].
pub fn spawn_on(
    kind: &str,
    ports: &[u16],
    timeout: Duration,
    command: &dyn Fn(&[u16], &Path) -> Command,
    ready: &dyn Fn(&Spawned) -> bool,
) -> Result<Spawned, SpawnError> {
    let dir = temp_dir(kind);
    let log = dir.join(format!("{kind}.log"));
    let mut spawned = Spawned {
        child: None,
        dir,
        log,
        ports: ports.to_vec(),
    };
    let fail = |what: String| SpawnError::Failed(what);
    let out = std::fs::File::create(&spawned.log)
        .map_err(|e| fail(format!("cannot create {}: {e}", spawned.log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| fail(format!("cannot clone the log handle: {e}")))?;
    let mut command = command(ports, &spawned.dir);
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| fail(format!("cannot run {program} ({e}); run tests/setup.sh")))?;
    spawned.child = Some(child);
    let deadline = Instant::now() + timeout;
    loop {
        let exited = spawned
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            spawned.child = None;
            let log = spawned.logs();
            if log.to_ascii_lowercase().contains("address already in use") {
                return Err(SpawnError::PortTaken(log));
            }
            return Err(fail(format!("{program} exited ({status}):\n{log}")));
        }
        if ready(&spawned) {
            return Ok(spawned);
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "{program} was not ready within {timeout:?}:\n{}",
                spawned.logs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`spawn_on`] with `count` distinct free ports, retried with other ports while the program
/// reports one of them taken. `Err` carries the program's log.
pub fn spawn_on_free_ports(
    kind: &str,
    count: usize,
    timeout: Duration,
    command: &dyn Fn(&[u16], &Path) -> Command,
    ready: &dyn Fn(&Spawned) -> bool,
) -> Result<Spawned, String> {
    let mut last = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let mut ports: Vec<u16> = Vec::with_capacity(count);
        while ports.len() < count {
            let port = free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        match spawn_on(kind, &ports, timeout, command, ready) {
            Ok(spawned) => return Ok(spawned),
            Err(SpawnError::PortTaken(log)) => last = log,
            Err(SpawnError::Failed(message)) => return Err(message),
        }
    }
    Err(format!("{kind} found no free port:\n{last}"))
}
