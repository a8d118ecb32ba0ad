//! The estate's error type: everything that can go wrong while starting or
//! running the server (binding, building the runtime, serving), kept in one
//! `thiserror` enum so callers (the gateway's `demo`, the tests) can report it.

use std::io;
use std::net::SocketAddr;

/// Why the estate could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum EstateError {
    /// The listening socket could not be bound.
    #[error("cannot bind the estate to {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The underlying socket error.
        source: io::Error,
    },
    /// The estate's own tokio runtime could not be built.
    #[error("cannot build the estate runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The estate's server thread could not be spawned.
    #[error("cannot spawn the estate thread: {0}")]
    Thread(#[source] io::Error),
    /// The server thread ended before reporting that it was ready.
    #[error("the estate thread stopped before it was ready")]
    NotReady,
    /// Accepting or serving connections failed.
    #[error("the estate server failed: {0}")]
    Serve(#[source] io::Error),
}

impl From<egov_background_server::BackgroundError> for EstateError {
    fn from(error: egov_background_server::BackgroundError) -> Self {
        use egov_background_server::BackgroundError as B;
        match error {
            B::Bind { addr, source } => Self::Bind { addr, source },
            B::Runtime(e) => Self::Runtime(e),
            B::Thread(e) => Self::Thread(e),
            B::NotReady => Self::NotReady,
        }
    }
}
