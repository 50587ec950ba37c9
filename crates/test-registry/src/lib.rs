//! A real registry for the integration tests: Debian's `docker-registry` (Distribution 2.8.2)
//! started as a child process on loopback, one per test, without auth, with htpasswd Basic
//! auth, or with token auth backed by a token issuer this process runs; and a standard set of
//! images pushed into it with `umoci`, `skopeo` and plain HTTP, described exactly so tests can
//! assert exact answers.
//!
//! Start one with [`registry`] or [`filled_registry`]: when a program is missing they panic
//! under CI (`CI` set and not empty) and otherwise print a loud skip line and return `None`:
//!
//! ```ignore
//! let Some((registry, images)) = upkeep_test_registry::filled_registry(Auth::None).await else { return };
//! ```
//!
//! It does not use the system's `docker-registry` service, Docker, or the network beyond
//! 127.0.0.1, and it tests nothing itself: registry-clients' `tests/it/harness.rs` holds the
//! smoke tests. Test code only: never a dependency of a shipped crate.

#![allow(clippy::print_stderr)]

pub mod docker;
mod fixtures;
mod server;
mod token;
mod tools;
pub mod web;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitStatus;

pub use fixtures::{APP, MULTI_TAG, OTHER, PushedManifest, PushedRepository, StandardImages, V2S2};
pub use server::{Auth, PASSWORD, SERVICE, TestRegistry, USER};
pub use token::TOKEN_ISSUER;

/// Starts a registry, or decides what to do when its programs are missing: under CI, panic
/// (a missing service must fail the run); elsewhere, print a loud skip line to stderr and
/// return `None` so the test can return early. Any other failure panics with the registry's
/// last log lines.
pub async fn registry(auth: Auth) -> Option<TestRegistry> {
    started(TestRegistry::start(auth).await)
}

/// [`registry`], whose pushes and pulls are also POSTed to `url` as Distribution
/// notifications (manifest events only; blob events and pulls are left out).
pub async fn notifying_registry(auth: Auth, url: &str) -> Option<TestRegistry> {
    started(TestRegistry::start_notifying(auth, Some(url)).await)
}

fn started(result: Result<TestRegistry, HarnessError>) -> Option<TestRegistry> {
    match result {
        Ok(registry) => Some(registry),
        Err(missing @ HarnessError::MissingProgram { .. }) => {
            skip_or_panic(&missing);
            None
        }
        Err(error) => panic!("test registry did not start: {error}"),
    }
}

/// [`registry`], then [`TestRegistry::fill_standard`].
pub async fn filled_registry(auth: Auth) -> Option<(TestRegistry, StandardImages)> {
    let registry = registry(auth).await?;
    match registry.fill_standard().await {
        Ok(images) => Some((registry, images)),
        // The registry's drop prints its log's last lines.
        Err(error) => panic!("filling the test registry failed: {error}"),
    }
}

/// What went wrong while starting or filling a test registry.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A program the harness runs is not on `PATH`.
    #[error(
        "`{program}` is not installed (apt package `{package}`); run scripts/test or \
         `apt-get install {}`",
        tools::APT_PACKAGES
    )]
    MissingProgram {
        /// The program's name.
        program: &'static str,
        /// The Debian package that ships it.
        package: &'static str,
    },
    /// A file or directory could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done (`write`, `read`, `create`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A program could not be started.
    #[error("cannot run `{program}`")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A program ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line, secrets redacted.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// The end of what it wrote to stderr.
        stderr: String,
    },
    /// The registry exited or never answered `GET /v2/`.
    #[error("{reason}\n--- registry log (last lines) ---\n{log_tail}")]
    StartUp {
        /// What happened.
        reason: String,
        /// The last lines of the registry's log.
        log_tail: String,
    },
    /// An HTTP request of the fill did not get an answer.
    #[error("{what}: no answer")]
    Http {
        /// The request.
        what: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// An HTTP request of the fill got an unexpected answer.
    #[error("{what}: unexpected answer {status}: {body}")]
    Unexpected {
        /// The request.
        what: String,
        /// The status received.
        status: u16,
        /// The body received (or the header that was wrong).
        body: String,
    },
    /// Something the harness reads (an OCI layout, a manifest, a key) is not what it expects.
    #[error("{what}: {detail}")]
    Malformed {
        /// What was being read.
        what: String,
        /// What was wrong.
        detail: String,
    },
}

/// Panics under CI; elsewhere writes a skip line straight to the process's stderr, past the
/// test harness's output capture, so the skip is seen even when the test "passes".
fn skip_or_panic(missing: &HarnessError) {
    let advice = missing.to_string();
    if tools::running_in_ci() {
        panic!("CI needs the real test registry: {advice}");
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a registry test")
        .to_owned();
    // Nothing useful to do if stderr is gone.
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED {test}: {advice} ***\n");
}
