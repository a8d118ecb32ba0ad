//! `egov-gateway check`: validate everything, list every problem, exit non-zero on any.

use crate::config::{self, Secrets};
use crate::kv::MemoryKv;
use crate::registry::Snapshot;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(path: &Path, no_secrets: bool) -> ExitCode {
    let (loaded, warnings) = config::load_with_warnings(path);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let config = match loaded {
        Ok(c) => c,
        Err(errors) => {
            for e in errors.iter() {
                eprintln!("{e}");
            }
            eprintln!("{} error(s); nothing was started", errors.len());
            return ExitCode::FAILURE;
        }
    };
    let mut problems: Vec<String> = Vec::new();
    problems.extend(registry_files(&config));
    let secrets = if no_secrets {
        Secrets::unread()
    } else {
        Secrets::from_process()
    };
    // The secrets the files registry keeps for the services (given through the admin API).
    let secrets = if no_secrets {
        secrets
    } else {
        match crate::registry::store::files::with_kept_secrets(&config, &secrets) {
            Ok(s) => s,
            // Said by `registry_files` already.
            Err(_) => secrets,
        }
    };
    match Snapshot::build(&config, &secrets) {
        Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
        // `serve` starts without them (503 until they resolve); an operator checking wants
        // to know.
        Ok(snapshot) => {
            for (service, why) in snapshot.unresolved() {
                problems.extend(why.iter().map(|w| format!("service {service}: {w}")));
            }
        }
    }
    if !no_secrets {
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

/// What `serve` reads of the files registry's own files (its history and the secrets the
/// admin API keeps) and would refuse or stumble on (found when tried: `check` said ok over a
/// history `serve` refused, and over a secrets file that silently stopped every edit).
fn registry_files(config: &config::Config) -> Vec<String> {
    use crate::registry::store::files;
    let registry = &config.gateway.registry;
    if registry.store != config::RegistryStoreKind::Files {
        return Vec::new();
    }
    let history = files::read_history(&registry.history).err();
    let secrets = files::read_secrets(&files::secrets_file(&registry.history)).err();
    history
        .into_iter()
        .chain(secrets)
        .map(|e| e.to_string())
        .collect()
}

/// Builds the parts of the gateway that read secrets beyond the services' own (in memory:
/// `check` contacts nothing).
fn gateway_secrets(config: &config::Config, secrets: &Secrets) -> anyhow::Result<()> {
    let metrics = Arc::new(crate::telemetry::Metrics::new()?);
    let memory = || Arc::new(MemoryKv::default());
    crate::sso::Sso::new(config, secrets, memory(), Arc::clone(&metrics))?;
    crate::assist::Assist::new(
        &config.gateway.assist,
        config.gateway.identity.pairwise_secret.as_ref(),
        secrets,
        memory(),
        metrics,
    )?;
    crate::kv::SharedState::new(config.gateway.redis.as_ref(), secrets)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::registry_files;

    #[test]
    fn the_files_registrys_own_files_are_checked_as_serve_reads_them() {
        let dir = std::env::temp_dir().join(format!(
            "egov-check-{}-{}",
            std::process::id(),
            crate::sso::session::random_token()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut config = crate::config::fixtures::config_without_secrets();
        config.gateway.registry.store = crate::config::RegistryStoreKind::Files;
        config.gateway.registry.history = dir.join("registry-history.jsonl");
        assert!(
            registry_files(&config).is_empty(),
            "no files yet: nothing to refuse"
        );
        std::fs::write(&config.gateway.registry.history, "garbage\n{}\n").expect("write");
        std::fs::write(dir.join("registry-secrets.json"), "{\"a\": \"b\", trunc").expect("write");
        let problems = registry_files(&config);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("registry-history.jsonl: line 1"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("registry-secrets.json"),
            "{problems:?}"
        );
    }
}
