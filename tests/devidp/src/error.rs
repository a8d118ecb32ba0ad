//! The dev IdP's start-up errors, in one `thiserror` enum so the gateway's `demo` and the
//! tests can say precisely why it did not start (refused address, bad configuration, port
//! taken). Errors answered to HTTP clients are protocol errors and live with their endpoints.

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
    /// The dev IdP's listener, runtime or thread could not be started.
    #[error("cannot start the dev IdP: {0}")]
    Start(#[from] egov_background_server::BackgroundError),
    /// The HTTP client used for back-channel logout could not be built.
    #[error("cannot build the dev IdP's HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}
