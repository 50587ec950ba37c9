//! The agent's integration tests: one test binary, one module per area. Tests that need
//! PostgreSQL start their own throwaway cluster ([`support::postgres`]); under CI (`CI` set) a
//! missing PostgreSQL fails them, elsewhere they skip with a loud `SKIPPED:` line.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod api;
mod api_changes;
mod check_config;
mod cycle;
mod daemon;
mod labels;
mod logs;
mod notify;
mod projects;
mod server;
mod shutdown;
mod store;
mod support;
