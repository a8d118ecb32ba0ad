//! `egov-gateway check`: validate everything, list every problem, exit non-zero on any.

use crate::config::{self, Secrets};
use crate::registry::Snapshot;
use std::path::Path;
use std::process::ExitCode;

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
    if !no_secrets {
        if let Err(errors) = Snapshot::build(&config, &Secrets::from_process()) {
            for e in errors.iter() {
                eprintln!("{e}");
            }
            eprintln!("{} error(s); nothing was started", errors.len());
            return ExitCode::FAILURE;
        }
    }
    println!(
        "{}: ok ({} ministries, {} services)",
        path.display(),
        config.ministries.len(),
        config.services.len()
    );
    ExitCode::SUCCESS
}
