//! Assembling and running the pingora server: the proxy service on the portal listeners,
//! plus the admin and metrics listeners as background services.
//!
//! Listeners are given to [`build`] rather than read from config inside it, so the demo and
//! the tests can bind ports of their choosing (port 0) and know them before serving.

use crate::app::App;
use crate::certificates::PortalCertificates;
use crate::config::{Config, ServerSettings, TlsListener};
use crate::limits::tls::TlsPorts;
use crate::limits::{Admission, AdmissionMetrics};
use crate::proxy::GatewayProxy;
use crate::registry::LiveRegistry;
use crate::sidecar::{SideListener, SideRole};
use async_trait::async_trait;
use pingora::apps::HttpServerOptions;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{ListenerConfig, TcpSocketOptions};
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::server::configuration::ServerConf;
use pingora::server::ShutdownWatch;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::background::background_service;
use pingora::services::background::BackgroundService;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use tokio::signal::unix::SignalKind;
use tokio::sync::oneshot;

/// Where the gateway listens.
#[derive(Debug, Default)]
pub struct Listeners {
    /// Plain-text portal listeners; pingora binds them.
    pub portal: Vec<SocketAddr>,
    /// Bind the portal listeners (plain and TLS) with `SO_REUSEPORT`, so a caller may hold a
    /// reservation socket on the same port (how tests get a free port without a race). With
    /// a runtime per thread (`server.thread_per_core`) they are bound so anyway.
    pub portal_reuse_port: bool,
    pub h2c: bool,
    pub tls: Vec<TlsListener>,
    /// Already-bound admin listener.
    pub admin: Option<TcpListener>,
    /// Already-bound metrics listener.
    pub metrics: Option<TcpListener>,
    /// Take the portal listeners over from a running gateway through
    /// `server.upgrade_sock` (`serve --upgrade`), instead of binding them.
    pub upgrade: bool,
}

impl Listeners {
    /// The listeners `config` asks for, binding the admin and metrics ones now so a port
    /// conflict is reported before anything starts. With `upgrade`, the portal listeners
    /// come from the running gateway; the admin and metrics ones are bound with
    /// `SO_REUSEPORT` (always, so that a successor can bind them while its predecessor
    /// drains).
    ///
    /// Without `upgrade`, every address must be free first ([`refuse_taken`]): a gateway
    /// started by mistake on a running one's ports would otherwise share them.
    pub fn from_config(config: &Config, upgrade: bool) -> Result<Self, ServerError> {
        let g = &config.gateway;
        if !upgrade {
            let portal = g.portal.listen.iter().map(|a| ("portal", *a));
            let tls = g.portal.tls.iter().map(|t| ("portal TLS", t.listen));
            let side = [("admin", g.admin_listen), ("metrics", g.metrics_listen)]
                .into_iter()
                .filter_map(|(what, addr)| Some((what, addr?)));
            for (what, addr) in portal.chain(tls).chain(side) {
                refuse_taken(what, addr)?;
            }
        }
        Ok(Self {
            portal: g.portal.listen.clone(),
            portal_reuse_port: false,
            h2c: g.portal.h2c,
            tls: g.portal.tls.clone(),
            admin: g.admin_listen.map(bind_shared).transpose()?,
            metrics: g.metrics_listen.map(bind_shared).transpose()?,
            upgrade,
        })
    }
}

/// Fails if another process listens on `addr` already. The admin and metrics listeners
/// (always) and the portal's (with a runtime per thread) are bound with `SO_REUSEPORT`, so
/// a second gateway started by mistake on the same ports would share them without a word,
/// and the kernel would spread citizens over two configurations (and the second would
/// take the upgrade socket). A bind without `SO_REUSEPORT` fails on a port anyone holds,
/// as nginx's own bind does; the probe is closed at once.
pub fn refuse_taken(what: &'static str, addr: SocketAddr) -> Result<(), ServerError> {
    if addr.port() == 0 {
        return Ok(());
    }
    match TcpListener::bind(addr) {
        Ok(probe) => {
            drop(probe);
            Ok(())
        }
        Err(source) => Err(ServerError::Taken { what, addr, source }),
    }
}

/// A listener another gateway process may bind too (`SO_REUSEPORT`): during a graceful
/// upgrade the old and the new process both hold the admin and metrics ports.
fn bind_shared(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The buffers of a citizen's connection. Pingora gives every accepted connection a 64 KiB
/// read buffer for its whole life, idle or not: 10,000 idle keep-alive connections held a
/// gigabyte. Without it, a read goes straight from the socket into the HTTP parser's own
/// buffer (4 KiB, grown for a large header) or the body's, which is one copy fewer; what a
/// connection keeps while idle is then about 37 KiB (see BENCHMARKS.md, issue 16). The
/// write side keeps pingora's one-segment buffer, which coalesces a response's head and
/// first bytes into one write.
fn citizen_connection_buffers() -> L4BufferSettings {
    L4BufferSettings {
        read: Some(0),
        write: None,
    }
}

/// The server could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("TLS listener {addr}: {reason}")]
    Tls { addr: SocketAddr, reason: String },
    #[error("listener: {0}")]
    Listener(#[from] std::io::Error),
    #[error(
        "the {what} listener {addr} cannot be bound: {source} (is a gateway already running \
         there? `serve --upgrade` takes a running gateway's listeners over)"
    )]
    Taken {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Builds the pingora server for `app` on `listeners`.
pub fn build(
    settings: &ServerSettings,
    app: &App,
    listeners: Listeners,
) -> Result<Server, ServerError> {
    let conf = ServerConf {
        threads: settings.threads,
        work_stealing: settings.work_stealing,
        upstream_keepalive_pool_size: settings.upstream_keepalive_pool_size,
        // Pingora's grace period begins when its listeners stop taking connections: the
        // time in-flight requests have to finish, ours `graceful_shutdown_timeout` (our
        // `grace_period`, serving on while `/readyz` says 503, comes before it: see
        // `DrainFirst`). Its runtimes' own timeout then only bounds blocking work.
        grace_period_seconds: Some(whole_seconds_up(settings.graceful_shutdown_timeout)),
        graceful_shutdown_timeout_seconds: Some(RUNTIME_SHUTDOWN_SECONDS),
        upgrade_sock: settings.upgrade_sock.to_string_lossy().into_owned(),
        // Each backend once, and one resend on a fresh connection: pingora's 16 cut a
        // failover across 20 backends short, and the citizen got the gateway's 502 page
        // instead of the last site's answer (found in a bypass probe).
        max_retries: crate::config::BACKENDS + 1,
        ..ServerConf::default()
    };
    let opt = listeners
        .upgrade
        .then(|| pingora::server::configuration::Opt {
            upgrade: true,
            ..Default::default()
        });
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    // With `thread_per_core`, one portal service per thread, each a runtime of one thread
    // with sockets of its own; otherwise one service on the shared runtime.
    let (runtimes, threads_each) = if settings.thread_per_core {
        (settings.threads, Some(1))
    } else {
        (1, None)
    };
    for index in 0..runtimes {
        let mut portal = portal_service(&server, app, &listeners, index, runtimes)?;
        portal.threads = threads_each;
        server.add_service(portal);
    }
    server.add_service(background_service("sso", Task::new(app.sso.background())));
    server.add_service(background_service(
        "registry",
        Task::new(std::sync::Arc::clone(&app.live).follow()),
    ));
    server.add_service(background_service(
        "registry-names",
        Task::new(std::sync::Arc::clone(&app.live).resolve_names_again()),
    ));
    let generations = std::sync::Arc::clone(&app.cache.generations);
    let storage = app.cache.storage;
    let registry = std::sync::Arc::clone(&app.registry);
    server.add_service(background_service(
        "cache-purges",
        Task::new(generations.follow(
            storage,
            std::sync::Arc::new(move || {
                let snapshot = registry.snapshot();
                snapshot
                    .services()
                    .iter()
                    .filter(|s| s.cache.is_some())
                    .map(|s| s.id().to_string())
                    .collect()
            }),
        )),
    ));
    server.add_service(background_service(
        "redis-policy",
        Task::new(std::sync::Arc::clone(&app.shared).watch_eviction_policy()),
    ));
    server.add_service(background_service(
        "health-checks",
        Task::new(crate::upstream::health::run(std::sync::Arc::clone(
            &app.registry,
        ))),
    ));
    let feedback = std::sync::Arc::clone(app.portal.feedback());
    let registry = std::sync::Arc::clone(&app.registry);
    server.add_service(background_service(
        "feedback-expiry",
        Task::new(feedback.sweep(move || {
            let snapshot = registry.snapshot();
            snapshot
                .services()
                .iter()
                .map(|s| s.id().to_string())
                .collect()
        })),
    ));
    let board = std::sync::Arc::clone(&app.telemetry);
    server.add_service(background_service(
        "status-board",
        Task::new(async move { crate::telemetry::status::StatusBoard::run_shared(board).await }),
    ));

    let side = [&listeners.admin, &listeners.metrics];
    let bound = side
        .into_iter()
        .flatten()
        .filter_map(|l| l.local_addr().ok());
    let tls = listeners.tls.iter().map(|t| t.listen);
    let portal = listeners.portal.iter().copied();
    app.admin
        .listening_on(portal.chain(tls).chain(bound).collect());
    for (listener, role) in [
        (listeners.admin, SideRole::Admin),
        (listeners.metrics, SideRole::Metrics),
    ] {
        if let Some(l) = listener {
            l.set_nonblocking(true)?;
            let side = SideListener::new(l, role, app);
            server.add_service(background_service(role.name(), side));
        }
    }
    Ok(server)
}

/// The proxy, behind admission control, on the portal listeners: runtime `index` of
/// `runtimes`. Each runtime has its own listening socket on every portal address: with more
/// than one they are bound with `SO_REUSEPORT`, and the kernel spreads new connections over
/// them, so a connection lives on one thread from accept to close.
fn portal_service(
    server: &Server,
    app: &App,
    listeners: &Listeners,
    index: usize,
    runtimes: usize,
) -> Result<pingora::services::listening::Service<Admission<PortalApp>>, ServerError> {
    let mut http = pingora::proxy::http_proxy(&server.configuration, GatewayProxy::new(app));
    let mut options = HttpServerOptions::default();
    options.h2c = listeners.h2c;
    // HTTP/2 connections are pingora's whole (not the keep-alive loop of
    // `limits::admission`): one with nothing in flight is closed after the same wait. With
    // keep-alive off, the header deadline (zero would close a connection before its first
    // request).
    options.h2_idle_timeout = Some(
        app.connections
            .keepalive_timeout
            .unwrap_or(app.connections.header_timeout),
    );
    // `CONNECT` goes on to the guard, which refuses it as it does every method no service
    // takes (405 with `Allow`, counted and logged, the connection closed): pingora's own
    // refusal had no `Allow` (RFC 9110 §15.5.6), said `Server: Pingora` and left no trace
    // (found when tried). Nothing is ever tunnelled: no phase of the gateway's lets it by.
    options.allow_connect_method_proxying = true;
    http.server_options = Some(options);
    let metrics = &app.telemetry.metrics;
    let admission = Admission::new(
        http,
        &app.connections,
        Arc::clone(&app.registry),
        AdmissionMetrics {
            open: metrics.connections_open.clone(),
            refused_per_address: metrics
                .connections_refused
                .with_label_values(&["per_address"]),
            refused_total: metrics.connections_refused.with_label_values(&["total"]),
            header_timeouts: metrics.header_timeouts.clone(),
            closed_for_resets: metrics.rate_limited.with_label_values(&["h2_streams"]),
            closed_for_floods: metrics.rate_limited.with_label_values(&["h2_frames"]),
            tls_timed_out: metrics
                .tls_handshakes_failed
                .with_label_values(&["timeout"]),
            tls_failed: metrics.tls_handshakes_failed.with_label_values(&["error"]),
            refused_penalized: metrics
                .connections_refused
                .with_label_values(&["penalized"]),
            telemetry: Arc::clone(&app.telemetry),
        },
    );
    let mut tls_ports = TlsPorts::default();
    for t in &listeners.tls {
        let tls_err = |reason: String| ServerError::Tls {
            addr: t.listen,
            reason,
        };
        // Handshakes ask the listener's certificate, which a reload may renew; the paths
        // given to pingora are never read.
        let certificate = app.certificates.for_listener(t.listen).ok_or_else(|| {
            tls_err("no certificate was loaded for it (it is not in portal.tls)".into())
        })?;
        let mut tls = TlsSettings::intermediate("", "").map_err(|e| tls_err(e.to_string()))?;
        tls.set_cert_resolver(certificate);
        if t.h2 {
            tls.enable_h2();
        }
        tls_ports.add(t.listen, tls.build());
    }
    let admission = admission.with_tls(tls_ports);
    let name = if runtimes == 1 {
        "portal".to_string()
    } else {
        format!("portal-{index}")
    };
    let mut proxy = pingora::services::listening::Service::new(name, admission);
    let socket_options = || {
        let mut opts = TcpSocketOptions::default();
        opts.so_reuseport = (listeners.portal_reuse_port || runtimes > 1).then_some(true);
        opts
    };
    for addr in &listeners.portal {
        proxy.add_listener(
            ListenerConfig::tcp(listener_key(*addr, index))
                .tcp_socket_options(socket_options())
                .l4_buffer(citizen_connection_buffers()),
        );
    }
    // TLS listeners are plain TCP to pingora: the admission handshakes their connections
    // once each holds a slot (`limits::tls`).
    for t in &listeners.tls {
        proxy.add_listener(
            ListenerConfig::tcp(listener_key(t.listen, index))
                .tcp_socket_options(socket_options())
                .l4_buffer(citizen_connection_buffers()),
        );
    }
    Ok(proxy)
}

/// Pingora's application on the portal listeners.
type PortalApp = pingora::proxy::HttpProxy<GatewayProxy>;

/// How runtime `index` names listening address `addr` to pingora. Pingora keeps one socket
/// per address *string* (its table of listening sockets, also what a graceful upgrade hands
/// over), so runtimes naming the same address alike would share one socket and each close it
/// at shutdown. Runtime `index` writes the port with `index` leading zeros (`127.0.0.1:8080`,
/// `127.0.0.1:08080`, ...): the same address once parsed, a socket of its own in the table,
/// and the same name again after an upgrade with the same thread count.
fn listener_key(addr: SocketAddr, index: usize) -> String {
    let text = addr.to_string();
    // A socket address always ends with `:port`.
    let (host, port) = text.rsplit_once(':').unwrap_or((&text, ""));
    format!("{host}:{}{port}", "0".repeat(index))
}

/// Reloads `config_path` through the registry's pipeline on every SIGHUP, for the life of
/// `server` (see [`LiveRegistry::rebase`] for what reloads and what needs a restart). A
/// configuration that does not load or validate is logged and changes nothing.
pub fn reload_on_hangup(server: &mut Server, app: &App, config_path: PathBuf) {
    let live = std::sync::Arc::clone(&app.live);
    let admin = std::sync::Arc::clone(&app.admin);
    let certificates = Arc::clone(&app.certificates);
    let config_path = Arc::new(config_path);
    on_signal(
        server,
        "SIGHUP",
        SignalKind::hangup(),
        "reloads the configuration",
        move || {
            let (live, admin) = (Arc::clone(&live), Arc::clone(&admin));
            let (certificates, config_path) = (Arc::clone(&certificates), Arc::clone(&config_path));
            async move { reload(&live, &admin, &certificates, &config_path).await }
        },
    );
}

/// Opens the access and audit logs' files again by name on every SIGUSR1, as nginx does:
/// `logrotate` moves them, then signals (lines went on into the moved files, found when
/// tried). A signal of its own, not SIGHUP: a nightly rotation must not also reload a
/// configuration someone is in the middle of editing, nor wait behind a reload.
pub fn reopen_logs_on_usr1(server: &mut Server, app: &App) {
    let telemetry = std::sync::Arc::clone(&app.telemetry);
    let admin = std::sync::Arc::clone(&app.admin);
    on_signal(
        server,
        "SIGUSR1",
        SignalKind::user_defined1(),
        "opens the log files again",
        move || {
            // Each file says how it went, in a line of its own: found in a reload probe, a
            // single "log files opened again" came between the two errors saying they could
            // not be.
            tracing::info!("SIGUSR1: opening the log files again by name");
            telemetry.access_log.reopen();
            admin.audit.reopen();
            std::future::ready(())
        },
    );
}

/// The signals the gateway watches (SIGHUP: a reload; SIGUSR1: the logs opened again)
/// end a process by default. They are ignored from the process's start until their
/// watchers run ([`on_signal`]), so one that arrives while the gateway starts (a reload sent
/// as soon as `/readyz` answers, a `logrotate` at the wrong second) is lost, not fatal
/// (found when tried: a SIGHUP sent as the demo became ready ended it).
pub fn ignore_watched_signals_until_watched() {
    for kind in [SignalKind::hangup(), SignalKind::user_defined1()] {
        // SAFETY: sets a signal's disposition to SIG_IGN; no code of ours runs in a handler.
        unsafe { libc::signal(kind.as_raw_value(), libc::SIG_IGN) };
    }
}

/// Runs `handle` on every `kind` signal, one at a time, for the life of `server`, and says
/// so once it watches (`what`: what the signal does).
fn on_signal<F, Fut>(
    server: &mut Server,
    name: &'static str,
    kind: SignalKind,
    what: &'static str,
    handle: F,
) where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    server.add_service(background_service(
        name,
        Task::new(async move {
            let mut signals = match tokio::signal::unix::signal(kind) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, signal = name, "the signal cannot be watched; restart instead");
                    return;
                }
            };
            tracing::info!("{name} {what}");
            while signals.recv().await.is_some() {
                handle().await;
            }
        }),
    ));
}

/// One SIGHUP reload: `gateway.toml` and `ministries.toml` read again (the services are the
/// registry's, kept in step with their store), then the registry rebased on them and the
/// admin keys taken.
pub async fn reload(
    live: &LiveRegistry,
    admin: &crate::admin::Admin,
    certificates: &Arc<PortalCertificates>,
    config_path: &Path,
) {
    let path = config_path.to_path_buf();
    let loaded = match tokio::task::spawn_blocking(move || crate::config::load_settings(&path))
        .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::error!(config = %config_path.display(), "reload refused, nothing changed:\n{e}");
            live.count_reload(false);
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "reload failed");
            live.count_reload(false);
            return;
        }
    };
    // A renewed certificate does not wait for the registry: read again from the running
    // listeners' files (a listener's new paths wait for a restart, as its address does).
    certificates.reload().await;
    let result = live.rebase(&loaded).await;
    // The keys go with the configuration: taken when it applies, and when only the
    // registry's store could not be reached, so that a revoked key is refused from now on
    // all the same (found in review). Not when the configuration does not validate with
    // the services: found in a reload probe, such a refused reload ("nothing changed")
    // revoked one ministry's key and granted another's, which then changed a service.
    if !matches!(result, Err(crate::registry::live::RefreshError::Invalid(_))) {
        admin.auth.take_keys(&loaded.gateway.admin.keys);
    }
    live.count_reload(result.is_ok());
    match result {
        Ok((diff, restart)) => {
            tracing::info!(config = %config_path.display(), %diff, "configuration reloaded");
            live.restart_pending(restart.len());
            if !restart.is_empty() {
                tracing::warn!(
                    settings = restart.join(", "),
                    "these settings changed but only take effect after a restart"
                );
            }
        }
        Err(e @ crate::registry::live::RefreshError::Invalid(_)) => {
            tracing::error!("reload refused, nothing changed: {e}");
        }
        Err(e) => tracing::error!(
            "reload refused but for the admin keys, which apply (a revoked key must not wait): {e}"
        ),
    }
}

/// Pingora counts shutdown delays in whole seconds; a configured `"500ms"` must not become
/// 0 (no grace at all), so any fraction rounds up to the next second.
fn whole_seconds_up(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A long-running future as a named pingora background service, stopped at shutdown.
pub struct Task(Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>);

impl Task {
    pub fn new(f: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(Mutex::new(Some(Box::pin(f))))
    }
}

#[async_trait]
impl BackgroundService for Task {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(f) = self.0.lock().ok().and_then(|mut g| g.take()) else {
            return;
        };
        tokio::select! {
            _ = f => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// A [`ShutdownSignalWatch`] driven by a channel instead of Unix signals, so an embedding
/// program (the demo, a test) decides when the server stops.
pub struct ChannelShutdown(Mutex<Option<oneshot::Receiver<ShutdownSignal>>>);

#[async_trait]
impl ShutdownSignalWatch for ChannelShutdown {
    async fn recv(&self) -> ShutdownSignal {
        let rx = self.0.lock().ok().and_then(|mut g| g.take());
        match rx {
            Some(rx) => rx.await.unwrap_or(ShutdownSignal::FastShutdown),
            None => std::future::pending().await,
        }
    }
}

/// A gateway running on its own thread, stopped by [`RunningGateway::shutdown`] or drop.
pub struct RunningGateway {
    stop: Option<oneshot::Sender<ShutdownSignal>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningGateway {
    /// Runs `server` on a new thread until shut down.
    pub fn spawn(server: Server) -> std::io::Result<Self> {
        let (tx, rx) = oneshot::channel();
        let watch = ChannelShutdown(Mutex::new(Some(rx)));
        let thread = std::thread::Builder::new()
            .name("egov-gateway".into())
            .spawn(move || {
                server.run(RunArgs {
                    shutdown_signal: Box::new(watch),
                })
            })?;
        Ok(Self {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops serving at once and waits for the server's threads to end.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    /// Starts a graceful shutdown as SIGTERM's ends (connections are told to finish at once,
    /// the process ends after pingora's grace period, `server.graceful_shutdown_timeout`, and
    /// the runtimes' second): without SIGTERM's first `server.grace_period` of serving with
    /// `/readyz` at 503 ([`DrainFirst`]). It does not wait; drop waits for the end.
    pub fn begin_graceful_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(ShutdownSignal::GracefulTerminate);
        }
    }

    fn stop_now(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(ShutdownSignal::FastShutdown);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// How long pingora's runtimes wait for blocking work at the very end of a shutdown (async
/// tasks are dropped then: in-flight requests had pingora's grace period).
const RUNTIME_SHUTDOWN_SECONDS: u64 = 1;

/// Runs `server` on the current thread until SIGINT (fast), SIGTERM (graceful, see
/// [`DrainFirst`]) or SIGQUIT (graceful upgrade).
pub fn run_until_signalled(server: Server, app: &App, settings: &ServerSettings) {
    server.run(RunArgs {
        shutdown_signal: Box::new(DrainFirst {
            draining: Arc::clone(&app.draining),
            closing_connections: Arc::clone(&app.closing_connections),
            grace: settings.grace_period,
            upgrade_sock: settings.upgrade_sock.clone(),
        }),
    });
}

/// Unix signals, with SIGTERM's shutdown preceded by `server.grace_period` of serving as
/// before while `/readyz` answers 503: the time a load balancer takes to notice and stop
/// sending. Only then do the listeners stop taking connections (pingora stopped them at
/// once, so a balancer still sending met refused connections, and `/readyz` never said
/// 503: found when tried). SIGINT during that time still stops at once; SIGQUIT hands the
/// listeners over.
///
/// SIGQUIT is obeyed only while a new process waits on `server.upgrade_sock`: pingora stops
/// serving on SIGQUIT even when it could hand the listeners to no one (found in a probe: a
/// SIGQUIT sent after the new process had given up waiting, or after it had refused its
/// configuration, took the instance down, ports closed, while `/readyz` said ready). As
/// nginx's master keeps serving when the binary it started fails, the instance logs why
/// and serves on.
struct DrainFirst {
    draining: Arc<std::sync::atomic::AtomicBool>,
    closing_connections: Arc<std::sync::atomic::AtomicBool>,
    grace: std::time::Duration,
    upgrade_sock: std::path::PathBuf,
}

impl DrainFirst {
    /// SIGQUIT's upgrade, if a new process is there to take the listeners: from then on
    /// every answer closes its connection ([`crate::app::App::closing_connections`]), so the
    /// clients move to the new process before this one stops.
    fn upgrade(&self) -> Option<ShutdownSignal> {
        if upgrade_waiting(&self.upgrade_sock) {
            self.closing_connections
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Some(ShutdownSignal::GracefulUpgrade);
        }
        tracing::error!(
            upgrade_sock = %self.upgrade_sock.display(),
            "SIGQUIT ignored: no new process of this program and user waits on the upgrade socket to take the listeners (start `serve --upgrade` first and send SIGQUIT within 5 s; it may have refused its configuration); still serving"
        );
        None
    }
}

/// Whether another process of this program, run by this user, listens on the Unix socket
/// at `path` (read from `/proc`: connecting to ask would be taken by the new process as the
/// listeners' hand-over). Found in a bypass probe: any process listening there (a Python
/// one-liner on the default path in `/tmp`) was sent the listeners, and the instance went
/// down.
fn upgrade_waiting(path: &std::path::Path) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/unix") else {
        // Not Linux: pingora's own behaviour.
        return true;
    };
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let inodes: Vec<u64> = [path, absolute.as_path()]
        .into_iter()
        .flat_map(|p| listening_at(&table, p))
        .collect();
    inodes.into_iter().any(held_by_a_sibling)
}

/// The inodes of the listening sockets bound at `path` in `/proc/net/unix`'s `table`.
fn listening_at(table: &str, path: &std::path::Path) -> Vec<u64> {
    /// `__SO_ACCEPTCON`: the socket listens.
    const ACCEPTING: u32 = 0x0001_0000;
    let Some(path) = path.to_str() else {
        return Vec::new();
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields
                .get(3)
                .and_then(|f| u32::from_str_radix(f, 16).ok())
                .unwrap_or(0);
            let listening = fields.get(7) == Some(&path) && flags & ACCEPTING != 0;
            listening
                .then(|| fields.get(6).and_then(|i| i.parse().ok()))
                .flatten()
        })
        .collect()
}

/// Whether the socket `inode` is held by another process running this program's
/// executable (by file name: an upgrade may run a new file) as this process's user.
fn held_by_a_sibling(inode: u64) -> bool {
    let name_of = |exe: std::path::PathBuf| {
        exe.file_name().map(|n| {
            n.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_string()
        })
    };
    let Some(ours) = std::fs::read_link("/proc/self/exe").ok().and_then(name_of) else {
        return false;
    };
    let uid = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next().map(str::to_string))
    };
    let me = std::process::id().to_string();
    let Some(my_uid) = uid("self") else {
        return false;
    };
    let socket = format!("socket:[{inode}]");
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return false;
    };
    processes.flatten().any(|p| {
        let pid = p.file_name().to_string_lossy().to_string();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let same_program = std::fs::read_link(p.path().join("exe"))
            .ok()
            .and_then(name_of)
            .is_some_and(|n| n == ours);
        if !same_program || uid(&pid).as_ref() != Some(&my_uid) {
            return false;
        }
        std::fs::read_dir(p.path().join("fd")).is_ok_and(|fds| {
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|target| target.to_string_lossy() == socket)
            })
        })
    })
}

#[async_trait]
impl ShutdownSignalWatch for DrainFirst {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::signal;
        let (Ok(mut quit), Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot watch the shutdown signals; stopping");
            return ShutdownSignal::FastShutdown;
        };
        loop {
            tokio::select! {
                _ = quit.recv() => match self.upgrade() {
                    Some(upgrade) => return upgrade,
                    None => continue,
                },
                _ = int.recv() => return ShutdownSignal::FastShutdown,
                _ = term.recv() => break,
            }
        }
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.closing_connections
            .store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(grace = ?self.grace, "SIGTERM: /readyz says 503; serving on for the grace period");
        let grace = tokio::time::sleep(self.grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                () = &mut grace => return ShutdownSignal::GracefulTerminate,
                _ = int.recv() => return ShutdownSignal::FastShutdown,
                _ = quit.recv() => {
                    if let Some(upgrade) = self.upgrade() {
                        return upgrade;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_runtime_names_a_listening_address_its_own_way_and_all_mean_the_same_address() {
        for addr in [
            "127.0.0.1:8080",
            "[::1]:443",
            "[fe80::1%2]:8443",
            "0.0.0.0:80",
        ] {
            let addr: SocketAddr = addr.parse().expect("address");
            let keys: Vec<String> = (0..4).map(|i| listener_key(addr, i)).collect();
            assert_eq!(
                keys[0],
                addr.to_string(),
                "the first runtime's is the plain address"
            );
            for key in &keys {
                assert_eq!(key.parse::<SocketAddr>().ok(), Some(addr), "{key}");
            }
            let distinct: std::collections::HashSet<&String> = keys.iter().collect();
            assert_eq!(distinct.len(), keys.len(), "{keys:?}");
        }
    }

    #[test]
    fn only_a_listening_socket_at_the_upgrade_path_is_a_new_process_waiting() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path
00000000c260151d: 00000002 00000000 00010000 0001 01 11753142 /run/egov/upgrade.sock
00000000e197e8ec: 00000003 00000000 00000000 0001 03  1267 /run/egov/stale.sock
00000000c9441362: 00000003 00000000 00000000 0001 03  1268
";
        let at = |p: &str| listening_at(table, std::path::Path::new(p));
        assert_eq!(at("/run/egov/upgrade.sock"), [11753142]);
        assert!(
            at("/run/egov/stale.sock").is_empty(),
            "connected, not listening"
        );
        assert!(at("/run/egov/other.sock").is_empty());
        assert!(at("/run/egov/upgrade").is_empty());
    }

    /// Found in a bypass probe: any process listening on the upgrade socket was sent the
    /// listeners. One of another program (here: this process itself, which is never its
    /// own successor) is not a new gateway.
    #[test]
    fn a_socket_listened_on_by_no_other_process_of_this_program_is_no_upgrade() {
        let dir = std::env::temp_dir().join(format!("egov-upgrade-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let path = dir.join("upgrade.sock");
        let _ = std::fs::remove_file(&path);
        assert!(!upgrade_waiting(&path));
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let table = std::fs::read_to_string("/proc/net/unix").expect("/proc/net/unix");
        assert_eq!(listening_at(&table, &path).len(), 1, "seen listening");
        assert!(!upgrade_waiting(&path), "this process is not its successor");
        drop(listener);
        assert!(
            !upgrade_waiting(&path),
            "a socket file left behind is no process"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_sub_second_shutdown_delay_rounds_up_to_a_whole_second() {
        assert_eq!(whole_seconds_up(Duration::from_millis(500)), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds_up(Duration::from_secs(5)), 5);
        assert_eq!(whole_seconds_up(Duration::ZERO), 0);
    }
}
