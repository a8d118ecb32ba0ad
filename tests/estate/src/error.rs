//! The estate's error type: everything that can go wrong while starting or
//! running the server (binding, building the runtime, serving), kept in one
//! `thiserror` enum so callers (the gateway's `demo`, the tests) can report it.

use std::io;

/// Why the estate could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum EstateError {
    /// The estate's listener, runtime or thread could not be started.
    #[error("cannot start the estate: {0}")]
    Start(#[from] egov_background_server::BackgroundError),
    /// Accepting or serving connections failed.
    #[error("the estate server failed: {0}")]
    Serve(#[source] io::Error),
}
