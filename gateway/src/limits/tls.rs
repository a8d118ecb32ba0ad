//! TLS handshakes under the connection caps and the header deadline.
//!
//! pingora handshakes a TLS connection before it hands the connection to the application,
//! and gives the handshake a fixed minute. So a connection still in its handshake held no
//! slot under the connection caps: one address opening connections to a TLS listener and
//! sending nothing held a descriptor each for a minute, as many as it liked, which is what
//! the caps are there to prevent (every service, the health checks and `/metrics` fail when
//! the process runs out of descriptors).
//!
//! The portal's TLS listeners are therefore plain TCP listeners to pingora: [`TlsPorts`]
//! knows which of them speak TLS, and the admission, which takes the connection's slot
//! first, runs the handshake ([`handshake`]) within `limits.header_timeout` (nginx's
//! `ssl_handshake_timeout`, shorter). The handshake is pingora's own (`Acceptor`), so ALPN
//! and the TLS digest a request sees are as before.

use pingora::listeners::tls::Acceptor;
use pingora::protocols::l4::stream::Stream as TcpStream;
use pingora::protocols::Stream;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Why a connection's TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("no TLS handshake within {0:?} (limits.header_timeout)")]
    TimedOut(Duration),
    #[error("TLS handshake failed: {0}")]
    Failed(String),
    /// Never for a connection a TCP listener accepted.
    #[error("the connection is not a TCP stream, so it cannot be handshaken here")]
    NotTcp,
}

/// The portal's TLS listeners: their addresses and how each handshakes.
#[derive(Default)]
pub struct TlsPorts {
    ports: Vec<(SocketAddr, Arc<Acceptor>)>,
}

impl TlsPorts {
    /// Listener `listen` speaks TLS, with `acceptor`'s certificate and ALPN.
    pub fn add(&mut self, listen: SocketAddr, acceptor: Acceptor) {
        self.ports.push((listen, Arc::new(acceptor)));
    }

    /// The acceptor of the listener `stream` was accepted on, if that listener speaks TLS:
    /// by the connection's local address (a listener on an unspecified address, by port).
    pub fn acceptor_for(&self, stream: &Stream) -> Option<Arc<Acceptor>> {
        if self.ports.is_empty() {
            return None;
        }
        let digest = stream.get_socket_digest()?;
        let local = digest.local_addr()?.as_inet()?;
        self.ports
            .iter()
            .find(|(listen, _)| {
                listen.port() == local.port()
                    && (listen.ip() == local.ip() || listen.ip().is_unspecified())
            })
            .map(|(_, acceptor)| Arc::clone(acceptor))
    }
}

/// Handshakes `stream`, accepted by a TCP listener, as `acceptor` says, within `within`:
/// the TLS stream pingora would have made.
pub async fn handshake(
    acceptor: &Acceptor,
    stream: Stream,
    within: Duration,
) -> Result<Stream, HandshakeError> {
    let tcp = stream
        .into_any()
        .downcast::<TcpStream>()
        .map_err(|_| HandshakeError::NotTcp)?;
    match tokio::time::timeout(within, acceptor.tls_handshake(*tcp)).await {
        Ok(Ok(tls)) => Ok(Box::new(tls)),
        Ok(Err(e)) => Err(HandshakeError::Failed(e.to_string())),
        Err(_) => Err(HandshakeError::TimedOut(within)),
    }
}
