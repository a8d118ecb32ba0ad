//! The framework's floor: a pingora 0.9 proxy with one fixed peer and no features, to
//! measure how much the gateway adds on top of pingora itself. It runs on the gateway's
//! allocator (mimalloc), so the comparison is of the work, not of the allocators. With
//! `gateway-settings` it also takes the gateway's per-request timeouts, connection buffers
//! and threading (a runtime and a `SO_REUSEPORT` listening socket per thread, as the
//! gateway's `server.thread_per_core`).
//!
//! ```text
//! cargo run --release -p egov-integration --example bare-pingora -- 127.0.0.1:8181 127.0.0.1:9400 www.cnie.ma 2 gateway-settings
//! curl -H 'Host: www.cnie.ma' http://127.0.0.1:8181/cnie-first-application/__estate/blob
//! ```

use async_trait::async_trait;
use pingora::listeners::ListenerConfig;
use pingora::prelude::*;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    peer: std::net::SocketAddr,
    host: String,
    /// Per-request connect/read/write timeouts, as the gateway sets them for every service.
    timeouts: bool,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();
    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _s: &mut Session, _c: &mut ()) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.peer, false, self.host.clone());
        if self.timeouts {
            let t = std::time::Duration::from_secs(10);
            peer.options.connection_timeout = Some(std::time::Duration::from_secs(2));
            peer.options.total_connection_timeout = Some(std::time::Duration::from_secs(2));
            peer.options.read_timeout = Some(t);
            peer.options.write_timeout = Some(t);
            peer.options.idle_timeout = Some(std::time::Duration::from_secs(60));
        }
        Ok(Box::new(peer))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(peer), Some(host)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: bare-pingora LISTEN PEER HOST [THREADS] [gateway-settings]");
        std::process::exit(2);
    };
    let threads = args.get(4).and_then(|t| t.parse().ok()).unwrap_or(1);
    // The gateway's settings: its per-request timeouts and its citizen-connection buffers
    // (no 64 KiB read buffer per connection).
    let gateway_settings = args.get(5).is_some_and(|a| a == "gateway-settings");
    let Ok(peer) = peer.parse() else {
        eprintln!("PEER must be IP:port");
        std::process::exit(2);
    };
    let conf = ServerConf {
        threads,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    // The gateway's `thread_per_core`: one single-threaded service per thread, each with its
    // own socket (pingora keys sockets by address text, hence the port's leading zeros).
    let runtimes = if gateway_settings { threads } else { 1 };
    for index in 0..runtimes {
        let mut proxy = pingora::proxy::http_proxy_service(
            &server.configuration,
            Bare {
                peer,
                host: host.clone(),
                timeouts: gateway_settings,
            },
        );
        let (ip, port) = listen.rsplit_once(':').unwrap_or((listen.as_str(), ""));
        let mut listener = ListenerConfig::tcp(format!("{ip}:{}{port}", "0".repeat(index)));
        if gateway_settings {
            let mut options = pingora::listeners::TcpSocketOptions::default();
            options.so_reuseport = (runtimes > 1).then_some(true);
            listener = listener
                .l4_buffer(L4BufferSettings {
                    read: Some(0),
                    write: None,
                })
                .tcp_socket_options(options);
            proxy.threads = Some(1);
        }
        proxy.add_listener(listener);
        server.add_service(proxy);
    }
    server.run_forever();
}
