//! [`Runtime`] for the Docker Engine, through its HTTP API with bollard.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EndpointSettings,
    HealthStatusEnum, ImageConfig, MountType, NetworkConnectRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::StreamExt;

use super::{
    ContainerState, Exited, Health, Labelled, OLD_SUFFIX, PullProgress, PulledImage, ROLLBACK_TAG,
    RollbackPoint, Runtime, RuntimeError, Status, has_tag_or_digest, operator_labels, repository,
    tag_of,
};

/// How long one call to the Docker Engine may take before its answer starts.
pub(super) const ENGINE_CALL_DEADLINE: Duration = Duration::from_secs(120);

/// How long a pull may take in all: a large image on a slow link.
const PULL_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// How long a pull may go without a word of progress from the engine.
const PULL_IDLE_DEADLINE: Duration = Duration::from_secs(5 * 60);

/// The Docker Engine on this host, reached through its local socket.
///
/// Built with [`DockerRuntime::connect`], which negotiates the API version with the engine:
/// bollard speaks a newer API version than many engines still in service (Docker 20.10
/// speaks 1.41), and an engine rejects every request made with a version newer than its own.
/// Negotiation lowers the client to the engine's version, so the calls here only use what API
/// 1.41 offers (for example, a container is created on one network and connected to the
/// others afterwards).
///
/// Private registries: pulls go without credentials for now, so they work for public images
/// and registries the engine reaches anonymously.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
}

impl DockerRuntime {
    /// Connects to the local engine (`DOCKER_HOST` when it is a `unix://` address, otherwise
    /// `unix:///var/run/docker.sock`) and negotiates the API version.
    pub async fn connect() -> Result<Self, RuntimeError> {
        let address = local_address();
        let connect_error = |source| RuntimeError::Connect {
            address: address.clone(),
            source,
        };
        // Every call answers within this, or fails: a wedged engine cannot hang an update.
        // Long calls have deadlines of their own: a stop gives the container 10 s, a pull
        // streams its progress (see `PULL_IDLE_DEADLINE`).
        let docker = Docker::connect_with_local_defaults()
            .map_err(connect_error)?
            .with_timeout(ENGINE_CALL_DEADLINE);
        let docker = docker.negotiate_version().await.map_err(connect_error)?;
        Ok(Self::with_client(docker))
    }

    /// Uses an already connected client, whose API version the caller has negotiated.
    pub fn with_client(docker: Docker) -> Self {
        Self { docker }
    }

    /// The connected client, for the runtimes that reach the same engine another way.
    pub(crate) fn client(&self) -> &Docker {
        &self.docker
    }

    /// The running containers carrying `label` (`key=value`), oldest first, with the
    /// reference each was created from and all its labels: how the agent finds the
    /// containers that ask to be watched (`upkeep.enable=true`).
    pub async fn labelled(&self, label: &str) -> Result<Vec<Labelled>, RuntimeError> {
        let filters = HashMap::from([("label", vec![label.to_owned()])]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .filters(&filters)
            .build();
        let mut summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|source| container_error(label, "list", source))?;
        summaries.sort_by_key(|summary| summary.created.unwrap_or_default());
        let mut found = Vec::new();
        for summary in summaries {
            let Some(name) = summary.names.and_then(|names| names.into_iter().next()) else {
                continue;
            };
            let name = name.trim_start_matches('/').to_owned();
            let container_labels: BTreeMap<String, String> =
                summary.labels.unwrap_or_default().into_iter().collect();
            // Which labels the image brought decides which ones the operator set; without
            // the image's config that cannot be told, so the error stops the lookup.
            let image_id = summary.image_id.unwrap_or_default();
            let image_labels: BTreeMap<String, String> = self
                .docker
                .inspect_image(&image_id)
                .await
                .map_err(|source| image_error(&image_id, "inspect", source))?
                .config
                .and_then(|config| config.labels)
                .unwrap_or_default()
                .into_iter()
                .collect();
            let (labels, from_image) = operator_labels(&container_labels, &image_labels);
            found.push(Labelled {
                name,
                image: summary.image.unwrap_or_default(),
                labels,
                from_image,
            });
        }
        Ok(found)
    }

    /// Whether the engine answers: `GET /_ping`, the engine's own health endpoint, which
    /// answers without looking at containers, unlike listing them.
    pub async fn ping(&self) -> Result<(), RuntimeError> {
        self.docker
            .ping()
            .await
            .map(drop)
            .map_err(|source| RuntimeError::Connect {
                address: local_address(),
                source,
            })
    }

    /// The names of the running containers, oldest first (the order `upkeep init` lists
    /// them in).
    pub async fn running_containers(&self) -> Result<Vec<String>, RuntimeError> {
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default().build();
        let mut summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|source| container_error("(all)", "list", source))?;
        summaries.sort_by_key(|summary| summary.created.unwrap_or_default());
        Ok(summaries
            .into_iter()
            .filter_map(|summary| summary.names?.into_iter().next())
            .map(|name| name.trim_start_matches('/').to_owned())
            .collect())
    }

    /// The raw inspection of a container; a missing one is [`RuntimeError::ContainerNotFound`].
    async fn inspect_raw(&self, container: &str) -> Result<ContainerInspectResponse, RuntimeError> {
        self.docker
            .inspect_container(container, None)
            .await
            .map_err(|source| container_error(container, "inspect", source))
    }

    /// Whether a container by that name exists.
    async fn exists(&self, container: &str) -> Result<bool, RuntimeError> {
        match self.inspect_raw(container).await {
            Ok(_) => Ok(true),
            Err(RuntimeError::ContainerNotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), RuntimeError> {
        self.docker
            .rename_container(
                from,
                RenameContainerOptionsBuilder::default().name(to).build(),
            )
            .await
            .map_err(|source| container_error(from, "rename", source))
    }

    async fn start(&self, container: &str) -> Result<(), RuntimeError> {
        self.docker
            .start_container(container, None)
            .await
            .map_err(|source| container_error(container, "start", source))
    }

    /// Removes a container, keeping its volumes.
    async fn remove(&self, container: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(false)
            .build();
        self.docker
            .remove_container(container, Some(options))
            .await
            .map_err(|source| container_error(container, "remove", source))
    }

    /// Creates `name` from `body`, connects it to `networks` and starts it. The id of the
    /// created container goes into `created` as soon as it exists, so a failure after that
    /// can remove it.
    async fn create_and_start(
        &self,
        name: &str,
        body: ContainerCreateBody,
        networks: Vec<(String, EndpointSettings)>,
        created: &mut Option<String>,
    ) -> Result<(), RuntimeError> {
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let response = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|source| container_error(name, "create", source))?;
        *created = Some(response.id.clone());
        crate::fault::point(crate::fault::CrashPoint::AfterCreate);
        for (network, endpoint) in networks {
            let request = NetworkConnectRequest {
                container: response.id.clone(),
                endpoint_config: Some(endpoint),
            };
            self.docker
                .connect_network(&network, request)
                .await
                .map_err(|source| container_error(name, "connect to its network", source))?;
        }
        self.start(&response.id).await
    }

    /// Puts the old container back under its name after a failed recreate: removes what was
    /// created, renames the old one back and starts it if it ran. On failure, says why and
    /// what the old container is named now.
    async fn put_back(
        &self,
        container: &str,
        old_name: &str,
        created: Option<&str>,
        was_running: bool,
    ) -> Result<(), (RuntimeError, String)> {
        if let Some(id) = created {
            self.remove(id)
                .await
                .map_err(|error| (error, old_name.to_owned()))?;
        }
        self.rename(old_name, container)
            .await
            .map_err(|error| (error, old_name.to_owned()))?;
        if was_running {
            self.start(container)
                .await
                .map_err(|error| (error, container.to_owned()))?;
        }
        Ok(())
    }
}

/// What [`super::ComposeRuntime`] needs from the engine: it runs containers through the
/// compose program but finds them, and inspects and tags images, here.
impl DockerRuntime {
    /// The id and registry digests of an image the engine holds.
    pub(crate) async fn image_details(&self, reference: &str) -> Result<PulledImage, RuntimeError> {
        let inspection = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(|source| image_error(reference, "inspect", source))?;
        Ok(PulledImage {
            id: inspection.id.ok_or_else(|| RuntimeError::Incomplete {
                subject: reference.to_owned(),
                what: "the image id",
            })?,
            repo_digests: inspection.repo_digests.unwrap_or_default(),
            reference: reference.to_owned(),
        })
    }

    /// Puts the tag `reference` (`repository:tag`; no tag means `latest`) on `image_id`.
    pub(crate) async fn tag_as(&self, image_id: &str, reference: &str) -> Result<(), RuntimeError> {
        let options = TagImageOptionsBuilder::default()
            .repo(repository(reference))
            .tag(tag_of(reference))
            .build();
        self.docker
            .tag_image(image_id, Some(options))
            .await
            .map_err(|source| image_error(image_id, "tag", source))
    }

    /// The names of the containers, stopped ones included, that carry every one of `labels`
    /// (`key=value`), newest first.
    pub(crate) async fn containers_labelled(
        &self,
        labels: &[String],
    ) -> Result<Vec<String>, RuntimeError> {
        let filters = HashMap::from([("label", labels.to_vec())]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let mut containers =
            self.docker
                .list_containers(Some(options))
                .await
                .map_err(|source| RuntimeError::Container {
                    container: labels.join(","),
                    action: "list",
                    source,
                })?;
        containers.sort_by_key(|container| std::cmp::Reverse(container.created));
        Ok(containers
            .into_iter()
            .filter_map(|container| container.names?.into_iter().next())
            .map(|name| name.trim_start_matches('/').to_owned())
            .collect())
    }
}

/// An error and its causes on one line, for an error that cannot be a `#[source]`.
fn chain(error: &RuntimeError) -> String {
    crate::error_chain(error)
}

#[async_trait]
impl Runtime for DockerRuntime {
    async fn inspect(&self, container: &str) -> Result<ContainerState, RuntimeError> {
        let inspection = self.inspect_raw(container).await?;
        let image_id = inspection
            .image
            .clone()
            .ok_or_else(|| RuntimeError::Incomplete {
                subject: container.to_owned(),
                what: "the image id",
            })?;
        let reference = inspection
            .config
            .as_ref()
            .and_then(|config| config.image.clone())
            .unwrap_or_else(|| image_id.clone());
        let image = self
            .docker
            .inspect_image(&image_id)
            .await
            .map_err(|source| image_error(&image_id, "inspect", source))?;
        let repo_digest = repo_digest(&reference, image.repo_digests.as_deref().unwrap_or(&[]));
        let state = inspection.state.unwrap_or_default();
        Ok(ContainerState {
            name: inspection.name.map_or_else(
                || container.to_owned(),
                |name| name.trim_start_matches('/').to_owned(),
            ),
            id: inspection.id.unwrap_or_default(),
            image: reference,
            image_id,
            repo_digest,
            status: status(state.status),
            exit_code: state.exit_code.unwrap_or_default(),
            restart_count: inspection.restart_count.unwrap_or_default(),
            auto_remove: inspection
                .host_config
                .as_ref()
                .and_then(|host| host.auto_remove)
                .unwrap_or(false),
            health: state
                .health
                .and_then(|health| health.status)
                .and_then(|status| match status {
                    HealthStatusEnum::STARTING => Some(Health::Starting),
                    HealthStatusEnum::HEALTHY => Some(Health::Healthy),
                    HealthStatusEnum::UNHEALTHY => Some(Health::Unhealthy),
                    HealthStatusEnum::EMPTY | HealthStatusEnum::NONE => None,
                }),
        })
    }

    async fn pull(
        &self,
        _container: &str,
        image: &str,
        progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<PulledImage, RuntimeError> {
        // Without a tag the engine pulls every tag of the repository.
        let reference = if has_tag_or_digest(image) {
            image.to_owned()
        } else {
            format!("{image}:latest")
        };
        let options = CreateImageOptionsBuilder::default()
            .from_image(&reference)
            .build();
        let mut messages = self.docker.create_image(Some(options), None, None);
        // The client's own timeout covers the answer's start, not the progress that follows:
        // a pull that stops moving, or moves for too long, is given up here.
        let started = tokio::time::Instant::now();
        loop {
            let left = PULL_DEADLINE.saturating_sub(started.elapsed());
            let next = tokio::time::timeout(left.min(PULL_IDLE_DEADLINE), messages.next()).await;
            let Ok(next) = next else {
                return Err(RuntimeError::PullStalled {
                    image: reference.clone(),
                    waited: if left <= PULL_IDLE_DEADLINE {
                        format!("it still ran after {} min", PULL_DEADLINE.as_secs() / 60)
                    } else {
                        format!(
                            "the engine reported no progress for {} min",
                            PULL_IDLE_DEADLINE.as_secs() / 60
                        )
                    },
                });
            };
            let Some(message) = next else {
                break;
            };
            let message = message.map_err(|source| RuntimeError::Pull {
                image: reference.clone(),
                source,
            })?;
            let detail = message.progress_detail.unwrap_or_default();
            progress(PullProgress {
                id: message.id,
                status: message.status.unwrap_or_default(),
                current: detail.current,
                total: detail.total,
            });
        }
        let inspection = self
            .docker
            .inspect_image(&reference)
            .await
            .map_err(|source| image_error(&reference, "inspect", source))?;
        Ok(PulledImage {
            id: inspection.id.ok_or_else(|| RuntimeError::Incomplete {
                subject: reference.clone(),
                what: "the image id",
            })?,
            repo_digests: inspection.repo_digests.unwrap_or_default(),
            reference,
        })
    }

    async fn keep_for_rollback(&self, container: &str) -> Result<RollbackPoint, RuntimeError> {
        let state = self.inspect(container).await?;
        let repository = repository(&state.image);
        let options = TagImageOptionsBuilder::default()
            .repo(repository)
            .tag(ROLLBACK_TAG)
            .build();
        self.docker
            .tag_image(&state.image_id, Some(options))
            .await
            .map_err(|source| image_error(&state.image_id, "tag", source))?;
        Ok(RollbackPoint {
            container: state.name,
            tag: format!("{repository}:{ROLLBACK_TAG}"),
            reference: state.image,
            image_id: state.image_id,
            repo_digest: state.repo_digest,
        })
    }

    async fn recreate(&self, container: &str, image: &str) -> Result<ContainerState, RuntimeError> {
        let old = self.inspect_raw(container).await?;
        let old_id = old.id.clone().ok_or_else(|| RuntimeError::Incomplete {
            subject: container.to_owned(),
            what: "the container id",
        })?;
        if old
            .host_config
            .as_ref()
            .and_then(|host| host.auto_remove)
            .unwrap_or(false)
        {
            return Err(RuntimeError::AutoRemove {
                container: container.to_owned(),
            });
        }
        self.docker
            .inspect_image(image)
            .await
            .map_err(|source| image_error(image, "inspect", source))?;
        // The old image may be gone by name; without its defaults everything is copied.
        let old_defaults = match &old.image {
            Some(id) => self
                .docker
                .inspect_image(id)
                .await
                .ok()
                .and_then(|i| i.config),
            None => None,
        };
        let (body, networks) = creation_body(&old, old_defaults.as_ref(), image);

        let old_name = format!("{container}{OLD_SUFFIX}");
        if self.exists(&old_name).await? {
            return Err(RuntimeError::Leftover {
                container: container.to_owned(),
                old: old_name,
            });
        }
        let was_running = old
            .state
            .as_ref()
            .is_some_and(|state| state.running == Some(true) || state.restarting == Some(true));

        self.docker
            .stop_container(&old_id, None)
            .await
            .map_err(|source| container_error(container, "stop", source))?;
        crate::fault::point(crate::fault::CrashPoint::AfterStop);
        if let Err(error) = self.rename(&old_id, &old_name).await {
            let restarted = if was_running {
                self.start(&old_id).await
            } else {
                Ok(())
            };
            return Err(match restarted {
                Ok(()) => RuntimeError::Recreate {
                    container: container.to_owned(),
                    image: image.to_owned(),
                    source: Box::new(error),
                },
                Err(restore) => RuntimeError::Stranded {
                    container: container.to_owned(),
                    image: image.to_owned(),
                    old: container.to_owned(),
                    restore_error: chain(&restore),
                    source: Box::new(error),
                },
            });
        }

        let mut created = None;
        if let Err(error) = self
            .create_and_start(container, body, networks, &mut created)
            .await
        {
            return Err(
                match self
                    .put_back(container, &old_name, created.as_deref(), was_running)
                    .await
                {
                    Ok(()) => RuntimeError::Recreate {
                        container: container.to_owned(),
                        image: image.to_owned(),
                        source: Box::new(error),
                    },
                    Err((restore, old)) => RuntimeError::Stranded {
                        container: container.to_owned(),
                        image: image.to_owned(),
                        old,
                        restore_error: chain(&restore),
                        source: Box::new(error),
                    },
                },
            );
        }
        // The update has happened, so failing to remove the old container does not undo it:
        // the next recreate reports the leftover as `Leftover`, which says how to clean up.
        let _ = self.remove(&old_id).await;
        self.inspect(container).await
    }

    async fn undo_interrupted_recreate(&self, container: &str) -> Result<bool, RuntimeError> {
        let old_name = format!("{container}{OLD_SUFFIX}");
        if !self.exists(&old_name).await? {
            return Ok(false);
        }
        if self.exists(container).await? {
            self.remove(container).await?;
        }
        self.rename(&old_name, container).await?;
        self.start(container).await?;
        Ok(true)
    }

    async fn restore(
        &self,
        container: &str,
        point: &RollbackPoint,
    ) -> Result<ContainerState, RuntimeError> {
        // Recreate from the original reference where possible, so that the container still
        // names the tag it follows; a tag that moved is put back on the kept image.
        let current = self.docker.inspect_image(&point.reference).await.ok();
        let target = if current.and_then(|image| image.id).as_deref() == Some(&point.image_id) {
            point.reference.clone()
        } else if !point.reference.contains('@') && !point.reference.starts_with("sha256:") {
            self.tag_as(&point.image_id, &point.reference).await?;
            format!(
                "{}:{}",
                repository(&point.reference),
                tag_of(&point.reference)
            )
        } else {
            point.image_id.clone()
        };
        self.recreate(container, &target).await
    }

    async fn tag_image(&self, image_id: &str, reference: &str) -> Result<(), RuntimeError> {
        self.tag_as(image_id, reference).await
    }

    async fn exec(
        &self,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<Exited, RuntimeError> {
        let options = CreateExecOptions {
            cmd: Some(command.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(container, options)
            .await
            .map_err(|source| container_error(container, "exec in", source))?;
        let run = async {
            let mut last_line = String::new();
            if let StartExecResults::Attached { mut output, .. } = self
                .docker
                .start_exec(&exec.id, None)
                .await
                .map_err(|source| container_error(container, "exec in", source))?
            {
                while let Some(chunk) = output.next().await {
                    let chunk =
                        chunk.map_err(|source| container_error(container, "exec in", source))?;
                    // Only the last line is kept: the output is the container's, of any size.
                    let text = String::from_utf8_lossy(&chunk.into_bytes()).into_owned();
                    if let Some(line) = text.lines().rev().find(|line| !line.trim().is_empty()) {
                        last_line = line.trim().chars().take(200).collect();
                    }
                }
            }
            Ok::<_, RuntimeError>(last_line)
        };
        let last_line = match tokio::time::timeout(timeout, run).await {
            Ok(result) => result?,
            Err(_) => {
                self.kill_exec(&exec.id).await;
                return Ok(Exited::TimedOut);
            }
        };
        let inspection = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|source| container_error(container, "exec in", source))?;
        Ok(Exited::Code {
            code: inspection.exit_code.unwrap_or(-1),
            last_line,
        })
    }
}

impl DockerRuntime {
    /// Stops a command run by [`Runtime::exec`] that overran its time. The Engine has no call
    /// for it, so its process is killed through the host's process table where that is
    /// visible (upkeep on the host as root, which holding the Docker socket means anyway).
    async fn kill_exec(&self, exec_id: &str) {
        let Ok(inspection) = self.docker.inspect_exec(exec_id).await else {
            return;
        };
        if inspection.running != Some(true) {
            return;
        }
        if let Some(pid) = inspection.pid.filter(|pid| *pid > 1) {
            crate::process::kill_tree(pid);
        }
    }
}

/// What `DockerRuntime::connect` connects to, for error messages.
pub(super) fn local_address() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|host| host.starts_with("unix://"))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned())
}

fn is_not_found(error: &BollardError) -> bool {
    matches!(
        error,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn container_error(container: &str, action: &'static str, source: BollardError) -> RuntimeError {
    if action == "inspect" && is_not_found(&source) {
        RuntimeError::ContainerNotFound {
            container: container.to_owned(),
        }
    } else {
        RuntimeError::Container {
            container: container.to_owned(),
            action,
            source,
        }
    }
}

fn image_error(image: &str, action: &'static str, source: BollardError) -> RuntimeError {
    if is_not_found(&source) {
        RuntimeError::ImageNotFound {
            image: image.to_owned(),
        }
    } else {
        RuntimeError::Image {
            image: image.to_owned(),
            action,
            source,
        }
    }
}

fn status(status: Option<ContainerStateStatusEnum>) -> Status {
    match status {
        Some(ContainerStateStatusEnum::CREATED) => Status::Created,
        Some(ContainerStateStatusEnum::RUNNING) => Status::Running,
        Some(ContainerStateStatusEnum::PAUSED) => Status::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => Status::Restarting,
        Some(ContainerStateStatusEnum::REMOVING) => Status::Removing,
        Some(ContainerStateStatusEnum::EXITED) => Status::Exited,
        Some(ContainerStateStatusEnum::DEAD) => Status::Dead,
        _ => Status::Unknown,
    }
}

/// The manifest digest the engine recorded for `reference`'s repository, or the first one.
fn repo_digest(reference: &str, repo_digests: &[String]) -> Option<String> {
    let repository = repository(reference);
    let digest_of = |repo_digest: &String| repo_digest.split_once('@').map(|(_, d)| d.to_owned());
    repo_digests
        .iter()
        .find(|repo_digest| {
            repo_digest
                .split_once('@')
                .is_some_and(|(name, _)| name == repository)
        })
        .or_else(|| repo_digests.first())
        .and_then(digest_of)
}

/// The body that creates a copy of `old` running `image`, and the networks to connect it to
/// after creation (API 1.41 attaches only one network at creation).
///
/// Values that equal the old image's defaults were not chosen by the user, so they are left
/// out and the new image's defaults apply: otherwise an update would freeze the old image's
/// `PATH`, `CMD` or version label into the new container.
fn creation_body(
    old: &ContainerInspectResponse,
    defaults: Option<&ImageConfig>,
    image: &str,
) -> (ContainerCreateBody, Vec<(String, EndpointSettings)>) {
    let config = old.config.clone().unwrap_or_default();
    let defaults = defaults.cloned().unwrap_or_default();
    let old_id = old.id.clone().unwrap_or_default();

    let env = without(config.env, defaults.env.as_deref());
    let exposed_ports = without(config.exposed_ports, defaults.exposed_ports.as_deref());
    let volumes = without(config.volumes, defaults.volumes.as_deref());
    let labels = config.labels.map(|labels| {
        let image_labels = defaults.labels.unwrap_or_default();
        labels
            .into_iter()
            .filter(|(key, value)| image_labels.get(key) != Some(value))
            .collect::<HashMap<_, _>>()
    });
    let hostname = config
        .hostname
        .filter(|hostname| !hostname.is_empty() && !old_id.starts_with(hostname.as_str()));

    let mut host_config = old.host_config.clone().unwrap_or_default();
    // A volume mount without a source (`--mount type=volume,dst=/data`) would get a new,
    // empty volume: name the one the old container has there, so its data stays.
    for mount in host_config.mounts.iter_mut().flatten() {
        let anonymous = mount.typ == Some(MountType::VOLUME)
            && mount.source.as_deref().is_none_or(str::is_empty);
        if anonymous
            && let Some(name) = old
                .mounts
                .iter()
                .flatten()
                .find(|used| used.destination == mount.target)
                .and_then(|used| used.name.clone())
        {
            mount.source = Some(name);
        }
    }
    // Anonymous volumes are not in the host config; mount them again so their data stays.
    let mut binds = host_config.binds.take().unwrap_or_default();
    let taken: Vec<String> = binds
        .iter()
        .filter_map(|bind| bind.split(':').nth(1).map(str::to_owned))
        .chain(
            host_config
                .mounts
                .iter()
                .flatten()
                .filter_map(|mount| mount.target.clone()),
        )
        .collect();
    for mount in old.mounts.iter().flatten() {
        if let (Some("volume"), Some(name), Some(destination)) = (
            mount.typ.as_deref(),
            mount.name.as_deref(),
            mount.destination.as_deref(),
        ) && !taken.iter().any(|target| target == destination)
        {
            let read_only = if mount.rw == Some(false) { ":ro" } else { "" };
            binds.push(format!("{name}:{destination}{read_only}"));
        }
    }
    host_config.binds = (!binds.is_empty()).then_some(binds);

    let network_mode = host_config.network_mode.clone().unwrap_or_default();
    let mut networks: Vec<(String, EndpointSettings)> = old
        .network_settings
        .as_ref()
        .and_then(|settings| settings.networks.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|_| {
            network_mode != "host"
                && network_mode != "none"
                && !network_mode.starts_with("container:")
        })
        .map(|(network, endpoint)| (network, user_endpoint(endpoint, &old_id)))
        .collect();
    networks.sort_by(|a, b| a.0.cmp(&b.0));
    let primary = if network_mode == "default" {
        "bridge"
    } else {
        network_mode.as_str()
    };
    let first = networks
        .iter()
        .position(|(network, _)| network == primary)
        .map(|index| networks.remove(index));
    let networking_config =
        first
            .filter(|(network, _)| network != "bridge")
            .map(|(network, endpoint)| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(network, endpoint)])),
            });

    let body = ContainerCreateBody {
        hostname,
        domainname: config.domainname.filter(|name| !name.is_empty()),
        // The user and health check the container ran with are kept even when they equal the
        // old image's defaults: an explicit `--user` must not become the new image's (root,
        // say), and a container's health check must not change under it.
        user: config.user.filter(|user| !user.is_empty()),
        attach_stdin: config.attach_stdin,
        attach_stdout: config.attach_stdout,
        attach_stderr: config.attach_stderr,
        exposed_ports,
        tty: config.tty,
        open_stdin: config.open_stdin,
        stdin_once: config.stdin_once,
        env,
        cmd: differing(config.cmd, defaults.cmd),
        healthcheck: config.healthcheck,
        args_escaped: None,
        image: Some(image.to_owned()),
        volumes,
        working_dir: differing(config.working_dir, defaults.working_dir)
            .filter(|directory| !directory.is_empty()),
        entrypoint: differing(config.entrypoint, defaults.entrypoint),
        network_disabled: config.network_disabled,
        on_build: None,
        labels,
        stop_signal: differing(config.stop_signal, defaults.stop_signal),
        stop_timeout: config.stop_timeout,
        shell: differing(config.shell, defaults.shell),
        host_config: Some(host_config),
        networking_config,
    };
    (body, networks)
}

/// The endpoint settings a user can choose; the rest (addresses the engine assigned, ids)
/// belong to the old container. The alias Docker adds from the old container's short id is
/// dropped.
fn user_endpoint(endpoint: EndpointSettings, old_id: &str) -> EndpointSettings {
    EndpointSettings {
        ipam_config: endpoint.ipam_config,
        links: endpoint.links,
        aliases: endpoint.aliases.map(|aliases| {
            aliases
                .into_iter()
                .filter(|alias| !old_id.starts_with(alias.as_str()))
                .collect()
        }),
        driver_opts: endpoint.driver_opts,
        ..EndpointSettings::default()
    }
}

/// `value` unless it equals the image's default.
fn differing<T: PartialEq>(value: Option<T>, default: Option<T>) -> Option<T> {
    value.filter(|value| default.as_ref() != Some(value))
}

/// The entries of `values` that are not among the image's `defaults`.
fn without(values: Option<Vec<String>>, defaults: Option<&[String]>) -> Option<Vec<String>> {
    let defaults = defaults.unwrap_or_default();
    values.map(|values| {
        values
            .into_iter()
            .filter(|value| !defaults.contains(value))
            .collect()
    })
}
