//! A throwaway PostgreSQL cluster per test: `initdb` into a temporary directory, `pg_ctl start`
//! on a free port of 127.0.0.1, and `pg_ctl stop` when the [`PgCluster`] is dropped, however
//! the test ends. Nothing of the machine's own PostgreSQL service is used or touched.
//!
//! The programs come from Debian's `postgresql` package, which puts them in
//! `/usr/lib/postgresql/VERSION/bin` rather than on `PATH`; the newest version there wins,
//! then `PATH`. The cluster has one superuser, `upkeep`, trusted without a password, and
//! listens on TCP only on loopback (its Unix socket sits in the temporary directory).
//!
//! `initdb` and `postgres` refuse to run as root. When the tests run as root (as on CI here),
//! the temporary directory is given to the `postgres` user that the package creates, and both
//! programs run as that user through `runuser -u postgres --`; the cluster is still reached
//! as `upkeep` over TCP. Under CI (`CI` set and not empty) a missing PostgreSQL fails the
//! test; elsewhere the test prints `SKIPPED:` and returns.

use std::path::PathBuf;
use std::process::{Command, Output};

use tempfile::TempDir;
use upkeep_test_registry::docker::free_port;

/// The cluster's superuser.
const USER: &str = "upkeep";

/// A running cluster, stopped and deleted on drop.
pub(crate) struct PgCluster {
    /// Holds `data/`, the socket and `log`.
    dir: TempDir,
    /// The directory of `initdb`, `pg_ctl` and `postgres`.
    bin: PathBuf,
    port: u16,
    /// True when this process is root: the programs then run as `postgres`.
    as_postgres: bool,
}

impl PgCluster {
    /// Starts a cluster, or returns `None` after the skip notice when PostgreSQL is not
    /// installed (under CI, panics instead). Panics with the server's log when it is installed
    /// but does not start.
    pub(crate) fn start() -> Option<Self> {
        let Some(bin) = find_bin() else {
            missing(
                "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH); install Debian's `postgresql` package",
            );
            return None;
        };
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("upkeep-pg")
            .tempdir()
            .unwrap();
        if as_postgres {
            let Some((uid, gid)) = postgres_ids() else {
                missing(
                    "tests run as root but there is no `postgres` user to run PostgreSQL as; install Debian's `postgresql` package",
                );
                return None;
            };
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut cluster = Self {
            dir,
            bin,
            port: 0,
            as_postgres,
        };
        cluster.init();
        // Another process may take the free port between our probe and the server's bind.
        for _ in 0..3 {
            cluster.port = free_port();
            if cluster.run_start() {
                return Some(cluster);
            }
        }
        panic!("PostgreSQL did not start:\n{}", cluster.log_tail());
    }

    /// The URL of the cluster's `postgres` database.
    pub(crate) fn url(&self) -> String {
        self.url_with_password("")
    }

    /// [`url`](Self::url) with a password in it, which the cluster ignores (trust auth).
    pub(crate) fn url_with_password(&self, password: &str) -> String {
        let password = if password.is_empty() {
            String::new()
        } else {
            format!(":{password}")
        };
        format!(
            "postgres://{USER}{password}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn init(&self) {
        let data = self.data();
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "initdb failed:\n{}", text(&output));
    }

    /// Runs `pg_ctl start` and waits for the server; false when it did not come up.
    fn run_start(&self) -> bool {
        let dir = self.dir.path();
        let options = format!(
            "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            dir.display(),
            self.port
        );
        self.command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()
            .unwrap()
            .status
            .success()
    }

    /// `program` from the cluster's bin directory, run as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        // The `postgres` user may not be allowed into the test's working directory.
        command.current_dir(self.dir.path());
        command
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Immediate: the data is thrown away with the directory, so nothing needs flushing.
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Fails under CI, else prints a loud skip notice.
fn missing(message: &str) {
    assert!(
        std::env::var_os("CI").is_none_or(|value| value.is_empty()),
        "{message}"
    );
    eprintln!("SKIPPED: {message}");
}

/// The newest `/usr/lib/postgresql/VERSION/bin` with `initdb`, else the directory of the
/// `initdb` on `PATH`.
fn find_bin() -> Option<PathBuf> {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin);
    newest.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).find(|dir| dir.join("initdb").is_file())
        })
    })
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // `/proc/self` belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// The `postgres` user's uid and gid, from `id`.
fn postgres_ids() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let output = Command::new("id").args([flag, "postgres"]).output().ok()?;
        if !output.status.success() {
            return None;
        }
        String::from_utf8(output.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
