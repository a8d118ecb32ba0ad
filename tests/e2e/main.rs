//! End-to-end tests: a real gateway in front of the real simulated estate, over sockets.
//! One behaviour per test, named after it.

mod adapters;
mod assist;
mod cache;
mod citizen_browser;
mod dashboards;
mod floods;
mod foundation;
mod hardening;
#[path = "../llm/client_tests.rs"]
mod llm_client;
#[path = "../llm/llama_tests.rs"]
mod llm_llama;
mod origins;
mod portal;
mod protocols;
mod registry;
mod resilience;
mod scale;
mod shared_state;
mod site_errors;
mod sso;
mod telemetry;
mod tracing;
