//! `upkeep`: keep container deployments on the right image versions, from one host.
//!
//! The binary is a thin frontend: it parses arguments into checked settings, calls the
//! library crates, renders their results and maps errors to exit codes. It takes no decision
//! of its own.
//!
//! Exit codes:
//! - 0: success;
//! - 1: the answer is "no" (`upkeep version parse` met a tag that is not a version), a change
//!   failed before it touched anything, or the Docker Engine or a registry failed;
//! - 2: invalid arguments, configuration or input (the message says how to fix it);
//! - 3: an update failed its health checks and was rolled back: the previous version runs;
//! - 4: a change failed and the service could not be restored: it needs a person
//!   (`upkeep recover` once the cause is fixed);
//! - 10: `upkeep check` found updates.

mod args;
mod commands;
mod hints;
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
        Err(error) => output::report(&error, !commands::is_failure(&error)),
    }
}
