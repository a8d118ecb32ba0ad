//! Zero-downtime changes of a running `egov-gateway serve` process, under load: a SIGHUP
//! reload that adds a service, and a graceful upgrade (`serve --upgrade`, then SIGQUIT to the
//! old process) that hands the listening sockets to a new process. Not one request fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn repo_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// Two distinct free ports: both taken before either is let go (one at a time, the same
/// port could come back twice).
fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let b = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = |l: &TcpListener| l.local_addr().expect("its address").port();
    (port(&a), port(&b))
}

/// A backend answering `200 ok` to everything, on its own thread.
fn start_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        head.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
                        if stream.write_all(answer).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A configuration directory with one service (`cnie-renewal`) in front of `backend`,
/// removed on drop.
struct Setup {
    dir: PathBuf,
    portal: SocketAddr,
    backend: SocketAddr,
}

impl Setup {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "egov-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(dir.join("services/interior")).expect("mkdir");
        let (portal, admin) = two_free_ports();
        let portal = SocketAddr::from(([127, 0, 0, 1], portal));
        let admin = SocketAddr::from(([127, 0, 0, 1], admin));
        let backend = start_backend();
        std::fs::write(
            dir.join("gateway.toml"),
            format!(
                "[server]\nthreads = 2\ngrace_period = \"1s\"\ngraceful_shutdown_timeout = \"2s\"\n\
                 upgrade_sock = \"{}\"\n\n[portal]\npublic_url = \"http://{portal}\"\n\
                 listen = [\"{portal}\"]\n\n[admin]\nlisten = \"{admin}\"\n\n[metrics]\nlisten = \"\"\n",
                dir.join("upgrade.sock").display()
            ),
        )
        .expect("gateway.toml");
        std::fs::copy(
            repo_config().join("ministries.toml"),
            dir.join("ministries.toml"),
        )
        .expect("ministries.toml");
        let setup = Self {
            dir,
            portal,
            backend,
        };
        setup.add_service("cnie-renewal");
        setup
    }

    /// Copies the repository's file of interior service `id`, pointed at the backend.
    fn add_service(&self, id: &str) {
        let text =
            std::fs::read_to_string(repo_config().join(format!("services/interior/{id}.toml")))
                .expect("service file")
                .replace("127.0.0.1:9400", &self.backend.to_string());
        std::fs::write(self.dir.join(format!("services/interior/{id}.toml")), text)
            .expect("service file");
    }

    fn serve(&self, upgrade: bool) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_egov-gateway"));
        command
            .arg("serve")
            .arg("--config")
            .arg(self.dir.join("gateway.toml"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if upgrade {
            command.arg("--upgrade");
        }
        command.spawn().expect("egov-gateway serve starts")
    }

    fn get(&self, path: &str) -> Option<u16> {
        get(self.portal, path)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One request on a fresh connection; its status, or `None` if the connection failed.
fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn wait_serving(setup: &Setup) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if setup.get("/s/cnie-renewal/") == Some(200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the gateway did not start serving");
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{name}");
}

/// Requests `path` in a loop on `threads` threads until stopped: (answered 200, anything
/// else).
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, path: &'static str, threads: usize) -> Self {
        Self::start_with(threads, move |ok, failed, stop| {
            while !stop.load(Ordering::Relaxed) {
                match get(addr, path) {
                    Some(200) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    }

    /// `threads` threads running `each(ok, failed, stop)` until stopped.
    fn start_with(
        threads: usize,
        each: impl Fn(&AtomicUsize, &AtomicUsize, &AtomicBool) + Send + Sync + Clone + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let threads = (0..threads)
            .map(|_| {
                let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
                let each = each.clone();
                std::thread::spawn(move || each(&ok, &failed, &stop))
            })
            .collect();
        Self {
            stop,
            ok,
            failed,
            threads,
        }
    }

    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn stop(mut child: Child) {
    signal(&child, "TERM");
    if !wait_exit(&mut child, Duration::from_secs(10)) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn a_sighup_reload_under_load_adds_a_service_and_fails_no_request() {
    let setup = Setup::new("reload");
    let gateway = setup.serve(false);
    wait_serving(&setup);
    assert_eq!(setup.get("/s/passport-application/"), Some(404));
    let load = Load::start(setup.portal, "/s/cnie-renewal/", 4);
    std::thread::sleep(Duration::from_millis(500));
    setup.add_service("passport-application");
    signal(&gateway, "HUP");
    let start = Instant::now();
    while setup.get("/s/passport-application/") != Some(200) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the reload did not add the service"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (ok, failed) = load.finish();
    stop(gateway);
    assert_eq!(
        failed, 0,
        "{failed} failed, {ok} answered during the reload"
    );
    assert!(ok > 20, "only {ok} requests ran");
}

#[test]
fn a_graceful_upgrade_under_load_hands_the_sockets_over_and_fails_no_request() {
    let setup = Setup::new("upgrade");
    let (ok, failed) = upgraded_under(&setup, |portal| Load::start(portal, "/s/cnie-renewal/", 4));
    assert_eq!(
        failed, 0,
        "{failed} failed, {ok} answered across the upgrade"
    );
    assert!(ok > 20, "only {ok} requests ran");
}

/// A graceful upgrade of `setup`'s gateway (`serve --upgrade`, then SIGQUIT to the old
/// process) while `load` runs, the new process checked to serve after: what the load
/// counted (answered 200, anything else).
fn upgraded_under(setup: &Setup, load: impl FnOnce(SocketAddr) -> Load) -> (usize, usize) {
    let mut old = setup.serve(false);
    wait_serving(setup);
    let load = load(setup.portal);
    std::thread::sleep(Duration::from_millis(500));
    // The new process waits on the upgrade socket for the old one's listeners.
    let new = setup.serve(true);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&old, "QUIT");
    assert!(
        wait_exit(&mut old, Duration::from_secs(15)),
        "the old process did not drain and exit"
    );
    std::thread::sleep(Duration::from_millis(1000));
    let counted = load.finish();
    assert_eq!(
        setup.get("/s/cnie-renewal/"),
        Some(200),
        "the new process serves"
    );
    stop(new);
    counted
}

/// Requests `path` in a loop on `threads` kept-alive connections, each reused until an
/// answer says `Connection: close`, and never sending a request again (browsers and hyper
/// resend an idempotent one on a reused connection that closed, which would hide a cut).
fn kept_alive_load(addr: SocketAddr, path: &'static str, threads: usize) -> Load {
    Load::start_with(threads, move |ok, failed, stop| {
        let mut conn: Option<TcpStream> = None;
        while !stop.load(Ordering::Relaxed) {
            let stream = match conn.take() {
                Some(c) => c,
                None => match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                    Ok(c) => c,
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                },
            };
            match ask_kept_alive(stream, addr, path) {
                Some((200, kept)) => {
                    ok.fetch_add(1, Ordering::Relaxed);
                    conn = kept;
                }
                _ => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
}

/// One request on `stream`: its status and the stream, if the answer keeps it alive.
fn ask_kept_alive(
    mut stream: TcpStream,
    addr: SocketAddr,
    path: &str,
) -> Option<(u16, Option<TcpStream>)> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(req.as_bytes()).ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut buf).ok().filter(|n| *n > 0)?;
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
    let status = head.strip_prefix("http/1.1 ")?.get(..3)?.parse().ok()?;
    let field = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let mut body = got.split_off(head_end);
    if let Some(length) = field("content-length:").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < length {
            let n = stream.read(&mut buf).ok().filter(|n| *n > 0)?;
            body.extend_from_slice(&buf[..n]);
        }
    } else {
        // Chunked: read to its last chunk.
        while !body.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut buf).ok().filter(|n| *n > 0)?;
            body.extend_from_slice(&buf[..n]);
        }
    }
    let closes = field("connection:").is_some_and(|v| v == "close");
    Some((status, (!closes).then_some(stream)))
}

/// Found in a reload probe: at an upgrade, every busy kept-alive connection lost the
/// request it had just sent when the old process stopped, 5 s after the SIGQUIT (answers
/// kept offering keep-alive until then). They are told to close from the SIGQUIT on, as
/// while a SIGTERM drains, and move to the new process.
#[test]
fn a_graceful_upgrade_cuts_no_request_on_a_kept_alive_connection() {
    let setup = Setup::new("upgrade-kept-alive");
    let (ok, failed) = upgraded_under(&setup, |portal| {
        kept_alive_load(portal, "/s/cnie-renewal/", 4)
    });
    assert_eq!(
        failed, 0,
        "{failed} failed, {ok} answered across the upgrade"
    );
    assert!(ok > 20, "only {ok} requests ran");
}

/// Found in a probe: a SIGQUIT sent when no new process waited for the listeners (it had
/// refused its configuration, or given up waiting) took the instance down.
#[test]
fn a_sigquit_with_no_new_process_waiting_leaves_the_gateway_serving() {
    let setup = Setup::new("lonely-quit");
    let mut running = setup.serve(false);
    wait_serving(&setup);
    // An upgrade whose configuration does not validate exits at once.
    let config = setup.dir.join("gateway.toml");
    let good = std::fs::read_to_string(&config).expect("gateway.toml");
    std::fs::write(&config, format!("{good}\nnot_a_key = 1\n")).expect("broken");
    let mut refused = setup.serve(true);
    assert!(
        wait_exit(&mut refused, Duration::from_secs(15)),
        "the upgrade with a broken configuration did not exit"
    );
    std::fs::write(&config, good).expect("mended");
    signal(&running, "QUIT");
    // Unanswered, pingora tries the socket for five seconds, waits five more, then drains.
    std::thread::sleep(Duration::from_secs(12));
    assert!(
        running.try_wait().ok().flatten().is_none(),
        "the gateway exited on a SIGQUIT no one could answer"
    );
    assert_eq!(setup.get("/s/cnie-renewal/"), Some(200), "still serving");
    // A real upgrade still goes through afterwards.
    let new = setup.serve(true);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&running, "QUIT");
    assert!(
        wait_exit(&mut running, Duration::from_secs(15)),
        "the old process did not hand over and exit"
    );
    assert_eq!(
        setup.get("/s/cnie-renewal/"),
        Some(200),
        "the new one serves"
    );
    stop(new);
}

#[test]
fn a_second_gateway_on_a_running_ones_ports_refuses_to_start_and_names_the_port() {
    let setup = Setup::new("twice");
    let first = setup.serve(false);
    wait_serving(&setup);
    // Started by mistake (a second unit, a forgotten terminal) with the same configuration.
    let mut second = Command::new(env!("CARGO_BIN_EXE_egov-gateway"))
        .arg("serve")
        .arg("--config")
        .arg(setup.dir.join("gateway.toml"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("egov-gateway serve starts");
    let exited = wait_exit(&mut second, Duration::from_secs(15));
    if !exited {
        let _ = second.kill();
    }
    let output = second
        .wait_with_output()
        .expect("the second gateway's output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(exited, "the second gateway shares the running one's ports");
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("the portal listener {}", setup.portal))
            && stderr.contains("a gateway already running"),
        "{stderr}"
    );
    assert_eq!(
        setup.get("/s/cnie-renewal/"),
        Some(200),
        "the first gateway serves on"
    );
    stop(first);
}

/// Found when tried: at SIGTERM the listeners stopped taking connections at once, and
/// `/readyz` never answered the 503 that tells a load balancer to stop sending. Now it
/// does, and the portal serves on for `server.grace_period` before it drains.
#[test]
fn a_sigterm_says_not_ready_and_serves_on_for_the_grace_period_then_exits() {
    let setup = Setup::new("sigterm");
    let mut gateway = setup.serve(false);
    wait_serving(&setup);
    let text = std::fs::read_to_string(setup.dir.join("gateway.toml")).expect("gateway.toml");
    let admin: SocketAddr = text
        .split("[admin]\nlisten = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|a| a.parse().ok())
        .expect("the admin address");
    assert_eq!(get(admin, "/readyz"), Some(200));
    let asked = Instant::now();
    signal(&gateway, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(admin, "/readyz"), Some(503), "not ready once draining");
    assert_eq!(
        setup.get("/s/cnie-renewal/"),
        Some(200),
        "new connections are still served within the grace period"
    );
    // A client asking to keep its connection is told it closes, so it moves to another
    // instance while this one still answers.
    let mut conn = TcpStream::connect(setup.portal).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let req = format!(
        "GET /s/cnie-renewal/ HTTP/1.1\r\nHost: {}\r\n\r\n",
        setup.portal
    );
    conn.write_all(req.as_bytes()).expect("request");
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(
        wait_exit(&mut gateway, Duration::from_secs(15)),
        "the gateway did not exit"
    );
    // grace_period (1 s) before draining begins.
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
}
