//! `egov-gateway demo`: the gateway in front of the simulated legacy estate, with the
//! development identity provider for logins, in one process, with in-memory defaults.
//! What a newcomer runs first.
//!
//! The demo serves a copy of `config/` in a temporary directory (its registry store: the
//! admin API, file edits and SIGHUP change the copy, never the repository's files), with one
//! admin API key per ministry and one platform key.

use super::DemoArgs;
use crate::app::App;
use crate::config;
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
    // The repository's configuration must be valid before anything is copied or started.
    let original =
        config::load(&args.config).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let origin = format!("http://{}", args.listen);
    ports_apart(&args, &original.gateway.portal.tls)?;
    // Fail early and clearly if a port is taken (pingora would only log it later).
    for (what, addr) in [
        ("portal", args.listen),
        ("admin", args.admin_listen),
        ("metrics", args.metrics_listen),
    ] {
        server::refuse_taken(what, addr)?;
    }
    // The configuration's TLS listeners are the demo's too (it ignored them silently).
    for t in &original.gateway.portal.tls {
        server::refuse_taken("portal TLS", t.listen)?;
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

    let work = private_dir()?;
    // Removed however the demo ends, an error while starting included.
    let _removed = RemovedOnDrop(work.clone());
    let staged = demo::stage_config(&args.config, &work.join("config"), estate.addr())
        .context("copying the configuration")?;
    // Every service on its own origin: `*.localhost` is loopback for browsers and curl.
    let service_origin = format!("http://{{id}}.localhost:{}", args.listen.port());
    demo::set_portal(
        &staged,
        &origin,
        (!args.shared_origin).then_some(service_origin.as_str()),
    )?;
    let keys = demo::add_admin_keys(&staged, original.ministries.keys().map(String::as_str))?;
    let keys_file = work.join("admin-keys.json");
    write_keys(&keys_file, &keys)?;
    if let Some(out) = &args.admin_keys_out {
        write_keys(out, &keys)?;
    }
    let redis = if args.redis.is_empty() {
        None
    } else {
        let (signing_key, pairwise_secret) =
            super::keys::write_identity_files(&work.join("identity"))?;
        Some((
            args.redis.as_slice(),
            demo::SharedIdentity {
                signing_key,
                pairwise_secret,
            },
        ))
    };
    demo::set_run_settings(
        &staged,
        &demo::RunSettings {
            issuer: idp.issuer(),
            client_secret_env: DEMO_CLIENT_SECRET,
            redis,
            access_log: args.access_log,
        },
    )?;
    let mut config =
        config::load(&staged).map_err(|e| anyhow::anyhow!("invalid staged configuration:\n{e}"))?;
    demo::point_at_estate(&mut config, estate.addr(), args.listen);
    let secrets = demo::estate_secrets(&config).with_env(DEMO_CLIENT_SECRET, client_secret);
    let app = App::new(&config, &secrets)?;
    let listeners = Listeners {
        portal: vec![args.listen],
        h2c: true,
        tls: config.gateway.portal.tls.clone(),
        admin: Some(TcpListener::bind(args.admin_listen)?),
        metrics: Some(TcpListener::bind(args.metrics_listen)?),
        ..Listeners::default()
    };
    let mut server = server::build(&config.gateway.server, &app, listeners)?;
    server::reload_on_hangup(&mut server, &app, staged.clone());
    server::reopen_logs_on_usr1(&mut server, &app);
    println!("egov-gateway demo");
    match &config.gateway.portal.service_origins {
        Some(o) => println!(
            "  portal:   {origin}/   each service on its own origin, e.g. {}/ (or log in at {}/)",
            o.origin("cnie-renewal"),
            o.origin("criminal-record-extract")
        ),
        None => println!("  portal:   {origin}/   (e.g. {origin}/s/cnie-renewal/, or log in at {origin}/s/criminal-record-extract/)"),
    }
    for t in &config.gateway.portal.tls {
        let h2 = if t.h2 { "HTTP/2 by ALPN" } else { "HTTP/1.1" };
        println!("  TLS:      https://{}/ ({h2})", t.listen);
    }
    println!(
        "  admin:    http://{}/healthz, API http://{}/api/v1/services",
        args.admin_listen, args.admin_listen
    );
    println!(
        "  API keys: {} (one per ministry, and \"platform\"){}",
        keys_file.display(),
        args.admin_keys_out
            .as_ref()
            .map(|p| format!(", also {}", p.display()))
            .unwrap_or_default()
    );
    println!(
        "  config:   {} (the demo's registry; edits apply live, SIGHUP reloads)",
        work.join("config").display()
    );
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
    server::run_until_signalled(server, &app, &config.gateway.server);
    idp.shutdown();
    estate.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// The demo's directory: the staged registry and every ministry's key go with the demo.
struct RemovedOnDrop(std::path::PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Refuses two of the demo's addresses on one port, the configuration's TLS listeners
/// (`tls`) among them, as `serve`'s configuration check does (found when tried: `--listen`
/// equal to `--admin-listen` started, printed the portal's URL, and the admin listener
/// answered it; a `--listen` on a TLS listener's port had its plain-text connections taken
/// for TLS handshakes).
fn ports_apart(args: &DemoArgs, tls: &[config::TlsListener]) -> anyhow::Result<()> {
    let mut named: Vec<(String, std::net::SocketAddr)> = [
        ("--listen", args.listen),
        ("--admin-listen", args.admin_listen),
        ("--metrics-listen", args.metrics_listen),
        ("--estate-listen", args.estate_listen),
        ("--idp-listen", args.idp_listen),
    ]
    .into_iter()
    .map(|(flag, addr)| (flag.to_string(), addr))
    .collect();
    named.extend(tls.iter().enumerate().map(|(i, t)| {
        (
            format!("the configuration's portal.tls[{i}].listen"),
            t.listen,
        )
    }));
    for (j, (flag, addr)) in named.iter().enumerate() {
        if let Some((other, _)) = named[..j]
            .iter()
            .find(|(_, a)| config::same_port(*a, *addr))
        {
            anyhow::bail!("{flag} {addr} is also {other}'s port: each needs its own");
        }
    }
    Ok(())
}

/// A fresh directory only this user can read, for the staged configuration and the admin
/// keys: the demo's used to be `/tmp/egov-demo-<pid>`, predictable, never emptied (a planted
/// or stale service file there was served) and left behind with every ministry's key.
fn private_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "egov-demo-{}-{}",
        std::process::id(),
        &random_token()[..12]
    ));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Writes the keys as JSON, readable by this user only.
fn write_keys(path: &std::path::Path, keys: &demo::DemoKeys) -> anyhow::Result<()> {
    use std::io::Write as _;
    let json = serde_json::to_vec_pretty(keys)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("writing the admin keys to {}", path.display()))?;
    f.write_all(&json)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ports_apart;
    use crate::commands::{Cli, Command};
    use clap::Parser;

    fn demo(flags: &[&str]) -> crate::commands::DemoArgs {
        let argv = ["egov-gateway", "demo"].iter().chain(flags);
        match Cli::parse_from(argv).command {
            Command::Demo(args) => args,
            _ => panic!("not the demo"),
        }
    }

    #[test]
    fn two_of_the_demos_addresses_on_one_port_are_refused() {
        assert!(
            ports_apart(&demo(&[]), &[]).is_ok(),
            "the defaults are apart"
        );
        let same = demo(&[
            "--listen",
            "127.0.0.1:7000",
            "--admin-listen",
            "127.0.0.1:7000",
        ]);
        let e = ports_apart(&same, &[])
            .expect_err("one port twice")
            .to_string();
        assert!(
            e.contains("--admin-listen") && e.contains("--listen"),
            "{e}"
        );
        let estate = demo(&["--estate-listen", "[::ffff:127.0.0.1]:8080"]);
        assert!(
            ports_apart(&estate, &[]).is_err(),
            "the estate on the portal's port"
        );
    }

    #[test]
    fn a_tls_listener_of_the_configuration_on_the_demos_port_is_refused() {
        let tls = |listen: &str| crate::config::TlsListener {
            listen: listen.parse().expect("address"),
            cert: "cert.pem".into(),
            key: "key.pem".into(),
            h2: true,
        };
        let args = demo(&["--listen", "127.0.0.1:7000"]);
        assert!(ports_apart(&args, &[tls("127.0.0.1:7443")]).is_ok());
        let e = ports_apart(&args, &[tls("0.0.0.0:7000")])
            .expect_err("a TLS listener on the portal's port")
            .to_string();
        assert!(
            e.contains("portal.tls[0].listen") && e.contains("--listen"),
            "{e}"
        );
    }
}
