//! `egov-gateway serve`: the production entry point.

use crate::config::{self, Secrets};
use crate::registry::{Registry, Snapshot};
use crate::server::{self, Listeners};
use crate::sso::Sso;
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = config::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let snapshot = Snapshot::build(&config, &Secrets::from_process())
        .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let registry = Arc::new(Registry::new(snapshot));
    let sso = Arc::new(Sso::new(&config, &Secrets::from_process()).context("single sign-on")?);
    let listeners = Listeners::from_config(&config).context("binding the side listeners")?;
    let server = server::build(&config.gateway.server, registry, sso, listeners)?;
    tracing::info!(
        portal = %config.gateway.portal.public_url.origin(),
        services = config.services.len(),
        "serving"
    );
    server::run_until_signalled(server);
    Ok(ExitCode::SUCCESS)
}
