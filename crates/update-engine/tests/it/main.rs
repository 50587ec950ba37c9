//! update-engine's one integration-test binary. Tests that need this machine's Docker Engine
//! fail under CI (`CI` set) when it is missing, and elsewhere skip with a loud message.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod compose_runtime;
mod docker_runtime;
mod engine;
mod web_images;

use std::process::Command;

/// True when `docker version` reaches an engine; under CI, a missing engine panics.
pub(crate) fn docker_available() -> bool {
    let reachable = Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !reachable {
        let message = "Docker Engine is not reachable (`docker version` failed); install \
                       docker.io and start dockerd";
        assert!(
            std::env::var_os("CI").is_none_or(|value| value.is_empty()),
            "{message}"
        );
        eprintln!("SKIPPED: {message}");
    }
    reachable
}

/// Runs `docker ARGS` and returns its stdout; panics with its stderr when it fails.
pub(crate) fn docker(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
