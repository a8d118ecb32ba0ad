//! The estate's HTTP server: one listener for all 56 sites, dispatching on the
//! `Host` header then the longest base path, plus the two ways of running it —
//! [`serve`] inside the caller's runtime, and [`RunningEstate`] on a thread
//! with its own runtime, which works whether or not the caller is already
//! inside tokio (tests, the gateway's `demo`).

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Router;
use futures_util::FutureExt;
use serde_json::json;
use tokio::sync::oneshot;

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
    let estate = Arc::new(Estate::new(options));
    let app = Router::new().fallback(dispatch).with_state(estate);
    let shutdown = shutdown.shared();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone())
        .into_future();
    tokio::select! {
        result = server => result.map_err(EstateError::Serve),
        () = async move {
            shutdown.await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Ok(()),
    }
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
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningEstate {
    /// Binds `addr` (port 0 allowed), serves on its own thread with its own
    /// multi-thread tokio runtime (2 workers), returns once bound.
    ///
    /// Works from inside a tokio runtime as well as outside one.
    pub fn start(addr: SocketAddr, options: EstateOptions) -> Result<RunningEstate, EstateError> {
        let bind_error = |source| EstateError::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), EstateError>>();
        let thread = std::thread::Builder::new()
            .name("egov-estate".to_string())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("egov-estate-worker")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(EstateError::Runtime(error)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(source) => {
                            let _ = ready_tx.send(Err(EstateError::Bind { addr, source }));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let shutdown = async move {
                        // A dropped sender means the handle is gone: stop too.
                        let _ = stopped.await;
                    };
                    if let Err(error) = serve(listener, options, shutdown).await {
                        tracing::error!(%error, "estate server stopped");
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(EstateError::Thread)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(RunningEstate {
                addr: local,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err(EstateError::NotReady)
            }
        }
    }

    /// The address the estate listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server thread to end.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningEstate {
    fn drop(&mut self) {
        self.stop();
    }
}
