//! An HTTP/2 upload sent in tiny `DATA` frames, measured from outside.
//!
//!     cargo run --release -p egov-integration --example h2-small-frames -- \
//!         HOST:PORT PATH CONNECTIONS FRAME_BYTES SECONDS GATEWAY_PID
//!
//! CONNECTIONS h2c connections each `POST` PATH with a body that never ends, sent
//! FRAME_BYTES at a time (each piece its own `DATA` frame, flow control respected), and
//! reconnect when the gateway closes theirs. Prints the frames and bytes sent, the
//! connections made and the gateway's CPU (utime + stime of GATEWAY_PID over the run): what
//! a byte of the sender's costs the gateway, for 1-byte frames against 16 KiB ones.

use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Sent {
    frames: AtomicU64,
    bytes: AtomicU64,
    connections: AtomicU64,
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime, in clock ticks (100 a second on Linux).
    (ticks(11) + ticks(12)) / 100.0
}

async fn upload(addr: String, path: String, piece: usize, until: Instant, sent: Arc<Sent>) {
    let chunk = Bytes::from(vec![b'x'; piece]);
    while Instant::now() < until {
        let Ok(tcp) = tokio::net::TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        sent.connections.fetch_add(1, Ordering::Relaxed);
        let Ok((client, connection)) = h2::client::handshake(tcp).await else {
            continue;
        };
        tokio::spawn(connection);
        let request = http::Request::post(format!("http://{addr}{path}"))
            .body(())
            .expect("request");
        let Ok(mut client) = client.ready().await else {
            continue;
        };
        let Ok((_answer, mut body)) = client.send_request(request, false) else {
            continue;
        };
        while Instant::now() < until {
            body.reserve_capacity(piece);
            let capacity = std::future::poll_fn(|cx| body.poll_capacity(cx)).await;
            match capacity {
                Some(Ok(n)) if n >= piece => {}
                Some(Ok(_)) => continue,
                _ => break,
            }
            if body.send_data(chunk.clone(), false).is_err() {
                break;
            }
            sent.frames.fetch_add(1, Ordering::Relaxed);
            sent.bytes.fetch_add(piece as u64, Ordering::Relaxed);
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, path, connections, piece, seconds, pid] = &args[..] else {
        eprintln!(
            "usage: h2-small-frames HOST:PORT PATH CONNECTIONS FRAME_BYTES SECONDS GATEWAY_PID"
        );
        std::process::exit(2);
    };
    let parse = |v: &str| v.parse::<u64>().expect("a number");
    let (connections, piece, seconds) = (parse(connections), parse(piece), parse(seconds));
    let pid = parse(pid) as u32;
    let sent = Arc::new(Sent::default());
    let until = Instant::now() + Duration::from_secs(seconds);
    let before = cpu_seconds(pid);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(upload(
                addr.clone(),
                path.clone(),
                piece as usize,
                until,
                Arc::clone(&sent),
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - before;
    let frames = sent.frames.load(Ordering::Relaxed);
    let bytes = sent.bytes.load(Ordering::Relaxed);
    println!(
        "frame_bytes={piece} secs={elapsed:.1} frames={frames} bytes={bytes} connections={} \
         gateway_cpu={cpu:.2}s ({:.2} cores) gateway_us_per_kb={:.1}",
        sent.connections.load(Ordering::Relaxed),
        cpu / elapsed,
        if bytes > 0 {
            cpu * 1e6 / (bytes as f64 / 1024.0)
        } else {
            0.0
        },
    );
}
