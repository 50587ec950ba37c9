//! `upkeep-agent`: the daemon that runs upkeep's update cycle unattended.
//!
//! `upkeep-agent --config FILE` runs the update cycle until SIGTERM or Ctrl-C, which stop it
//! between cycles. `upkeep-agent check-config FILE` validates a configuration and prints each
//! problem with the field, the problem and the fix; `upkeep-agent config-reference` prints
//! every key.
//!
//! Exit codes: 0 success; 1 the daemon cannot start (database, notification targets); 2
//! invalid arguments or configuration.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use upkeep_agent::config::AgentConfig;
use upkeep_agent::daemon::Daemon;

/// upkeep's daemon: unattended updates with policies, webhooks, notifications and an HTTP API
#[derive(Debug, Parser)]
#[command(name = "upkeep-agent", version, max_term_width = 100)]
struct Cli {
    /// The configuration file
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How log lines are written: `text` (coloured only on a terminal, and never with
    /// NO_COLOR set) or `json`, one object per line for log shippers
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs go to stderr: to a terminal in colour, to files and journald as plain text, or as
/// JSON lines.
fn init_logging(format: LogFormat) {
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            logs.with_ansi(colour).init();
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a configuration file; print each problem with its field and fix
    CheckConfig {
        /// The configuration file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print every key of the configuration file with its default and what it is for
    ConfigReference,
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
        (Some(Command::ConfigReference), _) => {
            let width = upkeep_agent::config::REFERENCE
                .iter()
                .map(|(key, _, _)| key.len())
                .max()
                .unwrap_or(0);
            for (key, default, description) in upkeep_agent::config::REFERENCE {
                let default = if default.is_empty() {
                    String::new()
                } else {
                    format!(" (default: {default})")
                };
                println!("{key:width$}  {description}{default}");
            }
            ExitCode::SUCCESS
        }
        (Some(Command::CheckConfig { file }), _) => match AgentConfig::load(&file, &env) {
            Ok(config) => {
                println!(
                    "{}: valid; {} deployment(s), {} project(s){}, checked every {} s",
                    file.display(),
                    config.deployments.deployments.len(),
                    config.projects.len(),
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
        (None, Some(file)) => {
            let config = match AgentConfig::load(&file, &env) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            };
            init_logging(cli.log_format);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: cannot start the async runtime: {error}");
                    return ExitCode::from(1);
                }
            };
            runtime.block_on(async {
                // Listening from here on: a SIGTERM during the first cycle, too, waits for
                // the update in flight instead of killing the process in the middle of it.
                let shutdown = shutdown_signal();
                match Daemon::start(config).await {
                    Ok(daemon) => {
                        let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
                        let api = match daemon
                            .serve(async {
                                let _ = api_stopped.await;
                            })
                            .await
                        {
                            Ok(api) => api,
                            Err(error) => {
                                eprintln!("error: {error}");
                                return ExitCode::from(1);
                            }
                        };
                        let agent = daemon.agent();
                        daemon.run(shutdown).await;
                        let _ = stop_api.send(());
                        let _ = api.await;
                        // A change asked through the API whose client has gone runs on its
                        // own task; it ends before the process does.
                        agent.changes_finished().await;
                        ExitCode::SUCCESS
                    }
                    Err(error) => {
                        eprintln!("error: {error}");
                        ExitCode::from(1)
                    }
                }
            })
        }
        (None, None) => {
            eprintln!(
                "error: say which configuration to run: `upkeep-agent --config FILE` (`upkeep-agent check-config FILE` validates one)"
            );
            ExitCode::from(2)
        }
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C): the daemon then stops between cycles. The
/// handlers are installed when this is called, not when the future is first polled.
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate()).ok();
    let interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        tokio::select! {
            () = received(terminate) => {}
            () = received(interrupt) => {}
        }
        tracing::info!("shutdown asked; the update in flight, if any, is finished first");
    }
}

/// Completes when `signal` arrives; never, when its handler could not be installed.
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
