//! `egov-gateway`: one door to Morocco's e-government.
//!
//! A Pingora reverse proxy that puts the legacy web sites of the ministries behind one
//! portal origin (`/s/<service-id>/`), fixing each site's quirks with a per-service adapter
//! chain. Start reading at [`pipeline`] (the request's steps, in order) and [`proxy`] (the
//! phases that run them), then [`routing`] and [`registry`] (what a request can reach), and
//! [`config`] (where it all comes from). `ARCHITECTURE.md` at the repository root maps the
//! rooms and which may import which.

pub mod admin;
pub mod app;
pub mod assist;
pub mod bounded_body;
pub mod cache;
pub mod certificates;
pub mod chain;
pub mod client_address;
pub mod commands;
pub mod compression;
pub mod config;
pub mod content_length;
pub mod cookie_overflow;
/// Wiring a configuration to the simulated estate (the `demo` feature only).
#[cfg(feature = "demo")]
pub mod demo;
pub mod fetch_metadata;
pub mod forwarded;
pub mod framing;
pub mod guard;
pub mod host;
pub mod ip_text;
pub mod kv;
pub mod lang;
pub mod limits;
pub mod open_files;
pub mod pipeline;
pub mod portal;
pub mod private_file;
pub mod proxy;
pub mod registry;
pub mod request_body;
pub mod request_id;
pub mod resilience;
pub mod response;
pub mod routing;
pub mod server;
pub mod sidecar;
pub mod soap_facade;
pub mod sso;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod upstream;
