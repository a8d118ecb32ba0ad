//! The command-line interface: `serve`, `check`, `route`, `eval`, `admin-key`, `feedback`, and `demo`
//! (the `demo` feature, on by default).

mod admin_key;
mod check;
#[cfg(feature = "demo")]
mod demo;
mod feedback;
pub mod keys;
mod route;
mod serve;

use clap::{Parser, Subcommand};
#[cfg(feature = "demo")]
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// One door to Morocco's e-government: the portal gateway in front of the ministries' sites.
#[derive(Debug, Parser)]
#[command(name = "egov-gateway", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal from a configuration.
    Serve {
        /// The gateway's main configuration file.
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
        /// Take the listening sockets over from the gateway running on the same
        /// `server.upgrade_sock`; send that one SIGQUIT to hand them over. No connection is
        /// refused during the swap.
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate a configuration (every file, every error) and exit non-zero if it is wrong.
    Check {
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
        /// Only check that secrets are referenced correctly, not that they can be read.
        #[arg(long)]
        no_secrets: bool,
    },
    /// Run the gateway in front of the simulated legacy estate, with in-memory defaults.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Route a citizen's free-text request to a service.
    Route {
        /// What the citizen typed (Arabic, Darija, French, English...).
        text: String,
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
        /// Never call the LLM.
        #[arg(long)]
        local_only: bool,
        /// Print the same JSON object `/api/route` answers, on one line.
        #[arg(long)]
        json: bool,
        /// Language of the service names shown (ar, zgh, fr, en).
        #[arg(long, default_value = "fr", value_parser = language)]
        lang: String,
    },
    /// Make an API key for the ministries' admin API: prints the key once and the
    /// `[admin] keys` entry (its hash) to add to gateway.toml.
    AdminKey {
        /// The ministry whose services the key may change.
        #[arg(long, conflicts_with = "platform")]
        ministry: Option<String>,
        /// A platform key instead: every ministry's services.
        #[arg(long)]
        platform: bool,
        /// The key's id (in the audit log and `[admin] keys`); default `<ministry>-<random>`.
        #[arg(long)]
        id: Option<String>,
    },
    /// What every instance of a deployment must share (identity signing key, pairwise secret).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The citizens' "not what I meant" answers.
    Feedback {
        #[command(subcommand)]
        action: FeedbackAction,
    },
    /// Measure routing accuracy on a `lang<TAB>query<TAB>service_id` file.
    Eval {
        file: PathBuf,
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
        #[arg(long)]
        local_only: bool,
        /// Print exactly one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `egov-gateway keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Write a new identity signing key and pairwise secret into a directory (files that do
    /// not exist yet, mode 0600) and print the `[identity]` lines for them.
    Generate {
        #[arg(long)]
        out: PathBuf,
    },
}

/// `egov-gateway feedback ...`.
#[derive(Debug, Subcommand)]
pub enum FeedbackAction {
    /// Print the answers that chose a service as candidate `examples` lines for its file.
    Export {
        /// The service the citizens chose.
        #[arg(long)]
        service: String,
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
    },
}

/// Flags of `egov-gateway demo`.
#[cfg(feature = "demo")]
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "config/gateway.toml")]
    pub config: PathBuf,
    /// The portal listener.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The admin listener (health, status, the ministries' API under /api/v1).
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub admin_listen: SocketAddr,
    /// The Prometheus metrics listener.
    #[arg(long, default_value = "127.0.0.1:9902")]
    pub metrics_listen: SocketAddr,
    /// Where the simulated legacy estate listens.
    #[arg(long, default_value = "127.0.0.1:9400")]
    pub estate_listen: SocketAddr,
    /// Where the development identity provider (test citizens) listens.
    #[arg(long, default_value = "127.0.0.1:9500")]
    pub idp_listen: SocketAddr,
    /// Seed of the estate's simulated latency and failures.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep sessions (and routing decisions) in this Redis instead of in memory, e.g.
    /// `redis://127.0.0.1:6379` (repeat for a Redis Cluster's seed nodes).
    #[arg(long)]
    pub redis: Vec<String>,
    /// Turn the estate's simulated latency and failures off (for benchmarks).
    #[arg(long)]
    pub calm: bool,
    /// Write the JSON access log to stdout.
    #[arg(long)]
    pub access_log: bool,
    /// Serve every service under `/s/<id>/` of the portal origin instead of on its own
    /// origin `http://<id>.localhost:<port>/` (weaker: legacy pages then share one origin).
    #[arg(long)]
    pub shared_origin: bool,
    /// Also write the demo's admin API keys here, as JSON:
    /// `{"platform": KEY, "ministries": {"<ministry>": KEY, ...}}`.
    #[arg(long)]
    pub admin_keys_out: Option<PathBuf>,
}

/// Logs to stderr, one line an event whatever a client sent; `RUST_LOG` overrides the default level (`info` for servers, `warn` for
/// one-shot commands whose output is their stdout).
pub fn init_tracing(cli: &Cli) {
    let default = match cli.command {
        Command::Route { .. }
        | Command::Eval { .. }
        | Command::Check { .. }
        | Command::AdminKey { .. }
        | Command::Feedback { .. }
        | Command::Keys { .. } => "warn",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a person at a terminal: a log file or journal read later gets the
    // text alone. Every field escaped and cut (`log_fields`).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(crate::telemetry::log_fields::SafeFields)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, upgrade } => serve::run(&config, upgrade),
        Command::Check { config, no_secrets } => Ok(check::run(&config, no_secrets)),
        Command::AdminKey {
            ministry,
            platform,
            id,
        } => admin_key::run(ministry, platform, id),
        Command::Keys {
            action: KeysAction::Generate { out },
        } => keys::generate(&out),
        Command::Feedback {
            action: FeedbackAction::Export { service, config },
        } => feedback::export(&config, &service),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(args),
        Command::Route {
            text,
            config,
            local_only,
            json,
            lang,
        } => route::route(&config, &text, local_only, json, &lang),
        Command::Eval {
            file,
            config,
            local_only,
            json,
        } => route::eval(&config, &file, local_only, json),
    }
}

/// `--lang`: one of the portal's languages (found when tried: `--lang de` fell back to
/// French without a word).
fn language(code: &str) -> Result<String, String> {
    crate::lang::Lang::from_code(code)
        .map(|l| l.code().to_string())
        .ok_or_else(|| {
            let known: Vec<&str> = crate::lang::Lang::ALL.iter().map(|l| l.code()).collect();
            format!("not one of the portal's languages: {}", known.join(", "))
        })
}
