//! Wiring a configuration to the simulated legacy estate, for `demo` and the test harness.
//!
//! The repository's service files describe the real deployment shape; in the demo every
//! legacy site is served by the estate on one loopback address, so backends are pointed
//! there and the service-account secrets the configs reference are taken from the estate
//! (in memory, without touching the process environment).

use crate::config::{AdapterStep, Config, PublicUrl, SecretRef, Secrets};
use egov_estate::Credential;
use std::net::SocketAddr;

/// Points every service's backends at `estate` (keeping each base path) and makes
/// `portal` the public origin, so legacy-host redirects land on this gateway.
pub fn point_at_estate(config: &mut Config, estate: SocketAddr, portal: SocketAddr) {
    for s in &mut config.services {
        s.upstream.tls = false;
        s.upstream.backends = vec![crate::config::Backend {
            host: estate.ip().to_string(),
            port: estate.port(),
        }];
    }
    config.gateway.portal.public_url = PublicUrl {
        https: false,
        host: portal.ip().to_string(),
        authority: portal.to_string(),
    };
}

/// The estate's service-account credentials under the secret names the configs reference.
pub fn estate_secrets(config: &Config) -> Secrets {
    let mut secrets = Secrets::from_process();
    for s in &config.services {
        let Some(credential) = egov_estate::credential(&s.id) else {
            continue;
        };
        for step in &s.adapters {
            match (step, &credential) {
                (
                    AdapterStep::BasicAuth {
                        password: SecretRef::Env(name),
                        ..
                    },
                    Credential::Basic { password, .. },
                ) => secrets = secrets.with_env(name.clone(), password.clone()),
                (
                    AdapterStep::ApiKey {
                        key: SecretRef::Env(name),
                        ..
                    },
                    Credential::ApiKey { key, .. },
                ) => secrets = secrets.with_env(name.clone(), key.clone()),
                _ => {}
            }
        }
    }
    secrets
}
