//! `upkeep-agent`: the daemon that runs upkeep's update cycle unattended.
//!
//! The daemon is built by a later issue. Until then the binary only says so: it answers
//! `--version` and `--help`, and refuses to run rather than pretend to watch anything.

use std::process::ExitCode;

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    match std::env::args().nth(1).as_deref() {
        Some("--version" | "-V") => {
            println!("upkeep-agent {version}");
            ExitCode::SUCCESS
        }
        Some("--help" | "-h") => {
            println!(
                "upkeep-agent {version}: the upkeep daemon (unattended updates, webhooks, HTTP \
                 API, staged rollouts)\n\nThe daemon is not built yet; use the `upkeep` CLI."
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "error: the upkeep-agent daemon is not built yet\n\nhint: use the `upkeep` CLI meanwhile"
            );
            ExitCode::from(2)
        }
    }
}
