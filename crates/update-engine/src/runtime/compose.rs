//! [`Runtime`] for docker compose services: the `container` argument of every method is a
//! compose service name, and images are changed through the compose file, not behind its back.
//!
//! # How the version gets into compose
//! The user's compose file names each managed service's image by a variable, `image:
//! ${WEB_IMAGE}` ([`ServiceName::env_key`] gives the variable), and upkeep writes
//! `versions.env` next to it with `WEB_IMAGE=repo:tag` lines. To pull or run another version,
//! [`ComposeRuntime`] runs compose with that variable set in the process environment, which
//! beats the env file in compose's variable substitution; the engine updates `versions.env`
//! once it keeps the version. A plain `docker compose up -d` by the user therefore runs what
//! `versions.env` says.
//!
//! Compose is run as a program, `docker compose` (v2) when it works, else `docker-compose`
//! (v1), always with `-f FILE -p PROJECT` and `--env-file versions.env` (when the file
//! exists), in the compose file's directory. Containers are found and images inspected and
//! tagged through the Docker API ([`DockerRuntime`]), by the labels compose puts on its
//! containers.
//!
//! # Differences from [`DockerRuntime`]
//! - Compose replaces a container itself: when `up` fails half-way, what is left is what
//!   compose left, not necessarily the old container (the trait asks for it "either new or
//!   old"; compose does not promise that).
//! - `--env-file` replaces compose's default `.env` file (v1, and v2 with a single
//!   `--env-file`): variables the compose file takes from `.env` must be in the process
//!   environment or in `versions.env`.
//! - A service scaled to several containers is inspected through its newest one.
//!
//! [`dependency_order`] and [`image_variable`] read the compose file for the engine: in which
//! order to update services, and whether a service's image comes from its variable.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::OnceCell;
use upkeep_versioning_core::manifest::ServiceName;
use yaml_serde::{Mapping, Value};

use crate::process::Group;

use super::{
    ContainerState, DockerRuntime, Exited, PullProgress, PulledImage, RollbackPoint, Runtime,
    RuntimeError, Status, has_tag_or_digest,
};

/// How many of a failed command's last stderr lines go into [`RuntimeError::Compose`].
const STDERR_LINES: usize = 20;

/// How long `compose up` may take: stopping the old container (compose gives it 10 s) and
/// starting the new one, whose image is already pulled.
const UP_DEADLINE: Duration = Duration::from_secs(5 * 60);
/// How long `compose pull` may take: a large image on a slow link.
const PULL_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// How long `compose version` may take to say that compose is there.
const VERSION_DEADLINE: Duration = Duration::from_secs(30);

/// The compose programs tried, in order.
const PROGRAMS: [&[&str]; 2] = [&["docker", "compose"], &["docker-compose"]];

/// docker compose services as a [`Runtime`]: each method's `container` is a service name of
/// one compose project.
///
/// The compose file must name each managed service's image by its `versions.env` variable
/// (`image: ${WEB_IMAGE}`; [`ServiceName::env_key`] gives the name). To pull or run another
/// version, compose runs with that variable set in its environment, which beats the env file;
/// [`recreate`](Runtime::recreate) fails with [`RuntimeError::ImageNotFromVariable`] when the
/// service's container does not end up on the image asked for.
///
/// Compose is `docker compose` when it runs, else `docker-compose`, always given `-f FILE -p
/// PROJECT` and `--env-file ENV_FILE` (when that file exists) and run in the compose file's
/// directory. Note that `--env-file` replaces compose's default `.env`. Containers are found
/// by compose's labels and inspected, and images tagged, through the Docker API. A service
/// scaled to several containers is inspected through its newest one.
#[derive(Debug)]
pub struct ComposeRuntime {
    compose_file: PathBuf,
    directory: PathBuf,
    env_file: PathBuf,
    project: String,
    docker: DockerRuntime,
    /// The compose program, found on first use.
    program: OnceCell<Vec<String>>,
}

impl ComposeRuntime {
    /// A runtime for the services of `compose_file`, whose versions `env_file` (usually
    /// `versions.env` next to it) holds, in compose project `project`.
    ///
    /// Without a project name, the one compose gives by default is used: the compose file's
    /// directory name, lower-cased, without characters other than `a-z`, `0-9`, `_` and `-`.
    /// Pass the name when the project was started with `-p` or `COMPOSE_PROJECT_NAME`.
    /// Relative paths are taken from the current directory now.
    pub fn new(
        compose_file: PathBuf,
        env_file: PathBuf,
        project: Option<String>,
        docker: DockerRuntime,
    ) -> Self {
        // Compose runs in the file's directory, so relative paths must be resolved first; an
        // unusable current directory leaves them as given, for compose to report.
        let compose_file = std::path::absolute(&compose_file).unwrap_or(compose_file);
        let env_file = std::path::absolute(&env_file).unwrap_or(env_file);
        let directory = compose_file
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let project = project.unwrap_or_else(|| default_project_name(&directory));
        Self {
            compose_file,
            directory,
            env_file,
            project,
            docker,
            program: OnceCell::new(),
        }
    }

    /// The compose project name passed to every command.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The compose file, as an absolute path.
    pub fn compose_file(&self) -> &Path {
        &self.compose_file
    }

    /// The compose program: `docker compose` when it runs, else `docker-compose`.
    async fn program(&self) -> Result<&[String], RuntimeError> {
        self.program
            .get_or_try_init(detect_program)
            .await
            .map(Vec::as_slice)
    }

    /// Runs compose with `args` after the global options, with the service's variable `key`
    /// set to `image` in its environment or, when `None`, removed from it so that the env
    /// file's value applies. Each line of output goes to `on_line`.
    async fn run(
        &self,
        args: &[&str],
        key: &str,
        image: Option<&str>,
        deadline: Duration,
        on_line: &(dyn Fn(String) + Sync),
    ) -> Result<(), RuntimeError> {
        let program = self.program().await?;
        let mut all_args: Vec<String> = program[1..].to_vec();
        all_args.extend([
            "-f".to_owned(),
            self.compose_file.display().to_string(),
            "-p".to_owned(),
            self.project.clone(),
        ]);
        // Compose refuses an `--env-file` that does not exist.
        if self.env_file.is_file() {
            all_args.extend(["--env-file".to_owned(), self.env_file.display().to_string()]);
        }
        all_args.extend(args.iter().map(|arg| (*arg).to_owned()));

        let mut shown = format!("cd {} && ", quote(&self.directory.display().to_string()));
        let mut command = Command::new(&program[0]);
        command
            .args(&all_args)
            .current_dir(&self.directory)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match image {
            Some(image) => {
                command.env(key, image);
                let _ = write!(shown, "{key}={} ", quote(image));
            }
            None => {
                command.env_remove(key);
            }
        }
        shown.push_str(&program[0]);
        for arg in &all_args {
            shown.push(' ');
            shown.push_str(&quote(arg));
        }

        let failed = |status: String, stderr: &VecDeque<String>| RuntimeError::Compose {
            command: shown.clone(),
            status,
            stderr: Vec::from(stderr.clone()).join("\n"),
        };
        // Compose and the helpers it starts run in their own process group, stopped whole
        // when the deadline passes or the change is dropped.
        let (mut child, mut group) = Group::spawn(&mut command)
            .map_err(|error| failed(format!("cannot start it: {error}"), &VecDeque::new()))?;
        let mut tail = VecDeque::with_capacity(STDERR_LINES);
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            // Both were asked for as pipes above.
            return Err(failed("its output was not captured".to_owned(), &tail));
        };
        let run = async {
            let mut stdout = BufReader::new(stdout).lines();
            let mut stderr = BufReader::new(stderr).lines();
            let (mut stdout_open, mut stderr_open) = (true, true);
            // Compose writes its progress to stderr, and may fill either pipe: read both.
            while stdout_open || stderr_open {
                tokio::select! {
                    line = stdout.next_line(), if stdout_open => match line {
                        Ok(Some(line)) => {
                            relay(&line, on_line);
                        }
                        _ => stdout_open = false,
                    },
                    line = stderr.next_line(), if stderr_open => match line {
                        Ok(Some(line)) => {
                            if let Some(line) = relay(&line, on_line) {
                                if tail.len() == STDERR_LINES {
                                    tail.pop_front();
                                }
                                tail.push_back(line);
                            }
                        }
                        _ => stderr_open = false,
                    },
                }
            }
            child.wait().await
        };
        let status = match tokio::time::timeout(deadline, run).await {
            Ok(status) => {
                group.kill();
                status.map_err(|error| failed(format!("cannot wait for it: {error}"), &tail))?
            }
            Err(_) => {
                group.stop(&mut child).await;
                return Err(failed(
                    format!(
                        "still running after {} s; it was stopped",
                        deadline.as_secs()
                    ),
                    &tail,
                ));
            }
        };
        if status.success() {
            Ok(())
        } else {
            Err(failed(status.to_string(), &tail))
        }
    }

    /// `up -d --no-deps SERVICE`, with `image` as the service's variable, or the env file's.
    async fn up(&self, service: &str, image: Option<&str>) -> Result<(), RuntimeError> {
        let key = env_key(service)?;
        self.run(
            &["up", "-d", "--no-deps", service],
            &key,
            image,
            UP_DEADLINE,
            &|_| {},
        )
        .await
    }

    /// The service's container: the newest one compose made for it in this project.
    async fn container(&self, service: &str) -> Result<String, RuntimeError> {
        if let Some(container) = self.containers(service).await?.into_iter().next() {
            return Ok(container);
        }
        // Only to name the right program in the advice; without one the advice still helps.
        let _ = self.program().await;
        Err(RuntimeError::ServiceNotFound {
            service: service.to_owned(),
            project: self.project.clone(),
            start: self.start_command(service),
        })
    }

    /// The service's containers, newest first; one-off `compose run` containers are left out.
    async fn containers(&self, service: &str) -> Result<Vec<String>, RuntimeError> {
        self.docker
            .containers_labelled(&[
                format!("com.docker.compose.project={}", self.project),
                format!("com.docker.compose.service={service}"),
                "com.docker.compose.oneoff=False".to_owned(),
            ])
            .await
    }

    /// The command a user runs to start `service`, for error messages.
    fn start_command(&self, service: &str) -> String {
        let program = self
            .program
            .get()
            .map_or_else(|| "docker compose".to_owned(), |program| program.join(" "));
        let mut command = format!(
            "cd {} && {program} -p {}",
            quote(&self.directory.display().to_string()),
            quote(&self.project)
        );
        if self.env_file.is_file() {
            let _ = write!(
                command,
                " --env-file {}",
                quote(&self.env_file.display().to_string())
            );
        }
        let _ = write!(command, " up -d {}", quote(service));
        command
    }
}

/// The service's `versions.env` variable, such as `WEB_IMAGE`.
fn env_key(service: &str) -> Result<String, RuntimeError> {
    ServiceName::parse(service)
        .map(|name| name.env_key())
        .map_err(|source| RuntimeError::ServiceName {
            service: service.to_owned(),
            source,
        })
}

/// Passes one line of compose output on, without the carriage returns compose writes to
/// redraw a line; returns it unless it was empty.
fn relay(line: &str, on_line: &(dyn Fn(String) + Sync)) -> Option<String> {
    let line = line
        .rsplit('\r')
        .find(|part| !part.trim().is_empty())?
        .trim_end()
        .to_owned();
    on_line(line.clone());
    Some(line)
}

/// The first compose program that answers `version`.
async fn detect_program() -> Result<Vec<String>, RuntimeError> {
    for program in PROGRAMS {
        let mut command = Command::new(program[0]);
        command.args(&program[1..]).arg("version");
        let works = matches!(
            crate::process::run(&mut command, VERSION_DEADLINE).await,
            Ok(crate::process::Ran::Exited { status, .. }) if status.success()
        );
        if works {
            return Ok(program.iter().map(|part| (*part).to_owned()).collect());
        }
    }
    Err(RuntimeError::ComposeUnavailable)
}

/// The project name compose gives a project in `directory` by default: its name lower-cased,
/// with only `a-z`, `0-9`, `_` and `-` kept (v2 also drops leading `_` and `-`, which v1
/// keeps; such names are rare enough to pass explicitly).
fn default_project_name(directory: &Path) -> String {
    directory
        .file_name()
        .map(|name| name.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect::<String>()
        .trim_start_matches(['_', '-'])
        .to_owned()
}

/// `text` quoted for a shell when it needs to be, for showing commands.
fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Whether a container created from `running` runs the image `wanted` names: the same
/// reference, where a reference without tag means `latest`.
fn same_reference(running: &str, wanted: &str) -> bool {
    let full = |reference: &str| {
        if has_tag_or_digest(reference) {
            reference.to_owned()
        } else {
            format!("{reference}:latest")
        }
    };
    running == wanted || full(running) == full(wanted)
}

#[async_trait]
impl Runtime for ComposeRuntime {
    async fn inspect(&self, service: &str) -> Result<ContainerState, RuntimeError> {
        let container = self.container(service).await?;
        self.docker.inspect(&container).await
    }

    async fn pull(
        &self,
        service: &str,
        image: &str,
        progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<PulledImage, RuntimeError> {
        let key = env_key(service)?;
        let on_line = |status: String| {
            progress(PullProgress {
                id: None,
                status,
                current: None,
                total: None,
            });
        };
        self.run(
            &["pull", service],
            &key,
            Some(image),
            PULL_DEADLINE,
            &on_line,
        )
        .await?;
        // Compose, like the engine, pulls `latest` for a reference without a tag.
        let reference = if has_tag_or_digest(image) {
            image.to_owned()
        } else {
            format!("{image}:latest")
        };
        self.docker.image_details(&reference).await
    }

    async fn keep_for_rollback(&self, service: &str) -> Result<RollbackPoint, RuntimeError> {
        let container = self.container(service).await?;
        let mut point = self.docker.keep_for_rollback(&container).await?;
        // The engine addresses the service, whose container name compose may change.
        point.container = service.to_owned();
        Ok(point)
    }

    async fn recreate(&self, service: &str, image: &str) -> Result<ContainerState, RuntimeError> {
        let key = env_key(service)?;
        self.up(service, Some(image)).await?;
        let state = self.inspect(service).await?;
        if !same_reference(&state.image, image) {
            return Err(RuntimeError::ImageNotFromVariable {
                service: service.to_owned(),
                file: self.compose_file.display().to_string(),
                key,
                expected: image.to_owned(),
                running: state.image,
            });
        }
        Ok(state)
    }

    /// Compose replaces containers itself and leaves no parked container to put back, so
    /// there is nothing to undo while the service has a container that runs (or restarts or
    /// is paused): `Ok(false)`. When none runs, the update was cut short between compose
    /// removing the old container and starting the new one, so the service is started again
    /// as `versions.env` says (`up -d --no-deps SERVICE`, nothing overriding the file) and the
    /// answer is `Ok(true)`.
    async fn undo_interrupted_recreate(&self, service: &str) -> Result<bool, RuntimeError> {
        for container in self.containers(service).await? {
            let state = match self.docker.inspect(&container).await {
                Ok(state) => state,
                // Removed since it was listed.
                Err(RuntimeError::ContainerNotFound { .. }) => continue,
                Err(error) => return Err(error),
            };
            if matches!(
                state.status,
                Status::Running | Status::Restarting | Status::Paused
            ) {
                return Ok(false);
            }
        }
        self.up(service, None).await?;
        Ok(true)
    }

    async fn restore(
        &self,
        service: &str,
        point: &RollbackPoint,
    ) -> Result<ContainerState, RuntimeError> {
        // The service goes back to the reference it ran, so that `versions.env` can name it;
        // a tag that moved since is put back on the kept image. A digest or an image id
        // cannot have moved.
        let by_digest_or_id =
            point.reference.contains('@') || point.reference.starts_with("sha256:");
        if !by_digest_or_id {
            let current = match self.docker.image_details(&point.reference).await {
                Ok(image) => Some(image.id),
                Err(RuntimeError::ImageNotFound { .. }) => None,
                Err(error) => return Err(error),
            };
            if current.as_deref() != Some(point.image_id.as_str()) {
                self.docker
                    .tag_as(&point.image_id, &point.reference)
                    .await?;
            }
        }
        self.recreate(service, &point.reference).await
    }

    async fn tag_image(&self, image_id: &str, reference: &str) -> Result<(), RuntimeError> {
        self.docker.tag_as(image_id, reference).await
    }

    async fn exec(
        &self,
        service: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<Exited, RuntimeError> {
        let container = self.container(service).await?;
        self.docker.exec(&container, command, timeout).await
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the compose file

/// The compose file says something upkeep cannot use. The message names the file, the field
/// (as a path such as `services.web.depends_on`) and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeFileError {
    /// The file could not be read.
    #[error("cannot read the compose file {}; check the path upkeep is given", file.display())]
    Read {
        /// The compose file.
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML.
    #[error(
        "the compose file {} is not valid YAML ({message}); fix it, `docker compose config` shows the problem too",
        file.display()
    )]
    Yaml {
        /// The compose file.
        file: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A field has the wrong form.
    #[error("in the compose file {}, `{field}` must be {expected}", file.display())]
    Invalid {
        /// The compose file.
        file: PathBuf,
        /// The field, such as `services.web.depends_on`.
        field: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A service asked for is not in the file.
    #[error(
        "the compose file {} has no service `{service}` under `services` (it has: {known}); check the service name upkeep is given",
        file.display()
    )]
    UnknownService {
        /// The compose file.
        file: PathBuf,
        /// The service asked for.
        service: String,
        /// The file's services, comma-separated.
        known: String,
    },
    /// A `depends_on` names a service that is not in the file.
    #[error(
        "in the compose file {}, `{field}` names `{service}`, which is not a service of the file (it has: {known}); fix the name or add the service",
        file.display()
    )]
    UnknownDependency {
        /// The compose file.
        file: PathBuf,
        /// The field, such as `services.app.depends_on`.
        field: String,
        /// The name it gives.
        service: String,
        /// The file's services, comma-separated.
        known: String,
    },
    /// Services depend on each other in a cycle.
    #[error(
        "in the compose file {}, the services depend on each other in a cycle ({}, starting at `services.{}.depends_on`); remove one of these dependencies",
        file.display(),
        cycle.join(" → "),
        cycle.first().map_or("", String::as_str)
    )]
    Cycle {
        /// The compose file.
        file: PathBuf,
        /// The services in the cycle, the first repeated at the end: `a`, `b`, `a`.
        cycle: Vec<String>,
    },
}

/// One service of a compose file.
struct Service<'a> {
    name: &'a str,
    definition: &'a Value,
}

/// `services` ordered so that each comes after the services it depends on (directly or
/// through services not in the list), by the `depends_on` of `compose_file` in either form: a
/// list of names, or a mapping from name to `{condition: …}`. Otherwise the given order is
/// kept; a name given twice is kept once.
///
/// A cycle among the dependencies of `services`, a service that is not in the file and a
/// `depends_on` naming one are errors.
pub fn dependency_order(
    compose_file: &Path,
    services: &[&str],
) -> Result<Vec<String>, ComposeFileError> {
    let root = load(compose_file)?;
    let all = file_services(compose_file, &root)?;
    let index: HashMap<&str, usize> = all
        .iter()
        .enumerate()
        .map(|(position, service)| (service.name, position))
        .collect();
    let known = || known_services(&all);
    let mut dependencies: Vec<Vec<usize>> = Vec::with_capacity(all.len());
    for service in &all {
        let field = format!("services.{}.depends_on", service.name);
        let names = depends_on(compose_file, &field, service.definition)?;
        let mut of_service = Vec::with_capacity(names.len());
        for name in names {
            let position =
                index
                    .get(name)
                    .copied()
                    .ok_or_else(|| ComposeFileError::UnknownDependency {
                        file: compose_file.to_path_buf(),
                        field: field.clone(),
                        service: name.to_owned(),
                        known: known(),
                    })?;
            of_service.push(position);
        }
        dependencies.push(of_service);
    }

    let mut wanted: Vec<usize> = Vec::with_capacity(services.len());
    for name in services {
        let position =
            index
                .get(name)
                .copied()
                .ok_or_else(|| ComposeFileError::UnknownService {
                    file: compose_file.to_path_buf(),
                    service: (*name).to_owned(),
                    known: known(),
                })?;
        if !wanted.contains(&position) {
            wanted.push(position);
        }
    }

    let mut marks = vec![Mark::New; all.len()];
    let mut path = Vec::new();
    for &service in &wanted {
        if let Err(cycle) = visit(service, &dependencies, &mut marks, &mut path) {
            return Err(ComposeFileError::Cycle {
                file: compose_file.to_path_buf(),
                cycle: cycle.iter().map(|&i| all[i].name.to_owned()).collect(),
            });
        }
    }

    // Which of the wanted services each wanted service needs first, through any path.
    let wanted_set: HashSet<usize> = wanted.iter().copied().collect();
    let needs: HashMap<usize, HashSet<usize>> = wanted
        .iter()
        .map(|&service| {
            let mut seen = HashSet::new();
            let mut stack = dependencies[service].clone();
            while let Some(next) = stack.pop() {
                if seen.insert(next) {
                    stack.extend(&dependencies[next]);
                }
            }
            seen.retain(|other| wanted_set.contains(other));
            (service, seen)
        })
        .collect();

    // Repeatedly take the first service in the given order whose needs are met; there is
    // always one, as there is no cycle.
    let mut order: Vec<usize> = Vec::with_capacity(wanted.len());
    let mut remaining = wanted;
    while !remaining.is_empty() {
        let ready = remaining
            .iter()
            .position(|service| {
                needs
                    .get(service)
                    .is_none_or(|needs| needs.iter().all(|need| order.contains(need)))
            })
            .unwrap_or(0);
        order.push(remaining.remove(ready));
    }
    Ok(order
        .into_iter()
        .map(|position| all[position].name.to_owned())
        .collect())
}

/// The variable a service's `image:` is, such as `WEB_IMAGE` for `${WEB_IMAGE}`,
/// `${WEB_IMAGE:-nginx:1}` or `$WEB_IMAGE`.
///
/// `None` when the image is not exactly one variable, so that upkeep cannot choose it: a
/// literal reference, one with a variable only in part (`nginx:${TAG}`), or no `image:` at
/// all (a service that is only built).
pub fn image_variable(
    compose_file: &Path,
    service: &str,
) -> Result<Option<String>, ComposeFileError> {
    let root = load(compose_file)?;
    let all = file_services(compose_file, &root)?;
    let definition = all
        .iter()
        .find(|candidate| candidate.name == service)
        .map(|found| found.definition)
        .ok_or_else(|| ComposeFileError::UnknownService {
            file: compose_file.to_path_buf(),
            service: service.to_owned(),
            known: known_services(&all),
        })?;
    match definition.get("image") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(image)) => Ok(whole_variable(image).map(str::to_owned)),
        Some(_) => Err(ComposeFileError::Invalid {
            file: compose_file.to_path_buf(),
            field: format!("services.{service}.image"),
            expected: "an image reference such as `${WEB_IMAGE}`",
        }),
    }
}

/// Reads and parses the compose file, with YAML merge keys (`<<: *defaults`) applied.
fn load(file: &Path) -> Result<Value, ComposeFileError> {
    let text = std::fs::read_to_string(file).map_err(|source| ComposeFileError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let yaml_error = |error: yaml_serde::Error| ComposeFileError::Yaml {
        file: file.to_path_buf(),
        message: error.to_string(),
    };
    let mut root: Value = yaml_serde::from_str(&text).map_err(yaml_error)?;
    root.apply_merge().map_err(yaml_error)?;
    Ok(root)
}

/// The services under `services`, in file order.
fn file_services<'a>(file: &Path, root: &'a Value) -> Result<Vec<Service<'a>>, ComposeFileError> {
    let invalid = |field: String, expected| ComposeFileError::Invalid {
        file: file.to_path_buf(),
        field,
        expected,
    };
    let services: &Mapping = root
        .get("services")
        .and_then(Value::as_mapping)
        .ok_or_else(|| {
            invalid(
                "services".to_owned(),
                "a mapping from service name to its definition (the compose specification's format)",
            )
        })?;
    services
        .iter()
        .map(|(name, definition)| match (name.as_str(), definition) {
            (Some(name), Value::Mapping(_) | Value::Null) => Ok(Service { name, definition }),
            (Some(name), _) => Err(invalid(
                format!("services.{name}"),
                "a mapping such as `image: ${WEB_IMAGE}`",
            )),
            (None, _) => Err(invalid(
                "services".to_owned(),
                "a mapping whose keys are service names (text)",
            )),
        })
        .collect()
}

/// The services a service's `depends_on` names, in either form.
fn depends_on<'a>(
    file: &Path,
    field: &str,
    definition: &'a Value,
) -> Result<Vec<&'a str>, ComposeFileError> {
    let invalid = || ComposeFileError::Invalid {
        file: file.to_path_buf(),
        field: field.to_owned(),
        expected: "a list of service names, or a mapping from service name to `{condition: …}`",
    };
    match definition.get("depends_on") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Sequence(names)) => names
            .iter()
            .map(|name| name.as_str().ok_or_else(invalid))
            .collect(),
        Some(Value::Mapping(names)) => names
            .iter()
            .map(|(name, condition)| match condition {
                Value::Mapping(_) | Value::Null => name.as_str().ok_or_else(invalid),
                _ => Err(invalid()),
            })
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// The file's services for error messages: `web, app`.
fn known_services(services: &[Service<'_>]) -> String {
    if services.is_empty() {
        return "no services".to_owned();
    }
    services
        .iter()
        .map(|service| service.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where depth-first search is with a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    OnPath,
    Done,
}

/// Visits `service`'s dependencies depth first; a service met again while on the path is a
/// cycle, returned from that service round to it again.
fn visit(
    service: usize,
    dependencies: &[Vec<usize>],
    marks: &mut [Mark],
    path: &mut Vec<usize>,
) -> Result<(), Vec<usize>> {
    match marks[service] {
        Mark::Done => return Ok(()),
        Mark::OnPath => {
            let start = path.iter().position(|&on| on == service).unwrap_or(0);
            let mut cycle = path[start..].to_vec();
            cycle.push(service);
            return Err(cycle);
        }
        Mark::New => {}
    }
    marks[service] = Mark::OnPath;
    path.push(service);
    for &dependency in &dependencies[service] {
        visit(dependency, dependencies, marks, path)?;
    }
    path.pop();
    marks[service] = Mark::Done;
    Ok(())
}

/// The variable `image` consists of: `${NAME}`, `${NAME<op>default}` (`:-`, `-`, `:?`, `?`,
/// `:+`, `+`) or `$NAME`.
fn whole_variable(image: &str) -> Option<&str> {
    let image = image.trim();
    let is_name = |name: &str| {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if let Some(braced) = image.strip_prefix("${") {
        let inner = braced.strip_suffix('}')?;
        let end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let (name, rest) = inner.split_at(end);
        let operator = rest.is_empty()
            || [":-", "-", ":?", "?", ":+", "+"]
                .iter()
                .any(|operator| rest.starts_with(operator));
        (is_name(name) && operator).then_some(name)
    } else {
        let name = image.strip_prefix('$')?;
        is_name(name).then_some(name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    const FILE: &str = "
services:
  app:
    image: ${APP_IMAGE}
    depends_on:
      - db
      - cache
  worker:
    image: ${WORKER_IMAGE:-example/worker:1}
    depends_on:
      app:
        condition: service_healthy
  db:
    image: $DB_IMAGE
  cache:
    image: redis:7
  proxy:
    image: nginx:${NGINX_TAG}
  built:
    build: .
";

    #[test]
    fn dependency_order_puts_dependencies_first_in_both_forms_and_keeps_the_rest() {
        let compose = file(FILE);
        let order = |services: &[&str]| dependency_order(compose.path(), services).unwrap();
        assert_eq!(
            order(&["worker", "proxy", "app", "db"]),
            ["proxy", "db", "app", "worker"]
        );
        assert_eq!(order(&["proxy", "db", "cache"]), ["proxy", "db", "cache"]);
        // `worker` needs `db` through `app`, which is not in the list.
        assert_eq!(order(&["worker", "db"]), ["db", "worker"]);
        assert_eq!(order(&["db", "db", "app"]), ["db", "app"]);
        assert_eq!(order(&[]), Vec::<String>::new());
    }

    #[test]
    fn dependency_order_names_a_cycle() {
        let compose = file(
            "
services:
  web: {image: x, depends_on: [app]}
  app: {image: x, depends_on: {cache: {condition: service_started}}}
  cache: {image: x, depends_on: [web]}
  other: {image: x}
",
        );
        let error = dependency_order(compose.path(), &["other", "app"]).unwrap_err();
        let ComposeFileError::Cycle { cycle, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(cycle, &["app", "cache", "web", "app"]);
        let message = error.to_string();
        assert!(
            message.contains("(app → cache → web → app, starting at `services.app.depends_on`)"),
            "{message}"
        );
        assert!(
            message.contains(&compose.path().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn dependency_order_names_unknown_services_and_lists_the_file_s() {
        let compose = file(FILE);
        let error = dependency_order(compose.path(), &["app", "wbe"]).unwrap_err();
        assert!(
            matches!(&error, ComposeFileError::UnknownService { service, known, .. }
                if service == "wbe" && known == "app, worker, db, cache, proxy, built"),
            "{error:?}"
        );
        assert!(error.to_string().contains(
            "has no service `wbe` under `services` (it has: app, worker, db, cache, proxy, built)"
        ));

        let compose = file("services:\n  app:\n    depends_on: [db]\n");
        let error = dependency_order(compose.path(), &["app"]).unwrap_err();
        assert!(
            error.to_string().contains(
                "`services.app.depends_on` names `db`, which is not a service of the file (it has: app)"
            ),
            "{error}"
        );
    }

    #[test]
    fn dependency_order_rejects_a_depends_on_of_another_form_by_its_path() {
        let compose = file("services:\n  app:\n    depends_on: db\n  db: {}\n");
        let error = dependency_order(compose.path(), &["db"]).unwrap_err();
        assert!(
            matches!(&error, ComposeFileError::Invalid { field, .. } if field == "services.app.depends_on"),
            "{error:?}"
        );
        let compose = file("version: '2'\nweb:\n  image: x\n");
        let error = dependency_order(compose.path(), &["web"]).unwrap_err();
        assert!(
            error.to_string().contains("`services` must be a mapping"),
            "{error}"
        );
        let compose = file("services: [");
        assert!(matches!(
            dependency_order(compose.path(), &["web"]).unwrap_err(),
            ComposeFileError::Yaml { .. }
        ));
        let missing = compose.path().with_extension("missing");
        assert!(matches!(
            dependency_order(&missing, &["web"]).unwrap_err(),
            ComposeFileError::Read { .. }
        ));
    }

    #[test]
    fn image_variable_finds_the_variable_the_image_is() {
        let compose = file(FILE);
        let variable = |service| image_variable(compose.path(), service).unwrap();
        assert_eq!(variable("app").as_deref(), Some("APP_IMAGE"));
        assert_eq!(variable("worker").as_deref(), Some("WORKER_IMAGE"));
        assert_eq!(variable("db").as_deref(), Some("DB_IMAGE"));
        assert_eq!(variable("cache"), None, "a literal image");
        assert_eq!(variable("proxy"), None, "a variable in part of it");
        assert_eq!(variable("built"), None, "no image");
        let error = image_variable(compose.path(), "nope").unwrap_err();
        assert!(matches!(error, ComposeFileError::UnknownService { .. }));
    }

    #[test]
    fn whole_variable_accepts_every_substitution_form_and_nothing_else() {
        for (image, expected) in [
            ("${WEB_IMAGE}", Some("WEB_IMAGE")),
            ("${WEB_IMAGE:-nginx:1}", Some("WEB_IMAGE")),
            ("${WEB_IMAGE-nginx}", Some("WEB_IMAGE")),
            ("${WEB_IMAGE:?set it}", Some("WEB_IMAGE")),
            ("${_1:-${OTHER}}", Some("_1")),
            ("$WEB_IMAGE", Some("WEB_IMAGE")),
            (" ${WEB_IMAGE} ", Some("WEB_IMAGE")),
            ("${A}:${B}", None),
            ("${1A}", None),
            ("${}", None),
            ("$$WEB_IMAGE", None),
            ("$WEB_IMAGE:1", None),
            ("registry/web:1.0", None),
            ("${WEB_IMAGE", None),
        ] {
            assert_eq!(whole_variable(image), expected, "{image}");
        }
    }

    #[test]
    fn default_project_name_is_the_directory_name_as_compose_normalises_it() {
        assert_eq!(
            default_project_name(Path::new("/srv/My Stack.v2")),
            "mystackv2"
        );
        assert_eq!(default_project_name(Path::new("/srv/_x-1")), "x-1");
        assert_eq!(default_project_name(Path::new("/")), "");
    }

    #[test]
    fn references_without_a_tag_mean_latest() {
        assert!(same_reference("web", "web:latest"));
        assert!(same_reference("host:5000/web:1", "host:5000/web:1"));
        assert!(!same_reference("host:5000/web:1", "host:5000/web"));
        assert!(!same_reference("web:1.0.0", "web:1.0.1"));
    }

    #[test]
    fn relay_drops_redraws_and_empty_lines() {
        let lines = std::sync::Mutex::new(Vec::new());
        let on_line = |line: String| lines.lock().unwrap().push(line);
        assert_eq!(
            relay("Pulling web ... \rPulling web ... done\r", &on_line).as_deref(),
            Some("Pulling web ... done")
        );
        assert_eq!(relay("\r", &on_line), None);
        assert_eq!(*lines.lock().unwrap(), ["Pulling web ... done"]);
    }

    #[test]
    fn quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(
            quote("WEB_IMAGE=127.0.0.1:5000/test/web:1.0.0"),
            "WEB_IMAGE=127.0.0.1:5000/test/web:1.0.0"
        );
        assert_eq!(quote("a b'c"), r"'a b'\''c'");
        assert_eq!(quote(""), "''");
    }
}
