//! The dashboards and rules SREs get are valid and meaningful: `promtool` accepts them, and a
//! real Prometheus scraping a gateway under varied traffic (services, a dead backend, logins
//! and failed ones, intent routing with a failing LLM) loads exactly the shipped rules, none
//! in error, and returns data for every dashboard panel query (without its `or vector(0)`
//! padding) and every recording rule.

use egov_gateway::assist::llm::ResponseFormatMode;
use egov_gateway::config::LlmConfig;
use egov_integration::browser::Browser;
use egov_integration::llm_server::{Behaviour, FakeLlm};
use egov_integration::prometheus::{
    dashboard_queries, promtool_check, recording_rules, rule_files, shipped_rules, Prometheus,
};
use egov_integration::sso::{SsoOptions, SsoWorld, Store};
use egov_integration::{client, ports};
use serde_json::{json, Value};
use std::time::Duration;

/// What a panel adds so it shows 0 rather than "no data"; the traffic below makes every such
/// panel have data without it.
const PADDING: &str = " or vector(0)";

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests_pass() {
    promtool_check().unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rule_loads_without_error_and_every_query_has_data() {
    let fake = FakeLlm::start(Behaviour::Sequence(vec![
        Behaviour::answer("vat-declaration"),
        Behaviour::Status(500),
    ]));
    let dead = ports::closed_port();
    let llm = LlmConfig {
        base_url: fake.base_url(),
        model: "fake".into(),
        api_key: None,
        deadline: Duration::from_secs(2),
        retries: 0,
        response_format: ResponseFormatMode::JsonSchema,
        max_tokens: 32,
        breaker_failures: 50,
        breaker_open_for: Duration::from_secs(30),
        max_in_flight: 64,
    };
    let dead_port = dead.addr.port();
    let mut options = SsoOptions::new(Store::Memory);
    options.tweak = Some(Box::new(move |c: &mut egov_gateway::config::Config| {
        c.gateway.assist.llm = Some(llm);
        egov_integration::backend_down(c, "passport-application", dead_port);
        // A second, dead backend ejected again and again; a service whose rate is spent.
        let cnie = egov_integration::service_mut(c, "cnie-renewal");
        cnie.upstream.backends.push(egov_gateway::config::Backend {
            host: "127.0.0.1".into(),
            port: dead_port,
            weight: 1,
        });
        cnie.upstream.outlier = egov_gateway::config::OutlierConfig {
            consecutive_failures: 1,
            base_ejection: Duration::from_millis(100),
            max_ejection: Duration::from_millis(100),
        };
        egov_integration::service_mut(c, "birth-certificate-extract")
            .limits
            .rate_total = Some(egov_gateway::config::Rate {
            count: 1,
            per: Duration::from_secs(60),
        });
    }));
    let world = SsoWorld::start(options);
    let gw = &world.gateway;
    let prometheus = Prometheus::start(&[gw.metrics], &rule_files());

    // Traffic of every kind the dashboards show. A counter series is born at its first
    // event, and rate() only sees increases after that, so each kind of event happens in
    // several rounds.
    let http = client();
    let browser = Browser::new();
    world
        .login(
            &browser,
            "/s/criminal-record-extract/__estate/echo",
            "amina",
        )
        .await;
    let forbidden = browser.get(gw.url("/s/vat-declaration/")).await;
    assert_eq!(forbidden.status(), 403);
    http.get(gw.url("/s/criminal-record-extract/"))
        .send()
        .await
        .expect("request");
    for round in 0..12 {
        for path in [
            "/s/cnie-renewal/",
            "/s/cnie-first-application/__estate/blob",
            "/s/passport-application/",
            "/s/birth-certificate-extract/",
            "/nowhere",
        ] {
            http.get(gw.url(path)).send().await.expect("request");
        }
        for q in [
            "pasport dyali sala",
            "declaration",
            "carte",
            "weather in Casablanca",
        ] {
            let routed = http
                .post(gw.url("/api/route"))
                .json(&json!({"query": format!("{q} {}", round % 2)}))
                .send()
                .await
                .expect("request");
            assert_eq!(routed.status(), 200, "{q}");
        }
        let echo = browser
            .get(gw.url("/s/criminal-record-extract/__estate/echo"))
            .await;
        assert_eq!(echo.status(), 200, "the logged-in citizen is served");
        let login_failure = Browser::new()
            .get(gw.url("/auth/callback?code=x&state=y"))
            .await;
        assert_eq!(login_failure.status(), 400);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let out = browser.logout(&gw.url("/auth/logout")).await;
    let end = egov_integration::browser::redirect_target(&out);
    browser.oidc_provider_logout(end.as_str()).await;

    let mut failures = Vec::new();
    for name in recording_rules() {
        if let Err(e) = prometheus.wait_for(&name, Duration::from_secs(40)).await {
            failures.push(format!("recording rule: {e}"));
        }
    }
    for (panel, expr) in dashboard_queries() {
        let unpadded = expr.replace(PADDING, "");
        if let Err(e) = prometheus.wait_for(&unpadded, Duration::from_secs(5)).await {
            failures.push(format!("panel {panel}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}\n\nPrometheus log:\n{}",
        failures.len(),
        failures.join("\n"),
        prometheus.logs()
    );

    // Prometheus loaded exactly the shipped rules, and every one evaluates without error.
    let loaded = prometheus.loaded_rules().await.expect("/api/v1/rules");
    let mut names: Vec<(String, String)> = loaded
        .iter()
        .map(|r| {
            let text = |key: &str| r[key].as_str().unwrap_or("?").to_string();
            (text("type"), text("name"))
        })
        .collect();
    names.sort();
    assert_eq!(names, shipped_rules());
    let broken: Vec<&Value> = loaded.iter().filter(|r| r["health"] == "err").collect();
    assert!(broken.is_empty(), "rules in error: {broken:#?}");
}
