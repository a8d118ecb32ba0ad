//! `egov-gateway serve`: the production entry point.

use crate::app::App;
use crate::config::{self, Secrets};
use crate::server::{self, Listeners};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

/// Serves `path`; with `upgrade`, takes the listening sockets over from the gateway running
/// on the same `server.upgrade_sock` (which then drains and exits once sent SIGQUIT).
pub fn run(path: &Path, upgrade: bool) -> anyhow::Result<ExitCode> {
    let config = config::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    for w in &config.gateway.warnings {
        tracing::warn!("{w}");
    }
    // Before anything starts: a port another process holds is the whole answer.
    let listeners = Listeners::from_config(&config, upgrade).context("binding the listeners")?;
    let app = App::new(&config, &Secrets::from_process())?;
    let mut server = server::build(&config.gateway.server, &app, listeners)?;
    server::reload_on_hangup(&mut server, &app, path.to_path_buf());
    server::reopen_logs_on_usr1(&mut server, &app);
    tracing::info!(
        portal = %config.gateway.portal.public_url.origin(),
        services = config.services.len(),
        "serving"
    );
    server::run_until_signalled(server, &app, &config.gateway.server);
    Ok(ExitCode::SUCCESS)
}
