//! Plan, apply and roll back image updates: the driver loop around the pure core.
//!
//! It composes [`upkeep_versioning_core`] (what to do) with [`upkeep_registry_clients`]
//! (what exists) and the parts that touch the host: [`check`] answers "what is newer?";
//! [`runtime`] pulls and recreates containers on Docker Engine with a rollback point;
//! [`health`] and [`hooks`] judge and surround a change; [`store`] keeps the manifest, its
//! backups, `versions.env` and the update journal safely on disk. The update flow that ties
//! them together (plan, apply, rollback, recover) comes next.

#![warn(missing_docs)]

pub mod check;
pub mod config;
pub mod engine;
pub mod fault;
pub mod health;
pub mod hooks;
pub mod runtime;
pub mod store;

pub use upkeep_registry_clients as registry;
pub use upkeep_versioning_core as core;
