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

/// A new service made from `base` (its ministry, category, upstream and adapters): id
/// `id` (file `<id>.toml`, legacy host `<id>.legacy.gov.ma`), names `[fr, ar, en]` (no
/// Amazigh), and these keywords and examples; its descriptions are `base`'s.
pub fn service_like(
    base: &super::ServiceConfig,
    id: &str,
    names: [&str; 3],
    keywords: &[&str],
    examples: &[&str],
) -> super::ServiceConfig {
    let mut s = base.clone();
    s.id = id.into();
    s.file = format!("{id}.toml").into();
    s.legacy.hostname = format!("{id}.legacy.gov.ma");
    s.names.fr = names[0].into();
    s.names.ar = names[1].into();
    s.names.en = names[2].into();
    s.names.zgh = None;
    s.keywords = keywords.iter().map(|k| k.to_string()).collect();
    s.examples = examples.iter().map(|e| e.to_string()).collect();
    s
}
