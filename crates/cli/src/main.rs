//! `upkeep`: keep container deployments on the right image versions, from one host.
//!
//! The binary is a thin frontend: it parses arguments into checked settings, calls the
//! library crates, renders their results and maps errors to exit codes. It takes no decision
//! of its own.
//!
//! Exit codes: 0 success; 1 the command ran and its answer is "no" (for example
//! `upkeep version parse` met a tag that is not a version); 2 invalid arguments or input.

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match args::Cli::try_parse() {
        Ok(args) => args,
        Err(error) => return output::usage_error(&error),
    };
    match commands::run(args) {
        Ok(code) => code,
        Err(error) => output::report(&error),
    }
}
