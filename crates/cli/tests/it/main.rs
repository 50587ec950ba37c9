//! The CLI's one integration-test binary: runs the real `upkeep` and snapshots its exit
//! code, stdout and stderr.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod deploy;
mod floating;
mod keeps;
mod registry;
mod state;
mod swarm;
mod version;

use std::io::Write;
use std::process::{Command, Stdio};

/// What one run of `upkeep` did, in a form that snapshots well.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `upkeep ARGS` with `stdin` as its standard input.
pub(crate) fn upkeep(args: &[&str], stdin: &str) -> Run {
    upkeep_with_env(args, stdin, &[])
}

/// Runs `upkeep ARGS` with extra environment variables and no Docker config of the user's.
pub(crate) fn upkeep_with_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    // A hang guard, not a timing assertion: a run that hangs is killed (exit 124) and fails
    // its test instead of holding the whole suite up.
    let mut child = Command::new("timeout")
        .args(["--kill-after=10", "600", env!("CARGO_BIN_EXE_upkeep")])
        .args(args)
        .env("DOCKER_CONFIG", "/nonexistent/upkeep-test")
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Starts `upkeep ARGS` in the background, as [`upkeep_with_env`] runs it, for tests of
/// several processes at once; [`finish`] collects it.
pub(crate) fn spawn_upkeep(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_upkeep"))
        .args(args)
        .env("DOCKER_CONFIG", "/nonexistent/upkeep-test")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a [`spawn_upkeep`] run to end, at most `within` (a hang guard: it is killed and
/// the test fails past it).
pub(crate) fn finish(mut child: std::process::Child, within: std::time::Duration) -> Run {
    let deadline = std::time::Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("upkeep still ran after {within:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

pub(crate) use upkeep_test_registry::docker::{available as docker_available, run as docker};
