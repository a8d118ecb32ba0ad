//! Keeping a service up while its backends fail, and not making their failures worse.
//!
//! - [`breaker`]: consecutive-failure circuit breakers with a half-open trial (the routing
//!   LLM's, and one per service: `egov_circuit_breaker_state{breaker="service:<id>"}`);
//! - [`outlier`]: passive ejection of a backend that keeps failing, with growing backoff;
//! - [`budget`]: failovers capped at a fifth of the traffic;
//! - [`bulkhead`]: at most `limits.max_in_flight_per_service` requests of one service
//!   waiting on its site, so that a slow site cannot hold every connection;
//! - [`health`]: active HTTP or TCP checks of every backend, run in the background on
//!   pingora's health-check machinery, whose state survives registry swaps with the
//!   service's balancer.

pub mod breaker;
pub mod budget;
pub mod bulkhead;
pub mod health;
pub mod outlier;
