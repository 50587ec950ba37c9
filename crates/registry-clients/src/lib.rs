//! How upkeep learns which tags and digests exist in container registries.
//!
//! This crate will hold the async `Registry` trait and its clients (generic OCI Distribution,
//! Docker Hub, GHCR, Quay, ECR, GitHub releases) with their auth flows, rate limiting and
//! caching. It is an empty shell until the issue that builds it lands: it has no behaviour yet,
//! and nothing here pretends to talk to a registry.
//!
//! Image references and tag versions come from [`upkeep_versioning_core`]; this crate adds IO
//! and nothing that can be decided from values alone.

#![warn(missing_docs)]

pub use upkeep_versioning_core as core;
