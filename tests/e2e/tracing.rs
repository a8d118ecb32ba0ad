//! Traces reach a real OTLP receiver (rotel) with the right shape: a server span per
//! request, its children (the upstream call, SSO, intent routing) linked to it, the legacy
//! site receiving the upstream span as its parent, and a failed request marked as an error
//! on both the server span and its upstream child.

use egov_integration::otlp::OtlpReceiver;
use egov_integration::{all_public, client, start_estate, TestGateway};
use serde_json::Value;
use std::time::Duration;

/// A gateway whose services are all public, exporting its traces to a real OTLP receiver.
fn traced_gateway() -> (OtlpReceiver, egov_estate::RunningEstate, TestGateway) {
    let receiver = OtlpReceiver::start();
    let estate = start_estate(None);
    let endpoint = receiver.http_endpoint();
    let gw = TestGateway::with(&estate, move |c| {
        all_public(c);
        c.gateway.telemetry.otlp_endpoint = Some(endpoint);
    });
    (receiver, estate, gw)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_exports_a_server_span_with_linked_upstream_sso_and_routing_children() {
    let (receiver, _estate, gw) = traced_gateway();
    let resp = client()
        .get(gw.url("/s/cnie-renewal/__estate/echo"))
        .send()
        .await
        .expect("request");
    let request_id = egov_integration::request_id(&resp);
    let echo: Value = resp.json().await.expect("json");
    let _ = client()
        .post(gw.url("/api/route"))
        .json(&serde_json::json!({"query": "pasport dyali sala"}))
        .send()
        .await
        .expect("route");
    gw.telemetry.tracing.flush();

    let spans = receiver
        .wait_for_spans(
            |s| {
                s.iter().filter(|s| s.kind == "server").count() >= 2
                    && s.iter().any(|s| s.name == "upstream")
            },
            Duration::from_secs(15),
        )
        .unwrap_or_else(|| panic!("spans never arrived:\n{}", receiver.logs()));
    let server = spans
        .iter()
        .find(|s| s.kind == "server" && s.trace_id == request_id)
        .unwrap_or_else(|| panic!("no server span for trace {request_id}: {spans:#?}"));
    assert!(server.is_root());
    assert_eq!(server.attribute("http.route"), Some("/s/{service}/*"));
    assert_eq!(server.attribute("egov.service"), Some("cnie-renewal"));
    assert_eq!(server.attribute("http.response.status_code"), Some("200"));
    let upstream = spans
        .iter()
        .find(|s| s.name == "upstream" && s.trace_id == server.trace_id)
        .expect("an upstream span");
    assert_eq!(upstream.kind, "client");
    assert_eq!(
        upstream.parent_span_id.as_deref(),
        Some(server.span_id.as_str())
    );
    let sso = spans
        .iter()
        .find(|s| s.name == "sso.authorize" && s.trace_id == server.trace_id)
        .expect("an SSO span");
    assert_eq!(sso.parent_span_id.as_deref(), Some(server.span_id.as_str()));

    // The legacy site was told the upstream span is its parent.
    let tp = echo["headers"]["traceparent"][0]
        .as_str()
        .expect("traceparent");
    assert_eq!(
        tp,
        format!("00-{}-{}-01", server.trace_id, upstream.span_id)
    );

    let routing = spans
        .iter()
        .find(|s| s.name == "assist.route")
        .expect("an intent-routing span");
    let routing_parent = spans
        .iter()
        .find(|s| Some(s.span_id.as_str()) == routing.parent_span_id.as_deref())
        .expect("its parent span");
    assert_eq!(routing_parent.kind, "server");
    assert_eq!(routing_parent.attribute("http.route"), Some("/api/route"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_to_a_dead_backend_exports_an_error_server_span_and_a_refused_upstream_child() {
    let receiver = OtlpReceiver::start();
    let estate = start_estate(None);
    let dead = egov_integration::ports::closed_port();
    let dead_port = dead.addr.port();
    let endpoint = receiver.http_endpoint();
    let gw = TestGateway::with(&estate, move |c| {
        all_public(c);
        egov_integration::backend_down(c, "passport-application", dead_port);
        c.gateway.telemetry.otlp_endpoint = Some(endpoint);
    });
    let resp = client()
        .get(gw.url("/s/passport-application/"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 502);
    let request_id = egov_integration::request_id(&resp);
    drop(resp);
    gw.telemetry.tracing.flush();

    let spans = receiver
        .wait_for_spans(
            |s| {
                s.iter()
                    .any(|s| s.kind == "server" && s.trace_id == request_id)
            },
            Duration::from_secs(15),
        )
        .unwrap_or_else(|| panic!("spans never arrived:\n{}", receiver.logs()));
    let server = spans
        .iter()
        .find(|s| s.kind == "server" && s.trace_id == request_id)
        .unwrap_or_else(|| panic!("no server span for trace {request_id}: {spans:#?}"));
    assert_eq!(server.status_code.as_deref(), Some("error"), "{server:#?}");
    assert_eq!(server.status_message.as_deref(), Some("HTTP 502"));
    assert_eq!(server.attribute("http.response.status_code"), Some("502"));
    assert_eq!(
        server.attribute("egov.service"),
        Some("passport-application")
    );
    assert_eq!(
        server.resource.get("service.name").map(String::as_str),
        Some("egov-gateway"),
        "{server:#?}"
    );
    let upstream: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "upstream" && s.trace_id == request_id)
        .collect();
    assert!(!upstream.is_empty(), "no upstream span: {spans:#?}");
    for child in upstream {
        assert_eq!(child.kind, "client");
        assert_eq!(
            child.parent_span_id.as_deref(),
            Some(server.span_id.as_str())
        );
        assert_eq!(child.status_code.as_deref(), Some("error"), "{child:#?}");
        assert_eq!(
            child.status_message.as_deref(),
            Some("refused"),
            "{child:#?}"
        );
        assert_eq!(
            child.attribute("network.peer.port"),
            Some(dead_port.to_string().as_str())
        );
    }
}

/// Found when tried: the exported span carried the path verbatim (an ID number, an e-mail
/// address, a `;jsessionid`) where the access log redacts them, and an invented method named
/// its span (50 requests, 50 span names).
#[tokio::test(flavor = "multi_thread")]
async fn spans_carry_the_redacted_path_and_no_invented_method() {
    let (receiver, _estate, gw) = traced_gateway();
    let _ = client()
        .get(gw.url("/s/cnie-renewal/recu/CD987654/omar@example.org;jsessionid=SECONDSESSION99"))
        .send()
        .await
        .expect("request");
    let invented = reqwest::Method::from_bytes(b"PROBEMETHODX").expect("a token");
    let _ = client()
        .request(invented, gw.url("/s/cnie-renewal/"))
        .send()
        .await
        .expect("request");
    gw.telemetry.tracing.flush();
    let spans = receiver
        .wait_for_spans(
            |s| s.iter().filter(|s| s.kind == "server").count() >= 2,
            Duration::from_secs(15),
        )
        .unwrap_or_else(|| panic!("spans never arrived:\n{}", receiver.logs()));
    for span in spans.iter().filter(|s| s.kind == "server") {
        let path = span.attribute("url.path").unwrap_or("");
        for secret in ["CD987654", "omar@example.org", "SECONDSESSION99"] {
            assert!(!path.contains(secret), "{path}");
        }
        assert!(!span.name.contains("PROBEMETHODX"), "{}", span.name);
        assert_ne!(span.attribute("http.request.method"), Some("PROBEMETHODX"));
    }
    assert!(
        spans.iter().any(|s| s.name.starts_with("_OTHER")),
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
}

/// Found by an SRE probe: a request on a service's own origin was named after the portal's
/// `/s/{service}/*` route, which its path never took.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_on_a_services_own_origin_is_named_after_its_own_route() {
    let receiver = OtlpReceiver::start();
    let estate = start_estate(None);
    let endpoint = receiver.http_endpoint();
    let gw = TestGateway::with(&estate, move |c| {
        all_public(c);
        egov_integration::own_origins(c);
        c.gateway.telemetry.otlp_endpoint = Some(endpoint);
    });
    let host = gw
        .origin_url("cnie-renewal", "")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let answer = egov_integration::raw_http::send(
        gw.addr,
        format!("GET /__estate/echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(answer.status, 200);
    gw.telemetry.tracing.flush();
    let spans = receiver
        .wait_for_spans(
            |s| s.iter().any(|s| s.kind == "server"),
            Duration::from_secs(15),
        )
        .unwrap_or_else(|| panic!("spans never arrived:\n{}", receiver.logs()));
    let server = spans
        .iter()
        .find(|s| s.kind == "server")
        .expect("a server span");
    assert_eq!(server.attribute("http.route"), Some("/*"), "{server:#?}");
    assert_eq!(server.attribute("egov.service"), Some("cnie-renewal"));
}

/// Found in an observability probe: a collector that hung or answered errors lost every
/// span with one `WARN` line, and no metric said the traces had stopped. What becomes of
/// the spans is counted: here, a collector that is not there, then a real one.
#[tokio::test(flavor = "multi_thread")]
async fn spans_the_collector_does_not_take_are_counted_as_failed() {
    let estate = start_estate(None);
    let gone = egov_integration::ports::closed_port();
    let endpoint = format!("http://127.0.0.1:{}", gone.addr.port());
    let gw = TestGateway::with(&estate, move |c| {
        all_public(c);
        c.gateway.telemetry.otlp_endpoint = Some(endpoint);
    });
    for _ in 0..3 {
        let answer = client()
            .get(gw.url("/s/cnie-renewal/"))
            .send()
            .await
            .expect("request");
        assert_eq!(answer.status(), 200, "citizens are served all the same");
    }
    gw.telemetry.tracing.flush();
    const FAILED: &str = r#"egov_trace_spans_exported_total{result="failed"}"#;
    const EXPORTED: &str = r#"egov_trace_spans_exported_total{result="exported"}"#;
    let text = gw.metrics_showing(&[FAILED]).await;
    let failed = egov_integration::metric_value(&text, FAILED);
    assert!(failed.is_some_and(|n| n >= 3), "{failed:?}");
    assert_eq!(egov_integration::metric_value(&text, EXPORTED), None);
    let ended = egov_integration::metric_value(&text, "egov_trace_spans_ended_total");
    assert!(ended >= failed, "{ended:?} ended, {failed:?} failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_the_collector_takes_are_counted_as_exported() {
    let (_receiver, _estate, gw) = traced_gateway();
    let answer = client()
        .get(gw.url("/s/cnie-renewal/"))
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 200);
    const EXPORTED: &str = r#"egov_trace_spans_exported_total{result="exported"}"#;
    // The server span ends after the answer: flushed until every span ended is exported.
    let mut counts = (None, None);
    for _ in 0..50 {
        gw.telemetry.tracing.flush();
        let text = gw.metrics_showing(&[EXPORTED]).await;
        counts = (
            egov_integration::metric_value(&text, "egov_trace_spans_ended_total"),
            egov_integration::metric_value(&text, EXPORTED),
        );
        if counts.0.is_some() && counts.0 == counts.1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ended, exported) = counts;
    assert!(exported.is_some_and(|n| n >= 1), "{exported:?}");
    assert_eq!(ended, exported, "every span ended was exported");
}
