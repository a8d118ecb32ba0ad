//! The simulated legacy estate: one process serving all 56 legacy ministry
//! sites of the catalog on loopback, each reproducing the quirks the real site
//! is known for (legacy charsets, absolute links to its own hostname, frames,
//! Java sessions, SOAP, slowness, flakiness, ...).
//!
//! The gateway's adapters exist to paper over those quirks, so they need
//! something real to work against; and the integration tests need to see
//! exactly what reached the legacy side, which the instrument endpoints under
//! `<base>/__estate/` (echo, delay, status, websocket, blob, big page) provide.
//!
//! Sites are chosen by the `Host` header (lowercased, port stripped), then by
//! the longest base path that prefixes the request path, so several services
//! can share one legacy hostname exactly as they do in production.

mod assets;
mod cacheable;
pub mod chaos;
mod charset;
mod credentials;
mod echo;
mod error;
mod error_pages;
mod gates;
mod headers;
mod html;
mod identity;
mod instrument;
mod large;
mod options;
mod pages;
mod query;
mod ranges;
mod records;
mod respond;
mod routes;
mod server;
mod sessions;
mod sites;
mod soap;
mod ws;

pub use credentials::{credential, Credential, API_KEY_HEADER, SERVICE_ACCOUNT};
pub use error::EstateError;
pub use options::{EstateOptions, Latency};
pub use server::{serve, RunningEstate};
pub use sites::{site, site_for, sites, Quirk, Site, Text};
