//! `upkeep-agent`: the daemon that runs upkeep's update cycle unattended.
//!
//! `upkeep-agent check-config FILE` validates a configuration and prints each problem with
//! the field, the problem and the fix. The daemon itself (`upkeep-agent --config FILE`) is
//! being built; until it is, the binary refuses to run rather than pretend to watch anything.
//!
//! Exit codes: 0 success; 2 invalid arguments or configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use upkeep_agent::config::AgentConfig;

/// upkeep's daemon: unattended updates with policies, webhooks, notifications and an HTTP API
#[derive(Debug, Parser)]
#[command(name = "upkeep-agent", version, max_term_width = 100)]
struct Cli {
    /// The configuration file
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a configuration file; print each problem with its field and fix
    CheckConfig {
        /// The configuration file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    match (cli.command, cli.config) {
        (Some(Command::CheckConfig { file }), _) => match AgentConfig::load(&file, &env) {
            Ok(config) => {
                println!(
                    "{}: valid; {} deployment(s){}, checked every {} s",
                    file.display(),
                    config.deployments.deployments.len(),
                    if config.labels {
                        " and containers labelled upkeep.enable=true"
                    } else {
                        ""
                    },
                    config.interval.as_secs()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
        },
        (None, _) => {
            eprintln!(
                "error: the upkeep-agent daemon is not built yet; `upkeep-agent check-config FILE` validates a configuration\n\nhint: use the `upkeep` CLI meanwhile"
            );
            ExitCode::from(2)
        }
    }
}
