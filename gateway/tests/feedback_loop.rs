//! The "not what I meant" loop closes: a query the router gets wrong on the shipped catalog,
//! answered by a citizen, exported as a candidate example and added to the right service's
//! file, is routed right afterwards.

use egov_gateway::assist::{shareable_text, Assist, Catalog, Outcome};
use egov_gateway::config::{self, Config, Secrets};
use egov_gateway::kv::MemoryKv;
use egov_gateway::portal::feedback::{export_examples, FeedbackEntry, FeedbackLog};
use egov_gateway::telemetry::Metrics;
use std::path::Path;
use std::sync::Arc;

/// "Report card" for the Massar school results: one of the paraphrases the router missed.
const QUERY: &str = "report card of my kid";
const RIGHT: &str = "massar-school-results";

fn shipped() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/gateway.toml");
    let mut config = config::load(&path).expect("the shipped configuration loads");
    config.gateway.assist.llm = None;
    config
}

async fn route(config: &Config) -> (Outcome, Option<String>) {
    let assist = Assist::new(
        &config.gateway.assist,
        None,
        &Secrets::from_process(),
        Arc::new(MemoryKv::default()),
        Arc::new(Metrics::new().expect("metrics")),
    )
    .expect("the router");
    let d = assist
        .decide(
            &Catalog::new(&config.services),
            QUERY,
            true,
            None,
            &egov_gateway::assist::Unbudgeted,
        )
        .await;
    (d.outcome, d.service)
}

#[tokio::test]
async fn an_exported_feedback_example_routes_the_misrouted_query_right() {
    let mut config = shipped();
    let before = route(&config).await;
    assert_ne!(
        before,
        (Outcome::Routed, Some(RIGHT.to_string())),
        "already routed right: pick another query"
    );

    // A citizen says "not what I meant" and picks the Massar results.
    let log = FeedbackLog::Shared(Arc::new(MemoryKv::default()));
    log.record(&FeedbackEntry {
        at: 1_900_000_000,
        service: RIGHT.into(),
        routed: before.1.clone(),
        query: shareable_text(QUERY),
        lang: "en".into(),
    })
    .await
    .expect("kept");
    let entries = log.for_service(RIGHT).await.unwrap_or_default();
    let exported = export_examples(&entries, RIGHT);

    // The ministry pastes the lines into the service file's `examples`.
    let examples: Vec<String> = exported
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| {
            let value = l.trim().split(", #").next().expect("a value");
            let parsed: toml::Value = toml::from_str(&format!("x = {value}")).expect("TOML");
            parsed["x"].as_str().expect("a string").to_string()
        })
        .collect();
    assert_eq!(examples.len(), 1, "{exported}");
    let service = config
        .services
        .iter_mut()
        .find(|s| s.id == RIGHT)
        .expect("the service ships");
    service.examples.extend(examples);

    assert_eq!(
        route(&config).await,
        (Outcome::Routed, Some(RIGHT.to_string()))
    );
}
