//! `egov-estate`: runs the simulated legacy estate on its own, for the demo
//! and for poking at the legacy sites by hand (`curl -H 'Host: www.cnie.ma'`).
//! Prints the listening address and the catalog, then serves until Ctrl-C.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use egov_estate::{serve, sites, EstateOptions, Latency};

/// The simulated legacy estate: 56 ministry sites with their quirks, on loopback.
#[derive(Debug, Parser)]
#[command(name = "egov-estate", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9400")]
    listen: SocketAddr,
    /// Seed of every random decision (latency, 502s, session ids).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Turn off the latency of slow sites and the 502s of flaky sites.
    #[arg(long)]
    no_chaos: bool,
    /// Multiply the latency of slow sites by this factor (ignored with --no-chaos).
    #[arg(long)]
    latency_scale: Option<f64>,
    /// The portal origin whose identity assertions `__estate/whoami` verifies.
    #[arg(long)]
    trust_portal: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut options = if args.no_chaos {
        EstateOptions::calm(args.seed)
    } else {
        EstateOptions {
            seed: args.seed,
            latency: args
                .latency_scale
                .map_or(Latency::Realistic, Latency::Scaled),
            flaky: true,
            portal: None,
        }
    };
    options.portal = args.trust_portal;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("no local address")?;
    println!(
        "egov-estate listening on http://{addr} (seed {})",
        args.seed
    );
    for site in sites() {
        let quirks: Vec<&str> = site.quirks.iter().map(|q| q.slug()).collect();
        println!("  {:<34} {:<50} {}", site.id, site.url(), quirks.join(","));
    }
    let shutdown = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot wait for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    serve(listener, options, shutdown).await?;
    println!("egov-estate stopped");
    Ok(())
}
