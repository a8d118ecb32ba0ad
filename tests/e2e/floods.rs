//! Floods: slow clients, too many connections, too many requests. Each has a defined,
//! polite refusal and leaves the portal answering everyone else.

use egov_gateway::config::Rate;
use egov_integration::raw_http;
use egov_integration::redis::RedisServer;
use egov_integration::sso::{SsoOptions, SsoWorld, Store};
use egov_integration::{client, start_estate, TestGateway};
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

/// Sends one header line every 300 ms (each read is quick, the header never ends), calling
/// `meanwhile` after each, until the gateway closes the connection or `patience` passes;
/// whether it closed.
fn drip_header_until_closed(
    stream: &mut TcpStream,
    patience: Duration,
    mut meanwhile: impl FnMut(),
) -> bool {
    let start = Instant::now();
    while start.elapsed() < patience {
        if stream.write_all(b"X-Slow: 1\r\n").is_err() {
            return true;
        }
        if read_until_closed(stream, Duration::from_millis(300)).1 {
            return true;
        }
        meanwhile();
    }
    false
}

/// Waits for the gateway to close `conn`, idle from now, and checks it did so at the one-second
/// `limits.keepalive_timeout` these tests set, not before nor much after; what was read.
fn closed_after_a_one_second_keepalive(conn: &mut TcpStream) -> Vec<u8> {
    let idle = Instant::now();
    let (answer, closed) = read_until_closed(conn, Duration::from_secs(5));
    assert!(
        closed,
        "an idle connection outlived limits.keepalive_timeout"
    );
    assert!(
        idle.elapsed() >= Duration::from_millis(900),
        "closed after {:?}",
        idle.elapsed()
    );
    answer
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
    let closed = drip_header_until_closed(&mut slow, Duration::from_secs(8), || {
        assert_eq!(
            raw_http::get(gw.addr, "/s/cnie-renewal/", "").status,
            200,
            "a slow client does not slow anyone else"
        );
    });
    assert!(closed, "the slow header was still accepted after 8 s");
    assert!(metrics(&gw).contains("egov_request_header_timeouts_total 1"));
}

/// Reads one answer (a `Content-Length` or a chunked body) from a kept-alive connection;
/// its head.
fn read_answer(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("an answer");
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let complete = match header("content-length") {
            Some(length) => body.len() >= length.parse::<usize>().expect("length"),
            None => body.ends_with("\r\n0\r\n\r\n") || body == "0\r\n\r\n",
        };
        if complete {
            return head.to_string();
        }
    }
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.keepalive_timeout = Some(Duration::from_secs(1));
    });
    let request = format!("GET /s/cnie-renewal/ HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr);
    let mut conn = TcpStream::connect(gw.addr).expect("connect");
    conn.write_all(request.as_bytes()).expect("first");
    assert!(read_answer(&mut conn).starts_with("HTTP/1.1 200"));
    // Well within the keep-alive timeout: the connection is still there.
    std::thread::sleep(Duration::from_millis(300));
    conn.write_all(request.as_bytes()).expect("second");
    assert!(read_answer(&mut conn).starts_with("HTTP/1.1 200"));
    // Idle past it: the gateway closes the connection (and frees its slot).
    closed_after_a_one_second_keepalive(&mut conn);
    gw.wait_connections_open(0);
}

#[test]
fn a_graceful_shutdown_closes_connections_waiting_between_requests() {
    let estate = start_estate(None);
    let mut gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.keepalive_timeout = Some(Duration::from_secs(60));
        c.gateway.server.grace_period = Duration::from_secs(3);
        c.gateway.server.graceful_shutdown_timeout = Duration::from_secs(3);
    });
    let request = format!("GET /s/cnie-renewal/ HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr);
    let mut conn = TcpStream::connect(gw.addr).expect("connect");
    conn.write_all(request.as_bytes()).expect("request");
    assert!(read_answer(&mut conn).starts_with("HTTP/1.1 200"));
    // The connection now waits for its next request, for up to a minute.
    let asked = Instant::now();
    gw.begin_graceful_shutdown();
    let (_, closed) = read_until_closed(&mut conn, Duration::from_secs(10));
    assert!(closed, "an idle connection held the shutdown up");
    // Pingora tells connections to finish as a graceful shutdown begins: one waiting between
    // requests closes then, not when the grace period or the runtimes end.
    let after = asked.elapsed();
    assert!(after < Duration::from_secs(1), "closed after {after:?}");
}

#[test]
fn an_idle_http2_connection_is_closed_after_the_keepalive_timeout() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.keepalive_timeout = Some(Duration::from_secs(1));
    });
    let mut conn = TcpStream::connect(gw.addr).expect("connect");
    // HTTP/2 with prior knowledge: the preface and an empty SETTINGS frame, then nothing.
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .expect("preface");
    let answer = closed_after_a_one_second_keepalive(&mut conn);
    assert!(!answer.is_empty(), "the gateway spoke HTTP/2");
    gw.wait_connections_open(0);
}

#[test]
fn with_keep_alive_off_every_answer_closes_its_connection() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| c.gateway.limits.keepalive_timeout = None);
    let mut conn = TcpStream::connect(gw.addr).expect("connect");
    conn.write_all(
        format!("GET /s/cnie-renewal/ HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr).as_bytes(),
    )
    .expect("request");
    let (answer, closed) = read_until_closed(&mut conn, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(closed, "the connection stayed open after its answer");
}

#[test]
fn a_kept_alive_connection_serves_its_next_request_after_idling_and_cuts_a_slow_one() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.header_timeout = Duration::from_secs(1);
    });
    let request = format!("GET /s/cnie-renewal/ HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr);
    let mut conn = TcpStream::connect(gw.addr).expect("connect");
    conn.write_all(request.as_bytes()).expect("first");
    assert!(read_answer(&mut conn).starts_with("HTTP/1.1 200"));
    // Idle longer than the header deadline: between requests no deadline runs.
    std::thread::sleep(Duration::from_millis(1500));
    // The next request arrives in two parts: the wait for its first bytes and the
    // parser's reads both see all of it.
    let (start, rest) = request.split_at(10);
    conn.write_all(start.as_bytes()).expect("second, start");
    std::thread::sleep(Duration::from_millis(100));
    conn.write_all(rest.as_bytes()).expect("second, rest");
    assert!(read_answer(&mut conn).starts_with("HTTP/1.1 200"));
    // A third request whose header never ends is cut off at the deadline, counted from
    // its first byte.
    conn.write_all(b"GET /s/cnie-renewal/ HTTP/1.1\r\n")
        .expect("third");
    let closed = drip_header_until_closed(&mut conn, Duration::from_secs(6), || {});
    assert!(
        closed,
        "a slow header on a kept-alive connection was never cut off"
    );
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
    // One timeout, counted once (not again by a second look for HTTP/2's preface).
    assert!(
        metrics(&gw).contains("egov_request_header_timeouts_total 1\n"),
        "{}",
        metrics(&gw)
    );
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
    gw.wait_connections_open(4);
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

/// Found when tried: a flood's refused connections were only in a counter, and the access
/// log, which an SRE reads for what clients were answered, had none of its 429s.
#[test]
fn a_connection_refused_for_its_addresss_share_is_in_the_access_log() {
    let estate = start_estate(None);
    let dir = egov_integration::scratch::TempDir::new("refused-log");
    let log = dir.path().join("access.log");
    let path = log.clone();
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.max_connections_per_ip = 2;
        c.gateway.telemetry.access_log = egov_gateway::config::AccessLogTarget::File(path);
    });
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(gw.addr).expect("connect"))
        .collect();
    gw.wait_connections_open(2);
    let mut third = TcpStream::connect(gw.addr).expect("connect");
    let (answer, _) = read_until_closed(&mut third, Duration::from_secs(5));
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 429 "));
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if !text.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = &lines[0];
    assert_eq!(line["status"], 429, "{text}");
    assert_eq!(line["client_ip"], "127.0.0.1", "{text}");
    assert_eq!(line["bytes"].as_u64(), Some(answer.len() as u64), "{text}");
    assert_eq!((&line["method"], &line["path"]), (&"".into(), &"".into()));
    drop(held);
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
    gw.wait_connections_open(16);
    let mut over = TcpStream::connect(gw.addr).expect("connect");
    let (answer, closed) = read_until_closed(&mut over, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503 ") && closed, "{text}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(raw_http::get(gw.addr, "/s/cnie-renewal/", "").status, 200);
}

fn rate(count: u32, secs: u64) -> Option<Rate> {
    Some(Rate {
        count,
        per: Duration::from_secs(secs),
    })
}

#[test]
fn over_the_per_address_rate_a_citizen_gets_429_with_retry_after_in_their_languages() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.rate.per_ip = rate(5, 60);
    });
    for i in 0..5 {
        assert_eq!(
            raw_http::get(gw.addr, "/s/cnie-renewal/", "").status,
            200,
            "request {i}"
        );
    }
    let refused = raw_http::get(gw.addr, "/s/cnie-renewal/", "");
    assert_eq!(refused.status, 429);
    let wait: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=12).contains(&wait), "{wait}");
    let page = refused.text();
    assert!(page.contains("Trop de requêtes") && page.contains("طلبات كثيرة جدا"));
    assert!(metrics(&gw).contains("egov_rate_limited_total{scope=\"per_ip\"} 1"));
}

#[test]
fn a_services_total_rate_protects_its_backend_and_no_other_service() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let service = egov_integration::service_mut(c, "cnie-renewal");
        service.limits.rate_total = rate(3, 60);
    });
    let statuses: Vec<u16> = (0..4)
        .map(|_| raw_http::get(gw.addr, "/s/cnie-renewal/", "").status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(
        raw_http::get(gw.addr, "/s/passport-application/", "").status,
        200
    );
}

/// Found when tried: the shared buckets were asked before the address's own, and gave a
/// token to every request a later, narrower one refused; one address's flood, which its own
/// limit turned away, then spent the service's total, and the other citizens got 429.
#[test]
fn a_flood_its_own_limit_refuses_does_not_spend_the_services_total_for_others() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let service = egov_integration::service_mut(c, "cnie-renewal");
        service.limits.rate_per_ip = rate(2, 60);
        service.limits.rate_total = rate(5, 60);
        c.gateway.limits.rate.global = rate(8, 60);
    });
    let flooder: std::net::IpAddr = [127, 0, 0, 2].into();
    let citizen: std::net::IpAddr = [127, 0, 0, 3].into();
    let flood: Vec<u16> = (0..12)
        .map(|_| raw_http::get_from(flooder, gw.addr, "/s/cnie-renewal/").status)
        .collect();
    assert_eq!(flood.iter().filter(|s| **s == 200).count(), 2, "{flood:?}");
    assert_eq!(
        raw_http::get_from(citizen, gw.addr, "/s/cnie-renewal/").status,
        200,
        "the service's total was spent by refused requests"
    );
    assert_eq!(
        raw_http::get_from(citizen, gw.addr, "/s/passport-application/").status,
        200,
        "the gateway's total was spent by refused requests"
    );
}

#[test]
fn a_body_over_the_services_limit_gets_413_and_a_smaller_one_goes_through() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let service = egov_integration::service_mut(c, "cnie-renewal");
        service.limits.max_body_bytes = Some(100);
    });
    let body = "x".repeat(200);
    let req = format!(
        "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        gw.addr,
        body.len()
    );
    let resp = raw_http::send(gw.addr, req.as_bytes());
    assert_eq!(resp.status, 413);
    assert!(resp.text().contains("Envoi trop volumineux"));
    let small = "x".repeat(50);
    let req = format!(
        "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{small}",
        gw.addr,
        small.len()
    );
    assert_eq!(raw_http::send(gw.addr, req.as_bytes()).status, 200);
}

/// A chunked POST of `chunks` chunks of 60 bytes to the echo page of `cnie-renewal`, with
/// `extra` header lines.
fn chunked_post(gw: &TestGateway, chunks: usize, extra: &str) -> String {
    let chunk = "x".repeat(60);
    let mut req = format!(
        "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n{extra}\r\n",
        gw.addr
    );
    for _ in 0..chunks {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    req
}

#[test]
fn a_chunked_body_over_the_services_limit_gets_413_and_a_smaller_one_goes_through() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let service = egov_integration::service_mut(c, "cnie-renewal");
        service.limits.max_body_bytes = Some(100);
    });
    // No Content-Length to refuse up front: the body is counted as it streams.
    let resp = raw_http::send(gw.addr, chunked_post(&gw, 4, "").as_bytes());
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert!(resp.text().contains("Envoi trop volumineux"));
    let resp = raw_http::send(gw.addr, chunked_post(&gw, 1, "").as_bytes());
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[test]
fn asking_for_an_upgrade_does_not_lift_the_body_limit() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let service = egov_integration::service_mut(c, "cnie-renewal");
        service.limits.max_body_bytes = Some(100);
    });
    // The echo page does not switch protocols: the body is a body.
    let req = chunked_post(&gw, 4, "Connection: Upgrade\r\nUpgrade: x-anything\r\n");
    let resp = raw_http::send(gw.addr, req.as_bytes());
    assert_eq!(resp.status, 413, "{}", resp.text());
}

#[test]
fn an_overlong_request_target_gets_414() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let path = format!("/s/cnie-renewal/?q={}", "a".repeat(9000));
    assert_eq!(raw_http::get(gw.addr, &path, "").status, 414);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_shared_counting_every_instance_sees_the_same_rate() {
    let estate = start_estate(None);
    let redis = RedisServer::start();
    let start = || {
        let url = redis.url();
        TestGateway::with(&estate, move |c| {
            c.gateway.redis = Some(egov_gateway::config::RedisSettings::new(vec![url]));
            c.gateway.limits.rate.per_ip = rate(4, 3600);
            c.gateway.limits.rate.shared = true;
        })
    };
    let (a, b) = (start(), start());
    let http = client();
    let mut statuses = Vec::new();
    for gw in [&a, &b, &a, &b, &a] {
        let resp = http
            .get(gw.url("/s/cnie-renewal/"))
            .send()
            .await
            .expect("request");
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429]);
}

/// Found in a second bypass probe: login starts refused as another site's doing (a picture,
/// a frame, a navigation the citizen did not make) still spent the address's login rate, so
/// a page anywhere kept everyone behind an address at 429. Only starts let through count.
#[tokio::test(flavor = "multi_thread")]
async fn login_starts_another_site_makes_do_not_spend_the_addresss_login_rate() {
    let world = SsoWorld::start(SsoOptions::new(Store::Memory));
    let http = client();
    let start = |headers: &'static [(&'static str, &'static str)]| {
        let mut req = http.get(world.gateway.url("/auth/login"));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        async move { req.send().await.expect("login").status().as_u16() }
    };
    let pushed: &[(&str, &str)] = &[
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-dest", "document"),
    ];
    for _ in 0..40 {
        // Asked of the citizen (a page with the login's button), not started.
        assert_eq!(start(pushed).await, 200);
    }
    let typed: &[(&str, &str)] = &[
        ("sec-fetch-site", "none"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-dest", "document"),
        ("sec-fetch-user", "?1"),
    ];
    assert_eq!(start(typed).await, 302, "the citizen's own login");
}

/// Found in a browser probe: Back, after a logout, to a service page that sends the citizen
/// to the login, made the browser open the login start from the service's origin without
/// her act, and she got the 403 page saying another service's page had sent it in her
/// place. Such a start is a page asking her to log in, its button the same start; nothing
/// is started (no login cookie, no provider) until she presses it. A picture is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_login_start_opened_without_the_citizens_act_asks_her_to_log_in() {
    let world = SsoWorld::start(SsoOptions::new(Store::Memory));
    let start = "/auth/login?return_to=%2Fs%2Fcnie-renewal%2F%3Fa%3D1%26b%3D2";
    let resp = client()
        .get(world.gateway.url(start))
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .header("sec-fetch-dest", "document")
        .header("accept-language", "fr")
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "nothing started"
    );
    let page = resp.text().await.expect("page");
    let button = format!("href=\"{}\"", start.replace('&', "&amp;"));
    assert!(page.contains(&button), "{page}");
    assert!(page.contains("Pour continuer, connectez-vous"), "{page}");
    let picture = client()
        .get(world.gateway.url(start))
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "no-cors")
        .header("sec-fetch-dest", "image")
        .send()
        .await
        .expect("picture");
    assert_eq!(picture.status(), 403);
}

/// A world whose addresses may each have five logins in progress (and start many more a
/// minute), sessions kept in `store`.
fn five_logins_in_progress_per_address(store: Store) -> SsoWorld {
    let mut options = SsoOptions::new(store);
    options.tweak = Some(Box::new(|c| {
        c.gateway.limits.rate.max_pending_logins_per_ip = 5;
        c.gateway.limits.rate.login_per_ip = Rate {
            count: 1000,
            per: Duration::from_secs(60),
        };
    }));
    SsoWorld::start(options)
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_in_progress_from_one_address_are_capped_and_the_next_gets_429() {
    let world = five_logins_in_progress_per_address(Store::Memory);
    let http = client();
    for i in 0..5 {
        let resp = http
            .get(world.gateway.url("/auth/login"))
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 302, "login {i}");
    }
    let refused = http
        .get(world.gateway.url("/auth/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(refused.status(), 429);
    let retry_after = refused.headers()["retry-after"].clone();
    // When the first of them leaves the count (logins just started live ten minutes, counted
    // in windows of two), not the 60 s it said while the refusal lasted eight minutes more
    // (found when tried).
    let retry_after: u64 = retry_after
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((480..=720).contains(&retry_after), "{retry_after}");
    // And the page says so: not the rate limit's "wait a moment" (found when tried).
    let page = refused.text().await.expect("page");
    assert!(page.contains("a quarter of an hour at most"), "{page}");
    // Counted with the other 429s of the login's rate (it was not: found when tried).
    let text = metrics(&world.gateway);
    assert!(
        text.contains("egov_rate_limited_total{scope=\"login\"} 1"),
        "{text}"
    );
}

/// Found in review: the counts were read before a login was counted, so logins started at
/// once from one address through a shared Redis passed its allowance. Each is now counted
/// first and taken off again if refused. Here, through the real Redis: the allowance holds
/// for a burst, and what was refused leaves the count (the address has room for exactly
/// the rest of its five). (The burst did not reproduce the old race on this machine: this
/// test guards the new order, above all that a refused login is taken off.)
#[tokio::test(flavor = "multi_thread")]
async fn logins_started_at_once_through_redis_stay_within_the_addresss_allowance() {
    let world = five_logins_in_progress_per_address(Store::Redis);
    let http = client();
    // One first, alone: the provider's discovery is fetched once, before the burst.
    let first = http
        .get(world.gateway.url("/auth/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(first.status(), 302);
    let starts: Vec<_> = (0..30)
        .map(|_| {
            let http = http.clone();
            let url = world.gateway.url("/auth/login");
            tokio::spawn(async move { http.get(url).send().await.expect("login").status() })
        })
        .collect();
    let mut started = 0;
    for start in starts {
        let status = start.await.expect("a start");
        assert!(status == 302 || status == 429, "{status}");
        started += usize::from(status == 302);
    }
    assert!(
        started <= 4,
        "{started} more logins started from one address"
    );
    // What was refused was taken off the count: the address has room for exactly what is
    // left of its five.
    let mut more = 0;
    for _ in 0..10 {
        let resp = http
            .get(world.gateway.url("/auth/login"))
            .send()
            .await
            .expect("login");
        more += usize::from(resp.status() == 302);
    }
    assert_eq!(
        1 + started + more,
        5,
        "1, then {started} at once, then {more}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_login_endpoint_is_rate_limited_per_address() {
    let mut options = SsoOptions::new(Store::Memory);
    options.tweak = Some(Box::new(|c| {
        c.gateway.limits.rate.login_per_ip = Rate {
            count: 3,
            per: Duration::from_secs(60),
        };
    }));
    let world = SsoWorld::start(options);
    let http = client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let resp = http
            .get(world.gateway.url("/auth/login"))
            .send()
            .await
            .expect("login");
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [302, 302, 302, 429]);
    let text = metrics(&world.gateway);
    assert!(
        text.contains("egov_rate_limited_total{scope=\"login\"} 1"),
        "{text}"
    );
}

/// A gateway whose search box, router and feedback form share `count` calls a minute per
/// address.
fn with_route_budget(estate: &egov_estate::RunningEstate, count: u32) -> TestGateway {
    TestGateway::with(estate, move |c| {
        c.gateway.limits.rate.route_per_ip = Rate {
            count,
            per: Duration::from_secs(60),
        };
    })
}

/// Found when tried: sixty requests for the empty search box refused the address's next
/// real search. The empty box asks the router nothing, nor does the box's post (which only
/// seals its query): neither is counted; each search is counted once (a sealed address is
/// counted before it is opened, whether it opens or not).
#[tokio::test(flavor = "multi_thread")]
async fn only_a_search_that_asks_the_router_spends_the_search_budget() {
    let estate = start_estate(None);
    let gw = with_route_budget(&estate, 2);
    let http = client();
    for target in [
        "/search",
        "/search?q=",
        "/search?q=+",
        "/search",
        "/search?q=",
    ] {
        let resp = http.get(gw.url(target)).send().await.expect("the box");
        assert_eq!(resp.status(), 200, "{target}");
    }
    let sealed = http
        .post(gw.url("/search"))
        .form(&[("q", "passeport")])
        .send()
        .await
        .expect("the box's post");
    assert_eq!(sealed.status(), 303);
    let mut statuses = Vec::new();
    for target in [
        "/search?q=permis",
        "/search?q=bourse",
        "/search?q=passeport",
    ] {
        let resp = http.get(gw.url(target)).send().await.expect("search");
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test(flavor = "multi_thread")]
async fn searches_route_calls_and_feedback_share_one_rate_per_address() {
    // Each may cost an LLM call or a stored entry: one bucket per address for all three.
    let estate = start_estate(None);
    let gw = with_route_budget(&estate, 3);
    let http = client();
    let mut statuses = Vec::new();
    for i in 0..2 {
        let resp = http
            .get(gw.url(&format!("/search?q=passeport+{i}")))
            .send()
            .await
            .expect("search");
        statuses.push(resp.status().as_u16());
    }
    let route = http
        .post(gw.url("/api/route"))
        .json(&serde_json::json!({ "query": "passeport" }))
        .send()
        .await
        .expect("route");
    statuses.push(route.status().as_u16());
    let feedback = http
        .post(gw.url("/feedback"))
        .form(&[
            ("q", "passeport"),
            ("routed", "cnie-renewal"),
            ("chosen", "passport-application"),
        ])
        .send()
        .await
        .expect("feedback");
    statuses.push(feedback.status().as_u16());
    assert_eq!(statuses, [200, 200, 200, 429]);
    // The portal's other pages are not counted against it.
    assert_eq!(
        http.get(gw.url("/")).send().await.expect("home").status(),
        200
    );
    assert!(
        metrics(&gw).contains("egov_rate_limited_total{scope=\"route\"} 1"),
        "{}",
        metrics(&gw)
    );
}

/// Found when tried: connections to the admin and metrics listeners sending half a header
/// (or nothing) were held for good, 20,000 of them took every file descriptor of the
/// process, and the portal with them. Each side listener now drops a head not sent within
/// its deadline, and keeps answering meanwhile.
#[test]
fn half_sent_heads_on_the_admin_and_metrics_listeners_are_dropped_at_their_deadline() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |_| {});
    let mut held = Vec::new();
    for addr in [gw.admin, gw.metrics] {
        for _ in 0..5 {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .expect("write");
            held.push(s);
        }
        held.push(TcpStream::connect(addr).expect("an idle connection"));
    }
    let health = raw_http::get(gw.admin, "/healthz", "");
    assert_eq!(health.status, 200, "the admin listener answers meanwhile");
    for s in &mut held {
        let (_, closed) = read_until_closed(s, Duration::from_secs(15));
        assert!(closed, "a half-sent head was held past the deadline");
    }
}

/// The 32 connections one address may hold on a side listener at `addr`, each with half a
/// request head sent.
fn fill_from_one_address(addr: std::net::SocketAddr) -> Vec<TcpStream> {
    let held = (0..32)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(b"GET /healthz HTTP/1.1\r\n").expect("write");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    held
}

/// Whether the side listener at `addr` closes the next connection of this address at once.
fn refuses_the_next(addr: std::net::SocketAddr) -> bool {
    let mut next = TcpStream::connect(addr).expect("the backlog takes it");
    read_until_closed(&mut next, Duration::from_secs(3)).1
}

/// Found in review: with a bound on connections, a few hundred slow ones from one address
/// would take every slot, and the orchestrator's health checks with them. One address holds
/// at most 32; the next is closed at once, and the listener keeps answering others.
#[test]
fn one_address_holds_at_most_32_connections_to_a_side_listener() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |_| {});
    let held = fill_from_one_address(gw.metrics);
    assert!(
        refuses_the_next(gw.metrics),
        "the 33rd connection of one address was kept"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let health = raw_http::get(gw.metrics, "/metrics", "");
    assert_eq!(health.status, 200, "slots come back when connections end");
}

/// Found when tried: with the admin listener's slots taken (by ministries' clients behind
/// one address, or a flood), the orchestrator's probes there were refused, and every
/// instance would have been restarted at once. The metrics listener, which ministries do
/// not reach, answers the probes too.
#[test]
fn the_probes_answer_on_the_metrics_listener_while_the_admin_listener_is_full() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |_| {});
    let _held = fill_from_one_address(gw.admin);
    assert!(
        refuses_the_next(gw.admin),
        "the admin listener is full for this address"
    );
    let live = raw_http::get(gw.metrics, "/healthz", "");
    assert_eq!((live.status, live.text().as_str()), (200, "ok\n"));
    let ready = raw_http::get(gw.metrics, "/readyz", "");
    assert_eq!(ready.status, 200);
    assert!(ready.text().starts_with("ready: "), "{}", ready.text());
}

/// The status of `/search` fetched as another site's page makes a browser fetch it:
/// `Sec-Fetch-Mode`, `-Dest` and `-User` (cross-site).
async fn search_fetched_as(gw: &TestGateway, mode: &str, dest: &str, user: Option<&str>) -> u16 {
    let mut req = client()
        .get(gw.url("/search?q=passeport"))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Mode", mode)
        .header("Sec-Fetch-Dest", dest);
    if let Some(u) = user {
        req = req.header("Sec-Fetch-User", u);
    }
    req.send().await.expect("search").status().as_u16()
}

/// Found when tried: feedback posted from another site was refused (403) but still spent
/// the address's budget, so one visited page locked everyone behind a carrier's NAT out of
/// the search box; and the router's API took a cross-site `text/plain` post.
#[tokio::test(flavor = "multi_thread")]
async fn calls_another_site_makes_through_a_browser_are_refused_before_they_spend_the_budget() {
    let estate = start_estate(None);
    let gw = with_route_budget(&estate, 3);
    let http = client();
    for _ in 0..5 {
        let feedback = http
            .post(gw.url("/feedback"))
            .header("Origin", "https://evil.example")
            .form(&[
                ("q", "passeport"),
                ("routed", "cnie-renewal"),
                ("chosen", "passport-application"),
            ])
            .send()
            .await
            .expect("feedback");
        assert_eq!(feedback.status(), 403);
        let route = http
            .post(gw.url("/api/route"))
            .header("Origin", "null")
            .header("Content-Type", "text/plain")
            .body(r#"{"query":"passeport"}"#)
            .send()
            .await
            .expect("route");
        assert_eq!(route.status(), 403);
        let body: serde_json::Value = route.json().await.expect("a JSON refusal");
        assert_eq!(body["error"], "cross_site", "{body}");
        let image = search_fetched_as(&gw, "no-cors", "image", None).await;
        assert_eq!(image, 403);
        let frame = search_fetched_as(&gw, "navigate", "iframe", None).await;
        assert_eq!(frame, 403, "a hidden frame is no link followed");
    }
    // A link from another site to a search, followed by the citizen, is counted.
    let link = search_fetched_as(&gw, "navigate", "document", Some("?1")).await;
    assert_eq!(link, 200);
    for _ in 0..2 {
        let own = http
            .post(gw.url("/api/route"))
            .json(&serde_json::json!({ "query": "passeport" }))
            .send()
            .await
            .expect("route");
        assert_eq!(own.status(), 200, "the refused calls spent the budget");
    }
    let over = http
        .post(gw.url("/api/route"))
        .json(&serde_json::json!({ "query": "passeport" }))
        .send()
        .await
        .expect("route");
    assert_eq!(over.status(), 429);
    assert!(over.headers().contains_key("retry-after"));
    let body: serde_json::Value = over.json().await.expect("a JSON 429 from the API");
    assert_eq!(body["error"], "rate_limited", "{body}");
}

#[test]
fn a_service_that_takes_only_some_methods_answers_405_with_its_own_allow() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let service = egov_integration::service_mut(c, "cnie-renewal");
        service.limits.methods = Some(vec![http::Method::GET, http::Method::HEAD]);
        service.limits.allow = Some(http::HeaderValue::from_static("GET, HEAD"));
    });
    let req = format!(
        "DELETE /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        gw.addr
    );
    let resp = raw_http::send(gw.addr, req.as_bytes());
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("GET, HEAD"));
    assert_eq!(raw_http::get(gw.addr, "/s/cnie-renewal/", "").status, 200);
}

#[test]
fn a_client_that_stops_reading_is_cut_off_after_the_send_timeout() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.send_timeout = Duration::from_secs(1);
    });
    let mut conn = TcpStream::connect(gw.addr).expect("connect");
    let big = 64 * 1024 * 1024;
    write!(
        conn,
        "GET /s/cnie-renewal/__estate/big?mb=64 HTTP/1.1\r\nHost: {}\r\n\r\n",
        gw.addr
    )
    .expect("request");
    // Reads nothing for four send timeouts: the gateway's writes wait, then give up.
    std::thread::sleep(Duration::from_secs(4));
    let (got, closed) = read_until_closed(&mut conn, Duration::from_secs(30));
    assert!(closed, "the gateway closed the connection");
    assert!(
        got.len() < big / 2,
        "{} bytes: the page was not cut off",
        got.len()
    );
    gw.wait_connections_open(0);
}

/// An HTTP/2 connection to `gw` with prior knowledge, whose streams' windows start at
/// `window` bytes.
async fn http2(gw: &TestGateway, window: u32) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(window)
        .handshake(tcp)
        .await
        .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    client
}

/// `request` on `client` once it has a stream slot; the error if the connection has gone.
async fn send_when_ready(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    request: http::Request<()>,
) -> Result<h2::client::ResponseFuture, h2::Error> {
    *client = client.clone().ready().await?;
    client.send_request(request, true).map(|(answer, _)| answer)
}

fn h2_get(gw: &TestGateway, path: &str) -> http::Request<()> {
    http::Request::get(gw.url(path)).body(()).expect("request")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_client_that_never_opens_its_window_is_cut_off_after_the_send_timeout() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.send_timeout = Duration::from_secs(1);
    });
    let mut client = http2(&gw, 0).await;
    let (answer, _) = client
        .send_request(
            h2_get(&gw, "/s/cnie-renewal/__estate/blob?bytes=4096"),
            true,
        )
        .expect("send");
    let answer = answer.await.expect("the answer's header needs no window");
    assert_eq!(answer.status(), 200);
    let mut body = answer.into_body();
    // Not one byte of the body can be sent; the gateway gives up after the send timeout
    // and resets the stream, freeing the legacy connection.
    let ended = tokio::time::timeout(Duration::from_secs(10), body.data()).await;
    assert!(
        matches!(ended, Ok(Some(Err(_))) | Ok(None)),
        "the stream was still held after ten seconds: {ended:?}"
    );
}

/// A gateway in front of a site that never answers, so that requests stay in flight.
fn in_front_of_a_silent_site(
    estate: &egov_estate::RunningEstate,
    site: &egov_integration::raw_http::SilentSite,
    tweak: impl FnOnce(&mut egov_gateway::config::Config),
) -> TestGateway {
    let port = site.port;
    TestGateway::with(estate, move |c| {
        egov_integration::backend_at(c, "cnie-renewal", port);
        egov_integration::service_mut(c, "cnie-renewal")
            .upstream
            .timeouts
            .read = Duration::from_secs(5);
        tweak(c);
    })
}

/// Rapid reset (CVE-2023-44487) on one connection to `gw`: a hundred streams (the advertised
/// limit), a moment for the gateway to send them on, then every one reset, over and over;
/// whether the gateway closed the connection within ten rounds.
async fn reset_streams_in_bursts(gw: &TestGateway) -> bool {
    let mut client = http2(gw, 65_535).await;
    for _ in 0..10 {
        let mut pending = Vec::new();
        for _ in 0..100 {
            match send_when_ready(&mut client, h2_get(gw, "/s/cnie-renewal/slow")).await {
                Ok(answer) => pending.push(answer),
                Err(_) => return true,
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        drop(pending);
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_resetting_its_streams_is_closed_after_a_burst_of_them() {
    let estate = start_estate(None);
    let site = egov_integration::raw_http::SilentSite::start();
    let gw = in_front_of_a_silent_site(&estate, &site, |_| {});
    assert!(
        reset_streams_in_bursts(&gw).await,
        "the connection that reset its streams was closed"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = site.reached();
    // At most a burst of abandoned requests, and those in the gateway's hands meanwhile.
    assert!(
        sent <= 350,
        "{sent} requests reached the site from one connection whose streams were reset"
    );
    let text = gw.metrics_showing(&["h2_streams"]).await;
    assert!(
        text.contains(r#"egov_rate_limited_total{scope="h2_streams"}"#),
        "{text}"
    );
}

/// A connection closed for abandoning its requests in bursts is a flood too, but a browser
/// whose citizen leaves two heavy pages at once on a slow site may be closed so once: its
/// address is refused at accept for `limits.flood_penalty` at the second closure within it.
#[tokio::test(flavor = "multi_thread")]
async fn an_address_whose_connections_reset_their_streams_in_bursts_twice_is_refused_at_accept() {
    let estate = start_estate(None);
    let site = egov_integration::raw_http::SilentSite::start();
    let gw = in_front_of_a_silent_site(&estate, &site, |c| {
        c.gateway.limits.flood_penalty = Some(Duration::from_secs(30));
    });
    assert!(
        reset_streams_in_bursts(&gw).await,
        "the connection is closed"
    );
    let served = tokio::task::block_in_place(|| raw_http::get(gw.addr, "/", ""));
    assert_eq!(served.status, 200, "once is forgiven");
    assert!(reset_streams_in_bursts(&gw).await, "the next is closed");
    let refused = tokio::task::block_in_place(|| closed_unanswered(&gw));
    assert!(
        refused,
        "the address was served again after its second closure"
    );
    let text = gw
        .metrics_showing(&[r#"egov_connections_refused_total{reason="penalized"} 1"#])
        .await;
    assert!(
        text.contains(r#"egov_connections_refused_total{reason="penalized"} 1"#),
        "the refusal is counted"
    );
}

/// PRIORITY frames (CVE-2019-9513), 14 bytes each, `count` of them on stream 1.
fn priority_frames(count: usize) -> Vec<u8> {
    let one: &[u8] = &[0, 0, 5, 0x2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 15];
    one.repeat(count)
}

/// Opens an HTTP/2 connection to `gw` and sends PRIORITY frames, 200,000 in batches, until
/// the gateway closes it; whether it did.
fn flood_priority_frames(gw: &TestGateway) -> bool {
    let mut conn = TcpStream::connect(gw.addr).expect("connect");
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .expect("preface");
    // A connection the gateway has closed refuses them.
    let batch = priority_frames(2_000);
    let refused = (0..100).any(|_| conn.write_all(&batch).is_err());
    let (_, closed) = read_until_closed(&mut conn, Duration::from_secs(10));
    refused || closed
}

/// Found when tried: eight connections sending PRIORITY frames as fast as they could took
/// both cores and slowed every citizen to 13–290 ms. Such a connection is now closed once
/// it has sent its budget of frames that carry nothing, and counted.
#[test]
fn an_http2_connection_flooding_frames_that_carry_nothing_is_closed() {
    let estate = start_estate(None);
    // Without the penalty on the flood's address (the next test), which is every test's.
    let gw = TestGateway::with(&estate, |c| c.gateway.limits.flood_penalty = None);
    assert!(
        flood_priority_frames(&gw),
        "a connection that sent 200,000 PRIORITY frames is still open"
    );
    let text = metrics(&gw);
    assert!(
        text.contains(r#"egov_rate_limited_total{scope="h2_frames"} 1"#),
        "{}",
        text.lines()
            .filter(|l| l.contains("rate_limited"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let answer = raw_http::get(gw.addr, "/s/cnie-renewal/", "");
    assert_eq!(answer.status, 200, "{}", answer.text());
}

/// Whether a new connection to `gw` asking for the portal's home page is closed unanswered
/// (or refused outright).
fn closed_unanswered(gw: &TestGateway) -> bool {
    let Ok(mut conn) = TcpStream::connect(gw.addr) else {
        return true;
    };
    let _ = conn.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    raw_http::closed_within(&mut conn, Duration::from_secs(5))
}

/// Found when tried: a flood that reconnected got a fresh budget with each connection, and
/// one address reconnecting 5,200 times a second still kept a third of the cores busy. The
/// address of a connection closed for a flood is now refused at accept, unanswered, for
/// `limits.flood_penalty`, and served again after it.
#[test]
fn an_address_whose_connection_flooded_is_refused_at_accept_until_its_penalty_ends() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.flood_penalty = Some(Duration::from_secs(2));
    });
    assert!(flood_priority_frames(&gw), "the flood is closed");
    let closed_at = Instant::now();
    assert!(closed_unanswered(&gw), "the flood's address was served");
    assert!(
        metrics(&gw).contains(r#"egov_connections_refused_total{reason="penalized"} 1"#),
        "the refusal is counted"
    );
    std::thread::sleep(Duration::from_secs(2).saturating_sub(closed_at.elapsed()));
    let answer = raw_http::get(gw.addr, "/s/cnie-renewal/", "");
    assert_eq!(answer.status, 200, "{}", answer.text());
}

/// A client with a small window acknowledges each `DATA` frame of a long download with a
/// `WINDOW_UPDATE`: thousands of frames that carry nothing, paid for by the data the
/// gateway sent, so the download completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_download_acknowledged_frame_by_frame_is_not_taken_for_a_flood() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let mut client = http2(&gw, 1_024).await;
    let bytes = 4 * 1024 * 1024;
    let answer = send_when_ready(
        &mut client,
        h2_get(&gw, &format!("/s/cnie-renewal/__estate/blob?bytes={bytes}")),
    )
    .await
    .expect("send")
    .await
    .expect("answer");
    assert_eq!(answer.status(), 200);
    let mut body = answer.into_body();
    let mut got = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("the download goes on to its end");
        got += chunk.len();
        body.flow_control()
            .release_capacity(chunk.len())
            .expect("release");
    }
    assert_eq!(got, bytes);
    let text = gw.metrics_showing(&["h2_frames"]).await;
    assert!(
        text.contains(r#"egov_rate_limited_total{scope="h2_frames"} 0"#),
        "{text}"
    );
}

/// Sends a body that never ends on `request`, `piece` bytes a `DATA` frame (flow control
/// respected), until `frames` were sent or the connection is gone; whether it went.
async fn upload_in_pieces(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    request: http::Request<()>,
    piece: usize,
    frames: usize,
) -> bool {
    let (_answer, mut body) = send_unended(client, request).await;
    let chunk = bytes::Bytes::from(vec![b'x'; piece]);
    for _ in 0..frames {
        body.reserve_capacity(piece);
        let capacity = tokio::time::timeout(
            Duration::from_secs(5),
            std::future::poll_fn(|cx| body.poll_capacity(cx)),
        )
        .await;
        match capacity {
            Ok(Some(Ok(_))) => {}
            // The connection closed (or stopped reading for good).
            _ => return true,
        }
        if body.send_data(chunk.clone(), false).is_err() {
            return true;
        }
    }
    false
}

/// Found when tried: an upload sent a byte per `DATA` frame (10 bytes on the wire for each
/// byte of body) was closed by the `h2` crate's own guard (`GOAWAY` `ENHANCE_YOUR_CALM`),
/// uncounted and with no penalty on its address, so it reconnected at once (1,800 times in
/// 40 s, each an error line). Such a closure is now counted and penalized as a flood.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_upload_sent_a_byte_per_frame_is_closed_for_a_flood() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| c.gateway.limits.flood_penalty = None);
    let mut client = http2(&gw, 65_535).await;
    let request = http::Request::post(gw.url("/s/cnie-renewal/__estate/echo"))
        .body(())
        .expect("request");
    assert!(
        upload_in_pieces(&mut client, request, 1, 20_000).await,
        "20,000 one-byte DATA frames went through"
    );
    let text = gw.metrics_showing(&["h2_frames"]).await;
    assert!(
        text.contains(r#"egov_rate_limited_total{scope="h2_frames"} 1"#),
        "{text}"
    );
}

/// The same number of frames, each with what a browser's upload frame carries, is an upload.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_upload_in_frames_of_a_few_kilobytes_is_no_flood() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let mut client = http2(&gw, 65_535).await;
    let request = http::Request::post(gw.url("/s/cnie-renewal/__estate/echo"))
        .body(())
        .expect("request");
    assert!(
        !upload_in_pieces(&mut client, request, 4_096, 2_000).await,
        "an 8 MB upload in 4 KiB frames was cut off"
    );
    let text = gw.metrics_showing(&["h2_frames"]).await;
    assert!(
        text.contains(r#"egov_rate_limited_total{scope="h2_frames"} 0"#),
        "{text}"
    );
}

/// A legacy site that reads one request, head and chunked body whole, answers 200 and
/// hands over what it received, as it came off the wire.
fn recording_site() -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
    let site = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = site.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in site.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let mut got = Vec::new();
            let mut buf = [0u8; 65_536];
            while !got.ends_with(b"\r\n0\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            let _ = tx.send(got);
        }
    });
    (port, rx)
}

/// Found when tried: an HTTP/1 upload in chunks of one byte (six bytes on the wire for each)
/// went on to the legacy site a chunk at a time, a write for each, and two such connections
/// kept both cores busy (0.8 MB of body in 8 s). Pieces that come that fast are now gathered
/// into 16 KiB first, as nginx reads a whole body before it asks the site.
#[test]
fn an_upload_sent_a_byte_a_chunk_reaches_the_legacy_site_in_pieces_of_kilobytes() {
    let (port, received) = recording_site();
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        egov_integration::backend_at(c, "cnie-renewal", port);
    });
    let body: Vec<u8> = (0..40_000).map(|i| b'a' + (i % 26) as u8).collect();
    let mut request = format!(
        "POST /s/cnie-renewal/form HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        gw.addr
    )
    .into_bytes();
    for byte in &body {
        request.extend_from_slice(b"1\r\n");
        request.push(*byte);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let mut conn = TcpStream::connect(gw.addr).expect("connect");
    conn.write_all(&request).expect("the upload");
    let (answer, _) = read_until_closed(&mut conn, Duration::from_secs(10));
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let got = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the site got the request");
    let start = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    // The chunked body as the site read it: its chunks' sizes, and what they carry.
    let (mut sizes, mut carried, mut at) = (Vec::new(), Vec::new(), start);
    loop {
        let line_end = at
            + got[at..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("a size");
        let size = usize::from_str_radix(std::str::from_utf8(&got[at..line_end]).expect("hex"), 16)
            .expect("a chunk size");
        if size == 0 {
            break;
        }
        carried.extend_from_slice(&got[line_end + 2..line_end + 2 + size]);
        sizes.push(size);
        at = line_end + 2 + size + 2;
    }
    assert_eq!(carried, body, "the body reached the site whole");
    // 40,000 chunks before; a handful now (more only if the gateway's reads of the upload
    // came over 10 ms apart, under load).
    assert!(
        sizes.len() <= 40,
        "{} chunks: {:?}",
        sizes.len(),
        &sizes[..sizes.len().min(10)]
    );
}

/// A connection over its address's share is refused in its own protocol: an HTTP/2
/// client gets GOAWAY (ENHANCE_YOUR_CALM). It got HTTP/1's 429 as raw bytes, which it read
/// as a malformed frame (FRAME_SIZE_ERROR): a refusal no client could tell from a bug.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_connection_over_the_addresss_share_is_refused_with_goaway() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.max_connections_per_ip = 1;
    });
    let mut first = http2(&gw, 65_535).await;
    send_when_ready(&mut first, h2_get(&gw, "/healthz"))
        .await
        .expect("send")
        .await
        .expect("the first connection is served");
    let mut second = http2(&gw, 65_535).await;
    let refused = match send_when_ready(&mut second, h2_get(&gw, "/healthz")).await {
        Ok(answer) => answer.await.map(|_| ()),
        Err(e) => Err(e),
    };
    let e = refused.expect_err("the second connection is refused");
    assert_eq!(e.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM), "{e:?}");
    assert!(e.is_remote(), "{e:?}");
    drop(first);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_addresss_http2_streams_count_against_its_connection_share() {
    let estate = start_estate(None);
    let site = egov_integration::raw_http::SilentSite::start();
    let port = site.port;
    let gw = TestGateway::with(&estate, move |c| {
        c.gateway.limits.max_connections_per_ip = 20;
        egov_integration::backend_at(c, "cnie-renewal", port);
    });
    // Three connections (three of the address's twenty slots), twenty streams each.
    let mut refused = 0;
    let mut waiting = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = http2(&gw, 65_535).await;
        for _ in 0..20 {
            let sent = send_when_ready(&mut client, h2_get(&gw, "/s/cnie-renewal/slow")).await;
            match sent {
                Ok(answer) => waiting.push(answer),
                // The connection was refused (the address's share was full when it came).
                Err(_) => refused += 1,
            }
        }
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for answer in waiting {
        match tokio::time::timeout(Duration::from_millis(50), answer).await {
            // Refused as a request (429), or with its connection (the address's share was
            // full when it came).
            Ok(Ok(answer)) if answer.status() == 429 => refused += 1,
            Ok(Err(_)) => refused += 1,
            _ => {}
        }
    }
    let sent = site.reached();
    // Each connection holds a slot too, so fewer than twenty requests can be in flight.
    assert!(sent < 20, "{sent} requests of one address reached the site");
    assert!(
        refused >= 60 - 20,
        "only {refused} of the rest were refused"
    );
}

/// A length pingora frames the body by, written as a list (`n, n`), is read as the early
/// limit reads a plain one: it went past it to the legacy site, which asked for the body
/// with a `100 Continue` (found when tried).
#[test]
fn a_body_announced_over_the_limit_as_a_list_gets_413_before_any_100_continue() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let service = egov_integration::service_mut(c, "cnie-renewal");
        service.limits.max_body_bytes = Some(100);
    });
    let req = format!(
        "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: 200, 200\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        gw.addr
    );
    let resp = raw_http::send(gw.addr, req.as_bytes());
    assert_eq!(resp.status, 413, "{}", resp.text());
}

/// After the legacy site's `100 Continue`, a body that streams past the limit still gets
/// the 413 page: the interim answer is not the answer (found when tried: a reset, and the
/// access log and metrics recorded a 100).
#[test]
fn a_chunked_body_past_the_limit_after_a_100_continue_still_gets_the_413() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let service = egov_integration::service_mut(c, "cnie-renewal");
        service.limits.max_body_bytes = Some(100);
    });
    let req = chunked_post(&gw, 4, "Expect: 100-continue\r\n");
    let (head, body) = req.split_once("\r\n\r\n").expect("a head");
    let mut stream = std::net::TcpStream::connect(gw.addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .expect("head");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let interim = String::from_utf8_lossy(&seen).into_owned();
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    let _ = stream.write_all(body.as_bytes());
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let rest = String::from_utf8_lossy(&rest);
    let answer = format!("{interim}{rest}");
    assert!(
        answer.contains("HTTP/1.1 413"),
        "the final answer after the 100: {answer}"
    );
    assert!(answer.contains("Envoi trop volumineux"), "{answer}");
}

/// A service that sets no body limit of its own has the portal's (`[limits]
/// max_body_bytes`, 64 MiB unless set): 100 MB went to legacy forms that read 1 MB (found
/// when tried). A service's own limit replaces it, larger or smaller.
#[test]
fn a_service_without_a_body_limit_of_its_own_has_the_portals() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.max_body_bytes = 100;
        let own = egov_integration::service_mut(c, "passport-application");
        own.limits.max_body_bytes = Some(1000);
    });
    let post = |service: &str, len: usize| {
        let body = "x".repeat(len);
        let req = format!(
            "POST /s/{service}/__estate/echo HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{body}",
            gw.addr
        );
        raw_http::send(gw.addr, req.as_bytes()).status
    };
    assert_eq!(post("cnie-renewal", 200), 413);
    assert_eq!(post("cnie-renewal", 50), 200);
    assert_eq!(
        post("passport-application", 200),
        200,
        "its own limit is larger"
    );
    assert_eq!(post("passport-application", 2000), 413);
}

/// An HTTP/2 request on `client` whose stream stays open after its header: the answer,
/// and the stream its body would go on (kept, so the stream is not ended by dropping it).
async fn send_unended(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    request: http::Request<()>,
) -> (h2::client::ResponseFuture, h2::SendStream<bytes::Bytes>) {
    *client = client.clone().ready().await.expect("a stream slot");
    client.send_request(request, false).expect("send")
}

/// The status of `answer`, which must come within ten seconds.
async fn status_within_ten_seconds(answer: h2::client::ResponseFuture) -> http::StatusCode {
    tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .expect("answered within ten seconds")
        .expect("an answer")
        .status()
}

/// Found when tried: a `GET` whose HTTP/2 stream never ended was sent on at once with
/// `Transfer-Encoding: chunked`, and each such stream held one of the legacy site's
/// connections for as long as the client liked (pingora waits for an HTTP/2 body with no
/// deadline). Now its body is waited for within the portal's pace first, and the legacy site
/// never hears of it.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_request_whose_body_never_ends_gets_408_and_never_reaches_the_legacy_site() {
    let estate = start_estate(None);
    let site = egov_integration::raw_http::SilentSite::start();
    let port = site.port;
    let gw = TestGateway::with(&estate, move |c| {
        c.gateway.limits.body_grace = Duration::from_secs(1);
        egov_integration::backend_at(c, "cnie-renewal", port);
    });
    let mut client = http2(&gw, 65_535).await;
    let (answer, _body) = send_unended(&mut client, h2_get(&gw, "/s/cnie-renewal/page")).await;
    assert_eq!(status_within_ten_seconds(answer).await, 408);
    assert_eq!(site.reached(), 0, "the legacy site was asked");
}

/// A `GET`'s body is waited for whole: sites answer a `GET` without reading its body, so one
/// that went on after the part waited for (48 KiB) and then stopped held the site's
/// connection as before (found in review). Past that part, it is 413.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_get_whose_body_outgrows_the_wait_gets_413_and_never_reaches_the_legacy_site() {
    let estate = start_estate(None);
    let site = egov_integration::raw_http::SilentSite::start();
    let port = site.port;
    let gw = TestGateway::with(&estate, move |c| {
        egov_integration::backend_at(c, "cnie-renewal", port);
    });
    let mut client = http2(&gw, 65_535).await;
    let (answer, mut body) = send_unended(&mut client, h2_get(&gw, "/s/cnie-renewal/page")).await;
    body.send_data(bytes::Bytes::from(vec![b'x'; 50_000]), false)
        .expect("48 KiB and more");
    assert_eq!(status_within_ten_seconds(answer).await, 413);
    assert_eq!(site.reached(), 0, "the legacy site was asked");
}

/// The pace of an HTTP/2 body runs from its first byte to its last: the time its start
/// took to arrive, before a legacy site was asked, counts. A body whose start came at the
/// last moment of the grace and whose rest trickled had the whole grace again from the
/// site's connection on.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_body_whose_start_came_late_has_only_the_rest_of_its_grace() {
    let estate = start_estate(None);
    // A site that takes the request and waits for its body's end: the pace alone ends it.
    let site = egov_integration::raw_http::SilentSite::start();
    let port = site.port;
    let gw = TestGateway::with(&estate, move |c| {
        c.gateway.limits.body_grace = Duration::from_secs(3);
        c.gateway.limits.body_min_rate = 1 << 30;
        egov_integration::backend_at(c, "cnie-renewal", port);
    });
    let mut client = http2(&gw, 65_535).await;
    let request = http::Request::post(gw.url("/s/cnie-renewal/form"))
        .header("content-type", "text/plain")
        .body(())
        .expect("request");
    let began = std::time::Instant::now();
    let (answer, mut body) = send_unended(&mut client, request).await;
    let trickle = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // The part waited for before the site is asked, at once.
        if body
            .send_data(bytes::Bytes::from(vec![b'x'; 50_000]), false)
            .is_err()
        {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if body
                .send_data(bytes::Bytes::from_static(&[b'y'; 100]), false)
                .is_err()
            {
                return;
            }
        }
    });
    assert_eq!(status_within_ten_seconds(answer).await, 408);
    let took = began.elapsed();
    trickle.abort();
    assert_eq!(
        site.reached(),
        1,
        "the body's start came in time: the site was asked"
    );
    assert!(
        took < Duration::from_millis(4000),
        "408 after {took:?}: the grace began again at the site's connection (4.5 s)"
    );
    assert!(took >= Duration::from_millis(2900), "408 after {took:?}");
}

/// The same wait over a local endpoint: `POST /api/route` whose JSON never ends gets 408
/// (it held its stream for as long as the client liked).
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_call_to_the_router_whose_body_never_ends_gets_408() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.body_grace = Duration::from_secs(1);
    });
    let mut client = http2(&gw, 65_535).await;
    let request = http::Request::post(gw.url("/api/route"))
        .header("content-type", "application/json")
        .body(())
        .expect("request");
    let (answer, mut body) = send_unended(&mut client, request).await;
    body.send_data(bytes::Bytes::from_static(b"{\"query\": \"pass"), false)
        .expect("a first piece");
    assert_eq!(status_within_ten_seconds(answer).await, 408);
}

/// What the wait keeps is what the legacy site gets: a body shorter than the part waited
/// for, and one longer (its start from the wait, its rest streamed), each sent in pieces
/// with pauses, arrive whole.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_body_sent_in_pieces_reaches_the_legacy_site_whole() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let mut client = http2(&gw, 65_535).await;
    for total in [20_000usize, 150_000] {
        let request = http::Request::post(gw.url("/s/cnie-renewal/__estate/echo"))
            .header("content-type", "text/plain")
            .body(())
            .expect("request");
        let (answer, mut body) = send_unended(&mut client, request).await;
        let sent: Vec<u8> = (0..total).map(|i| b'a' + (i % 26) as u8).collect();
        for (n, piece) in sent.chunks(7_000).enumerate() {
            body.send_data(bytes::Bytes::copy_from_slice(piece), false)
                .expect("a piece");
            if n % 4 == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        body.send_data(bytes::Bytes::new(), true).expect("the end");
        let answer = answer.await.expect("an answer");
        assert_eq!(answer.status(), 200, "{total} bytes");
        let mut stream = answer.into_body();
        let mut echoed = Vec::new();
        while let Some(chunk) = stream.data().await {
            let chunk = chunk.expect("the echo");
            let _ = stream.flow_control().release_capacity(chunk.len());
            echoed.extend_from_slice(&chunk);
        }
        let echo: serde_json::Value = serde_json::from_slice(&echoed).expect("JSON");
        assert_eq!(echo["body_len"], total as u64, "{total} bytes");
        let kept = echo["body"].as_str().expect("the body").as_bytes();
        assert_eq!(kept, &sent[..kept.len()], "{total} bytes");
    }
}
