//! A real gateway (pingora server, on its own thread) for one test.

use crate::ports::{self, Reservation};
use crate::scratch::TempDir;
use egov_estate::{EstateOptions, RunningEstate};
use egov_gateway::app::App;
use egov_gateway::config::{self, Backend, Config, Secrets, ServiceConfig};
use egov_gateway::demo::DemoKeys;
use egov_gateway::registry::{LiveRegistry, Registry};
use egov_gateway::server::{self, Listeners, RunningGateway};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The repository's `config/` directory.
pub fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// The repository's configuration, as shipped.
pub fn repo_config() -> Config {
    config::load(&config_dir().join("gateway.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// Puts every service on its own origin, `http://<id>.localhost:<the portal's port>` (call it
/// after the portal's address is known, e.g. as a [`TestGateway::with`] tweak).
pub fn own_origins(config: &mut Config) {
    let port = config
        .gateway
        .portal
        .public_url
        .authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok());
    config.gateway.portal.service_origins = Some(egov_gateway::config::ServiceOrigins {
        https: false,
        domain: "localhost".into(),
        port,
    });
}

/// `builder` told that every service's own origin (`<id>.localhost`) is `gateway`, as browsers
/// and curl resolve `*.localhost` to loopback by themselves.
pub fn resolve_service_origins(
    mut builder: reqwest::ClientBuilder,
    gateway: SocketAddr,
) -> reqwest::ClientBuilder {
    for s in &repo_config().services {
        builder = builder.resolve(&format!("{}.localhost", s.id), gateway);
    }
    builder.resolve("no-such-service.localhost", gateway)
}

/// A client like [`crate::client`] that finds every service's own origin on `gateway`.
pub fn origin_client(gateway: SocketAddr) -> reqwest::Client {
    resolve_service_origins(
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy(),
        gateway,
    )
    .build()
    .expect("the test HTTP client builds")
}

/// The estate on a free port, without latency or random failures unless asked.
pub fn start_estate(options: Option<EstateOptions>) -> RunningEstate {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    RunningEstate::start(addr, options.unwrap_or_else(|| EstateOptions::calm(42)))
        .expect("the estate starts")
}

/// Makes the estate's `__estate/cacheable?tag=T` answer 503 (`on`) or its page again, for
/// every site (asked through cnie-renewal's: the tags are the estate's, not a site's).
pub async fn set_failing(estate: &RunningEstate, tag: &str, on: bool) {
    let url = format!(
        "http://{}/cnie-renewal/__estate/failing?tag={tag}&on={}",
        estate.addr(),
        u8::from(on)
    );
    crate::client()
        .get(url)
        .header("host", "www.cnie.ma")
        .send()
        .await
        .expect("estate");
}

/// Opens every service to anonymous requests, for tests about proxying rather than login.
pub fn all_public(config: &mut Config) {
    for s in &mut config.services {
        s.access = egov_gateway::config::Access::Public;
    }
}

/// The configuration of service `id`, to tweak before a gateway starts.
pub fn service_mut<'a>(config: &'a mut Config, id: &str) -> &'a mut ServiceConfig {
    config
        .services
        .iter_mut()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no service {id} in the repository's configuration"))
}

/// Points service `id` at one backend on a loopback `port` (a site of the test's own).
pub fn backend_at(config: &mut Config, id: &str, port: u16) {
    service_mut(config, id).upstream.backends = vec![Backend {
        host: "127.0.0.1".into(),
        port,
        weight: 1,
    }];
}

/// Points service `id` at a loopback port nothing listens on: its backend is down.
pub fn backend_down(config: &mut Config, id: &str, port: u16) {
    backend_at(config, id, port);
}

/// A private copy of the repository's `config/` pointed at an estate: what a test gateway
/// serves, and its registry store (the admin API and hand edits change the copy, never the
/// repository's files).
pub struct Staged {
    dir: TempDir,
    pub gateway_toml: PathBuf,
}

impl Staged {
    /// The repository's configuration, copied, with every backend on `estate`.
    pub fn new(estate: &RunningEstate) -> Self {
        let dir = TempDir::new("config");
        let gateway_toml = egov_gateway::demo::stage_config(
            &config_dir().join("gateway.toml"),
            dir.path(),
            estate.addr(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Self { dir, gateway_toml }
    }

    /// One admin API key per ministry and a platform key, written (hashed) into the copy's
    /// `[admin] keys`, with loopback backends allowed.
    pub fn admin_keys(&self) -> DemoKeys {
        let ministries = repo_config().ministries.into_keys().collect::<Vec<_>>();
        egov_gateway::demo::add_admin_keys(
            &self.gateway_toml,
            ministries.iter().map(String::as_str),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The same admin keys as `other` (another instance of one deployment): its
    /// `gateway.toml`, copied over this one's.
    pub fn share_keys_of(&self, other: &Staged) {
        std::fs::copy(&other.gateway_toml, &self.gateway_toml).expect("copy gateway.toml");
    }

    /// The copy's configuration, as `config::load` reads it, serving on `portal`.
    pub fn load(&self, estate: &RunningEstate, portal: SocketAddr) -> Config {
        let mut config = config::load(&self.gateway_toml).unwrap_or_else(|e| panic!("{e}"));
        egov_gateway::demo::point_at_estate(&mut config, estate.addr(), portal);
        config
    }

    /// The copy's directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Adds `toml` (e.g. a `[cache]` table) at the end of the copy's service file.
    pub fn append_to_service(&self, ministry: &str, id: &str, toml: &str) {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.service_file(ministry, id))
            .unwrap_or_else(|e| panic!("service file {ministry}/{id}: {e}"));
        writeln!(f, "\n{toml}").expect("appended");
    }

    /// The file of service `id` of `ministry` in the copy.
    pub fn service_file(&self, ministry: &str, id: &str) -> PathBuf {
        self.dir
            .path()
            .join("services")
            .join(ministry)
            .join(format!("{id}.toml"))
    }
}

/// A running gateway and its addresses.
pub struct TestGateway {
    running: Option<RunningGateway>,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
    pub registry: Arc<Registry>,
    pub live: Arc<LiveRegistry>,
    /// The admin API's state (what a reload gives the keys to).
    pub admin_api: Arc<egov_gateway::admin::Admin>,
    pub telemetry: Arc<egov_gateway::telemetry::Telemetry>,
    /// The TLS listeners' certificates (what a reload reads again).
    pub certificates: Arc<egov_gateway::certificates::PortalCertificates>,
    _reservation: Reservation,
    staged: Option<Staged>,
}

/// `127.0.0.0/8` as `portal.trusted_proxies`: the test's client plays the load balancer.
pub fn loopback_proxies() -> egov_gateway::client_address::TrustedProxies {
    egov_gateway::client_address::TrustedProxies::new(["127.0.0.0/8".parse().expect("cidr")])
}

impl TestGateway {
    /// The repository's configuration in front of `estate`.
    pub fn in_front_of(estate: &RunningEstate) -> Self {
        Self::with(estate, |_| {})
    }

    /// Like [`Self::in_front_of`], after `tweak` edits the configuration.
    pub fn with(estate: &RunningEstate, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::staged(estate, Staged::new(estate), tweak)
    }

    /// `staged` in front of `estate`, after `tweak` edits the loaded configuration (tweaks
    /// live in memory: a registry refresh reads the staged files again).
    pub fn staged(estate: &RunningEstate, staged: Staged, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::staged_on(estate, staged, ports::reserve(), tweak)
    }

    /// Like [`Self::staged`], its portal listening on `reservation`'s address.
    pub fn staged_on(
        estate: &RunningEstate,
        staged: Staged,
        reservation: Reservation,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = staged.load(estate, reservation.addr);
        tweak(&mut config);
        let secrets = egov_gateway::demo::estate_secrets(&config);
        Self::start(config, secrets, reservation).serving(staged)
    }

    /// Keeps `staged` (the files this gateway serves) alive as long as the gateway.
    pub fn serving(mut self, staged: Staged) -> Self {
        self.staged = Some(staged);
        self
    }

    /// The staged configuration this gateway serves, if it was started from one.
    pub fn staged_config(&self) -> Option<&Staged> {
        self.staged.as_ref()
    }

    /// Starts `config` on the reserved port.
    pub fn start(config: Config, secrets: Secrets, reservation: Reservation) -> Self {
        let app = App::new(&config, &secrets).unwrap_or_else(|e| panic!("{e}"));
        let registry = Arc::clone(&app.registry);
        let admin = TcpListener::bind("127.0.0.1:0").expect("admin port");
        let metrics = TcpListener::bind("127.0.0.1:0").expect("metrics port");
        let admin_addr = admin.local_addr().expect("addr");
        let metrics_addr = metrics.local_addr().expect("addr");
        let listeners = Listeners {
            portal: vec![reservation.addr],
            portal_reuse_port: true,
            h2c: config.gateway.portal.h2c,
            tls: config.gateway.portal.tls.clone(),
            admin: Some(admin),
            metrics: Some(metrics),
            upgrade: false,
        };
        let mut settings = config.gateway.server.clone();
        settings.threads = 2;
        let server = server::build(&settings, &app, listeners).unwrap_or_else(|e| panic!("{e}"));
        let running = RunningGateway::spawn(server).expect("the gateway thread starts");
        ports::wait_listening(reservation.addr);
        for t in &config.gateway.portal.tls {
            ports::wait_listening(t.listen);
        }
        let gateway = Self {
            running: Some(running),
            addr: reservation.addr,
            admin: admin_addr,
            metrics: metrics_addr,
            registry,
            live: Arc::clone(&app.live),
            admin_api: Arc::clone(&app.admin),
            telemetry: Arc::clone(&app.telemetry),
            certificates: Arc::clone(&app.certificates),
            _reservation: reservation,
            staged: None,
        };
        // The probe above was a connection too: until the gateway has seen it close, it
        // holds a connection slot, and a test of the connection caps would count it.
        gateway.wait_connections_open(0);
        gateway
    }

    /// What a SIGHUP does: the configuration at `config` (its `gateway.toml`) reloaded and
    /// the TLS certificates read again.
    pub async fn reload(&self, config: &std::path::Path) {
        egov_gateway::server::reload(&self.live, &self.admin_api, &self.certificates, config).await;
    }

    /// Starts a graceful shutdown (as SIGTERM would) without waiting for it to finish.
    pub fn begin_graceful_shutdown(&mut self) {
        if let Some(r) = self.running.as_mut() {
            r.begin_graceful_shutdown();
        }
    }

    /// Connections the portal listeners hold now (`egov_connections_open`).
    pub fn connections_open(&self) -> usize {
        let text = crate::raw_http::get(self.metrics, "/metrics", "").text();
        metric_value(&text, "egov_connections_open").map_or(0, |v| v as usize)
    }

    /// Waits until the portal listeners hold exactly `n` connections: accepted and given
    /// their slots (under load the accept loop may run well after the client's `connect`
    /// returned), or let go after the client closed.
    pub fn wait_connections_open(&self, n: usize) {
        let start = Instant::now();
        loop {
            let open = self.connections_open();
            if open == n {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the gateway holds {open} connections, not {n}, after 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `http://<service>.localhost:<port><path>`: `path` on the service's own origin (see
    /// [`own_origins`]).
    pub fn origin_url(&self, service: &str, path: &str) -> String {
        format!("http://{service}.localhost:{}{path}", self.addr.port())
    }

    /// What `/readyz` on the admin listener answers: its status and text.
    pub async fn readyz(&self) -> (u16, String) {
        let answer = crate::client()
            .get(format!("http://{}/readyz", self.admin))
            .send()
            .await
            .expect("the admin listener answers");
        let status = answer.status().as_u16();
        (status, answer.text().await.expect("the readiness is text"))
    }

    /// The live status board (`/status.json` on the admin listener), after a fresh sample
    /// of the counters.
    pub async fn status_board(&self) -> serde_json::Value {
        self.telemetry.status.sample();
        crate::client()
            .get(format!("http://{}/status.json", self.admin))
            .send()
            .await
            .expect("the admin listener answers")
            .json()
            .await
            .expect("the board is JSON")
    }

    /// `service`'s line on the status board, after a fresh sample.
    pub async fn status_line(&self, service: &str) -> serde_json::Value {
        let board = self.status_board().await;
        board["services"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["service"] == service))
            .cloned()
            .unwrap_or_else(|| panic!("{service} is not on the board: {board}"))
    }

    /// The `/metrics` page once it contains every one of `lines` (or after 5 s, for the
    /// caller's assertion to show what was there). A request is counted in its logging phase,
    /// which pingora runs after the response has gone out, so a client can read `/metrics`
    /// a moment before its own last request shows up.
    pub async fn metrics_showing(&self, lines: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = crate::client()
                .get(format!("http://{}/metrics", self.metrics))
                .send()
                .await
                .expect("the metrics listener answers")
                .text()
                .await
                .expect("the metrics page is text");
            if lines.iter().all(|l| text.contains(l)) || Instant::now() >= deadline {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

/// The value of `series` (a metric's name with its labels, as `/metrics` writes it) in the
/// metrics page `text`, if it is there and a whole number.
pub fn metric_value(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}
