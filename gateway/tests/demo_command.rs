//! `egov-gateway demo`: the whole product on one machine with nothing external, including
//! a working login through the development identity provider.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The running demo, stopped on drop as Ctrl-C stops it (SIGINT; killed if it has not
/// gone within 15 s). Killed outright, it left its private directory, with every
/// ministry's admin key, in the temporary directory at each run.
struct Demo(Child);

impl Demo {
    /// Sends SIGINT and waits for the process to end; true if it ended by itself.
    fn interrupt(&mut self) -> bool {
        // Once reaped, its pid may be another process's.
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return true;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if !self.interrupt() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The demo's private directories left in `tmp`.
fn demo_dirs_in(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("egov-demo-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A fresh temporary directory, removed on drop (also when the test fails).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(kind: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("egov-{kind}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The last lines of the file at `path`, for a failure message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// `N` distinct free ports: each taken while the others are found, then all let go. Taken
/// and let go one at a time, two could be the same port (found when tried: the TLS listener
/// got the estate's port, and the demo refused every service).
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("its address").port())
}

/// `egov-gateway demo` on `config`, its portal, admin, metrics, estate and identity
/// provider on these loopback ports, its stderr in `stderr_log`.
fn start_demo(
    config: &Path,
    ports: [u16; 5],
    stderr_log: &Path,
    stdout: Stdio,
    extra: &[&str],
) -> Child {
    let [portal, admin, metrics, estate, idp] = ports;
    let stderr = std::fs::File::create(stderr_log).expect("the stderr file");
    // Its temporary directory is the test's scratch directory (where the log is), removed
    // with it whatever happens to the demo.
    let tmp = stderr_log.parent().expect("the log's directory");
    Command::new(env!("CARGO_BIN_EXE_egov-gateway"))
        .env("TMPDIR", tmp)
        .arg("demo")
        .arg("--config")
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{portal}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .args(["--estate-listen", &format!("127.0.0.1:{estate}")])
        .args(["--idp-listen", &format!("127.0.0.1:{idp}")])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("the demo starts")
}

fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\"")
        .skip(1)
        .filter_map(|chunk| {
            let name = chunk.split("name=\"").nth(1)?.split('"').next()?;
            let value = chunk.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_string(), value.replace("&amp;", "&")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_serves_the_portal_and_its_login_works_with_nothing_external() {
    let [portal, admin, metrics, estate, idp] = free_ports();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/gateway.toml");
    let scratch = ScratchDir::new("demo-test");
    let stderr_log = scratch.0.join("stderr.log");
    let mut child = start_demo(
        Path::new(config),
        [portal, admin, metrics, estate, idp],
        &stderr_log,
        Stdio::piped(),
        &[],
    );
    let stdout = child.stdout.take().expect("stdout");
    let demo = Demo(child);
    // Read stdout on a thread of its own: a demo that hangs must not hang the test.
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut printed = String::new();
    while !printed.contains("Ctrl-C") {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                printed.push_str(&line);
                printed.push('\n');
            }
            Err(_) => break,
        }
    }
    assert!(
        printed.contains(&format!("http://127.0.0.1:{portal}/")),
        "the demo did not print its address within 30 s; stdout:\n{printed}\nstderr:\n{}",
        tail(&stderr_log)
    );
    let base = format!("http://127.0.0.1:{portal}");
    // Every service on its own origin, `<id>.localhost`, which browsers and curl resolve to
    // loopback; this client is told so.
    let loopback: std::net::SocketAddr = format!("127.0.0.1:{portal}").parse().expect("addr");
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve("cnie-renewal.localhost", loopback)
        .resolve("criminal-record-extract.localhost", loopback)
        .build()
        .expect("client");
    assert!(
        printed.contains(&format!("http://cnie-renewal.localhost:{portal}/")),
        "the demo does not print the services' own origins:\n{printed}"
    );
    let mut ready = false;
    for _ in 0..100 {
        if http
            .get(format!("http://cnie-renewal.localhost:{portal}/"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "the public service never answered on its origin; stderr:\n{}",
        tail(&stderr_log)
    );
    let old_path = http
        .get(format!("{base}/s/cnie-renewal/"))
        .send()
        .await
        .expect("request");
    assert_eq!(old_path.status(), 301);
    assert_eq!(
        old_path.headers()["location"],
        format!("http://cnie-renewal.localhost:{portal}/").as_str()
    );

    // Follows redirects (relative ones against the current URL) until an answer that is not
    // one, or a page of the identity provider; returns it and its URL.
    let follow = |start: String| {
        let http = http.clone();
        async move {
            let mut url = reqwest::Url::parse(&start).expect("url");
            for _ in 0..10 {
                let resp = http.get(url.clone()).send().await.expect("request");
                if !resp.status().is_redirection() || url.port() == Some(idp) {
                    return (url, resp);
                }
                let location = resp.headers()["location"]
                    .to_str()
                    .expect("ascii")
                    .to_string();
                url = url.join(&location).expect("a location");
                if url.port() == Some(idp) {
                    let resp = http.get(url.clone()).send().await.expect("provider");
                    return (url, resp);
                }
            }
            panic!("a redirect loop from {start}");
        }
    };
    let protected = format!("http://criminal-record-extract.localhost:{portal}/__estate/whoami");
    let (authorize, page) = follow(protected.clone()).await;
    assert!(
        authorize
            .as_str()
            .starts_with(&format!("http://127.0.0.1:{idp}/authorize")),
        "{authorize}"
    );
    let page = page.text().await.expect("html");
    assert!(page.contains("DEV"), "the dev IdP must say it is not real");
    let mut form = hidden_fields(&page);
    let citizen = egov_devidp::citizens()
        .first()
        .expect("a test citizen")
        .sub
        .to_string();
    form.push(("citizen".into(), citizen));
    let done = http
        .post(format!("http://127.0.0.1:{idp}/authorize"))
        .form(&form)
        .send()
        .await
        .expect("choose a citizen");
    assert_eq!(done.status(), 302);
    let callback = done.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    // Back at the portal, then handed to the service's origin with a one-time code.
    let (landed, me) = follow(callback).await;
    assert_eq!(
        landed.as_str(),
        protected,
        "not back on the service's origin"
    );
    assert_eq!(me.status(), 200);
    let v: serde_json::Value = me.json().await.expect("json");
    assert_eq!(v["verified"], true, "{v}");
    assert!(
        !demo_dirs_in(&scratch.0).is_empty(),
        "the demo staged in its own TMPDIR"
    );
    let mut demo = demo;
    assert!(
        demo.interrupt(),
        "the demo did not stop on Ctrl-C within 15 s"
    );
    assert_eq!(
        demo_dirs_in(&scratch.0),
        Vec::<PathBuf>::new(),
        "Ctrl-C left the demo's directory, with the admin keys"
    );
}

/// Copies the directory `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("a readable directory") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("its type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_serves_the_configurations_tls_listener_too() {
    let [portal, admin, metrics, estate, idp, tls] = free_ports();
    let scratch = ScratchDir::new("demo-tls-test");
    let config_dir = scratch.0.join("config");
    copy_dir(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../config")),
        &config_dir,
    );
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let (cert_file, key_file) = (scratch.0.join("cert.pem"), scratch.0.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).expect("write the certificate");
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).expect("write the key");
    let gateway_toml = config_dir.join("gateway.toml");
    let mut text = std::fs::read_to_string(&gateway_toml).expect("gateway.toml");
    text.push_str(&format!(
        "\n[[portal.tls]]\nlisten = \"127.0.0.1:{tls}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        cert_file.display(),
        key_file.display()
    ));
    std::fs::write(&gateway_toml, text).expect("write gateway.toml");
    let stderr_log = scratch.0.join("stderr.log");
    let child = start_demo(
        &gateway_toml,
        [portal, admin, metrics, estate, idp],
        &stderr_log,
        Stdio::null(),
        &[],
    );
    let _demo = Demo(child);
    let https = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match https.get(format!("https://127.0.0.1:{tls}/")).send().await {
            Ok(answer) => break answer.status(),
            Err(e) if Instant::now() > deadline => {
                panic!("no TLS answer in 60 s: {e}\nstderr:\n{}", tail(&stderr_log))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    assert_eq!(status, 200);
}

/// The repository's demo on fresh ports, its temporary directory and stderr in a scratch
/// directory named after `kind`, with `extra` arguments: the scratch directory (removed on
/// drop), the demo (stopped on drop), its stderr log and its admin port.
fn repo_demo(kind: &str, extra: &[&str]) -> (ScratchDir, Demo, PathBuf, u16) {
    let ports = free_ports();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/gateway.toml");
    let scratch = ScratchDir::new(kind);
    let stderr_log = scratch.0.join("stderr.log");
    let child = start_demo(Path::new(config), ports, &stderr_log, Stdio::null(), extra);
    (scratch, Demo(child), stderr_log, ports[1])
}

/// Waits until the log at `path` holds `text`, for `patience` at most; the log then.
async fn log_saying(path: &Path, text: &str, patience: Duration) -> String {
    let deadline = Instant::now() + patience;
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(text) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "no {text:?} in {patience:?}:\n{}",
            tail(path)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Found when tried: the demo kept its identity provider (and `--redis`, `--access-log`)
/// only in memory, so a SIGHUP that changed nothing warned that `sso` had changed and
/// would only take effect after a restart.
#[tokio::test]
async fn a_sighup_to_the_demo_reloads_without_seeing_changes_that_were_not_made() {
    let (_scratch, demo, stderr_log, _) = repo_demo("demo-hup-test", &["--access-log"]);
    // Serving is not yet watching for reloads: it says when it is.
    let wait = Duration::from_secs(60);
    log_saying(&stderr_log, "SIGHUP reloads the configuration", wait).await;
    let pid = libc::pid_t::try_from(demo.0.id()).expect("a pid");
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let log = log_saying(&stderr_log, "configuration reloaded", wait).await;
    assert!(log.contains("no change"), "{}", tail(&stderr_log));
    assert!(
        !log.contains("only take effect after a restart"),
        "{}",
        tail(&stderr_log)
    );
}

/// A reload or a log rotation signalled while the gateway starts is lost, not fatal: both
/// signals end a process by default, and one sent as the demo became ready ended it (found
/// when tried).
#[tokio::test]
async fn a_sighup_or_sigusr1_while_the_demo_starts_does_not_end_it() {
    let (_scratch, mut demo, stderr_log, admin) = repo_demo("demo-early-signal-test", &[]);
    let pid = libc::pid_t::try_from(demo.0.id()).expect("a pid");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Once it writes anything, its `main` runs (before that, any process dies of them).
    while std::fs::metadata(&stderr_log).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "the demo wrote nothing in 60 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    loop {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe {
            libc::kill(pid, libc::SIGHUP);
            libc::kill(pid, libc::SIGUSR1);
        }
        assert!(
            matches!(demo.0.try_wait(), Ok(None)),
            "a signal ended the demo:\n{}",
            tail(&stderr_log)
        );
        if http
            .get(format!("http://127.0.0.1:{admin}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        assert!(Instant::now() < deadline, "{}", tail(&stderr_log));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Found when tried (an SRE's probe of the demo): the back-channel logout's refusal logged
/// its reason, which repeats the `alg` of the token the caller posted. An `alg` holding a
/// newline and a clear-screen code put a made-up `ERROR` line into the gateway's log, and
/// colour codes went to a file nobody reads at a terminal. Fifty chunked bodies that did
/// not parse wrote fifty `ERROR` lines of pingora's. The log now keeps one line an event,
/// escaped, without colours; a client's malformed body is his doing, not an error.
#[tokio::test]
async fn what_a_client_sends_cannot_forge_a_line_in_the_demos_log() {
    use base64::Engine;
    use std::io::{Read, Write};
    let ports: [u16; 5] = free_ports();
    let portal = ports[0];
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/gateway.toml");
    let scratch = ScratchDir::new("demo-log-test");
    let stderr_log = scratch.0.join("stderr.log");
    let _demo = Demo(start_demo(
        Path::new(config),
        ports,
        &stderr_log,
        Stdio::null(),
        &[],
    ));
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Ready, and its portal listening (the admin listener may answer first).
    while !http
        .get(format!("http://127.0.0.1:{portal}/"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "{}", tail(&stderr_log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A chunked body whose first chunk size is `zz`, to a public service.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", portal)).expect("connect");
    raw.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    raw.write_all(
        format!(
            "POST /x HTTP/1.1\r\nHost: cnie-renewal.localhost:{portal}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n"
        )
        .as_bytes(),
    )
    .expect("send");
    let mut answer = String::new();
    let _ = raw.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // A logout token whose `alg` carries a forged line.
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let header = b64(
        r#"{"alg":"\u001b[2J\u001b[31m\n2026-12-06T12:00:00Z ERROR egov_gateway::admin: FORGED LINE"}"#,
    );
    let token = format!("{header}.{}.c2ln", b64("{}"));
    let resp = http
        .post(format!("http://127.0.0.1:{portal}/auth/backchannel-logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("logout_token={token}"))
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 400);
    let log = log_saying(
        &stderr_log,
        "back-channel logout refused",
        Duration::from_secs(10),
    )
    .await;
    assert!(
        !log.lines().any(|l| l.starts_with("2026-12-06T12:00:00Z")),
        "a forged line:\n{log}"
    );
    assert!(log.contains(r"\u{1b}[2J"), "the code, escaped:\n{log}");
    assert!(
        !log.contains('\u{1b}'),
        "a terminal code (or colours) in the log:\n{log}"
    );
    assert!(
        !log.contains("Fail to proxy"),
        "the citizen's body logged as an error:\n{log}"
    );
}
