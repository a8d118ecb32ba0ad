//! One axum router served on its own thread with its own tokio runtime.
//!
//! The simulated estate and the development identity provider are both started by tests and
//! by the gateway's `demo`, sometimes from inside a tokio runtime and sometimes from plain
//! `main`. A [`BackgroundServer`] works from either: it owns a thread and a two-worker runtime,
//! returns only once the socket is bound (so the caller can connect at once, even to port 0),
//! and on shutdown or drop gives in-flight requests a grace period before dropping them.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use futures_util::FutureExt;
use tokio::sync::oneshot;

/// Why a background server did not start.
#[derive(Debug, thiserror::Error)]
pub enum BackgroundError {
    /// The listening socket could not be bound or configured.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The underlying socket error.
        source: io::Error,
    },
    /// The server's own tokio runtime could not be built.
    #[error("cannot build the server runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The server thread could not be spawned.
    #[error("cannot spawn the server thread: {0}")]
    Thread(#[source] io::Error),
    /// The server thread ended before reporting that it was ready.
    #[error("the server thread stopped before it was ready")]
    NotReady,
}

/// A bound, non-blocking listener and the address it really got.
#[derive(Debug)]
pub struct BoundListener {
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl BoundListener {
    /// The bound address (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Binds `addr` (port 0 allowed), ready for [`BackgroundServer::spawn`]. Binding first lets a
/// caller learn the real port (e.g. to build an issuer URL) before it builds its router.
pub fn bind(addr: SocketAddr) -> Result<BoundListener, BackgroundError> {
    let bind_error = |source| BackgroundError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok(BoundListener { listener, addr })
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests run
/// for at most `grace` (a long page or a websocket would otherwise hold shutdown forever).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let shutdown = shutdown.shared();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.clone())
        .into_future();
    tokio::select! {
        result = server => result,
        () = async move {
            shutdown.await;
            tokio::time::sleep(grace).await;
        } => Ok(()),
    }
}

/// A router serving on its own thread and runtime; stopped by [`BackgroundServer::shutdown`]
/// or on drop, which wait for the thread to end.
#[derive(Debug)]
pub struct BackgroundServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    /// Serves `router` on `bound` (from [`bind`]) on a thread called `name`, and returns
    /// once the runtime has taken the socket over.
    pub fn spawn(
        name: &str,
        bound: BoundListener,
        router: Router,
        grace: Duration,
    ) -> Result<Self, BackgroundError> {
        let BoundListener { listener, addr } = bound;
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), BackgroundError>>();
        let thread_name = name.to_string();
        let worker_name = format!("{name}-worker");
        let thread = std::thread::Builder::new()
            .name(thread_name.clone())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(worker_name)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(BackgroundError::Runtime(error)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(source) => {
                            let _ = ready_tx.send(Err(BackgroundError::Bind { addr, source }));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    // A dropped sender means the handle is gone: stop too.
                    let shutdown = async move {
                        let _ = stopped.await;
                    };
                    if let Err(error) = serve_until(listener, router, shutdown, grace).await {
                        tracing::error!(server = %thread_name, %error, "server stopped");
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(BackgroundError::Thread)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                addr,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err(BackgroundError::NotReady)
            }
        }
    }

    /// The bound address (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the thread to end.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    fn hello() -> Router {
        Router::new().route("/", get(|| async { "hello" }))
    }

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[test]
    fn serves_on_the_real_port_when_started_outside_a_runtime() {
        let server = BackgroundServer::spawn(
            "bg-test",
            bind(loopback()).expect("bind"),
            hello(),
            Duration::from_millis(100),
        )
        .expect("started");
        assert_ne!(server.addr().port(), 0);
        let body = tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(async {
                reqwest::get(format!("http://{}/", server.addr()))
                    .await
                    .expect("request")
                    .text()
                    .await
                    .expect("body")
            });
        assert_eq!(body, "hello");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn can_be_started_and_dropped_from_inside_a_runtime() {
        let server = BackgroundServer::spawn(
            "bg-test",
            bind(loopback()).expect("bind"),
            hello(),
            Duration::from_millis(100),
        )
        .expect("started");
        let url = format!("http://{}/", server.addr());
        let body = reqwest::get(&url)
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        assert_eq!(body, "hello");
        tokio::task::block_in_place(|| server.shutdown());
        assert!(
            reqwest::get(&url).await.is_err(),
            "the port must be closed after shutdown"
        );
    }

    #[test]
    fn a_taken_port_is_a_bind_error_naming_the_address() {
        let first = bind(loopback()).expect("bind");
        let taken = first.addr();
        let error = bind(taken).expect_err("the port is taken");
        assert!(matches!(error, BackgroundError::Bind { addr, .. } if addr == taken));
        assert!(error.to_string().contains(&taken.to_string()), "{error}");
    }
}
