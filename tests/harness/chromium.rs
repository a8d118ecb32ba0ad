//! A real headless Chromium for the citizen browser tests: Debian's `chromium`, started here on
//! 127.0.0.1 with a fresh profile and killed (profile removed) on drop, driven by
//! `node tests/browser/visit.mjs` (npm `playwright-core`) over the DevTools protocol.
//!
//! Why a real browser, next to the scripted one of [`crate::browser`]: the protocol hops are
//! proven there; what a citizen actually sees is only proven by a browser that follows the
//! redirects by itself, decodes the page's charset, runs its scripts and applies `HttpOnly`.
//!
//! Why the harness starts Chromium rather than the node script: the test then owns the
//! process. It is killed on drop even when the test panics, and the tail of its stderr (and
//! of the script's) goes into every harness panic message. Chromium picks its own DevTools
//! port (`--remote-debugging-port=0`, loopback only) and writes it to `DevToolsActivePort` in
//! the profile, so there is no port race. Every host name but 127.0.0.1 resolves to nothing
//! (`--host-resolver-rules`), so a link or resource pointing at a legacy host fails fast
//! instead of leaving the machine; the script reports such requests.
//!
//! One [`Chromium::visit`] is one node run: a fresh browser context (no cookies), the given
//! [`Visit`]s in order, and what was seen ([`Outcome`]). It blocks the calling thread (a few
//! hundred milliseconds to a few seconds): call it from a plain `#[test]`, or from a
//! multi-thread runtime whose other threads serve what the page needs.
//!
//! `chromium` (or `$EGOV_CHROMIUM`) and the node packages come from `tests/setup.sh`.

use crate::scratch::{tail, temp_dir};
use std::fmt;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long Chromium may take to write its DevTools port.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one run of the script may take, all visits included.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// The script's limit for one navigation or one form action.
const STEP_TIMEOUT_MS: u64 = 15_000;
/// How many log lines go into a panic message.
const LOG_LINES: usize = 40;

/// The flags Chromium needs here: headless as root without a sandbox or GPU, and quiet. Without
/// the background-networking ones it dials Google's services at start and its connections
/// are refused. Every name but 127.0.0.1 and `*.localhost` resolves to nothing and no proxy
/// is used, so the browser can only reach this machine's loopback.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    // Services' own origins are `<id>.localhost`: loopback, as Chromium resolves them anyway.
    "--host-resolver-rules=MAP *.localhost 127.0.0.1 , MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
];

/// `tests/browser`.
fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// The Chromium binary: `$EGOV_CHROMIUM`, else `chromium` on `PATH` (Debian's package).
fn chromium_binary() -> PathBuf {
    std::env::var_os("EGOV_CHROMIUM").map_or_else(|| PathBuf::from("chromium"), PathBuf::from)
}

/// The last lines of a log, without Chromium's harmless D-Bus complaints (there is no bus in
/// a test machine), which would otherwise fill the tail.
fn log_tail(path: &Path) -> String {
    let all = tail(path, 20 * LOG_LINES);
    let useful: Vec<&str> = all
        .lines()
        .filter(|l| !l.contains(":ERROR:dbus/"))
        .collect();
    useful[useful.len().saturating_sub(LOG_LINES)..].join("\n")
}

/// A running headless Chromium, killed on drop.
pub struct Chromium {
    child: Option<Child>,
    dir: PathBuf,
    log: PathBuf,
    endpoint: String,
    runs: AtomicU64,
}

impl Chromium {
    /// Starts Chromium with a fresh profile and waits until its DevTools endpoint is up.
    ///
    /// Panics with a hint if Chromium or the node packages are missing (run `tests/setup.sh`),
    /// or with Chromium's log if it does not come up in time.
    pub fn start() -> Chromium {
        let browser = browser_dir();
        assert!(
            browser.join("node_modules/playwright-core").is_dir(),
            "{} has no node_modules/playwright-core: run tests/setup.sh",
            browser.display()
        );
        let dir = temp_dir("chromium");
        let profile = dir.join("profile");
        // Its own temporary directory inside ours: Chromium makes a directory there for the
        // socket that keeps one browser per profile, and a killed browser leaves it behind.
        let scratch = dir.join("tmp");
        std::fs::create_dir_all(&scratch)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", scratch.display()));
        let log = dir.join("chromium.log");
        let log_file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let binary = chromium_binary();
        let child = Command::new(&binary)
            // A process group of its own, so that its helper processes are stopped with it.
            .process_group(0)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .env("TMPDIR", &scratch)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| {
                let _ = std::fs::remove_dir_all(&dir);
                panic!("cannot run {} ({e}); run tests/setup.sh", binary.display())
            });
        let mut chromium = Chromium {
            child: Some(child),
            dir,
            log,
            endpoint: String::new(),
            runs: AtomicU64::new(0),
        };
        chromium.endpoint = chromium.wait_for_endpoint(&profile.join("DevToolsActivePort"));
        chromium
    }

    /// Polls `DevToolsActivePort` (its port, then its browser path) until both lines are in.
    fn wait_for_endpoint(&mut self, active_port: &Path) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(active_port).unwrap_or_default();
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                if port.parse::<u16>().is_ok() && path.starts_with("/devtools/browser/") {
                    return format!("ws://127.0.0.1:{port}{path}");
                }
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                panic!("chromium exited ({status}) at start:\n{}", self.logs());
            }
            if Instant::now() > deadline {
                panic!(
                    "chromium wrote no DevTools port within {START_TIMEOUT:?}:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The DevTools endpoint, `ws://127.0.0.1:<port>/devtools/browser/<id>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The operating-system process id of the browser.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The tail of Chromium's stderr.
    pub fn logs(&self) -> String {
        log_tail(&self.log)
    }

    /// Runs `visits` in a fresh browser context (no cookies yet), answering the forms of the
    /// OpenID provider at `provider` (its issuer, `http://127.0.0.1:<port>`) as each visit
    /// says, and returns what the citizen saw.
    ///
    /// Panics, with the tails of the script's and Chromium's stderr, if the script fails
    /// (a navigation or form action timed out, the browser went away) or takes longer than
    /// [`RUN_TIMEOUT`].
    pub fn visit(&self, provider: &str, visits: &[Visit]) -> Outcome {
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let node_log = self.dir.join(format!("node-{run}.log"));
        let log_file = std::fs::File::create(&node_log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", node_log.display()));
        let scenario = json!({
            "cdp": self.endpoint,
            "provider": provider,
            "timeout_ms": STEP_TIMEOUT_MS,
            "visits": visits.iter().map(Visit::to_json).collect::<Vec<_>>(),
        });
        let child = Command::new("node")
            .arg("visit.mjs")
            .arg(scenario.to_string())
            .current_dir(browser_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node ({e}); Node.js 20+ is needed"));
        let mut script = Script(child);
        let stdout = script.0.stdout.take();
        let (done_tx, done_rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut out = String::new();
            if let Some(mut pipe) = stdout {
                let _ = pipe.read_to_string(&mut out);
            }
            let _ = done_tx.send(out);
        });
        let Ok(stdout) = done_rx.recv_timeout(RUN_TIMEOUT) else {
            drop(script);
            self.fail(
                &node_log,
                format!("the browser visit took longer than {RUN_TIMEOUT:?}"),
            );
        };
        let status = script.0.wait().ok();
        let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
            self.fail(
                &node_log,
                format!("the browser visit failed ({status:?}), no RESULT line"),
            );
        };
        let raw: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| self.fail(&node_log, format!("bad RESULT line ({e}): {line}")));
        Outcome::parse(raw, log_tail(&node_log))
            .unwrap_or_else(|e| self.fail(&node_log, format!("unexpected RESULT ({e}): {line}")))
    }
}

impl Chromium {
    /// Panics with `what` and the tails of the script's and Chromium's stderr.
    fn fail(&self, node_log: &Path, what: String) -> ! {
        panic!(
            "{what}\n--- node visit.mjs stderr:\n{}\n--- chromium stderr:\n{}",
            log_tail(node_log),
            self.logs()
        )
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The whole group: killed alone, the browser's helper processes went on writing
            // into the profile after it was removed (profiles were left behind).
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill(2) on the group our own child leads; no memory is involved.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Removed again until it is gone (a helper may be finishing a write), up to 2 s.
        for _ in 0..20 {
            let _ = std::fs::remove_dir_all(&self.dir);
            if !self.dir.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// The node script of one run, killed on drop (a timeout or a panic mid-run).
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One address typed into the browser, and what to answer at the provider on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// Where to go.
    pub url: String,
    /// Fill the provider's login form with this login (an account's `sub`), if it shows.
    pub login: Option<String>,
    /// Answer "Yes, sign me out" if the provider asks.
    pub confirm_logout: bool,
    /// A script run in the page at the end of the visit (a JavaScript expression, awaited if
    /// it is a promise): what a hostile script on that page could do. Its JSON result is in
    /// [`Seen::evaluated`].
    pub evaluate: Option<String>,
    /// Typed into the page's "what do you need?" box (`#q`) and submitted.
    pub search: Option<String>,
    /// CSS selectors clicked in order after that, each waiting for the page it opens
    /// (answering the provider's forms on the way, as for the visit itself).
    pub clicks: Vec<String>,
    /// Then press the browser's Back button once, waiting for the page it shows.
    pub back: bool,
    /// Tab through the page and report what got focus ([`Seen::keyboard`]).
    pub keyboard: bool,
    /// Run axe-core's WCAG 2.1 A/AA rules on the final page ([`Seen::audit`]).
    pub audit: bool,
    /// Save the final page, whole, as a PNG here.
    pub screenshot: Option<PathBuf>,
}

impl Visit {
    /// Goes to `url` and stops at the first page with nothing to answer (consent excepted).
    pub fn to(url: impl Into<String>) -> Visit {
        Visit {
            url: url.into(),
            login: None,
            confirm_logout: false,
            evaluate: None,
            search: None,
            clicks: Vec::new(),
            back: false,
            keyboard: false,
            audit: false,
            screenshot: None,
        }
    }

    /// Types `text` into the portal's box and submits it.
    pub fn searching(mut self, text: &str) -> Visit {
        self.search = Some(text.to_string());
        self
    }

    /// Then clicks the first element matching `selector` and waits for its page.
    pub fn clicking(mut self, selector: &str) -> Visit {
        self.clicks.push(selector.to_string());
        self
    }

    /// Then goes back once, as the Back button does.
    pub fn going_back(mut self) -> Visit {
        self.back = true;
        self
    }

    /// Tabs through the final page.
    pub fn tabbing_through(mut self) -> Visit {
        self.keyboard = true;
        self
    }

    /// Audits the final page with axe-core.
    pub fn audited(mut self) -> Visit {
        self.audit = true;
        self
    }

    /// Saves the final page as a PNG at `path`.
    pub fn screenshot_to(mut self, path: impl Into<PathBuf>) -> Visit {
        self.screenshot = Some(path.into());
        self
    }

    /// Runs `script` (an expression) in the page at the end of the visit.
    pub fn running(mut self, script: &str) -> Visit {
        self.evaluate = Some(script.to_string());
        self
    }

    /// Logs in as `login` (any password) if the provider asks.
    pub fn logging_in_as(mut self, login: &str) -> Visit {
        self.login = Some(login.to_string());
        self
    }

    /// Confirms the logout if the provider asks.
    pub fn confirming_logout(mut self) -> Visit {
        self.confirm_logout = true;
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "url": self.url,
            "login": self.login,
            "password": "any-password",
            "confirm_logout": self.confirm_logout,
            "evaluate": self.evaluate,
            "search": self.search,
            "clicks": self.clicks,
            "back": self.back,
            "keyboard": self.keyboard,
            "audit": self.audit,
            "screenshot": self.screenshot,
        })
    }
}

/// A cookie the browser holds, `HttpOnly` ones included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserCookie {
    pub name: String,
    pub domain: String,
    pub path: String,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`.
    pub same_site: String,
}

/// What the citizen saw at the end of one [`Visit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The visit's URL.
    pub start: String,
    /// The address bar at the end.
    pub url: String,
    /// The HTTP status of the page shown.
    pub status: Option<u16>,
    /// Every main-frame request of the visit, redirect hops and form posts included.
    pub navigations: Vec<String>,
    /// The provider forms answered: `login`, `consent`, `logout`.
    pub actions: Vec<String>,
    /// `document.title`.
    pub title: String,
    /// `document.characterSet`, the encoding the browser decoded the page with.
    pub charset: String,
    /// `document.body.innerText` (at most 20,000 characters).
    pub text: String,
    /// The raw `href` attribute of every `<a href>`.
    pub links: Vec<String>,
    /// `document.cookie`: the cookies page scripts can read.
    pub document_cookie: String,
    /// Every cookie the browser holds.
    pub cookies: Vec<BrowserCookie>,
    /// What the visit's script returned (`null` without one).
    pub evaluated: Value,
    /// axe-core's violations, `[{id, impact, help, targets}]` (`null` without an audit).
    pub audit: Value,
    /// `{reached: [{tag, name, href, outline}], unreached: [html]}` (`null` without a walk).
    pub keyboard: Value,
}

/// What one [`Chromium::visit`] run saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// One per visit, in order.
    pub visits: Vec<Seen>,
    /// Console errors and uncaught exceptions, each prefixed with the page's URL.
    pub console_errors: Vec<String>,
    /// Requests that tried to leave 127.0.0.1 (they all failed to resolve).
    pub offsite_requests: Vec<String>,
    raw: Value,
    script_log: String,
}

impl Outcome {
    /// The last visit's page.
    pub fn last(&self) -> &Seen {
        self.visits
            .last()
            .unwrap_or_else(|| panic!("a browser run without visits:\n{self}"))
    }

    fn parse(raw: Value, script_log: String) -> Result<Outcome, String> {
        let visits = raw["visits"]
            .as_array()
            .ok_or("no visits")?
            .iter()
            .map(Seen::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Outcome {
            visits,
            console_errors: strings(&raw, "console_errors")?,
            offsite_requests: strings(&raw, "offsite_requests")?,
            raw,
            script_log,
        })
    }
}

impl Seen {
    fn parse(v: &Value) -> Result<Seen, String> {
        let cookies = v["cookies"]
            .as_array()
            .ok_or("no cookies")?
            .iter()
            .map(|c| {
                Ok(BrowserCookie {
                    name: string(c, "name")?,
                    domain: string(c, "domain")?,
                    path: string(c, "path")?,
                    http_only: c["http_only"].as_bool().ok_or("no http_only")?,
                    secure: c["secure"].as_bool().ok_or("no secure")?,
                    same_site: string(c, "same_site")?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Seen {
            start: string(v, "start")?,
            url: string(v, "url")?,
            status: v["status"].as_u64().and_then(|s| u16::try_from(s).ok()),
            navigations: strings(v, "navigations")?,
            actions: strings(v, "actions")?,
            title: string(v, "title")?,
            charset: string(v, "charset")?,
            text: string(v, "text")?,
            links: strings(v, "links")?,
            document_cookie: string(v, "document_cookie")?,
            cookies,
            evaluated: v["evaluated"].clone(),
            audit: v["audit"].clone(),
            keyboard: v["keyboard"].clone(),
        })
    }

    /// Whether any main-frame request of the visit went to `origin` (e.g. the provider).
    pub fn passed_through(&self, origin: &str) -> bool {
        self.navigations.iter().any(|n| n.starts_with(origin))
    }
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no string {key}"))
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    v[key]
        .as_array()
        .ok_or_else(|| format!("no list {key}"))?
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_string)
                .ok_or(format!("{key}: not text"))
        })
        .collect()
}

/// The whole report and the script's stderr, for assertion messages.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pretty = serde_json::to_string_pretty(&self.raw).map_err(|_| fmt::Error)?;
        write!(
            f,
            "{pretty}\n--- node visit.mjs stderr:\n{}",
            self.script_log
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chromium_listens_on_loopback_and_is_gone_after_drop() {
        let chromium = Chromium::start();
        assert!(
            chromium.endpoint().starts_with("ws://127.0.0.1:"),
            "{}",
            chromium.endpoint()
        );
        let pid = chromium.pid().expect("a running browser");
        let proc = PathBuf::from(format!("/proc/{pid}"));
        assert!(proc.exists(), "no process {pid}");
        drop(chromium);
        assert!(!proc.exists(), "chromium {pid} survived its handle");
    }

    #[test]
    fn chromium_keeps_its_temporary_files_in_the_directory_removed_on_drop() {
        let chromium = Chromium::start();
        // The profile's singleton socket is a link into the temporary directory Chromium
        // chose; in the system's, each killed browser left one behind.
        let socket = chromium.dir.join("profile/SingletonSocket");
        let target =
            std::fs::read_link(&socket).unwrap_or_else(|e| panic!("{}: {e}", socket.display()));
        assert!(
            target.starts_with(&chromium.dir),
            "{} is outside {}",
            target.display(),
            chromium.dir.display()
        );
        let dir = chromium.dir.clone();
        drop(chromium);
        assert!(!dir.exists(), "{} is left behind", dir.display());
    }
}
