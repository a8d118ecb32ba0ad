//! `egov-gateway feedback export --service ID`: the citizens' "not what I meant" answers that
//! chose a service, printed as candidate `examples` lines for its service file (redacted
//! queries, deduplicated; a person reviews them before they go in).

use crate::config;
use crate::kv::SharedState;
use crate::portal::feedback::{export_examples, FeedbackLog};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// `feedback export`.
pub fn export(path: &Path, service: &str) -> anyhow::Result<ExitCode> {
    let config = config::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    if !config.services.iter().any(|s| s.id == service) {
        anyhow::bail!("no service {service:?} in {}", path.display());
    }
    let log = match &config.gateway.redis {
        Some(redis) => FeedbackLog::Shared(
            Arc::new(
                SharedState::new(Some(redis), &config::Secrets::from_process())
                    .context("connecting to [redis]")?,
            )
            .store(),
        ),
        None => match &config.gateway.portal.feedback_log {
            Some(file) => FeedbackLog::file(file.clone()),
            None => anyhow::bail!("[portal] feedback_log is off and no [redis] is configured"),
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let entries = runtime
        .block_on(log.for_service(service))
        .context("reading the routing feedback")?;
    print!("{}", export_examples(&entries, service));
    Ok(ExitCode::SUCCESS)
}
