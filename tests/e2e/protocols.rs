//! Failures of the legacy side, forwarding headers, and the protocols the portal speaks.

use egov_gateway::config::Timeouts;
use egov_integration::{client, loopback_proxies, metric_value, ports, start_estate, TestGateway};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn backend_refusing_connections_gets_a_502_page_with_the_request_id() {
    let estate = start_estate(None);
    let dead = ports::closed_port();
    let gw = TestGateway::with(&estate, |c| {
        egov_integration::backend_down(c, "cnie-renewal", dead.addr.port());
    });
    let resp = client()
        .get(gw.url("/s/cnie-renewal/"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 502);
    let id = egov_integration::request_id(&resp);
    let body = resp.text().await.expect("body");
    assert!(body.contains("ne répond pas"), "{body}");
    assert!(body.contains(&id));
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_slower_than_the_read_timeout_gets_a_504_page_with_the_request_id() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let s = egov_integration::service_mut(c, "cnie-renewal");
        s.upstream.timeouts = Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_millis(300),
            total: Duration::from_secs(5),
        };
    });
    let resp = client()
        .get(gw.url("/s/cnie-renewal/__estate/delay?ms=3000"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 504);
    let id = egov_integration::request_id(&resp);
    let body = resp.text().await.expect("body");
    assert!(body.contains("trop de temps"), "{body}");
    assert!(body.contains(&id));
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_exceeding_the_total_timeout_gets_a_504() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let s = egov_integration::service_mut(c, "cnie-renewal");
        s.upstream.timeouts = Timeouts {
            connect: Duration::from_millis(200),
            read: Duration::from_secs(10),
            total: Duration::from_millis(400),
        };
    });
    let resp = client()
        .get(gw.url("/s/cnie-renewal/__estate/delay?ms=2000"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 504);
}

#[tokio::test(flavor = "multi_thread")]
async fn spoofed_forwarding_headers_are_replaced_by_the_gateways_own() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let echo: Value = client()
        .get(gw.url("/s/cnie-renewal/__estate/echo"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "for=6.6.6.6")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let h = &echo["headers"];
    assert_eq!(h["x-forwarded-for"][0], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"][0], "http");
    assert_eq!(h["x-forwarded-host"][0], gw.addr.to_string().as_str());
    assert!(h.get("forwarded").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn trusted_proxy_forwarding_chain_is_extended() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.portal.trusted_proxies = loopback_proxies();
    });
    let echo = echo_as_a_load_balancer(gw.url("/s/cnie-renewal/__estate/echo")).await;
    assert_eq!(
        echo["headers"]["x-forwarded-for"][0],
        "198.51.100.7, 127.0.0.1"
    );
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https");
}

/// What the estate's echo at `url` received from a load balancer that forwards a citizen
/// at 198.51.100.7 who came over HTTPS.
async fn echo_as_a_load_balancer(url: String) -> Value {
    client()
        .get(url)
        .header("x-forwarded-for", "198.51.100.7")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// A gateway listening on both families (as on `[::]:80`, here on `[::ffff:127.0.0.1]`, so
/// nothing beyond the machine can reach it), the client as its trusted load balancer.
fn on_both_families(estate: &egov_estate::RunningEstate, per_ip: usize) -> TestGateway {
    let staged = egov_integration::Staged::new(estate);
    let both = ports::reserve_on("[::ffff:127.0.0.1]:0");
    TestGateway::staged_on(estate, staged, both, |c| {
        c.gateway.portal.trusted_proxies = loopback_proxies();
        c.gateway.limits.max_connections_per_ip = per_ip;
    })
}

/// Found when tried: on a listener of both families an IPv4 load balancer is
/// `::ffff:a.b.c.d`, which the forwarding headers compared with the configured `127.0.0.0/8`
/// and did not believe; every citizen then reached the site as the load balancer.
#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_proxy_reaching_a_listener_on_both_families_is_believed() {
    let estate = start_estate(None);
    let gw = on_both_families(&estate, 256);
    let url = format!(
        "http://127.0.0.1:{}/s/cnie-renewal/__estate/echo",
        gw.addr.port()
    );
    let echo = echo_as_a_load_balancer(url).await;
    assert_eq!(
        echo["headers"]["x-forwarded-for"][0],
        "198.51.100.7, 127.0.0.1"
    );
}

/// Found when tried: the connection caps did not know a load balancer reaching a listener of
/// both families, and held it to one citizen's share.
#[test]
fn a_trusted_proxy_reaching_a_listener_on_both_families_is_not_held_to_one_citizens_share() {
    let estate = start_estate(None);
    let gw = on_both_families(&estate, 2);
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], gw.addr.port()));
    let _held: Vec<std::net::TcpStream> = (0..5)
        .map(|_| std::net::TcpStream::connect(to).expect("connect"))
        .collect();
    gw.wait_connections_open(5);
    let answer = egov_integration::raw_http::get(to, "/s/cnie-renewal/", "");
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_upgrade_is_passed_through_and_echoes() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let url = format!("ws://{}/s/cnie-renewal/__estate/ws", gw.addr);
    let (mut ws, resp) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    assert_eq!(resp.status(), 101);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("the handshake's session cookie");
    assert!(
        cookie.contains("Path=/s/cnie-renewal/") && !cookie.contains("Domain"),
        "the handshake's cookie was not scoped under the service: {cookie}"
    );
    ws.send(tokio_tungstenite::tungstenite::Message::text("سلام"))
        .await
        .expect("send");
    let reply = ws.next().await.expect("a reply").expect("a frame");
    assert_eq!(reply.into_text().expect("text").as_str(), "سلام");
}

/// An HTTP/1.1 request asking to upgrade to h2c (what curl sends for `--http2` over plain
/// HTTP), closing after its answer.
fn h2c_upgrade_request(gw: &TestGateway, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
        gw.addr
    )
}

/// Found when tried: a request asking to upgrade to h2c got the legacy site's 200 with no
/// body adapter (its windows-1256 bytes, its legacy links): the site was sent no upgrade
/// (pingora's upstream policy), but the gateway passed the answer as an upgrade's.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_asked_for_with_an_h2c_upgrade_goes_through_the_adapters() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let request = h2c_upgrade_request(&gw, "/s/cnie-renewal/");
    let answer = egov_integration::raw_http::send(gw.addr, request.as_bytes());
    assert_eq!(answer.status, 200, "{}", answer.text());
    let ct = answer.header("content-type").unwrap_or_default();
    assert!(ct.to_ascii_lowercase().contains("charset=utf-8"), "{ct}");
    let site = egov_estate::site("cnie-renewal").expect("site");
    assert!(
        answer.text().contains(&site.title.ar),
        "the Arabic title did not arrive as UTF-8"
    );
}

/// Found in a bypass probe: a WebSocket handshake to a page the site answers as any request
/// (200, no switch) got the page with no body adapter.
#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_handshake_answered_with_a_page_gets_the_page_through_the_adapters() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let answer = egov_integration::raw_http::websocket_handshake(gw.addr, "/s/cnie-renewal/");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let ct = answer.header("content-type").unwrap_or_default();
    assert!(ct.to_ascii_lowercase().contains("charset=utf-8"), "{ct}");
    let site = egov_estate::site("cnie-renewal").expect("site");
    assert!(answer.text().contains(&site.title.ar), "not UTF-8");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_outlives_the_services_request_body_limit() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        let service = egov_integration::service_mut(c, "cnie-renewal");
        service.limits.max_body_bytes = Some(100);
    });
    let url = format!("ws://{}/s/cnie-renewal/__estate/ws", gw.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    // Ten 60-byte messages: six times what a request body may carry, and none of it is one.
    for i in 0..10 {
        let text = format!("{i:060}");
        ws.send(tokio_tungstenite::tungstenite::Message::text(text.clone()))
            .await
            .expect("send");
        let reply = ws.next().await.expect("a reply").expect("a frame");
        assert_eq!(reply.into_text().expect("text").as_str(), text);
    }
}

/// A gateway whose upgraded connections may stay silent one second, and a WebSocket
/// through it to the estate's echo.
async fn websocket_with_a_one_second_idle_limit() -> (
    egov_estate::RunningEstate,
    TestGateway,
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.upgraded_idle_timeout = Duration::from_secs(1);
    });
    let url = format!("ws://{}/s/cnie-renewal/__estate/ws", gw.addr);
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    (estate, gw, ws)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_whose_citizen_stays_silent_ends_after_the_upgraded_idle_timeout() {
    let (_estate, _gw, mut ws) = websocket_with_a_one_second_idle_limit().await;
    let silent = std::time::Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a silent upgraded connection was still open after 10 s");
    assert!(
        !matches!(&end, Some(Ok(m)) if m.is_text() || m.is_binary()),
        "a message nobody asked for: {end:?}"
    );
    assert!(
        silent.elapsed() >= Duration::from_millis(900),
        "ended after {:?}, before the limit",
        silent.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_that_keeps_talking_outlives_the_upgraded_idle_timeout() {
    let (_estate, _gw, mut ws) = websocket_with_a_one_second_idle_limit().await;
    // Three seconds of conversation, never a second of silence.
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let text = format!("message {i}");
        ws.send(tokio_tungstenite::tungstenite::Message::text(text.clone()))
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        let reply = ws.next().await.expect("a reply").expect("a frame");
        assert_eq!(reply.into_text().expect("text").as_str(), text);
    }
}

/// A client speaking HTTP/2 over plain TCP from the first byte (h2c with prior knowledge).
fn h2c_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_prior_knowledge_h2c_is_served() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let h2 = h2c_client();
    let resp = h2
        .get(gw.url("/s/cnie-renewal/__estate/echo"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let echo: Value = resp.json().await.expect("json");
    assert_eq!(echo["site"], "cnie-renewal");
}

/// With h2c on, the gateway tells HTTP/2 from HTTP/1 by the connection's first bytes. A
/// whole request shorter than HTTP/2's 24-byte preface (what load balancers' health checks
/// send) was left waiting for bytes that never come, then dropped at the header deadline.
#[test]
fn with_h2c_on_a_request_shorter_than_the_http2_preface_is_answered() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    assert!(
        gw.registry.snapshot().config.gateway.portal.h2c,
        "h2c is on"
    );
    let resp = egov_integration::raw_http::send(gw.addr, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(resp.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_request_slower_than_the_keepalive_timeout_is_not_cut_off() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.keepalive_timeout = Some(Duration::from_secs(1));
    });
    let h2 = h2c_client();
    // The connection is idle only with nothing in flight.
    let resp = h2
        .get(gw.url("/s/cnie-renewal/__estate/delay?ms=2500"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("body").contains("slept 2500 ms"));
}

/// A gateway with a TLS portal listener offering HTTP/2, on a self-signed certificate for
/// `localhost`: the gateway, the listener's address, the certificate and the directory its
/// files are in (kept while the gateway runs).
struct TlsGateway {
    gw: TestGateway,
    addr: std::net::SocketAddr,
    cert: rcgen::CertifiedKey,
    _dir: egov_integration::scratch::TempDir,
}

impl TlsGateway {
    /// The estate's echo page of `cnie-renewal`, over TLS.
    fn echo_url(&self) -> String {
        format!(
            "https://localhost:{}/s/cnie-renewal/__estate/echo",
            self.addr.port()
        )
    }

    /// A TLS client trusting the gateway's certificate, offering `alpn` (none: HTTP/1.1).
    fn connector(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        trusting(&self.cert, alpn)
    }

    /// The listener's certificate file and key file (what a renewal writes over).
    fn files(&self) -> (std::path::PathBuf, std::path::PathBuf) {
        (
            self._dir.path().join("portal.crt"),
            self._dir.path().join("portal.key"),
        )
    }

    /// Whether a TLS client that trusts only `cert` completes a handshake with the listener.
    async fn handshakes_trusting(&self, cert: &rcgen::CertifiedKey) -> bool {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let name =
            tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").expect("name");
        trusting(cert, &[]).connect(name, tcp).await.is_ok()
    }

    /// What a SIGHUP does, with the staged configuration.
    async fn reload(&self) {
        let staged = self.gw.staged_config().expect("a staged configuration");
        self.gw.reload(&staged.dir().join("gateway.toml")).await;
    }
}

/// A TLS client trusting only `cert`, offering `alpn` (none: HTTP/1.1).
fn trusting(cert: &rcgen::CertifiedKey, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("the root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// Certificates are renewed in place and the server told to reload, as nginx reads them
/// again. Found when tried: the gateway read them once at start, so after a renewal and a
/// SIGHUP every citizen was still shown the old certificate, until it expired.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_renewed_in_place_is_presented_from_the_next_reload() {
    let estate = start_estate(None);
    let tls = tls_gateway(&estate, |_| {});
    let renewed = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let (cert, key) = tls.files();
    std::fs::write(&cert, renewed.cert.pem()).expect("write cert");
    std::fs::write(&key, renewed.key_pair.serialize_pem()).expect("write key");
    assert!(
        tls.handshakes_trusting(&tls.cert).await,
        "not before the reload"
    );
    tls.reload().await;
    assert!(tls.handshakes_trusting(&renewed).await, "the renewed one");
    assert!(
        !tls.handshakes_trusting(&tls.cert).await,
        "the old one is gone"
    );
    const RENEWED: &str = r#"egov_tls_certificate_reloads_total{result="renewed"}"#;
    let text = tls.gw.metrics_showing(&[&format!("{RENEWED} 1")]).await;
    assert_eq!(metric_value(&text, RENEWED), Some(1), "counted");
    let expiry = format!(
        "egov_tls_certificate_expiry_timestamp_seconds{{listener=\"{}\"}}",
        tls.addr
    );
    assert!(text.contains(&expiry), "{text}");
}

/// A replacement that cannot serve (here another certificate's key: a renewal half written)
/// is refused, logged and counted, and the listener presents the certificate in use.
#[tokio::test(flavor = "multi_thread")]
async fn a_renewal_that_cannot_serve_keeps_the_certificate_in_use() {
    let estate = start_estate(None);
    let tls = tls_gateway(&estate, |_| {});
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let (cert, _) = tls.files();
    std::fs::write(&cert, other.cert.pem()).expect("write cert");
    tls.reload().await;
    assert!(
        tls.handshakes_trusting(&tls.cert).await,
        "the certificate in use"
    );
    const REFUSED: &str = r#"egov_tls_certificate_reloads_total{result="refused"}"#;
    let text = tls.gw.metrics_showing(&[&format!("{REFUSED} 1")]).await;
    assert_eq!(metric_value(&text, REFUSED), Some(1), "counted");
}

/// A client that trusts any certificate (the gateway's is self-signed), HTTP/2 by ALPN
/// unless `http1_only`.
fn https_client(http1_only: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .no_proxy();
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().expect("client")
}

fn tls_gateway(
    estate: &egov_estate::RunningEstate,
    tweak: impl FnOnce(&mut egov_gateway::config::Config),
) -> TlsGateway {
    let dir = egov_integration::scratch::TempDir::new("tls");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let cert_path = dir.path().join("portal.crt");
    let key_path = dir.path().join("portal.key");
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).expect("write key");
    let tls_port = ports::reserve();
    let addr = tls_port.addr;
    drop(tls_port);
    let gw = TestGateway::with(estate, |c| {
        c.gateway.portal.tls = vec![egov_gateway::config::TlsListener {
            listen: addr,
            cert: cert_path.clone(),
            key: key_path.clone(),
            h2: true,
        }];
        tweak(c);
    });
    TlsGateway {
        gw,
        addr,
        cert,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_listener_terminates_tls_and_negotiates_http2_by_alpn() {
    let estate = start_estate(None);
    let tls = tls_gateway(&estate, |_| {});
    let resp = https_client(false)
        .get(tls.echo_url())
        .send()
        .await
        .expect("request");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let echo: Value = resp.json().await.expect("json");
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https");
}

/// Found when tried: a TLS client that negotiated `h2` by ALPN and then sent nothing held
/// its connection, and its slot under the connection caps, until it went (pingora waits
/// for HTTP/2's preface without a deadline). The preface now has the header's deadline.
#[tokio::test(flavor = "multi_thread")]
async fn a_tls_client_that_negotiates_http2_and_never_sends_its_preface_is_closed_at_the_header_deadline(
) {
    use tokio::io::AsyncReadExt;
    use tokio_rustls::rustls;
    let estate = start_estate(None);
    let tls = tls_gateway(&estate, |c| {
        c.gateway.limits.header_timeout = Duration::from_secs(1);
    });
    let connector = tls.connector(&[b"h2"]);
    let tcp = tokio::net::TcpStream::connect(tls.addr)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut conn = connector.connect(name, tcp).await.expect("handshake");
    assert_eq!(conn.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let silent = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 256];
        // The server's SETTINGS come first; then the end.
        while matches!(conn.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "a connection that sent no preface was still open after 10 s"
    );
    assert!(
        silent.elapsed() >= Duration::from_millis(900),
        "closed after {:?}, before the deadline",
        silent.elapsed()
    );
    tls.gw.wait_connections_open(0);
}

/// The header deadline runs from the connection's start, its TLS handshake included: a
/// client that began its handshake at the last moment and then trickled its header held
/// its slot for the handshake's time and then a whole deadline more (twice the limit).
#[tokio::test(flavor = "multi_thread")]
async fn a_tls_client_that_handshakes_late_has_only_the_rest_of_the_header_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let estate = start_estate(None);
    let tls = tls_gateway(&estate, |c| {
        c.gateway.limits.header_timeout = Duration::from_secs(3);
    });
    let connector = tls.connector(&[]);
    let connected = std::time::Instant::now();
    let tcp = tokio::net::TcpStream::connect(tls.addr)
        .await
        .expect("connect");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut conn = connector.connect(name, tcp).await.expect("handshake");
    conn.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("half a header");
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 1024];
        while matches!(conn.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    assert!(closed.is_ok(), "half a header was still open after 10 s");
    let held = connected.elapsed();
    assert!(
        held < Duration::from_millis(4000),
        "held {held:?}: the deadline started again after the handshake (4.5 s)"
    );
    assert!(held >= Duration::from_millis(2800), "closed after {held:?}");
}

/// Found when tried: connections to a TLS listener that never began their handshake held
/// no slot under the connection caps, each for pingora's fixed minute, so one address could
/// hold as many descriptors as it liked. They now take their address's slots first, and end
/// at the header deadline.
#[tokio::test(flavor = "multi_thread")]
async fn silent_tls_handshakes_take_their_addresss_slots_and_end_at_the_header_deadline() {
    let estate = start_estate(None);
    let tls = tls_gateway(&estate, |c| {
        c.gateway.limits.header_timeout = Duration::from_secs(1);
        c.gateway.limits.max_connections_per_ip = 4;
    });
    let silent: Vec<tokio::net::TcpStream> = {
        let mut held = Vec::new();
        for _ in 0..20 {
            held.push(
                tokio::net::TcpStream::connect(tls.addr)
                    .await
                    .expect("connect"),
            );
        }
        held
    };
    let gw = &tls.gw;
    tokio::task::block_in_place(|| gw.wait_connections_open(4));
    let start = std::time::Instant::now();
    for mut conn in silent {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 64];
        let ended = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await;
        assert!(
            matches!(ended, Ok(Ok(0)) | Ok(Err(_))),
            "a silent TLS connection was still open after {:?}: {ended:?}",
            start.elapsed()
        );
    }
    tokio::task::block_in_place(|| gw.wait_connections_open(0));
    let answer = https_client(false)
        .get(tls.echo_url())
        .send()
        .await
        .expect("the address's slots are free again");
    assert_eq!(answer.status(), 200);
}

/// A TLS handshake that fails is counted by why, for the SRE: it was only a debug line
/// (pingora logged each as an error). Plain HTTP sent to the TLS port is an `error`; a
/// connection that sends nothing, a `timeout` (and a header timeout).
#[tokio::test(flavor = "multi_thread")]
async fn failed_tls_handshakes_are_counted_by_why() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let estate = start_estate(None);
    let tls = tls_gateway(&estate, |c| {
        c.gateway.limits.header_timeout = Duration::from_secs(1);
    });
    // The harness's own probe of the TLS port (a connection closed unhandshaken) is an
    // error: waited for, so that what follows is counted on top of it (under load, it may
    // be counted after the gateway's start returned).
    const ERRORS: &str = r#"egov_tls_handshakes_failed_total{reason="error"}"#;
    const TIMEOUTS: &str = r#"egov_tls_handshakes_failed_total{reason="timeout"}"#;
    let text = tls.gw.metrics_showing(&[&format!("{ERRORS} 1")]).await;
    assert_eq!(metric_value(&text, ERRORS), Some(1), "the harness's probe");
    let mut plain = tokio::net::TcpStream::connect(tls.addr)
        .await
        .expect("connect");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("send");
    let mut silent = tokio::net::TcpStream::connect(tls.addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 512];
    for conn in [&mut plain, &mut silent] {
        let _ = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await;
    }
    let text = tls
        .gw
        .metrics_showing(&[&format!("{ERRORS} 2"), &format!("{TIMEOUTS} 1")])
        .await;
    assert_eq!(
        (metric_value(&text, ERRORS), metric_value(&text, TIMEOUTS)),
        (Some(2), Some(1)),
        "one of each, counted"
    );
}

/// A TLS connection over its address's share still gets its handshake (a short one), so
/// the citizen reads a refusal rather than a broken connection.
#[tokio::test(flavor = "multi_thread")]
async fn a_tls_connection_over_the_addresss_share_reads_a_429_after_its_handshake() {
    let estate = start_estate(None);
    let tls = tls_gateway(&estate, |c| c.gateway.limits.max_connections_per_ip = 1);
    // Its connection stays open in its pool, holding the address's one slot.
    let first = https_client(true);
    let served = first.get(tls.echo_url()).send().await.expect("served");
    assert_eq!(served.status(), 200);
    let refused = https_client(true)
        .get(tls.echo_url())
        .send()
        .await
        .expect("a refusal");
    assert_eq!(refused.status(), 429);
    drop(first);
}

/// Sockets listening on 127.0.0.1:`port` (state `LISTEN` in the kernel's table).
fn listening_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("the kernel's TCP table");
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A")
        })
        .count()
}

#[test]
fn with_a_runtime_per_thread_each_thread_listens_on_its_own_socket_and_every_one_serves() {
    let estate = start_estate(None);
    // The repository's configuration (`thread_per_core = true`), at two threads.
    let gw = TestGateway::in_front_of(&estate);
    assert_eq!(listening_sockets(gw.addr.port()), 2);
    // The kernel spreads new connections over both sockets: were one runtime's accept loop
    // missing, about half of these would never be answered.
    for i in 0..40 {
        let answer = egov_integration::raw_http::get(gw.addr, "/s/cnie-renewal/", "");
        assert_eq!(answer.status, 200, "connection {i}");
    }
}

#[test]
fn with_one_shared_runtime_the_portal_listens_on_one_socket() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| c.gateway.server.thread_per_core = false);
    assert_eq!(listening_sockets(gw.addr.port()), 1);
    let answer = egov_integration::raw_http::get(gw.addr, "/s/cnie-renewal/", "");
    assert_eq!(answer.status, 200);
}

/// Found when tried: each WebSocket ending at its idle limit was counted as one of the
/// site's timeouts, which the error-rate rules read, and logged as an error naming it.
#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_ending_at_its_idle_limit_is_no_upstream_error() {
    let (_estate, gw, mut ws) = websocket_with_a_one_second_idle_limit().await;
    let end = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    assert!(end.is_ok(), "the silent WebSocket outlived its idle limit");
    // What the access log and the metrics record of the request comes after its end.
    let counted =
        [r#"egov_http_requests_total{class="1xx",ministry="interior",service="cnie-renewal"} 1"#];
    let metrics = gw.metrics_showing(&counted).await;
    assert!(metrics.contains(counted[0]), "{metrics}");
    let timeouts = metrics
        .lines()
        .filter(|l| l.starts_with("egov_upstream_errors_total") && l.contains("cnie-renewal"))
        .collect::<Vec<_>>();
    assert!(timeouts.is_empty(), "{timeouts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_websockets_ending_at_their_idle_limit_do_not_open_the_services_breaker() {
    // Found when tried: a thousand silent WebSockets ending at their idle limit were
    // counted as the site's timeouts, and the service went into maintenance.
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.limits.upgraded_idle_timeout = Duration::from_secs(1);
        if let Some(s) = c.services.iter_mut().find(|s| s.id == "cnie-renewal") {
            s.upstream.breaker = egov_gateway::config::BreakerConfig {
                failures: 2,
                open_for: Duration::from_secs(30),
            };
        }
    });
    let mut silent = Vec::new();
    for n in 0..9u8 {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 2 + n % 3], 0)))
            .expect("bind a citizen's address");
        let stream = socket.connect(gw.addr).await.expect("connect");
        let url = format!("ws://{}/s/cnie-renewal/__estate/ws", gw.addr);
        let (ws, _) = tokio_tungstenite::client_async(url, stream)
            .await
            .expect("upgrade");
        silent.push(ws);
    }
    for mut ws in silent {
        let end = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
        assert!(end.is_ok(), "a silent WebSocket outlived its idle limit");
    }
    let page = client()
        .get(gw.url("/s/cnie-renewal/"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200, "the service is not in maintenance");
    let metrics = gw
        .metrics_showing(&["egov_circuit_breaker_state{breaker=\"service:cnie-renewal\"} 0"])
        .await;
    assert!(
        metrics.contains("egov_circuit_breaker_state{breaker=\"service:cnie-renewal\"} 0"),
        "the breaker stayed closed"
    );
}
