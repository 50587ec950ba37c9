//! The Docker Engine and compose for end-to-end tests and benchmarks: whether they run here,
//! and running their commands. Under CI (`CI` set) a missing one fails the test; elsewhere
//! the test skips with a loud message.

use std::process::Command;

/// Fails under CI, else prints a loud skip notice.
#[allow(clippy::print_stderr)] // The skip must be seen in the test output.
fn missing(message: &str) {
    assert!(
        std::env::var_os("CI").is_none_or(|value| value.is_empty()),
        "{message}"
    );
    eprintln!("SKIPPED: {message}");
}

/// True when `docker version` reaches an engine.
pub fn available() -> bool {
    let reachable = Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !reachable {
        missing(
            "Docker Engine is not reachable (`docker version` failed); install docker.io and start dockerd",
        );
    }
    reachable
}

/// Runs `docker ARGS` and returns its stdout, trimmed; panics with its stderr when it fails.
#[allow(clippy::unwrap_used)] // Test support: a failure is the test's failure.
pub fn run(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The compose program that runs here: `docker compose` (v2) or `docker-compose` (v1).
pub fn compose_program() -> Option<Vec<&'static str>> {
    let found = [vec!["docker", "compose"], vec!["docker-compose"]]
        .into_iter()
        .find(|program| {
            Command::new(program[0])
                .args(&program[1..])
                .arg("version")
                .output()
                .is_ok_and(|output| output.status.success())
        });
    if found.is_none() {
        missing(
            "neither `docker compose` nor `docker-compose` runs; install docker-compose-plugin or docker-compose",
        );
    }
    found
}

/// A free TCP port on 127.0.0.1, for a container to publish.
#[allow(clippy::unwrap_used)] // Test support: a failure is the test's failure.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
