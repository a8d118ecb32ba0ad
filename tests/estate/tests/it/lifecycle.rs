//! Starting and stopping the estate from outside and inside a runtime.

use std::io::{Read, Write};
use std::net::TcpStream;

use egov_estate::{EstateOptions, RunningEstate};

fn raw_get(addr: std::net::SocketAddr, host: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn starts_outside_a_runtime_and_stops_on_shutdown() {
    let estate = RunningEstate::start("127.0.0.1:0".parse().expect("addr"), EstateOptions::calm(1))
        .expect("estate starts");
    let addr = estate.addr();
    assert_ne!(addr.port(), 0);
    let reply = raw_get(addr, "www.cnie.ma", "/cnie-renewal/__estate/status/204").expect("reply");
    assert!(reply.starts_with("HTTP/1.1 204"), "{reply}");
    estate.shutdown();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after shutdown"
    );
}

#[tokio::test]
async fn starts_inside_a_runtime_and_stops_on_drop() {
    let estate = RunningEstate::start(
        "127.0.0.1:0".parse().expect("addr"),
        EstateOptions::default(),
    )
    .expect("estate starts");
    let addr = estate.addr();
    drop(estate);
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after drop"
    );
}

#[test]
fn binding_a_used_port_is_an_error() {
    let estate = RunningEstate::start("127.0.0.1:0".parse().expect("addr"), EstateOptions::calm(1))
        .expect("estate starts");
    let again = RunningEstate::start(estate.addr(), EstateOptions::calm(1));
    assert!(matches!(
        again,
        Err(egov_estate::EstateError::Start(
            egov_background_server::BackgroundError::Bind { .. }
        ))
    ));
}
