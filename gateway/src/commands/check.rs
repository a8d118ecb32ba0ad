//! `egov-gateway check`: validate everything, list every problem, exit non-zero on any.

use crate::config::{self, Secrets};
use crate::kv::MemoryKv;
use crate::registry::Snapshot;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(path: &Path, no_secrets: bool) -> ExitCode {
    let config = match config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors.iter() {
                eprintln!("{e}");
            }
            eprintln!("{} error(s); nothing was started", errors.len());
            return ExitCode::FAILURE;
        }
    };
    for w in &config.gateway.warnings {
        eprintln!("warning: {w}");
    }
    let mut problems: Vec<String> = Vec::new();
    if !no_secrets {
        let secrets = Secrets::from_process();
        if let Err(errors) = Snapshot::build(&config, &secrets) {
            problems.extend(errors.iter().map(ToString::to_string));
        }
        // What `serve` reads next: the SSO client secret, pairwise secret and signing keys,
        // the LLM's API key and the Redis password. Building them contacts nothing
        // (provider, Redis and LLM are reached on first use), so `check` finds here what
        // `serve` would refuse.
        if let Err(e) = gateway_secrets(&config, &secrets) {
            problems.push(format!("{}: {e}", path.display()));
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!("{} error(s); nothing was started", problems.len());
        return ExitCode::FAILURE;
    }
    println!(
        "{}: ok ({} ministries, {} services)",
        path.display(),
        config.ministries.len(),
        config.services.len()
    );
    ExitCode::SUCCESS
}

/// Builds the parts of the gateway that read secrets beyond the services' own (in memory:
/// `check` contacts nothing).
fn gateway_secrets(config: &config::Config, secrets: &Secrets) -> anyhow::Result<()> {
    let metrics = Arc::new(crate::telemetry::Metrics::new()?);
    let memory = || Arc::new(MemoryKv::default());
    crate::sso::Sso::new(config, secrets, memory(), Arc::clone(&metrics))?;
    crate::assist::Assist::new(&config.gateway.assist, secrets, memory(), metrics)?;
    crate::kv::SharedState::new(config.gateway.redis.as_ref(), secrets)?;
    Ok(())
}
