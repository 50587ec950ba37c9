//! Per-deployment update policies: how far upkeep may move a deployment on its own, and how
//! often the registry may be asked about it.
//!
//! A [`Policy`] says how far upkeep may move a deployment by itself (`disabled`,
//! `notify_only`, `auto_patch`, `auto_minor`, `auto_major`); a [`PolicyConfig`] adds how often
//! the registry may be asked. A [`CheckResult`] is what the last check found. The decisions
//! made from them are the [planner](crate::planner)'s: what to move to, and what one cycle
//! does.
//!
//! # Layout
//!
//! The submodules are private; this one re-exports their public items. `config` holds
//! [`Policy`] and [`PolicyConfig`]; `state` the [`CheckResult`]; `error` [`PolicyError`] and
//! its messages. Each keeps its own unit tests; `test_support` has the helpers they (and the
//! planner's) share.
//!
//! # What this module does not do
//! It decides nothing and performs nothing: no registry queries, no deploys, no notices, no
//! clock.

mod config;
mod error;
mod state;

#[cfg(test)]
pub(crate) mod test_support;

pub use config::{Policy, PolicyConfig};
pub use error::PolicyError;
pub use state::CheckResult;
