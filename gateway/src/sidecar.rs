//! The two listeners beside the portal: admin (health, readiness, status, and the
//! ministries' API under `/api/v1`, see [`crate::admin`]) and metrics (Prometheus, and
//! health and readiness again for the orchestrator's probes). Each is a small axum app served as a pingora
//! background service on a listener bound before start-up.

use crate::admin::Admin;
use crate::app::App;
use crate::limits::connections::ConnectionSlots;
use crate::registry::LiveRegistry;
use crate::sso::Sso;
use crate::telemetry::{Metrics, Telemetry};
use async_trait::async_trait;
use axum::routing::get;
use axum::Router;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Which side listener this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideRole {
    Admin,
    Metrics,
}

impl SideRole {
    pub fn name(self) -> &'static str {
        match self {
            SideRole::Admin => "admin",
            SideRole::Metrics => "metrics",
        }
    }
}

/// A side listener waiting to be started by pingora.
pub struct SideListener {
    listener: Mutex<Option<TcpListener>>,
    role: SideRole,
    live: Arc<LiveRegistry>,
    admin: Arc<Admin>,
    metrics: Arc<Metrics>,
    telemetry: Arc<Telemetry>,
    sso: Arc<Sso>,
    /// Set once shutdown has begun ([`App::draining`]): readiness fails so load balancers
    /// stop sending.
    draining: Arc<std::sync::atomic::AtomicBool>,
}

/// What `/readyz` answers: not ready only when this instance cannot serve its traffic (it is
/// draining). A shared store that does not answer degrades logins and citizen services (they
/// answer 503) but public services still work, so it is reported (here, on `/status` and in
/// `egov_sso_session_store_up`) rather than taking every instance out of the load balancer at
/// once.
pub fn readiness(
    draining: bool,
    services: usize,
    store: Result<(), String>,
    broken: &[String],
) -> (http::StatusCode, String) {
    if draining {
        return (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "not ready: shutting down (draining)\n".to_string(),
        );
    }
    let mut text = match store {
        Ok(()) => format!("ready: {services} services, session store up\n"),
        Err(e) => format!(
            "ready (degraded): {services} services; session store failing ({e}): logins and \
             citizen services answer 503, public services serve\n"
        ),
    };
    for b in broken {
        text.push_str(&format!("registry: {b}\n"));
    }
    (http::StatusCode::OK, text)
}

impl SideListener {
    pub fn new(listener: TcpListener, role: SideRole, app: &App) -> Self {
        Self {
            listener: Mutex::new(Some(listener)),
            role,
            live: Arc::clone(&app.live),
            admin: Arc::clone(&app.admin),
            metrics: Arc::clone(&app.telemetry.metrics),
            telemetry: Arc::clone(&app.telemetry),
            sso: Arc::clone(&app.sso),
            draining: Arc::clone(&app.draining),
        }
    }

    /// `/healthz` and `/readyz`, on both listeners: like Kong's `status_listen` beside its
    /// admin API, the orchestrator's probes can ask the metrics listener, which ministries
    /// do not reach, so that a flood of the admin listener (its connection caps full) does
    /// not have every instance restarted or taken out of the load balancer.
    fn probes(&self) -> Router {
        let live = Arc::clone(&self.live);
        let sso = Arc::clone(&self.sso);
        let draining = Arc::clone(&self.draining);
        let store_up = Arc::clone(&self.metrics);
        Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route(
                "/readyz",
                get(move || {
                    let n = live.snapshot().services().len();
                    let broken = live.broken();
                    let sso = Arc::clone(&sso);
                    let draining = draining.load(std::sync::atomic::Ordering::Relaxed);
                    async move {
                        // Services that cannot be served as written are reported, not a
                        // reason to take the instance out (their last good version serves).
                        let store = sso.store_health().await;
                        // Every probe refreshes the gauge SREs alert on.
                        store_up.session_store_up.set(i64::from(store.is_ok()));
                        readiness(draining, n, store, &broken)
                    }
                }),
            )
    }

    fn router(&self) -> Router {
        match self.role {
            SideRole::Admin => {
                let board = Arc::clone(&self.telemetry);
                let status_sso = Arc::clone(&self.sso);
                self.probes()
                    .route(
                        "/status",
                        get(|| async {
                            (
                                [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                                crate::telemetry::status::PAGE,
                            )
                        }),
                    )
                    .route(
                        "/status.json",
                        get(move || {
                            let services = board.status.snapshot();
                            let sso = Arc::clone(&status_sso);
                            async move {
                                let store = match sso.store().ping().await {
                                    Err(e) => format!("unreachable: {e}"),
                                    Ok(()) => match sso.store_health().await {
                                        Ok(()) => "up".to_string(),
                                        Err(e) => format!("failing: {e}"),
                                    },
                                };
                                axum::Json(serde_json::json!({
                                    "services": services,
                                    "session_store": store,
                                }))
                            }
                        }),
                    )
                    .merge(crate::admin::router(Arc::clone(&self.admin)))
            }
            SideRole::Metrics => {
                let metrics = Arc::clone(&self.metrics);
                self.probes().route(
                    "/metrics",
                    get(move || {
                        let text = metrics.render();
                        async move {
                            (
                                [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                                text,
                            )
                        }
                    }),
                )
            }
        }
    }
}

#[async_trait]
impl BackgroundService for SideListener {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(std_listener) = self.listener.lock().ok().and_then(|mut l| l.take()) else {
            return;
        };
        let listener = match tokio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(role = self.role.name(), error = %e, "cannot use listener");
                return;
            }
        };
        let app = self.router();
        let draining = Arc::clone(&self.draining);
        let stop = async move {
            let _ = shutdown.changed().await;
            draining.store(true, std::sync::atomic::Ordering::Relaxed);
        };
        serve_guarded(listener, app, stop, self.role).await;
    }
}

/// Connections a side listener holds at once. Beyond them, new ones are closed at once:
/// the process's file descriptors stay the portal's.
const MAX_CONNECTIONS: usize = 256;

/// How long a connection may take to send a request's head, idle time before it included.
/// A client that opens connections and sends half a header (or nothing) loses them then.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connections one address (an IPv6 /64) may hold on a side listener: a few hundred from
/// one client would otherwise take every slot, and with them the orchestrator's health
/// checks.
const MAX_PER_ADDRESS: usize = 32;

/// How long a connection lives at most, whatever it does: a body sent a byte at a time, or
/// an answer never read, holds a slot no longer than this (and [`DRAIN`] to finish the
/// request it is in). Admin calls and scrapes take milliseconds; a client whose
/// connection ends opens another.
const CONNECTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a connection past its lifetime, or a listener stopping, waits for the request
/// in progress.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves `app` (HTTP/1.1) on `listener` until `stop` resolves, with what `axum::serve`
/// leaves out: a deadline on each request's head ([`HEADER_TIMEOUT`]), a lifetime for each
/// connection ([`CONNECTION_LIFETIME`]) and bounds on the connections held, in all
/// ([`MAX_CONNECTIONS`]) and per address ([`MAX_PER_ADDRESS`]). Found when tried: 20,000 connections sending a
/// partial header to the admin and metrics listeners were held for good and took every file
/// descriptor of the process, and with them the portal.
async fn serve_guarded(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()>,
    role: SideRole,
) {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let slots = ConnectionSlots::new(MAX_CONNECTIONS, MAX_PER_ADDRESS);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    // Every connection hears the listener's stop, to finish its request and close.
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let mut running = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or the peer gone before the accept: wait a moment.
                    tracing::warn!(role = role.name(), error = %e, "side listener: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let slot = match slots.take(Some(peer.ip()), false) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::debug!(role = role.name(), client = %peer.ip(), ?why, "side listener: connection refused");
                drop(stream);
                continue;
            }
        };
        // The peer's address for the admin throttle, put on each request: one router for
        // every connection.
        let service = TowerToHyperService::new(tower::util::MapRequest::new(
            app.clone(),
            move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            },
        ));
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut stopped = stopped.clone();
        running.spawn(async move {
            tokio::pin!(connection);
            // At its lifetime's end, or the listener's, a connection finishes the request it
            // is in (an admin change is never cut between its store and its audit line),
            // takes no other, and is closed if it still runs a grace period later.
            let ended = tokio::select! {
                r = connection.as_mut() => Some(r),
                () = tokio::time::sleep(CONNECTION_LIFETIME) => None,
                _ = stopped.wait_for(|s| *s) => None,
            };
            let ended = match ended {
                Some(r) => r,
                None => {
                    connection.as_mut().graceful_shutdown();
                    match tokio::time::timeout(DRAIN, connection.as_mut()).await {
                        Ok(r) => r,
                        Err(_) => {
                            tracing::debug!("side listener connection closed past its lifetime");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "side listener connection ended");
            }
            drop(slot);
        });
        // Finished connections' tasks are collected as others start.
        while running.try_join_next().is_some() {}
    }
    let _ = stopping.send(true);
    if tokio::time::timeout(DRAIN * 2, async {
        while running.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!(
            role = role.name(),
            "side listener: requests still running at shutdown"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::readiness;
    use http::StatusCode;

    #[test]
    fn an_instance_whose_session_store_is_down_stays_ready_and_says_it_is_degraded() {
        let (status, text) = readiness(false, 56, Err("connection refused".into()), &[]);
        assert_eq!(status, StatusCode::OK);
        assert!(text.starts_with("ready (degraded): 56 services"), "{text}");
        assert!(text.contains("connection refused"), "{text}");
    }

    #[test]
    fn a_draining_instance_is_not_ready() {
        let (status, text) = readiness(true, 56, Ok(()), &[]);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(text.contains("draining"), "{text}");
    }

    #[test]
    fn a_healthy_instance_is_ready_and_reports_broken_services() {
        let (status, text) = readiness(false, 3, Ok(()), &["x.toml: unreadable".to_string()]);
        assert_eq!(status, StatusCode::OK);
        assert!(
            text.contains("ready: 3 services, session store up"),
            "{text}"
        );
        assert!(text.contains("registry: x.toml: unreadable"), "{text}");
    }
}
