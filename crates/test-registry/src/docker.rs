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

/// True when the engine is a manager of a Swarm, after making it the manager of a new
/// single-node one if it was in none (`docker swarm init --advertise-addr 127.0.0.1`).
/// `scripts/test` makes the swarm before the tests and leaves it after them; a test run on
/// its own leaves the swarm it made (`docker swarm leave --force` ends it).
pub fn swarm_manager() -> bool {
    let state = || {
        Command::new("docker")
            .args([
                "info",
                "--format",
                "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
            ])
            .output()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    if state() == "inactive false" {
        let _ = Command::new("timeout")
            .args([
                "120",
                "docker",
                "swarm",
                "init",
                "--advertise-addr",
                "127.0.0.1",
            ])
            .output();
    }
    let manager = state() == "active true";
    if !manager {
        missing(
            "this Docker Engine is not a Swarm manager and `docker swarm init --advertise-addr 127.0.0.1` failed",
        );
    }
    manager
}

/// A Swarm service a test made (the name) and the repository of its images, removed with its
/// tasks' containers and volumes and the images when dropped.
#[derive(Debug)]
pub struct SwarmService(pub String, pub String);

impl Drop for SwarmService {
    fn drop(&mut self) {
        let label = format!("label=com.docker.swarm.service.name={}", self.0);
        let containers = || {
            Command::new("docker")
                .args(["ps", "-a", "-q", "--filter", &label])
                .output()
                .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
                .unwrap_or_default()
        };
        let volumes: Vec<String> = containers()
            .split_whitespace()
            .flat_map(|id| {
                run_quietly(&[
                    "inspect",
                    "--format",
                    "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}",
                    id,
                ])
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
            })
            .collect();
        let _ = Command::new("docker")
            .args(["service", "rm", &self.0])
            .output();
        // Swarm removes the tasks' containers in its own time.
        for _ in 0..120 {
            if containers().trim().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        for id in containers().split_whitespace() {
            remove_container(id);
        }
        for volume in volumes {
            let _ = Command::new("docker")
                .args(["volume", "rm", &volume])
                .output();
        }
        let images = run_quietly(&["images", "-q", "--filter", &format!("reference={}", self.1)]);
        for image in images.split_whitespace() {
            let _ = Command::new("docker")
                .args(["rmi", "--force", image])
                .output();
        }
    }
}

fn run_quietly(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
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

/// Removes container `name` if there is one, with every volume it mounts. `docker rm -v`
/// alone is not enough: an update hands the old container's anonymous volumes to the new one
/// by name, and Docker then no longer counts them as the container's own. Volumes another
/// container still uses are left to that one.
pub fn remove_container(name: &str) {
    let volumes = Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}",
            name,
        ])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    let _ = Command::new("docker")
        .args(["rm", "-f", "-v", name])
        .output();
    for volume in volumes.split_whitespace() {
        let _ = Command::new("docker")
            .args(["volume", "rm", volume])
            .output();
    }
}

/// Runs `action` (a build, say) and removes the volumes it left behind: those dangling now
/// that were not before. The classic builder's intermediate containers leave the anonymous
/// volumes of a base image's `VOLUME` behind.
pub fn without_leftover_volumes<T>(action: impl FnOnce() -> T) -> T {
    let dangling = || {
        Command::new("docker")
            .args(["volume", "ls", "-q", "--filter", "dangling=true"])
            .output()
            .map(|output| {
                String::from_utf8_lossy(&output.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let before = dangling();
    let result = action();
    for volume in dangling() {
        if !before.contains(&volume) {
            let _ = Command::new("docker")
                .args(["volume", "rm", &volume])
                .output();
        }
    }
    result
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

/// A compose project in a directory whose `versions.env` sets its images, as upkeep's
/// manifests write it; brought down with its volumes when dropped.
#[derive(Debug)]
pub struct ComposeProject {
    /// The compose program, from [`compose_program`].
    pub program: Vec<&'static str>,
    /// The directory of `docker-compose.yml` and `versions.env`.
    pub dir: std::path::PathBuf,
    /// The project name (`-p`).
    pub project: String,
    /// When the project was made: the volumes left dangling since are its own.
    started: std::time::SystemTime,
}

impl ComposeProject {
    /// The project `project` of the compose file in `dir`, run with `program`.
    pub fn new(program: Vec<&'static str>, dir: std::path::PathBuf, project: String) -> Self {
        Self {
            program,
            dir,
            project,
            started: std::time::SystemTime::now(),
        }
    }

    /// A project `name` in a new directory below `parent`: one service `web` on
    /// `${WEB_IMAGE}` (set to `image` in `versions.env`) published on 127.0.0.1:`port`.
    #[allow(clippy::unwrap_used)] // Test support: a failure is the test's failure.
    pub fn web(
        program: Vec<&'static str>,
        parent: &std::path::Path,
        name: &str,
        image: &str,
        port: u16,
    ) -> Self {
        let dir = parent.join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("docker-compose.yml"),
            format!(
                "version: '3.7'\nservices:\n  web:\n    image: ${{WEB_IMAGE}}\n    ports: ['127.0.0.1:{port}:8080']\n"
            ),
        )
        .unwrap();
        let project = Self::new(program, dir, name.to_owned());
        project.set_web_image(image);
        project
    }

    /// Writes `WEB_IMAGE=image` to `versions.env`.
    #[allow(clippy::unwrap_used)] // Test support: a failure is the test's failure.
    pub fn set_web_image(&self, image: &str) {
        std::fs::write(
            self.dir.join("versions.env"),
            format!("WEB_IMAGE={image}\n"),
        )
        .unwrap();
    }

    /// Runs `COMPOSE -p PROJECT --env-file versions.env ARGS` in the directory.
    #[allow(clippy::unwrap_used)] // Test support: a failure is the test's failure.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.program[0])
            .args(&self.program[1..])
            .args(["-p", &self.project, "--env-file", "versions.env"])
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }

    /// The image reference the service's container was created from.
    pub fn image_of(&self, service: &str) -> String {
        let id = String::from_utf8_lossy(&self.run(&["ps", "-q", service]).stdout).into_owned();
        run(&["inspect", "--format", "{{.Config.Image}}", id.trim()])
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        // Each container with all its volumes first (see `remove_container`), then the rest.
        let containers = self.run(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&containers.stdout).split_whitespace() {
            remove_container(id);
        }
        let _ = self.run(&["down", "-v", "--remove-orphans"]);
        remove_volumes_left_since(self.started);
    }
}

/// Removes the anonymous volumes that no container uses and that were made after `started`.
/// docker-compose v1 gives a recreated container new anonymous volumes for an image's
/// `VOLUME` when the image (built by umoci, say) has no `ContainerConfig`, and leaves the old
/// ones behind. A volume still in use is refused by the engine and so kept.
pub fn remove_volumes_left_since(started: std::time::SystemTime) {
    // The engine gives volumes' creation times in whole seconds: compare from the start of
    // the second `started` falls in, or a volume made in that same second looks older.
    let started: chrono::DateTime<chrono::Utc> = started.into();
    let started = chrono::SubsecRound::trunc_subsecs(started, 0);
    let dangling = Command::new("docker")
        .args(["volume", "ls", "-q", "--filter", "dangling=true"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    for volume in dangling.split_whitespace() {
        // Anonymous volumes are named by 64 hex digits; named ones belong to someone.
        if volume.len() != 64 || !volume.chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        let created = Command::new("docker")
            .args(["volume", "inspect", "--format", "{{.CreatedAt}}", volume])
            .output()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_default();
        let made_since =
            chrono::DateTime::parse_from_rfc3339(&created).is_ok_and(|created| created >= started);
        if made_since {
            let _ = Command::new("docker")
                .args(["volume", "rm", volume])
                .output();
        }
    }
}

/// A free TCP port on 127.0.0.1, for a container, registry or server to bind.
#[allow(clippy::unwrap_used)] // Test support: a failure is the test's failure.
pub fn free_port() -> u16 {
    unused_port().unwrap()
}

/// A port of 127.0.0.1 nobody listens on now and that this process has not handed out
/// before: the kernel may give a port just released to the next `bind(0)`, and two tests
/// running side by side would then publish the same one.
pub(crate) fn unused_port() -> std::io::Result<u16> {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
}

/// The Docker Engine stopped by [`stop_engine`]; [`StoppedEngine::start`] (or dropping it,
/// so that a failed test does not leave the machine without Docker) starts it again.
#[derive(Debug)]
pub struct StoppedEngine {
    /// How it was started: through systemd, or this command line (dockerd's own).
    start: EngineStart,
    started: bool,
}

#[derive(Debug)]
enum EngineStart {
    Systemd,
    /// dockerd's command line and environment.
    CommandLine(Vec<String>, Environment),
}

/// Stops this machine's Docker Engine as an operator would: `systemctl stop` where systemd
/// runs it, otherwise SIGTERM to dockerd, whose command line is kept to start it again. The
/// engine stops the containers it runs, as on a real restart (unless `live-restore` is set).
/// `None` (after a loud notice; a failure under CI) when this user may not do so: the tests
/// that restart the engine need root.
#[allow(clippy::unwrap_used)] // Test support: a failure is the test's failure.
pub fn stop_engine() -> Option<StoppedEngine> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0");
    if !root {
        missing("restarting the Docker Engine needs root; run this test as root");
        return None;
    }
    let systemd = std::path::Path::new("/run/systemd/system").exists()
        && Command::new("systemctl")
            .args(["is-active", "--quiet", "docker"])
            .status()
            .is_ok_and(|status| status.success());
    if systemd {
        // The socket unit would start the engine again at the first request.
        let status = Command::new("systemctl")
            .args(["stop", "docker.socket", "docker.service"])
            .status()
            .unwrap();
        assert!(status.success(), "systemctl stop docker: {status}");
        return Some(StoppedEngine {
            start: EngineStart::Systemd,
            started: false,
        });
    }
    let (pid, command_line, environment) = dockerd_process().expect("no dockerd process runs here");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM {pid}: {status}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "dockerd (pid {pid}) did not stop within 90 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Some(StoppedEngine {
        start: EngineStart::CommandLine(command_line, environment),
        started: false,
    })
}

impl StoppedEngine {
    /// Starts the engine again and waits until it answers.
    pub fn start(mut self) {
        self.started = true;
        start_engine(&self.start);
    }
}

impl Drop for StoppedEngine {
    fn drop(&mut self) {
        if !self.started {
            start_engine(&self.start);
        }
    }
}

#[allow(clippy::unwrap_used)] // Test support: a failure is the test's failure.
fn start_engine(how: &EngineStart) {
    match how {
        EngineStart::Systemd => {
            let status = Command::new("systemctl")
                .args(["start", "docker.socket", "docker.service"])
                .status()
                .unwrap();
            assert!(status.success(), "systemctl start docker: {status}");
        }
        EngineStart::CommandLine(command_line, environment) => {
            // Detached through a shell that exits at once: dockerd, in its own session and
            // with its own environment, outlives the test and is no child of it.
            let log = std::env::temp_dir().join("upkeep-test-dockerd.log");
            let status = Command::new("/bin/sh")
                .args([
                    "-c",
                    r#"log=$1; shift; setsid "$@" </dev/null >>"$log" 2>&1 &"#,
                    "sh",
                ])
                .arg(&log)
                .args(command_line)
                .env_clear()
                .envs(environment.iter().map(|(name, value)| (name, value)))
                .status()
                .unwrap();
            assert!(status.success(), "starting dockerd: {status}");
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output()
        .is_ok_and(|output| output.status.success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the Docker Engine did not answer within 90 s of starting again"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A process's environment variables.
type Environment = Vec<(String, String)>;

/// The pid, command line and environment of the running dockerd, read from /proc.
fn dockerd_process() -> Option<(u32, Vec<String>, Environment)> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        if comm.trim() != "dockerd" {
            continue;
        }
        let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
        let command_line: Vec<String> = raw
            .split(|byte| *byte == 0)
            .filter(|part| !part.is_empty())
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect();
        let environment = std::fs::read(entry.path().join("environ"))
            .unwrap_or_default()
            .split(|byte| *byte == 0)
            .filter_map(|pair| {
                let pair = String::from_utf8_lossy(pair);
                let (name, value) = pair.split_once('=')?;
                Some((name.to_owned(), value.to_owned()))
            })
            .collect();
        if !command_line.is_empty() {
            return Some((pid, command_line, environment));
        }
    }
    None
}
