//! The two listeners beside the portal: admin (health, readiness, status, and the
//! ministries' API under `/api/v1`, see [`crate::admin`]) and metrics (Prometheus). Each is a small axum app served as a pingora
//! background service on a listener bound before start-up.

use crate::admin::Admin;
use crate::app::App;
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
        }
    }

    fn router(&self) -> Router {
        match self.role {
            SideRole::Admin => {
                let live = Arc::clone(&self.live);
                let sso = Arc::clone(&self.sso);
                let board = Arc::clone(&self.telemetry);
                Router::new()
                    .route("/healthz", get(|| async { "ok\n" }))
                    .route(
                        "/readyz",
                        get(move || {
                            let n = live.snapshot().services().len();
                            let broken = live.broken();
                            let sso = Arc::clone(&sso);
                            async move {
                                // Ready: a registry is loaded and the session store answers.
                                // Services that cannot be served as written are reported, not
                                // a reason to take the instance out (their last good version
                                // serves).
                                let mut text = match sso.store().ping().await {
                                    Ok(()) => format!("ready: {n} services, session store up\n"),
                                    Err(e) => {
                                        return (
                                            http::StatusCode::SERVICE_UNAVAILABLE,
                                            format!("not ready: {e}\n"),
                                        )
                                    }
                                };
                                for b in &broken {
                                    text.push_str(&format!("registry: {b}\n"));
                                }
                                (http::StatusCode::OK, text)
                            }
                        }),
                    )
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
                            async move { axum::Json(serde_json::json!({ "services": services })) }
                        }),
                    )
                    .merge(crate::admin::router(Arc::clone(&self.admin)))
            }
            SideRole::Metrics => {
                let metrics = Arc::clone(&self.metrics);
                Router::new().route(
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
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(role = self.role.name(), error = %e, "side listener failed");
        }
    }
}
