//! The outside programs the harness runs: finding them on `PATH` and running them with their
//! output captured. It does not decide what a missing program means; `mod.rs` does.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use super::HarnessError;

/// Every Debian package the harness needs, as one `apt-get install` argument list.
pub(super) const APT_PACKAGES: &str =
    "docker-registry skopeo umoci apache2-utils openssl busybox-static";

/// The programs the harness runs, each with the Debian package that ships it.
const PROGRAMS: [(&str, &str); 6] = [
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("umoci", "umoci"),
    ("htpasswd", "apache2-utils"),
    ("openssl", "openssl"),
    // The web images for Docker tests are made of it (`web.rs`).
    ("busybox", "busybox-static"),
];

/// How much of a failed program's stderr goes into the error.
const STDERR_TAIL_CHARS: usize = 2000;

/// True when the `CI` variable is set to anything non-empty.
pub(super) fn running_in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty())
}

/// Checks that every program is installed, naming the first one missing.
pub(super) fn require_programs() -> Result<(), HarnessError> {
    match PROGRAMS.iter().find(|(program, _)| !on_path(program)) {
        Some(&(program, package)) => Err(HarnessError::MissingProgram { program, package }),
        None => Ok(()),
    }
}

fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|directory| is_executable(&directory.join(program)))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// Runs a program to its end in `directory` and returns its stdout; a non-zero exit is an
/// error carrying the end of its stderr. Arguments that contain one of `secrets` are shown as
/// `<redacted>` in errors.
pub(super) async fn run<I, S>(
    program: &str,
    args: I,
    directory: &Path,
    secrets: &[&str],
) -> Result<Vec<u8>, HarnessError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<S> = args.into_iter().collect();
    let output = tokio::process::Command::new(program)
        .args(&args)
        .current_dir(directory)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| HarnessError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let start = stderr
        .char_indices()
        .rev()
        .nth(STDERR_TAIL_CHARS)
        .map_or(0, |(index, _)| index);
    Err(HarnessError::CommandFailed {
        command: command_line(program, &args, secrets),
        status: output.status,
        stderr: stderr[start..].trim().to_owned(),
    })
}

fn command_line<S: AsRef<OsStr>>(program: &str, args: &[S], secrets: &[&str]) -> String {
    let mut line = program.to_owned();
    for arg in args {
        let arg = arg.as_ref().to_string_lossy();
        let secret = secrets
            .iter()
            .any(|secret| !secret.is_empty() && arg.contains(secret));
        line.push(' ');
        line.push_str(if secret { "<redacted>" } else { &arg });
    }
    line
}
