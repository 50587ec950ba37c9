//! Embedding the engine in another tool: plan and update one service of an upkeep state
//! directory (one `upkeep init` made), with a reporter of the tool's own.
//!
//! ```text
//! cargo run -p upkeep-update-engine --example embed -- STATE_DIR SERVICE [--apply]
//! ```
//!
//! Without `--apply` it is a dry run: it says what it would do and changes nothing.

// A command-line example: it talks to its user on standard error.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use upkeep_registry_clients::credentials::CredentialStore;
use upkeep_registry_clients::router::{RegistryRouter, RouterConfig};
use upkeep_update_engine::{Engine, OutcomeKind, PlanRequest, Report, Reporter, UpdateRequest};

/// The tool's reporter: one line per step, on standard error.
struct Lines;

impl Reporter for Lines {
    fn report(&self, report: &Report<'_>) {
        match report {
            Report::Step { service, step } => eprintln!("[{service}] {step}"),
            Report::Waiting { holder } => eprintln!("waiting for {holder}"),
            Report::Recovered(recovered) => {
                eprintln!("recovered {}: {}", recovered.service, recovered.message);
            }
            Report::Planned(plan) => {
                for entry in *plan {
                    eprintln!(
                        "[{}] plan: {:?}, {}",
                        entry.service, entry.action, entry.why
                    );
                }
            }
            Report::Finished(outcome) => {
                eprintln!(
                    "[{}] {:?}: {}",
                    outcome.service, outcome.result, outcome.message
                );
            }
            // Pull progress, and whatever later versions report.
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(directory), Some(service)) = (args.next(), args.next()) else {
        eprintln!("usage: embed STATE_DIR SERVICE [--apply]");
        return ExitCode::from(2);
    };
    let apply = args.next().as_deref() == Some("--apply");
    match run(PathBuf::from(directory), service, apply).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!(
                "error: {}",
                upkeep_update_engine::error_chain(error.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

async fn run(
    directory: PathBuf,
    service: String,
    apply: bool,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let registries = RegistryRouter::new(
        RouterConfig::default(),
        Arc::new(CredentialStore::from_process()?),
    )?;
    let engine = Engine::builder(&directory, Arc::new(registries))
        .reporter(Arc::new(Lines))
        .build()?;
    let request = UpdateRequest::new(PlanRequest {
        services: vec![service],
        ..PlanRequest::default()
    })
    .dry_run(!apply);
    let report = engine.update(&request).await?;
    let healthy = report.outcomes.iter().all(|outcome| {
        matches!(
            outcome.result,
            OutcomeKind::Changed | OutcomeKind::Unchanged
        )
    });
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
