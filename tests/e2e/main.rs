//! End-to-end tests: a real gateway in front of the real simulated estate, over sockets.
//! One behaviour per test, named after it.

mod adapters;
mod foundation;
mod hardening;
mod protocols;
mod sso;
mod telemetry;
