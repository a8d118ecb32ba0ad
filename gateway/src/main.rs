//! The `egov-gateway` command: parse arguments, hand over to [`egov_gateway::commands`].

use clap::Parser;

/// A multi-threaded allocator: under load, glibc's malloc arenas showed up as lock
/// contention between pingora's worker threads (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = egov_gateway::commands::Cli::parse();
    egov_gateway::commands::init_tracing(&cli);
    match egov_gateway::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
