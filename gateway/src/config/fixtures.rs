//! The repository's own configuration, for the unit tests of every room.

use super::{load, AdapterStep, Config};

/// The repository's `config/gateway.toml`, as shipped.
pub fn repo_config() -> Config {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    load(&dir.join("gateway.toml")).unwrap_or_else(|e| panic!("{e}"))
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
