//! Per-deployment update policies and the pure decision of what one cycle should do.
//!
//! A [`Policy`] says how far upkeep may move a deployment on its own (`disabled`,
//! `notify_only`, `auto_patch`, `auto_minor`, `auto_major`); a [`PolicyConfig`] adds how often
//! the registry may be asked. [`decide`] takes a deployment's [`DeploymentState`], its
//! configuration, the latest [`CheckResult`] and the current time, and returns a [`Decision`]:
//! the [`Action`]s of one cycle (check, apply, notify, roll back) and when the next check falls
//! due, so the caller knows how long it may sleep.
//!
//! # Layout
//!
//! The submodules are private; this one re-exports their public items. `config` holds
//! [`Policy`] and [`PolicyConfig`]; `state` what [`decide`] reads about a deployment
//! ([`DeploymentStatus`], [`DeploymentState`], [`CheckResult`]); `decide` the decision, its
//! rules and what it returns ([`Decision`], [`Action`], [`Notice`]); `error` [`PolicyError`]
//! and its messages. Each keeps its own unit tests; `test_support` has the helpers they share.
//!
//! # What this module does not do
//! It performs none of its actions: it does not query registries, deploy, send notices or
//! read the clock, and it does not choose the update target (that is target selection, whose
//! result arrives here as a [`CheckResult`]). It does not notify after an update either: the
//! engine does that once it knows whether the update came up (see [`Action::Apply`]). The
//! caller keeps the [`DeploymentState`] up to date after carrying out each action, as
//! described on [`decide`].

mod config;
mod decide;
mod error;
mod state;

#[cfg(test)]
mod test_support;

pub use config::{Policy, PolicyConfig};
pub use decide::{Action, Decision, Notice, decide};
pub use error::PolicyError;
pub use state::{CheckResult, DeploymentState, DeploymentStatus};
