//! Free loopback ports without races.
//!
//! Pingora binds its listeners itself, from an address. To give it a free port we bind a
//! socket to port 0 with `SO_REUSEPORT` *without listening*: it holds the port (nobody
//! else can take it) yet receives no connections, and pingora, also binding with
//! `SO_REUSEPORT`, can share it. Hold the [`Reservation`] until the server is up.

use socket2::{Domain, Socket, Type};
use std::net::SocketAddr;

/// A held, non-listening port.
pub struct Reservation {
    _socket: Socket,
    pub addr: SocketAddr,
}

/// Reserves a free port on 127.0.0.1.
pub fn reserve() -> Reservation {
    reserve_on("127.0.0.1:0")
}

/// Reserves a free port on `ip`, a loopback address: `"[::ffff:127.0.0.1]:0"` is a socket
/// of both families, to which IPv4 clients connect as `::ffff:127.0.0.1` (what a listener on
/// `[::]` sees of them), without listening beyond the machine.
pub fn reserve_on(any_port: &str) -> Reservation {
    let any: SocketAddr = any_port.parse().expect("addr");
    let socket = Socket::new(Domain::for_address(any), Type::STREAM, None).expect("socket");
    socket.set_reuse_port(true).expect("SO_REUSEPORT");
    if any.is_ipv6() {
        // Both families whatever the machine's default (`net.ipv6.bindv6only`).
        socket.set_only_v6(false).expect("IPV6_V6ONLY off");
    }
    socket
        .bind(&any.into())
        .unwrap_or_else(|e| panic!("bind {any}: {e}"));
    let addr = socket
        .local_addr()
        .expect("local addr")
        .as_socket()
        .expect("inet addr");
    Reservation {
        _socket: socket,
        addr,
    }
}

/// A port on 127.0.0.1 where nothing listens (for "backend is down" tests). The socket is
/// kept bound, so no other test can start listening there.
pub fn closed_port() -> Reservation {
    reserve()
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_listening(addr: SocketAddr) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200))
            .is_ok()
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("nothing listens on {addr} after 20 s");
}
