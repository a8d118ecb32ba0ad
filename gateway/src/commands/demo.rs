//! `egov-gateway demo`: the gateway in front of the simulated legacy estate, in one
//! process, with in-memory defaults. What a newcomer runs first.

use super::DemoArgs;
use crate::config;
use crate::demo;
use crate::registry::{Registry, Snapshot};
use crate::server::{self, Listeners};
use crate::sso::Sso;
use anyhow::Context;
use egov_estate::{EstateOptions, RunningEstate};
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut config =
        config::load(&args.config).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let estate = RunningEstate::start(
        args.estate_listen,
        EstateOptions {
            seed: args.seed,
            ..EstateOptions::default()
        },
    )
    .with_context(|| format!("starting the simulated estate on {}", args.estate_listen))?;
    demo::point_at_estate(&mut config, estate.addr(), args.listen);
    let secrets = demo::estate_secrets(&config);
    let snapshot = Snapshot::build(&config, &secrets)
        .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let registry = Arc::new(Registry::new(snapshot));
    let listeners = Listeners {
        portal: vec![args.listen],
        h2c: true,
        admin: Some(
            TcpListener::bind(args.admin_listen)
                .with_context(|| format!("binding the admin listener {}", args.admin_listen))?,
        ),
        metrics: Some(
            TcpListener::bind(args.metrics_listen)
                .with_context(|| format!("binding the metrics listener {}", args.metrics_listen))?,
        ),
        ..Listeners::default()
    };
    // Fail early and clearly if the portal port is taken (pingora would panic later).
    drop(
        TcpListener::bind(args.listen)
            .with_context(|| format!("binding the portal listener {}", args.listen))?,
    );
    let sso = Arc::new(Sso::new(&config, &secrets).context("single sign-on")?);
    let server = server::build(&config.gateway.server, registry, sso, listeners)?;
    println!("egov-gateway demo");
    println!(
        "  portal:   http://{}/   (e.g. http://{}/s/cnie-renewal/)",
        args.listen, args.listen
    );
    println!("  admin:    http://{}/healthz", args.admin_listen);
    println!("  metrics:  http://{}/metrics", args.metrics_listen);
    println!(
        "  estate:   http://{} (the simulated legacy sites)",
        estate.addr()
    );
    println!("  {} services; Ctrl-C stops", config.services.len());
    server::run_until_signalled(server);
    estate.shutdown();
    Ok(ExitCode::SUCCESS)
}
