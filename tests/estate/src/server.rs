//! The estate's HTTP server: one listener for all 56 sites, dispatching on the
//! `Host` header then the longest base path, plus the two ways of running it —
//! [`serve`] inside the caller's runtime, and [`RunningEstate`] on a thread
//! with its own runtime, which works whether or not the caller is already
//! inside tokio (tests, the gateway's `demo`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Router;
use egov_background_server::{serve_until, BackgroundServer};
use serde_json::json;

use crate::error::EstateError;
use crate::options::EstateOptions;
use crate::respond;
use crate::routes::{site_request, Estate};
use crate::sites::{normalise_host, route, sites};

/// How long in-flight requests may finish after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serves the estate on `listener` until `shutdown` completes.
///
/// After `shutdown`, in-flight requests get a short grace period; requests
/// still running after it (a long `big` page, a websocket) are dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: EstateOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EstateError> {
    serve_until(listener, router(options), shutdown, SHUTDOWN_GRACE)
        .await
        .map_err(EstateError::Serve)
}

/// Every site behind one router.
fn router(options: EstateOptions) -> Router {
    Router::new()
        .fallback(dispatch)
        .with_state(Arc::new(Estate::new(options)))
}

/// Picks the site for a request, or answers for the estate itself.
async fn dispatch(State(estate): State<Arc<Estate>>, request: Request) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let path = request.uri().path();
    tracing::debug!(host = %host, method = %request.method(), path = %path, "estate request");
    match route(&host, path) {
        Some(index) => site_request(estate, index, request).await,
        None if path == "/__estate/sites" => site_list(),
        None => {
            let name = normalise_host(&host);
            let message = if sites().iter().any(|s| s.host == name) {
                format!("no legacy site for host {name} and path {path}\n")
            } else {
                format!("no legacy site for host {name}\n")
            };
            respond::text(StatusCode::NOT_FOUND, message)
        }
    }
}

/// `GET /__estate/sites`: the catalog as JSON.
fn site_list() -> Response {
    let list: Vec<_> = sites()
        .iter()
        .map(|s| json!({ "id": s.id, "host": s.host, "path": s.path, "quirks": s.quirks }))
        .collect();
    respond::json(StatusCode::OK, &serde_json::Value::Array(list))
}

/// An estate serving on its own thread and runtime; shut down on drop.
#[derive(Debug)]
pub struct RunningEstate {
    server: BackgroundServer,
}

impl RunningEstate {
    /// Binds `addr` (port 0 allowed), serves on its own thread with its own
    /// multi-thread tokio runtime (2 workers), returns once bound.
    ///
    /// Works from inside a tokio runtime as well as outside one.
    pub fn start(addr: SocketAddr, options: EstateOptions) -> Result<RunningEstate, EstateError> {
        let listener = egov_background_server::bind(addr)?;
        let server =
            BackgroundServer::spawn("egov-estate", listener, router(options), SHUTDOWN_GRACE)?;
        Ok(RunningEstate { server })
    }

    /// The address the estate listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Stops serving and waits for the server thread to end.
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}
