//! HTTP/1.1 over a bare TCP socket, for requests no well-behaved client would send
//! (dot segments, smuggling headers, oversized headers).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` as is and reads the response until the server closes the connection.
/// Include `Connection: close` in requests that should keep the connection alive otherwise.
pub fn send(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse(&buf)
        .unwrap_or_else(|| panic!("unparsable response: {:?}", String::from_utf8_lossy(&buf)))
}

/// A GET of `path` (sent verbatim) with `Connection: close` and extra header lines.
pub fn get(addr: SocketAddr, path: &str, extra_headers: &str) -> RawResponse {
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra_headers}\r\n");
    send(addr, req.as_bytes())
}

/// A WebSocket handshake for `path` (the connection closed after the answer, so an answer
/// that switches nothing is read to its end).
pub fn websocket_handshake(addr: SocketAddr, path: &str) -> RawResponse {
    send(addr, websocket_request(addr, path).as_bytes())
}

/// A WebSocket handshake's request for `path`, asking the connection to close after it.
fn websocket_request(addr: SocketAddr, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade, close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// [`websocket_handshake`] from the loopback address `source`: another citizen.
pub fn websocket_handshake_from(
    source: std::net::IpAddr,
    addr: SocketAddr,
    path: &str,
) -> RawResponse {
    let mut s = connect_from(source, addr);
    exchange(&mut s, websocket_request(addr, path).as_bytes()).expect("an answer")
}

/// A connection to `addr` from the loopback address `source` (`127.0.0.2`, ...).
pub fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .expect("bind the source address");
    socket.connect(&addr.into()).expect("connect");
    socket.into()
}

/// [`get`] from the loopback address `source` (`127.0.0.2`, `127.0.0.3`...): another
/// citizen, as far as the gateway can tell.
pub fn get_from(source: std::net::IpAddr, addr: SocketAddr, path: &str) -> RawResponse {
    let mut s = connect_from(source, addr);
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse(&buf)
        .unwrap_or_else(|| panic!("unparsable response: {:?}", String::from_utf8_lossy(&buf)))
}

/// Sends `request` on a connection kept alive and reads one answer: its head, then the body
/// its `Content-Length` or chunked framing says (not the rest of the connection).
pub fn exchange(stream: &mut TcpStream, request: &[u8]) -> std::io::Result<RawResponse> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(answer) = parse(&buf).filter(|r| whole(r, &buf)) {
            return Ok(answer);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "closed after {} bytes of an answer: {:?}",
                    buf.len(),
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Whether the peer has closed `stream` (end of stream or reset) within `patience`.
pub fn closed_within(stream: &mut TcpStream, patience: Duration) -> bool {
    let _ = stream.set_read_timeout(Some(patience));
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false, // bytes nobody asked for: not closed, though not well either
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset, // else the patience ran out
    }
}

/// Whether `buf` holds all of the answer `parsed` from it (head and framed body).
fn whole(parsed: &RawResponse, buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let body = &buf[end + 4..];
    if parsed.status == 304 || parsed.status == 204 {
        return true;
    }
    match parsed.header("content-length").map(str::parse::<usize>) {
        Some(Ok(length)) => body.len() >= length,
        _ => body.ends_with(b"0\r\n\r\n"),
    }
}

fn parse(buf: &[u8]) -> Option<RawResponse> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let raw_body = &buf[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_str = String::from_utf8_lossy(&b[..nl]);
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        b = &b[nl + 2..];
        if size == 0 || b.len() < size {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[(size + 2).min(b.len())..];
    }
}

/// A legacy site that answers every request with `answer` written as is (one answer per
/// connection, then closed): for answers no well-behaved server library would write. Its
/// address; it lives as long as the test process.
pub fn scripted_site(answer: &'static [u8]) -> SocketAddr {
    answering_site(move |_| answer.to_vec())
}

/// A legacy site on a loopback port: each connection handled by `handle` on a thread of its
/// own, reads timing out after `read_timeout`. Its address; it lives as long as the test
/// process.
fn site_handling_each_connection(
    read_timeout: Duration,
    handle: impl Fn(&mut TcpStream) + Send + Sync + 'static,
) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a scripted site");
    let addr = listener.local_addr().expect("its address");
    let handle = std::sync::Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let handle = std::sync::Arc::clone(&handle);
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(read_timeout));
                handle(&mut stream);
            });
        }
    });
    addr
}

/// A legacy site that answers each request with the bytes `answer` gives for its head (as
/// received, one answer per connection, then closed): a site whose answer depends on the
/// request (a revalidation's `If-None-Match`). Its address; it lives as long as the test
/// process.
pub fn answering_site(answer: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) -> SocketAddr {
    site_handling_each_connection(Duration::from_secs(5), move |stream| {
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = stream.write_all(&answer(&head));
    })
}

/// A careless legacy site: on a kept-alive connection it answers each request as soon as its
/// header is in, with `answer(request line)`, and never reads a body, so whatever body
/// bytes arrive are read as the start of the next request (Python's `http.server` does
/// this for a handler that does not read `rfile`). It lives as long as the test process.
pub fn site_reading_no_body(answer: impl Fn(&str) -> String + Send + Sync + 'static) -> SocketAddr {
    site_handling_each_connection(Duration::from_secs(30), move |stream| {
        let mut held = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let Some(end) = held.windows(4).position(|w| w == b"\r\n\r\n") else {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => held.extend_from_slice(&buf[..n]),
                }
                continue;
            };
            let head: Vec<u8> = held.drain(..end + 4).collect();
            let line = String::from_utf8_lossy(&head);
            let body = answer(line.lines().next().unwrap_or_default());
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if stream.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// A hung legacy site: it takes every connection and answers none, so the gateway's read
/// timeout ends each request, and none is reused: one connection per request. It records
/// when each arrived; it lives as long as the test process.
pub struct SilentSite {
    pub port: u16,
    arrivals: std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
}

impl SilentSite {
    pub fn start() -> Self {
        Self::on(0)
    }

    /// A silent site on `port` of 127.0.0.1 (e.g. where a stopped server listened).
    pub fn on(port: u16) -> Self {
        let site = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind a silent site");
        let port = site.local_addr().expect("its address").port();
        let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = std::sync::Arc::clone(&arrivals);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in site.incoming().flatten() {
                if let Ok(mut times) = record.lock() {
                    times.push(std::time::Instant::now());
                }
                held.push(conn);
            }
        });
        SilentSite { port, arrivals }
    }

    /// How many requests reached it.
    pub fn reached(&self) -> usize {
        self.arrivals().len()
    }

    /// When each request reached it, in order.
    pub fn arrivals(&self) -> Vec<std::time::Instant> {
        self.arrivals.lock().map(|a| a.clone()).unwrap_or_default()
    }
}
