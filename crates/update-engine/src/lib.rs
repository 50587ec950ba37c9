//! Plan, apply and roll back image updates: the driver loop around the pure core.
//!
//! It composes [`upkeep_versioning_core`] (what to do) with [`upkeep_registry_clients`]
//! (what exists) and the parts that touch the host. [`engine`] is the flow a user drives:
//! plan, apply, rollback, pin, pull, resolve and recover. Around it: [`config`] reads the
//! deployments from `upkeep.yaml`; [`setup`] writes the first manifest (`upkeep init`);
//! [`check`] answers "what is newer?" for one image; [`target`] is what the engine drives
//! for anything it updates, and [`runtime`] pulls and recreates containers for the container
//! targets; [`health`] and [`hooks`] judge and surround a change; [`store`] keeps the manifest, its backups, `versions.env` and the update journal safely
//! on disk; with the `crash-points` feature, tests can kill the process at a chosen step.

#![warn(missing_docs)]

pub mod check;
pub mod config;
pub mod engine;
mod fault;
pub mod health;
pub mod hint;
pub mod hooks;
pub mod lock;
mod process;
pub mod runtime;
pub mod setup;
pub mod store;
pub mod target;

pub use engine::{
    Approval, ChangeStep, Engine, EngineBuilder, EngineError, Outcome, OutcomeKind, PlanAction,
    PlanEntry, PlanReason, PlanRequest, Recovered, RecoveryAction, Report, Reporter, Silent,
    UpdateReport, UpdateRequest,
};
pub use hint::{Hint, HintWords};
pub use target::{PlacedTargets, Target, Targets};
pub use upkeep_registry_clients as registry;
pub use upkeep_versioning_core as core;

/// An error and its causes on one line, `outer: cause: cause`, for messages and logs that
/// cannot carry a `source`. A cause whose text the message already contains (some libraries
/// repeat it) is left out.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
