//! The `egov-gateway` command: parse arguments, hand over to [`egov_gateway::commands`].

use clap::Parser;
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
