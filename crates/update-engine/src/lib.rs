//! Plan, apply and roll back image updates: the driver loop around the pure core.
//!
//! This crate will compose [`upkeep_versioning_core`] (what to do) with
//! [`upkeep_registry_clients`] (what exists) and the parts that touch the host: runtimes,
//! state stores, health checks, notifiers and a journal. It is an empty shell until the issue
//! that builds it lands; it has no behaviour yet.

#![warn(missing_docs)]

pub use upkeep_registry_clients as registry;
pub use upkeep_versioning_core as core;
