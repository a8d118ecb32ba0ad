//! `egov-gateway demo`: the gateway in front of the simulated legacy estate, with the
//! development identity provider for logins, in one process, with in-memory defaults.
//! What a newcomer runs first.

use super::DemoArgs;
use crate::app::App;
use crate::config::{self, SecretRef, ServiceOrigins, SsoSettings};
use crate::demo;
use crate::server::{self, Listeners};
use crate::sso::session::random_token;
use anyhow::Context;
use egov_devidp::{DevClient, DevIdpConfig, DevOnly, RunningDevIdp};
use egov_estate::{EstateOptions, RunningEstate};
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

/// The in-memory name of the demo's OIDC client secret.
const DEMO_CLIENT_SECRET: &str = "EGOV_DEMO_OIDC_CLIENT_SECRET";

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut config =
        config::load(&args.config).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let origin = format!("http://{}", args.listen);
    // Fail early and clearly if a port is taken (pingora would only log it later).
    for (what, addr) in [
        ("portal", args.listen),
        ("admin", args.admin_listen),
        ("metrics", args.metrics_listen),
    ] {
        drop(
            TcpListener::bind(addr)
                .with_context(|| format!("binding the {what} listener {addr}"))?,
        );
    }
    let estate_options = if args.calm {
        EstateOptions::calm(args.seed)
    } else {
        EstateOptions {
            seed: args.seed,
            ..EstateOptions::default()
        }
    };
    let estate = RunningEstate::start(
        args.estate_listen,
        EstateOptions {
            portal: Some(origin.clone()),
            ..estate_options
        },
    )
    .with_context(|| format!("starting the simulated estate on {}", args.estate_listen))?;
    let client_secret = random_token();
    let idp = RunningDevIdp::start(
        args.idp_listen,
        DevIdpConfig {
            issuer: format!("http://{}", args.idp_listen),
            clients: vec![DevClient {
                client_id: "egov-portal".into(),
                client_secret: client_secret.clone(),
                redirect_uris: vec![format!("{origin}/auth/callback")],
                post_logout_redirect_uris: vec![format!("{origin}/")],
                backchannel_logout_uri: Some(format!("{origin}/auth/backchannel-logout")),
            }],
            acknowledge: DevOnly::I_UNDERSTAND_THIS_IS_NOT_SECURE,
            access_token_ttl: Duration::from_secs(300),
            id_token_ttl: Duration::from_secs(300),
        },
    )
    .with_context(|| {
        format!(
            "starting the development identity provider on {}",
            args.idp_listen
        )
    })?;

    demo::point_at_estate(&mut config, estate.addr(), args.listen);
    if !args.shared_origin {
        // Every service on its own origin: `*.localhost` is loopback for browsers and curl.
        config.gateway.portal.service_origins = Some(ServiceOrigins {
            https: false,
            domain: "localhost".into(),
            port: Some(args.listen.port()),
        });
    }
    config.gateway.sso = Some(SsoSettings {
        issuer: idp.issuer().to_string(),
        client_id: "egov-portal".into(),
        client_secret: SecretRef::Env(DEMO_CLIENT_SECRET.into()),
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        professional_claim: "profile".into(),
        professional_values: vec!["professional".into()],
        clock_skew: Duration::from_secs(60),
        refresh_before: Duration::from_secs(30),
        provider_timeout: Duration::from_secs(5),
    });
    if !args.redis.is_empty() {
        config.gateway.redis = Some(crate::config::RedisSettings::new(args.redis.clone()));
        config.gateway.sessions.store = crate::config::SessionStoreKind::Redis;
    }
    if args.access_log {
        config.gateway.telemetry.access_log = crate::config::AccessLogTarget::Stdout;
    }
    let secrets = demo::estate_secrets(&config).with_env(DEMO_CLIENT_SECRET, client_secret);
    let app = App::new(&config, &secrets)?;
    let listeners = Listeners {
        portal: vec![args.listen],
        h2c: true,
        admin: Some(TcpListener::bind(args.admin_listen)?),
        metrics: Some(TcpListener::bind(args.metrics_listen)?),
        ..Listeners::default()
    };
    let server = server::build(&config.gateway.server, &app, listeners)?;
    println!("egov-gateway demo");
    match &config.gateway.portal.service_origins {
        Some(o) => println!(
            "  portal:   {origin}/   each service on its own origin, e.g. {}/ (or log in at {}/)",
            o.origin("cnie-renewal"),
            o.origin("criminal-record-extract")
        ),
        None => println!("  portal:   {origin}/   (e.g. {origin}/s/cnie-renewal/, or log in at {origin}/s/criminal-record-extract/)"),
    }
    println!("  admin:    http://{}/healthz", args.admin_listen);
    println!("  metrics:  http://{}/metrics", args.metrics_listen);
    println!(
        "  estate:   http://{} (the simulated legacy sites)",
        estate.addr()
    );
    println!(
        "  login:    {} (DEVELOPMENT identity provider, test citizens)",
        idp.issuer()
    );
    println!("  {} services; Ctrl-C stops", config.services.len());
    server::run_until_signalled(server);
    idp.shutdown();
    estate.shutdown();
    Ok(ExitCode::SUCCESS)
}
