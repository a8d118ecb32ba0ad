//! The end-to-end test harness: real gateways, the real simulated estate and (later) real
//! Redis, OpenID provider and Prometheus, all on 127.0.0.1 with ports chosen by the OS,
//! started for a test and stopped when its handle drops.

pub mod admin;
pub mod browser;
pub mod chromium;
pub mod gateway;
pub mod llama;
pub mod llm_server;
pub mod oidc;
pub mod openapi;
pub mod otlp;
pub mod ports;
pub mod prometheus;
pub mod raw_http;
pub mod redis;
pub mod scratch;
pub mod sso;

pub use gateway::{
    all_public, backend_at, backend_down, loopback_proxies, metric_value, origin_client,
    own_origins, repo_config, service_mut, set_failing, start_estate, Staged, TestGateway,
};
pub use ports::reserve;

/// A client that never follows redirects and never uses a proxy, so tests see exactly
/// what the gateway answered.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("the test HTTP client builds")
}

/// The `X-Request-Id` the gateway gave a response (every answer carries one).
pub fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .expect("every gateway answer carries an X-Request-Id")
        .to_str()
        .expect("the request id is ASCII")
        .to_string()
}
