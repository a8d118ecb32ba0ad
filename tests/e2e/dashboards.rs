//! The dashboards and rules SREs get are valid and meaningful: `promtool` accepts them, and a
//! real Prometheus scraping a gateway under varied traffic (services, failures, logins,
//! intent routing with an LLM) returns data for every dashboard panel query and every
//! recording rule.

use egov_gateway::config::LlmConfig;
use egov_integration::browser::Browser;
use egov_integration::llm_server::{Behaviour, FakeLlm};
use egov_integration::prometheus::{
    dashboard_queries, dashboards_dir, promtool_check, recording_rules, rule_files, Prometheus,
};
use egov_integration::sso::{SsoOptions, SsoWorld, Store};
use egov_integration::{client, ports};
use serde_json::json;
use std::time::Duration;

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests_pass() {
    promtool_check(&dashboards_dir()).unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_query_and_recording_rule_returns_data_from_a_real_prometheus() {
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
        response_format: "json_schema".into(),
        max_tokens: 32,
        breaker_failures: 50,
        breaker_open_for: Duration::from_secs(30),
    };
    let dead_port = dead.addr.port();
    let mut options = SsoOptions::new(Store::Memory);
    options.tweak = Some(Box::new(move |c: &mut egov_gateway::config::Config| {
        c.gateway.assist.llm = Some(llm);
        egov_integration::backend_down(c, "passport-application", dead_port);
    }));
    let world = SsoWorld::start(options);
    let gw = &world.gateway;
    let prometheus = Prometheus::start(&[gw.metrics], &rule_files(&dashboards_dir()));

    // Traffic of every kind the dashboards show.
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
    let _ = http.get(gw.url("/s/criminal-record-extract/")).send().await;
    for round in 0..12 {
        for path in [
            "/s/cnie-renewal/",
            "/s/cnie-first-application/__estate/blob",
            "/s/passport-application/",
            "/nowhere",
        ] {
            let _ = http.get(gw.url(path)).send().await;
        }
        for q in [
            "pasport dyali sala",
            "declaration",
            "carte",
            "weather in Casablanca",
        ] {
            let _ = http
                .post(gw.url("/api/route"))
                .json(&json!({"query": format!("{q} {}", round % 2)}))
                .send()
                .await;
        }
        let _ = browser
            .get(gw.url("/s/criminal-record-extract/__estate/echo"))
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let login_failure = Browser::new()
        .get(gw.url("/auth/callback?code=x&state=y"))
        .await;
    assert_eq!(login_failure.status(), 400);
    let out = browser.get(gw.url("/auth/logout")).await;
    let end = egov_integration::browser::redirect_target(&out);
    browser.oidc_provider_logout(end.as_str()).await;

    let timeout = Duration::from_secs(40);
    let mut missing = Vec::new();
    for name in recording_rules(&dashboards_dir()) {
        if !prometheus.wait_for(&name, timeout) {
            missing.push(format!("recording rule {name}"));
        }
    }
    for (panel, expr) in dashboard_queries(&dashboards_dir()) {
        if !prometheus.wait_for(&expr, Duration::from_secs(5)) {
            missing.push(format!("{panel}: {expr}"));
        }
    }
    assert!(
        missing.is_empty(),
        "{} queries returned no data:\n{}\n\nPrometheus log:\n{}",
        missing.len(),
        missing.join("\n"),
        prometheus.logs()
    );
}
