//! The upkeep agent: upkeep's update cycle without a person.
//!
//! The agent decides nothing itself: the core's `decide` and the engine's plan, apply and
//! rollback do. Around them it keeps what a daemon needs: registry webhooks that trigger
//! checks ([`webhooks`]), notifications to people ([`notify`]), a database of deployments,
//! check results and events ([`store`]), and its configuration, from its file and from
//! container labels ([`config`]). [`cycle`] is one pass over the deployments, [`daemon`]
//! runs passes on a tick and on pushes, and [`api`] is its HTTP face: health, metrics,
//! deployments, events, webhooks.

#![warn(missing_docs)]

pub mod agent;
pub mod api;
pub mod config;
pub mod cycle;
pub mod daemon;
pub mod hints;
pub mod id;
pub mod notify;
pub mod store;
pub mod webhooks;
