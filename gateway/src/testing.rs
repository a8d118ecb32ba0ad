//! Helpers for the unit tests of every room: the repository's own configuration, and a
//! snapshot of it that needs no secret and contacts nothing.

use crate::config::{self, AdapterStep, Config, Secrets};
use crate::registry::Snapshot;
use std::sync::Arc;

/// The repository's `config/gateway.toml`, as shipped.
pub fn repo_config() -> Config {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    config::load(&dir.join("gateway.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The shipped configuration without the services whose adapters read a secret (their
/// environment variables are not set in unit tests).
pub fn config_without_secrets() -> Config {
    let mut config = repo_config();
    config.services.retain(|s| {
        !s.adapters.iter().any(|a| {
            matches!(
                a,
                AdapterStep::BasicAuth { .. } | AdapterStep::ApiKey { .. }
            )
        })
    });
    config
}

/// A snapshot of [`config_without_secrets`].
pub fn snapshot() -> Arc<Snapshot> {
    let config = config_without_secrets();
    Arc::new(Snapshot::build(&config, &Secrets::from_process()).unwrap_or_else(|e| panic!("{e}")))
}

/// A snapshot of [`config_without_secrets`] with every service on its own origin,
/// `https://<id>.services.gov.ma`, behind the portal `https://portail.gov.ma`.
pub fn snapshot_on_origins() -> Arc<Snapshot> {
    let mut config = config_without_secrets();
    config.gateway.portal.public_url = config::PublicUrl {
        https: true,
        host: "portail.gov.ma".into(),
        authority: "portail.gov.ma".into(),
    };
    config.gateway.portal.service_origins = Some(config::ServiceOrigins {
        https: true,
        domain: "services.gov.ma".into(),
        port: None,
    });
    Arc::new(Snapshot::build(&config, &Secrets::from_process()).unwrap_or_else(|e| panic!("{e}")))
}
