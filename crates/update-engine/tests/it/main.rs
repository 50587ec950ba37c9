//! update-engine's one integration-test binary. Tests that need this machine's Docker Engine
//! fail under CI (`CI` set) when it is missing, and elsewhere skip with a loud message.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod compose_runtime;
mod docker_runtime;
mod engine;
mod web_images;

pub(crate) use upkeep_test_registry::docker::{available as docker_available, run as docker};
