//! Plan, apply and roll back image updates: the driver loop around the pure core.
//!
//! It composes [`upkeep_versioning_core`] (what to do) with [`upkeep_registry_clients`]
//! (what exists). Today it answers the first question of every update, "what is newer?",
//! through [`check`], and keeps the CLI's state files safely through [`store`]; runtimes,
//! health checks, notifiers and the journal come with the issue that builds the engine.

#![warn(missing_docs)]

pub mod check;
pub mod health;
pub mod hooks;
pub mod store;

pub use upkeep_registry_clients as registry;
pub use upkeep_versioning_core as core;
