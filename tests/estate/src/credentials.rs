//! What a protected legacy site expects from its callers.
//!
//! `basic-auth` and `api-key` sites only talk to the portal's service account;
//! the gateway injects those credentials and the tests check both sides agree.
//! They are deterministic per site id (and deliberately independent of the
//! estate's seed) so the gateway's configuration can name them in advance.

use crate::sites::{site, Quirk};

/// Username of the portal's service account on every `basic-auth` site.
pub const SERVICE_ACCOUNT: &str = "svc-portal";

/// Header carrying the key on every `api-key` site.
pub const API_KEY_HEADER: &str = "X-Api-Key";

/// A credential a legacy site requires on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// HTTP Basic authentication.
    Basic {
        /// The service account's username.
        username: String,
        /// The service account's password.
        password: String,
    },
    /// A static key in a request header.
    ApiKey {
        /// Name of the header.
        header: String,
        /// The expected value.
        key: String,
    },
}

/// The credential the site `site_id` expects, if it is protected.
pub fn credential(site_id: &str) -> Option<Credential> {
    let site = site(site_id)?;
    if site.has(Quirk::BasicAuth) {
        Some(Credential::Basic {
            username: SERVICE_ACCOUNT.to_string(),
            password: format!("estate-{}-secret", site.id),
        })
    } else if site.has(Quirk::ApiKey) {
        Some(Credential::ApiKey {
            header: API_KEY_HEADER.to_string(),
            key: format!("estate-{}-key", site.id),
        })
    } else {
        None
    }
}
