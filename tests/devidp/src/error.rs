//! The dev IdP's start-up errors, in one `thiserror` enum so the gateway's `demo` and the
//! tests can say precisely why it did not start (refused address, bad configuration, port
//! taken). Errors answered to HTTP clients are protocol errors and live with their endpoints.

use std::io;
use std::net::SocketAddr;

/// Why the dev IdP could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevIdpError {
    /// The address is not loopback: the dev IdP must never be reachable from a network.
    #[error("the dev IdP only binds loopback addresses (127.0.0.0/8, ::1), not {addr}: it lets anyone log in as anyone")]
    NotLoopback {
        /// The refused address.
        addr: SocketAddr,
    },
    /// A configuration value is invalid.
    #[error("dev IdP configuration: {field}: {reason}")]
    InvalidConfig {
        /// The offending field, e.g. `clients[0].redirect_uris`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot bind the dev IdP to {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The underlying socket error.
        source: io::Error,
    },
    /// The HTTP client used for back-channel logout could not be built.
    #[error("cannot build the dev IdP's HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The dev IdP's own tokio runtime could not be built.
    #[error("cannot build the dev IdP runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The server thread could not be spawned.
    #[error("cannot spawn the dev IdP thread: {0}")]
    Thread(#[source] io::Error),
    /// The server thread ended before reporting that it was ready.
    #[error("the dev IdP thread stopped before it was ready")]
    NotReady,
}

impl From<egov_background_server::BackgroundError> for DevIdpError {
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
