//! `egov-gateway demo`: the whole product on one machine with nothing external, including
//! a working login through the development identity provider.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The running demo, killed on drop.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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
    let [portal, admin, metrics, estate, idp] = [0; 5].map(|_| free_port());
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/gateway.toml");
    let scratch = ScratchDir::new("demo-test");
    let stderr_log = scratch.0.join("stderr.log");
    let stderr = std::fs::File::create(&stderr_log).expect("the stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_egov-gateway"))
        .args(["demo", "--config", config])
        .args(["--listen", &format!("127.0.0.1:{portal}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .args(["--estate-listen", &format!("127.0.0.1:{estate}")])
        .args(["--idp-listen", &format!("127.0.0.1:{idp}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("the demo starts");
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
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client");
    let mut ready = false;
    for _ in 0..100 {
        if http
            .get(format!("{base}/s/cnie-renewal/"))
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
        "the public service never answered; stderr:\n{}",
        tail(&stderr_log)
    );

    let protected = format!("{base}/s/criminal-record-extract/__estate/whoami");
    let to_login = http.get(&protected).send().await.expect("request");
    assert_eq!(to_login.status(), 302);
    let login = http
        .get(format!(
            "{base}{}",
            to_login.headers()["location"].to_str().expect("ascii")
        ))
        .send()
        .await
        .expect("login");
    let authorize = login.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        authorize.starts_with(&format!("http://127.0.0.1:{idp}/authorize")),
        "{authorize}"
    );
    let page = http
        .get(&authorize)
        .send()
        .await
        .expect("authorize page")
        .text()
        .await
        .expect("html");
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
    let back = http.get(&callback).send().await.expect("callback");
    assert_eq!(
        back.status(),
        302,
        "{}",
        back.text().await.unwrap_or_default()
    );
    let me = http.get(&protected).send().await.expect("protected page");
    assert_eq!(me.status(), 200);
    let v: serde_json::Value = me.json().await.expect("json");
    assert_eq!(v["verified"], true, "{v}");
    drop(demo);
}
