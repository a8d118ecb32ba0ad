//! What SREs see: metrics, the access log, trace context and the status board.

use egov_gateway::config::AccessLogTarget;
use egov_integration::scratch::TempDir;
use egov_integration::sso::{SsoOptions, SsoWorld, Store};
use egov_integration::{all_public, client, loopback_proxies, raw_http, start_estate, TestGateway};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn traffic_shows_up_in_metrics_labelled_by_service_and_ministry_only() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let http = client();
    for _ in 0..3 {
        http.get(gw.url("/s/cnie-renewal/"))
            .send()
            .await
            .expect("request");
    }
    http.get(gw.url("/s/no-such-service/x?secret=1"))
        .send()
        .await
        .expect("request");
    let served =
        r#"egov_http_requests_total{class="2xx",ministry="interior",service="cnie-renewal"} 3"#;
    let unknown = r#"egov_http_requests_total{class="4xx",ministry="_portal",service="_portal"} 1"#;
    let text = gw.metrics_showing(&[served, unknown]).await;
    assert!(text.contains(served), "{text}");
    assert!(text.contains(unknown), "{text}");
    assert!(text.contains("egov_http_request_duration_seconds_bucket"));
    assert!(text.contains("egov_upstream_duration_seconds_count"));
    assert!(text.contains(
        r#"egov_adapter_body_rewrites_total{kind="transcode",service="cnie-renewal"} 3"#
    ));
    assert!(text.contains("egov_build_info"));
    assert!(
        !text.contains("no-such-service") && !text.contains("secret"),
        "raw paths leaked into labels"
    );
}

/// Found when tried: a ministry's site answering 500s showed no upstream error, and the
/// runbook, reading none, blamed the gateway ("roll back").
#[tokio::test(flavor = "multi_thread")]
async fn a_sites_own_5xx_is_counted_as_an_upstream_error_of_its_own_kind() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let http = client();
    for code in [500, 503, 404] {
        let resp = http
            .get(gw.url(&format!("/s/cnie-renewal/__estate/status/{code}")))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), code);
    }
    let answered = r#"egov_upstream_errors_total{kind="answered_5xx",ministry="interior",service="cnie-renewal"} 2"#;
    let text = gw.metrics_showing(&[answered]).await;
    assert!(text.contains(answered), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_log_has_one_json_line_per_request_without_query_values_or_cookies() {
    let estate = start_estate(None);
    let dir = TempDir::new("access-log");
    let log = dir.path().join("access.log");
    let path = log.clone();
    let gw = TestGateway::with(&estate, |c| {
        all_public(c);
        c.gateway.telemetry.access_log = AccessLogTarget::File(path);
    });
    let http = client();
    let resp = http
        .get(gw.url("/s/cnie-renewal/suivi?cin=AB123456&ref=42"))
        .header("cookie", "egov_session=session-secret; JSESSIONID=zzz")
        .send()
        .await
        .expect("request");
    let request_id = egov_integration::request_id(&resp);
    drop(resp);
    http.get(gw.url("/s/cnie-renewal/"))
        .send()
        .await
        .expect("request");
    http.get(gw.url("/nowhere")).send().await.expect("request");
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let a fourth line, if one were to come, arrive before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = std::fs::read_to_string(&log).unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let entries: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let entry = entries
        .iter()
        .find(|e| e["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no line for {request_id}: {text}"));
    assert_eq!(entry["service"], "cnie-renewal");
    assert_eq!(entry["ministry"], "interior");
    assert_eq!(entry["path"], "/s/cnie-renewal/suivi?cin=&ref=");
    assert_eq!(entry["trace_id"].as_str().map(str::len), Some(32));
    assert_eq!(entry["status"], 200);
    assert!(entry["duration_ms"].as_f64().is_some() && entry["upstream_ms"].as_f64().is_some());
    assert_eq!(entry["refused"], false, "the site answered");
    // The gateway's own answer says so, as `egov_http_requests_refused_total` counts it.
    let nowhere = entries
        .iter()
        .find(|e| e["path"] == "/nowhere")
        .unwrap_or_else(|| panic!("no line for /nowhere: {text}"));
    assert_eq!(nowhere["refused"], true, "{nowhere}");
    // Cookie values chosen so that no hex trace id can contain them by chance.
    assert!(
        !text.contains("AB123456") && !text.contains("session-secret") && !text.contains("zzz"),
        "{text}"
    );
}

/// Found when tried: support, given the request id a citizen read off a 502 page, found
/// its access line with no cause, and pingora's line with the cause but no request id. The
/// line says why the site gave no answer, in the metrics' words.
#[tokio::test(flavor = "multi_thread")]
async fn an_access_line_says_why_the_legacy_site_gave_no_answer() {
    let estate = start_estate(None);
    let dir = TempDir::new("access-log");
    let log = dir.path().join("access.log");
    let path = log.clone();
    let dead = egov_integration::ports::closed_port();
    let dead_addr = dead.addr;
    let gw = TestGateway::with(&estate, |c| {
        all_public(c);
        c.gateway.telemetry.access_log = AccessLogTarget::File(path);
        egov_integration::backend_at(c, "cnie-renewal", dead_addr.port());
    });
    let http = client();
    let failed = http
        .get(gw.url("/s/cnie-renewal/"))
        .send()
        .await
        .expect("request");
    assert_eq!(failed.status(), 502);
    let request_id = egov_integration::request_id(&failed);
    http.get(gw.url("/s/passport-application/"))
        .send()
        .await
        .expect("request");
    let lines = access_lines(&log, 2).await;
    let line = |id: &str| {
        lines
            .iter()
            .find(|l| l["service"] == id)
            .unwrap_or_else(|| panic!("no line for {id}: {lines:?}"))
    };
    let failed = line("cnie-renewal");
    assert_eq!(failed["request_id"], request_id.as_str(), "{failed}");
    assert_eq!(failed["upstream_error"], "refused", "{failed}");
    let answered = line("passport-application");
    assert_eq!(answered["status"], 200, "{answered}");
    assert_eq!(answered["upstream_error"], Value::Null, "{answered}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_legacy_site_receives_a_traceparent_of_the_requests_trace() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let resp = client()
        .get(gw.url("/s/cnie-renewal/__estate/echo"))
        .header(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-01",
        )
        .send()
        .await
        .expect("request");
    let request_id = egov_integration::request_id(&resp);
    let echo: Value = resp.json().await.expect("json");
    let tp = echo["headers"]["traceparent"][0]
        .as_str()
        .expect("a traceparent upstream");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_ne!(
        parts[1], "11111111111111111111111111111111",
        "an untrusted client chose the trace"
    );
    assert_eq!(parts[1], request_id, "the request id is the trace id");
}

/// Found in an observability probe: the gateway set W3C trace context and dropped the
/// citizen's, but a citizen's Zipkin (B3) and Jaeger headers reached the site as sent, and
/// a site traced with them joined the trace the citizen chose.
#[tokio::test(flavor = "multi_thread")]
async fn a_citizens_trace_headers_of_other_tracing_systems_never_reach_the_site() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let chosen = [
        ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
        ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
        ("x-b3-spanid", "e457b5a2e4d86bd1"),
        ("x-b3-sampled", "1"),
        ("uber-trace-id", "1:2:3:1"),
        ("uberctx-user", "admin"),
        ("x-datadog-trace-id", "1234"),
        (
            "x-amzn-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
        ),
        (
            "x-cloud-trace-context",
            "105445aa7843bc8bf206b12000100000/1;o=1",
        ),
        // From a bypass probe of the first list.
        ("jaeger-debug-id", "forced"),
        ("jaeger-baggage", "user=admin"),
        ("ot-tracer-traceid", "1234"),
        ("x-datadog-sampled", "1"),
        ("request-id", "|abc.1."),
        ("sw6", "1-abc"),
        ("sentry-trace", "771a43a4192642f0b136d5159a501700-1"),
        (
            "elastic-apm-traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("newrelic", "eyJ2IjpbMCwxXX0="),
        ("x-newrelic-id", "VQQUUFNS"),
        ("x-instana-t", "1234"),
        ("x-dynatrace", "FW4;1"),
    ];
    let mut request = client().get(gw.url("/s/cnie-renewal/__estate/echo"));
    for (name, value) in chosen {
        request = request.header(name, value);
    }
    let echo: Value = request
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    for (name, _) in chosen {
        assert!(
            echo["headers"].get(name).is_none(),
            "{name} reached the site: {}",
            echo["headers"]
        );
    }
    assert!(
        echo["headers"]["traceparent"][0].is_string(),
        "the gateway's own"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_proxy_continues_its_trace() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        all_public(c);
        c.gateway.portal.trusted_proxies = loopback_proxies();
    });
    let echo: Value = client()
        .get(gw.url("/s/cnie-renewal/__estate/echo"))
        .header(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-01",
        )
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let tp = echo["headers"]["traceparent"][0]
        .as_str()
        .expect("traceparent");
    assert!(
        tp.starts_with("00-11111111111111111111111111111111-"),
        "{tp}"
    );
    assert!(
        !tp.contains("2222222222222222"),
        "the gateway must add its own span id: {tp}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_board_shows_each_services_health_errors_and_latency() {
    let estate = start_estate(None);
    let dead = egov_integration::ports::closed_port();
    let gw = TestGateway::with(&estate, |c| {
        all_public(c);
        egov_integration::backend_down(c, "passport-application", dead.addr.port());
    });
    // The board counts from its oldest sample: take one before the traffic, in case the
    // background task's first one comes in the middle of it.
    gw.telemetry.status.sample();
    let http = client();
    for _ in 0..4 {
        http.get(gw.url("/s/cnie-renewal/"))
            .send()
            .await
            .expect("request");
        http.get(gw.url("/s/passport-application/"))
            .send()
            .await
            .expect("request");
    }
    // A request is counted in pingora's logging phase, after its response went out: wait
    // until all eight are, then sample.
    let cnie =
        r#"egov_http_requests_total{class="2xx",ministry="interior",service="cnie-renewal"} 4"#;
    let passport = r#"egov_http_requests_total{class="5xx",ministry="interior",service="passport-application"} 4"#;
    let text = gw.metrics_showing(&[cnie, passport]).await;
    assert!(text.contains(cnie) && text.contains(passport), "{text}");
    let board = gw.status_board().await;
    let services = board["services"].as_array().expect("services");
    let find = |id: &str| {
        services
            .iter()
            .find(|s| s["service"] == id)
            .cloned()
            .expect(id)
    };
    let ok = find("cnie-renewal");
    assert_eq!(ok["health"], "ok");
    assert_eq!(ok["requests"], 4, "{ok}");
    assert!(ok["p95_ms"].as_f64().is_some());
    let down = find("passport-application");
    assert_eq!(down["health"], "down");
    assert_eq!(down["error_rate"], 1.0);
    assert_eq!(down["requests"], 4, "{down}");
    assert_eq!(
        services[0]["service"], "passport-application",
        "the worst service comes first"
    );
    let page = http
        .get(format!("http://{}/status", gw.admin))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("/status.json") && page.contains("setInterval"),
        "the page must refresh itself"
    );
}

/// Found when tried (an observability probe): one address sending cheap requests the
/// gateway refuses itself (413) turned a service failing a third of its citizens "ok" on
/// the board, and kept its availability SLI under the fast-burn threshold. Such requests
/// are counted (4xx, and refused), but the error rate is over the requests the service had
/// to answer, and their latency is not the service's.
#[tokio::test(flavor = "multi_thread")]
async fn requests_the_gateway_refuses_itself_are_left_out_of_a_services_error_rate() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    egov_integration::set_failing(&estate, "refused-bad", true).await;
    gw.telemetry.status.sample();
    for _ in 0..3 {
        for tag in ["refused-ok", "refused-ok", "refused-bad"] {
            let path = format!("/s/cnie-renewal/__estate/cacheable?tag={tag}");
            let answer = raw_http::get(gw.addr, &path, "");
            assert_eq!(answer.status, if tag == "refused-ok" { 200 } else { 503 });
        }
    }
    let too_large = format!(
        "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\n\
         Content-Length: 100000000\r\nConnection: close\r\n\r\n",
        gw.addr
    );
    for _ in 0..150 {
        let answer = raw_http::send(gw.addr, too_large.as_bytes());
        assert!([413, 429].contains(&answer.status), "{}", answer.status);
    }
    let series = |name: &str| format!(r#"{name}{{ministry="interior",service="cnie-renewal"}}"#);
    let refused = r#"egov_http_requests_refused_total{class="4xx",ministry="interior",service="cnie-renewal"} 150"#;
    let answered = format!("{} 9", series("egov_http_request_duration_seconds_count"));
    let text = gw.metrics_showing(&[refused, &answered]).await;
    assert!(text.contains(refused) && text.contains(&answered), "{text}");
    let line = gw.status_line("cnie-renewal").await;
    assert_eq!(
        (&line["requests"], &line["refused"]),
        (&159.into(), &150.into()),
        "{line}"
    );
    assert_eq!(line["error_rate"], 0.3333, "{line}");
    assert_eq!(line["health"], "degraded", "{line}");
}

/// Found when tried: 600 anonymous requests to a citizen service, each sent to the login
/// by the gateway (302) in half a millisecond, took the service's error rate from 27 % to
/// 1.7 %. The gateway's redirect is its own answer, as a refusal is.
#[tokio::test(flavor = "multi_thread")]
async fn a_citizen_sent_to_the_login_is_not_an_answer_of_the_service() {
    let world = SsoWorld::start(SsoOptions::new(Store::Memory));
    let gw = &world.gateway;
    let answer = raw_http::get(gw.addr, "/s/property-certificate/", "");
    assert_eq!(answer.status, 302, "to the login");
    let series = r#"{ministry="agriculture",service="property-certificate"}"#;
    let refused = r#"egov_http_requests_refused_total{class="3xx",ministry="agriculture",service="property-certificate"} 1"#;
    let redirected = r#"egov_http_requests_total{class="3xx",ministry="agriculture",service="property-certificate"} 1"#;
    let text = gw.metrics_showing(&[refused, redirected]).await;
    assert!(text.contains(refused), "{text}");
    let timed = format!("egov_http_request_duration_seconds_count{series} 0");
    assert!(text.contains(&timed), "not the service's latency: {text}");
}

/// Found when tried: anonymous `/__egov/keep-alive`s on a service's origin, each answered
/// 200 by the gateway in a tenth of a millisecond, silenced the pages of a failing service
/// and turned a hung one "ok". What the gateway answers itself on a service's origin is
/// its own, not the service's: neither its SLIs nor its use.
#[tokio::test(flavor = "multi_thread")]
async fn the_gateways_own_endpoint_on_a_services_origin_is_not_an_answer_of_the_service() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        all_public(c);
        egov_integration::own_origins(c);
    });
    gw.telemetry.status.sample();
    let http = egov_integration::origin_client(gw.addr);
    for _ in 0..5 {
        let answer = http
            .get(gw.origin_url("cnie-renewal", "/__egov/keep-alive"))
            .send()
            .await
            .expect("keep-alive");
        assert_eq!(answer.status(), 200);
    }
    let refused = r#"egov_http_requests_refused_total{class="2xx",ministry="interior",service="cnie-renewal"} 5"#;
    let text = gw.metrics_showing(&[refused]).await;
    assert!(text.contains(refused), "{text}");
    let timed =
        r#"egov_http_request_duration_seconds_count{ministry="interior",service="cnie-renewal"} 0"#;
    assert!(text.contains(timed), "not the service's latency: {text}");
    let line = gw.status_line("cnie-renewal").await;
    assert_eq!(
        (&line["health"], &line["served"]),
        (&"idle".into(), &0.into()),
        "{line}"
    );
}

/// Found when tried: a citizen who gave up waiting on a hung site (499: no answer) was
/// counted as refused, so a site whose citizens all gave up read "ok", its SLIs empty. His
/// wait is the site's latency.
#[tokio::test(flavor = "multi_thread")]
async fn a_citizen_who_gives_up_waiting_on_the_site_is_its_latency_not_a_refusal() {
    use std::io::Write;
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let mut conn = std::net::TcpStream::connect(gw.addr).expect("connect");
    let head = format!(
        "GET /s/cnie-renewal/__estate/delay?ms=3000 HTTP/1.1\r\nHost: {}\r\n\r\n",
        gw.addr
    );
    conn.write_all(head.as_bytes()).expect("request");
    std::thread::sleep(Duration::from_millis(700));
    drop(conn);
    let series = r#"{ministry="interior",service="cnie-renewal"}"#;
    let abandoned =
        r#"egov_http_requests_total{class="4xx",ministry="interior",service="cnie-renewal"} 1"#;
    let timed = format!("egov_http_request_duration_seconds_count{series} 1");
    let text = gw.metrics_showing(&[abandoned, &timed]).await;
    assert!(text.contains(&timed), "{text}");
    let refused = r#"egov_http_requests_refused_total{class="4xx",ministry="interior",service="cnie-renewal"} 0"#;
    assert!(text.contains(refused), "{text}");
    let waited = histogram_sum(&text, "egov_http_request_duration_seconds", "cnie-renewal");
    assert!(waited >= 0.6, "the citizen's wait: {waited} s");
}

/// The sum of histogram `name`'s samples for `service`, from a `/metrics` page.
fn histogram_sum(metrics: &str, name: &str, service: &str) -> f64 {
    metrics
        .lines()
        .find(|l| {
            l.starts_with(&format!("{name}_sum{{")) && l.contains(&format!("service=\"{service}\""))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Found in a bypass probe: a backend's `503` after 1.5 s, failed over to another that
/// answered in 0.5 s, was 0.5 s of the site's latency and 1.5 s of the gateway's, and the
/// runbook sent the on-call to the gateway. The site's latency is all its attempts'.
#[tokio::test(flavor = "multi_thread")]
async fn the_sites_latency_counts_every_attempt_that_reached_it() {
    let estate = start_estate(None);
    let slow_503 = raw_http::answering_site(|_| {
        std::thread::sleep(Duration::from_millis(600));
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_vec()
    });
    let live = estate.addr();
    let gw = TestGateway::with(&estate, move |c| {
        all_public(c);
        let upstream = &mut egov_integration::service_mut(c, "cnie-renewal").upstream;
        let at = |addr: std::net::SocketAddr, weight| egov_gateway::config::Backend {
            host: addr.ip().to_string(),
            port: addr.port(),
            weight,
        };
        upstream.backends = vec![at(slow_503, 100), at(live, 1)];
        upstream.failover_on = vec![503];
    });
    // Weighted round-robin starts where the backends' sorted addresses put it: of three
    // requests, at most one goes to the estate first.
    for _ in 0..3 {
        assert_eq!(raw_http::get(gw.addr, "/s/cnie-renewal/", "").status, 200);
    }
    let counted =
        r#"egov_http_requests_total{class="2xx",ministry="interior",service="cnie-renewal"} 3"#;
    let metrics = gw.metrics_showing(&[counted]).await;
    let upstream = histogram_sum(&metrics, "egov_upstream_duration_seconds", "cnie-renewal");
    assert!(
        upstream >= 1.2,
        "the site is charged {upstream} s for two failovers or more"
    );
}

/// Found when tried: a body the citizen sent slowly counted as the legacy site's latency and
/// the request's, so six slow uploads from one address paged the on-call for a healthy site,
/// and the runbook then blamed its ministry.
#[tokio::test(flavor = "multi_thread")]
async fn a_body_the_citizen_sends_slowly_is_neither_the_sites_latency_nor_the_requests() {
    use std::io::{Read, Write};
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let mut conn = std::net::TcpStream::connect(gw.addr).expect("connect");
    let head = format!(
        "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: text/plain\r\nContent-Length: 3\r\n\r\n",
        gw.addr
    );
    conn.write_all(head.as_bytes()).expect("head");
    for byte in [b"a", b"b", b"c"] {
        std::thread::sleep(Duration::from_millis(400));
        conn.write_all(byte).expect("a byte of the body");
    }
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let counted =
        r#"egov_http_requests_total{class="2xx",ministry="interior",service="cnie-renewal"} 1"#;
    let metrics = gw.metrics_showing(&[counted]).await;
    let upstream = histogram_sum(&metrics, "egov_upstream_duration_seconds", "cnie-renewal");
    let request = histogram_sum(
        &metrics,
        "egov_http_request_duration_seconds",
        "cnie-renewal",
    );
    assert!(upstream < 0.5, "the site is charged {upstream} s");
    assert!(request < 0.5, "the request is charged {request} s");
}

/// Found when tried: a 5 MB certificate read over a slow phone counted as a 40 s request,
/// and a handful of such downloads burnt a healthy service's latency budget. The latency
/// objective measures the time to the answer's header; the access log, to the last byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_download_the_citizen_reads_slowly_is_not_the_services_latency() {
    use std::io::{Read, Write};
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .set_recv_buffer_size(16 * 1024)
        .expect("a small window");
    socket.connect(&gw.addr.into()).expect("connect");
    let mut conn: std::net::TcpStream = socket.into();
    let head = format!(
        "GET /s/cnie-renewal/__estate/blob?bytes=50331648 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        gw.addr
    );
    conn.write_all(head.as_bytes()).expect("head");
    let began = std::time::Instant::now();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0usize;
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = began.elapsed();
    assert!(got > 48 * 1024 * 1024, "read {got} bytes");
    assert!(
        took > Duration::from_secs(2),
        "read too fast to tell: {took:?}"
    );
    let counted =
        r#"egov_http_requests_total{class="2xx",ministry="interior",service="cnie-renewal"} 1"#;
    let metrics = gw.metrics_showing(&[counted]).await;
    let request = histogram_sum(
        &metrics,
        "egov_http_request_duration_seconds",
        "cnie-renewal",
    );
    assert!(
        request < 1.0,
        "the service is charged {request} s of a {took:?} download"
    );
}

/// Found in an observability probe: a `101` is informational, so a WebSocket's whole life
/// was timed as its handshake, and a dozen citizens chatting for a few seconds fired the
/// latency pages and showed a healthy service "degraded". The exchange ends at the `101`.
#[tokio::test(flavor = "multi_thread")]
async fn a_websockets_life_is_not_its_handshakes_latency() {
    use futures_util::{SinkExt, StreamExt};
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let url = format!("ws://{}/s/cnie-renewal/__estate/ws", gw.addr);
    let (mut ws, answer) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    assert_eq!(answer.status(), 101);
    let opened = std::time::Instant::now();
    while opened.elapsed() < Duration::from_millis(2500) {
        ws.send(tokio_tungstenite::tungstenite::Message::text("salam"))
            .await
            .expect("send");
        ws.next().await.expect("a reply").expect("a frame");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    ws.close(None).await.expect("close");
    while ws.next().await.is_some() {}
    let timed =
        r#"egov_http_request_duration_seconds_count{ministry="interior",service="cnie-renewal"} 1"#;
    let metrics = gw.metrics_showing(&[timed]).await;
    let request = histogram_sum(
        &metrics,
        "egov_http_request_duration_seconds",
        "cnie-renewal",
    );
    assert!(
        request < 1.0,
        "the service is charged {request} s for a 2.5 s conversation"
    );
}

/// Found by an SRE probe: on a service's own origin, what the gateway refused before
/// routing (a traversal scan's malformed paths, an overlong target) was counted as the
/// portal's, and never showed on the service's row or in its refusals.
#[tokio::test]
async fn refusals_on_a_services_own_origin_are_that_services() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, egov_integration::own_origins);
    let host = gw
        .origin_url("cnie-renewal", "")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let long = format!("/{}", "a".repeat(9000));
    for path in ["/%2e%2e/etc/passwd", "/a%00b", long.as_str()] {
        let answer = raw_http::send(
            gw.addr,
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(
            (400..500).contains(&answer.status),
            "{path}: {}",
            answer.status
        );
    }
    let refused = r#"egov_http_requests_refused_total{class="4xx",ministry="interior",service="cnie-renewal"} 3"#;
    let metrics = gw.metrics_showing(&[refused]).await;
    assert!(metrics.contains(refused), "{metrics}");
}

/// Found by an SRE probe: a connection the backend refused was recorded as the site's
/// answer in 0.2 ms, so a dead backend looked the fastest on the upstream latency panels.
/// The site's time is counted only once it took the connection.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_no_answer_in_the_sites_latency() {
    let estate = start_estate(None);
    let closed = egov_integration::ports::closed_port();
    let port = closed.addr.port();
    let gw = TestGateway::with(&estate, move |c| {
        all_public(c);
        egov_integration::backend_at(c, "cnie-renewal", port);
    });
    let status = client()
        .get(gw.url("/s/cnie-renewal/"))
        .send()
        .await
        .expect("answered")
        .status();
    assert_eq!(status, 502);
    let counted =
        r#"egov_http_requests_total{class="5xx",ministry="interior",service="cnie-renewal"} 1"#;
    let metrics = gw.metrics_showing(&[counted]).await;
    assert!(metrics.contains(counted), "{metrics}");
    let answers = metrics
        .lines()
        .find(|l| {
            l.starts_with("egov_upstream_duration_seconds_count{")
                && l.contains("service=\"cnie-renewal\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or(0);
    assert_eq!(
        answers, 0,
        "a refused connection timed as an answer:\n{metrics}"
    );
}

/// Found when tried (an observability probe): a request pingora cannot parse (a control
/// byte in a header, a raw `\xff` in the request line) is answered 400 by pingora itself,
/// before any phase of the gateway's: 300 of them left no access-log line and moved no
/// counter, so header-injection probes and scanners were invisible. Each is now the
/// portal's 400, in the log (no method or path: nothing was read) and the metrics.
#[tokio::test]
async fn a_request_pingora_cannot_parse_is_in_the_access_log_and_the_metrics() {
    let estate = start_estate(None);
    let dir = TempDir::new("unreadable-log");
    let log = dir.path().join("access.log");
    let path = log.clone();
    let gw = TestGateway::with(&estate, move |c| {
        c.gateway.telemetry.access_log = AccessLogTarget::File(path);
    });
    let unreadable: [&[u8]; 2] = [
        b"GET /x HTTP/1.1\r\nHost: localhost\r\nUser-Agent: \x1b[2J\r\n\r\n",
        b"GET /a\xff HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ];
    for request in unreadable {
        let answer = egov_integration::raw_http::send(gw.addr, request);
        assert_eq!(answer.status, 400);
    }
    let counted = r#"egov_http_requests_total{class="4xx",ministry="_portal",service="_portal"} 2"#;
    let text = gw.metrics_showing(&[counted]).await;
    assert!(text.contains(counted), "{text}");
    let lines = access_lines(&log, 2).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_eq!(line["status"], 400, "{line}");
        assert_eq!((&line["method"], &line["path"]), (&"".into(), &"".into()));
        assert_eq!(line["refused"], true, "{line}");
        assert_eq!(line["client_ip"], "127.0.0.1", "{line}");
        assert!(line["bytes"].as_u64().is_some_and(|b| b > 0), "{line}");
    }
}

/// Found in an observability probe: an HTTP/2 request whose `:authority` disagrees with its
/// `Host` is answered 400 by pingora's HTTP/2 layer before any phase of the gateway's, and
/// 3,100 of them in 0.2 s left no access-log line and no count. Each is now the portal's
/// 400, as HTTP/1's unreadable requests are; the answers the gateway gives itself on the
/// same connection are counted once, as theirs.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_request_pingora_refuses_unread_is_in_the_access_log_and_the_metrics() {
    let estate = start_estate(None);
    let dir = TempDir::new("h2-unread-log");
    let log = dir.path().join("access.log");
    let path = log.clone();
    let gw = TestGateway::with(&estate, move |c| {
        all_public(c);
        c.gateway.telemetry.access_log = AccessLogTarget::File(path);
    });
    let tcp = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("HTTP/2");
    tokio::spawn(connection);
    let ask = |host: &str| {
        http::Request::get(gw.url("/s/cnie-renewal/"))
            .header("host", host)
            .body(())
            .expect("request")
    };
    let mut statuses = Vec::new();
    for host in ["elsewhere.example", "another.example", &gw.addr.to_string()] {
        let mut client = client.clone().ready().await.expect("a stream");
        let (answer, _) = client.send_request(ask(host), true).expect("send");
        statuses.push(answer.await.expect("an answer").status().as_u16());
    }
    assert_eq!(statuses, [400, 400, 200]);
    let refused = r#"egov_http_requests_total{class="4xx",ministry="_portal",service="_portal"} 2"#;
    let served =
        r#"egov_http_requests_total{class="2xx",ministry="interior",service="cnie-renewal"} 1"#;
    let text = gw.metrics_showing(&[refused, served]).await;
    assert!(text.contains(refused) && text.contains(served), "{text}");
    let lines = access_lines(&log, 3).await;
    let refusals = lines.iter().filter(|l| l["status"] == 400).count();
    assert_eq!((lines.len(), refusals), (3, 2), "{lines:?}");
}

/// The access log's lines at `log`, each parsed as JSON, once there are `at_least` (or after
/// 5 s): its writer drains its queue every few milliseconds.
async fn access_lines(log: &std::path::Path, at_least: usize) -> Vec<Value> {
    let mut lines = Vec::new();
    for _ in 0..100 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        lines = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        if lines.len() >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lines
}
