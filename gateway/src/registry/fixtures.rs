//! Snapshots of the repository's configuration for the unit tests of every room: built
//! here, where a snapshot is, so that the shared test helpers need not import the registry.

use super::Snapshot;
use crate::config::fixtures::config_without_secrets;
use crate::config::{self, Secrets};
use std::sync::Arc;

/// A snapshot of the configuration without secrets ([`config_without_secrets`]).
pub fn snapshot() -> Arc<Snapshot> {
    let config = config_without_secrets();
    Arc::new(Snapshot::build(&config, &Secrets::from_process()).unwrap_or_else(|e| panic!("{e}")))
}

/// A snapshot of the configuration without secrets ([`config_without_secrets`]) with every service on its own origin,
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
