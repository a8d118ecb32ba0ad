//! Adapters: the small, pure transforms that make a legacy ministry site behave under the
//! portal's single origin.
//!
//! Each module fixes one kind of legacy quirk and knows nothing about the proxy: no pingora
//! types, no I/O, no async. Body transforms are streaming (`feed(chunk) -> output`), header
//! transforms work through the [`headers::HeaderEdit`] trait. That keeps every adapter
//! unit-testable and fuzzable alone, and lets the gateway compile a service's chain once,
//! when its registry snapshot is built.

pub mod charset;
pub mod credentials;
pub mod headers;
pub mod paths;
