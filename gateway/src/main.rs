//! The `egov-gateway` command: parse arguments, hand over to [`egov_gateway::commands`].

use clap::Parser;

/// A multi-threaded allocator: under load, glibc's malloc arenas showed up as lock
/// contention between pingora's worker threads (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

fn main() -> ExitCode {
    egov_gateway::server::ignore_watched_signals_until_watched();
    let cli = egov_gateway::commands::Cli::parse();
    egov_gateway::commands::init_tracing(&cli);
    match egov_gateway::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", chain_once(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: the library's errors name their cause in their
/// own message, so `{:#}` printed a missing access log's "No such file or directory" three
/// times (found when tried).
fn chain_once(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let said = cause.to_string();
        if !text.contains(&said) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&said);
        }
    }
    text
}
