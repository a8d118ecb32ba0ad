//! Floods: slow clients, too many connections, too many requests. Each has a defined,
//! polite refusal and leaves the portal answering everyone else.

use egov_integration::raw_http;
use egov_integration::{start_estate, TestGateway};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads until the peer closes or `patience` passes; what was read, and whether it closed.
fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> (Vec<u8>, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while start.elapsed() < patience {
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

fn metrics(gw: &TestGateway) -> String {
    raw_http::get(gw.metrics, "/metrics", "").text()
}

#[test]
fn a_slowloris_header_is_cut_off_at_the_header_deadline_while_others_are_served() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.header_timeout = Duration::from_secs(1);
    });
    let mut slow = TcpStream::connect(gw.addr).expect("connect");
    slow.write_all(format!("GET /s/cnie-renewal/ HTTP/1.1\r\nHost: {}\r\n", gw.addr).as_bytes())
        .expect("start");
    let start = Instant::now();
    let mut closed = false;
    // One header line every 300 ms: each read is quick, the header never ends.
    while start.elapsed() < Duration::from_secs(8) {
        if slow.write_all(b"X-Slow: 1\r\n").is_err() {
            closed = true;
            break;
        }
        let (_, gone) = read_until_closed(&mut slow, Duration::from_millis(300));
        if gone {
            closed = true;
            break;
        }
        assert_eq!(
            raw_http::get(gw.addr, "/s/cnie-renewal/", "").status,
            200,
            "a slow client does not slow anyone else"
        );
    }
    assert!(closed, "the slow header was still accepted after 8 s");
    assert!(metrics(&gw).contains("egov_request_header_timeouts_total 1"));
}

#[test]
fn a_connection_that_never_sends_a_byte_is_closed_at_the_header_deadline() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.header_timeout = Duration::from_secs(1);
    });
    let mut idle = TcpStream::connect(gw.addr).expect("connect");
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(6));
    assert!(closed);
}

#[test]
fn one_address_over_its_connection_share_gets_a_429_and_close() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.max_connections_per_ip = 4;
    });
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(gw.addr).expect("connect"))
        .collect();
    // The four are taken in before the fifth arrives.
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = TcpStream::connect(gw.addr).expect("connect");
    let (answer, closed) = read_until_closed(&mut fifth, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 429 "), "{text}");
    assert!(text.contains("Retry-After: ") && closed, "{text}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(raw_http::get(gw.addr, "/s/cnie-renewal/", "").status, 200);
    assert!(metrics(&gw).contains("egov_connections_refused_total{reason=\"per_address\"} 1"));
}

#[test]
fn past_the_global_connection_cap_new_connections_get_a_503_and_close() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.max_connections = Some(16);
    });
    let held: Vec<TcpStream> = (0..16)
        .map(|_| TcpStream::connect(gw.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut over = TcpStream::connect(gw.addr).expect("connect");
    let (answer, closed) = read_until_closed(&mut over, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503 ") && closed, "{text}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(raw_http::get(gw.addr, "/s/cnie-renewal/", "").status, 200);
}
