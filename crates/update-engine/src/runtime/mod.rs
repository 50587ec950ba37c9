//! The container runtime: what the engine asks of the thing that runs the containers.
//!
//! [`Runtime`] is the IO boundary between the update engine and a container engine. The
//! engine decides *what* to do (which image, when to roll back); a runtime only carries out
//! one step at a time and reports what it sees. [`DockerRuntime`] drives the Docker Engine
//! through its HTTP API, [`ComposeRuntime`] a compose project's services, and
//! [`SwarmRuntime`] Docker Swarm services (the "container" of the trait is then a service,
//! which Swarm rolls out by itself).
//!
//! # What this module does not do
//! It does not judge health beyond what the engine itself records (running, restarting, exit
//! code and the image's own `HEALTHCHECK`): probing a service from the outside is
//! [`crate::health`]'s job, and deciding that an update failed is the engine's. It does not
//! look up registries for newer tags either; it pulls exactly the reference it is given.

mod compose;
mod docker;
mod swarm;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

pub use compose::{ComposeFileError, ComposeRuntime, dependency_order, image_variable};
pub use docker::DockerRuntime;
pub use swarm::{RolloutOrder, SwarmRollout, SwarmRuntime};

/// A container engine that can run, update and roll back named containers.
///
/// The operations, in the order an update uses them:
///
/// - [`inspect`](Self::inspect): what a container runs now (the reference it was created
///   from, the image id and the registry digest) and how it is doing.
/// - [`pull`](Self::pull): fetch an image into the engine, reporting progress as it goes.
/// - [`keep_for_rollback`](Self::keep_for_rollback): pin the image a container runs now so
///   that it survives the update and can be returned to.
/// - [`recreate`](Self::recreate): replace a container with one made from another image but
///   otherwise the same configuration. Either the new container is started, or the old one is
///   left as it was.
/// - [`restore`](Self::restore): recreate a container from a [`RollbackPoint`].
///
/// Methods take container names, not ids: an update replaces the container, so its id
/// changes while its name stays.
///
/// The trait is object safe, so the engine holds a `Box<dyn Runtime>` and tests can put a
/// fake in its place.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// What `container` runs now and how it is doing.
    async fn inspect(&self, container: &str) -> Result<ContainerState, RuntimeError>;

    /// Pulls `image` (a reference such as `registry/repo:tag` or `repo@sha256:…`; a bare
    /// repository means its `latest` tag) for `container`, calling `progress` for each
    /// progress message the engine sends. A runtime that pulls by service (compose) uses
    /// `container`; the Docker Engine pulls the reference alone.
    async fn pull(
        &self,
        container: &str,
        image: &str,
        progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<PulledImage, RuntimeError>;

    /// Tags the image `container` runs now as `REPOSITORY:upkeep-previous`, so that it is not
    /// garbage collected once no container uses it, and records what is needed to return to
    /// it.
    async fn keep_for_rollback(&self, container: &str) -> Result<RollbackPoint, RuntimeError>;

    /// Replaces `container` with a container of the same name and configuration made from
    /// `image`, then starts it.
    ///
    /// The configuration kept is what the user gave when creating the container: environment,
    /// command, entrypoint, labels, volumes and mounts, port bindings, networks and restart
    /// policy. Values the old image supplied by default (its `ENV`, `CMD`, labels, …) are not
    /// copied, so the new image's defaults apply.
    ///
    /// On any failure the new container is removed and the old one is put back under its
    /// name and started again if it was running. On success the old container is removed;
    /// its volumes are kept.
    ///
    /// A container that starts and then exits at once still counts as recreated: whether the
    /// new version is well is for the health checks to judge, and the returned state shows
    /// whatever the engine saw right after the start.
    async fn recreate(&self, container: &str, image: &str) -> Result<ContainerState, RuntimeError>;

    /// Undoes a [`recreate`](Self::recreate) that was cut short (the process was killed in
    /// it): when the old container is still parked under its temporary name, whatever now
    /// holds `container`'s name is removed, the old container gets its name back and is
    /// started. Returns whether there was anything to undo.
    async fn undo_interrupted_recreate(&self, container: &str) -> Result<bool, RuntimeError>;

    /// Recreates `container` from the image recorded in `point`, as [`recreate`](Self::recreate)
    /// does.
    async fn restore(
        &self,
        container: &str,
        point: &RollbackPoint,
    ) -> Result<ContainerState, RuntimeError>;

    /// Gives the image `image_id` the name `reference` (`repo:tag`), as `docker tag` does:
    /// an image pulled by digest gets the tag the container is to be created from.
    async fn tag_image(&self, image_id: &str, reference: &str) -> Result<(), RuntimeError>;

    /// Runs `command` inside `container`, as `docker exec` does, and says how it ended; gives
    /// up after `timeout`. This is how a health check declared by a container's labels runs:
    /// inside the container, never on this host.
    async fn exec(
        &self,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<Exited, RuntimeError>;
}

/// How a command run inside a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exited {
    /// It exited with this code.
    Code {
        /// The exit code.
        code: i64,
        /// The last line it wrote, for messages.
        last_line: String,
    },
    /// It still ran when its time was up.
    TimedOut,
}

/// What a container runs and how it is doing, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerState {
    /// The container's name, without Docker's leading `/`.
    pub name: String,
    /// The container id.
    pub id: String,
    /// The image reference the container was created from, such as `nginx:1.27`.
    pub image: String,
    /// The id (`sha256:…` config digest) of the image the container runs.
    pub image_id: String,
    /// The registry manifest digest of that image, as the engine recorded it when pulling
    /// (`sha256:…`). `None` for an image that was built locally and never pulled or pushed.
    pub repo_digest: Option<String>,
    /// Where the container is in its life.
    pub status: Status,
    /// The exit code of the last run; 0 while it has not exited.
    pub exit_code: i64,
    /// How often the engine restarted the container by its restart policy: a container that
    /// runs but whose count grows is crash-looping.
    pub restart_count: i64,
    /// The result of the image's `HEALTHCHECK`; `None` when the image has none.
    pub health: Option<Health>,
    /// Whether the engine deletes the container once it stops (`docker run --rm`): such a
    /// container cannot be updated, since stopping it deletes it.
    pub auto_remove: bool,
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Created but never started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Exited and being restarted by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Exited.
    Exited,
    /// Dead: the engine failed to stop or remove it.
    Dead,
    /// A status this crate does not know.
    Unknown,
}

/// The result of an image's `HEALTHCHECK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Within the start period, no verdict yet.
    Starting,
    /// The last checks passed.
    Healthy,
    /// Enough checks in a row failed.
    Unhealthy,
}

/// One progress message of a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PullProgress {
    /// The layer (or tag) the message is about, if any.
    pub id: Option<String>,
    /// What happens, such as `Downloading` or `Pull complete`.
    pub status: String,
    /// Bytes done so far, when known.
    pub current: Option<i64>,
    /// Bytes in all, when known.
    pub total: Option<i64>,
}

/// An image the engine holds after a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PulledImage {
    /// The reference that was pulled.
    pub reference: String,
    /// The image id (`sha256:…`).
    pub id: String,
    /// The registry digests the engine knows for it, such as
    /// `registry.example/app@sha256:…`.
    pub repo_digests: Vec<String>,
}

/// What [`Runtime::keep_for_rollback`] recorded: enough to return a container to the image
/// it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RollbackPoint {
    /// The container the point was taken for.
    pub container: String,
    /// The reference the container was created from, such as `nginx:1.27`.
    pub reference: String,
    /// The tag that keeps the image, such as `nginx:upkeep-previous`.
    pub tag: String,
    /// The image id (`sha256:…`).
    pub image_id: String,
    /// The registry manifest digest of the image, when the engine recorded one.
    pub repo_digest: Option<String>,
}

impl ContainerState {
    /// A container `name` (id `id`) created from `image`, running the image `image_id`, in
    /// `status`: no repo digest, exit code 0, no restarts, no `HEALTHCHECK`. Set the other
    /// fields afterwards; this is how a [`Runtime`] outside this crate (or a test's fake)
    /// builds one, the struct being `#[non_exhaustive]`.
    pub fn new(
        name: impl Into<String>,
        id: impl Into<String>,
        image: impl Into<String>,
        image_id: impl Into<String>,
        status: Status,
    ) -> Self {
        Self {
            name: name.into(),
            id: id.into(),
            image: image.into(),
            image_id: image_id.into(),
            repo_digest: None,
            status,
            exit_code: 0,
            restart_count: 0,
            health: None,
            auto_remove: false,
        }
    }
}

impl PulledImage {
    /// The image `id` pulled as `reference`, with the registry digests the engine knows for it.
    pub fn new(
        reference: impl Into<String>,
        id: impl Into<String>,
        repo_digests: Vec<String>,
    ) -> Self {
        Self {
            reference: reference.into(),
            id: id.into(),
            repo_digests,
        }
    }
}

impl RollbackPoint {
    /// A point for `container`, created from `reference`, whose image `image_id` is kept as
    /// `tag`; no repo digest (set it afterwards when known).
    pub fn new(
        container: impl Into<String>,
        reference: impl Into<String>,
        tag: impl Into<String>,
        image_id: impl Into<String>,
    ) -> Self {
        Self {
            container: container.into(),
            reference: reference.into(),
            tag: tag.into(),
            image_id: image_id.into(),
            repo_digest: None,
        }
    }
}

/// A running container found by a label, with what it runs and the labels its operator set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Labelled {
    /// The container's name.
    pub name: String,
    /// The reference it was created from, such as `nginx:1.27`.
    pub image: String,
    /// Its labels, without the `upkeep.*` labels its image brought (see [`operator_labels`]).
    pub labels: BTreeMap<String, String>,
    /// The `upkeep.*` labels left out because the image brought them.
    pub from_image: BTreeMap<String, String>,
}

/// The prefix of the labels that tell upkeep what to do with a container.
pub const UPKEEP_LABEL_PREFIX: &str = "upkeep.";

/// Splits a container's labels into those its operator set and the `upkeep.*` labels its
/// image brought.
///
/// Docker copies an image's labels onto every container made from it, so a label on a
/// container may be the image publisher's word rather than the operator's. An `upkeep.*`
/// label whose key and value equal one of the image's own labels is the publisher's and is
/// left out: an image must not choose its own policy or health command. Other labels (an
/// image's `org.opencontainers.image.source`, say) are kept; they describe the image.
pub fn operator_labels(
    container: &BTreeMap<String, String>,
    image: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    container
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .partition(|(key, value)| {
            !(key.starts_with(UPKEEP_LABEL_PREFIX) && image.get(key) == Some(value))
        })
}

/// The tag [`Runtime::keep_for_rollback`] puts on the image a container runs.
pub const ROLLBACK_TAG: &str = "upkeep-previous";

/// The suffix the old container's name gets while [`Runtime::recreate`] replaces it.
pub const OLD_SUFFIX: &str = "-upkeep-old";

/// A runtime operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The engine could not be reached.
    #[error(
        "cannot reach the Docker Engine at {address}; is dockerd running, and may this user use its socket?"
    )]
    Connect {
        /// The address tried, such as `unix:///var/run/docker.sock`.
        address: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// No container has the name.
    #[error("no container named `{container}`; list the containers with `docker ps --all`")]
    ContainerNotFound {
        /// The name asked for.
        container: String,
    },
    /// No image has the reference.
    #[error("no image `{image}` in the Docker Engine; pull it first")]
    ImageNotFound {
        /// The reference asked for.
        image: String,
    },
    /// The engine did not report something this crate needs.
    #[error("the Docker Engine did not report {what} for `{subject}`")]
    Incomplete {
        /// The container or image.
        subject: String,
        /// What was missing, such as "the image id".
        what: &'static str,
    },
    /// A pull failed.
    #[error(
        "cannot pull `{image}`; check the reference, that the registry is reachable, and the engine's credentials for it"
    )]
    Pull {
        /// The reference.
        image: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// The container was started with `--rm`: stopping it for the update would delete it.
    #[error(
        "container `{container}` was started with --rm, so stopping it to update it would delete it; start it again without --rm (with --restart unless-stopped, say) and let upkeep take it over then"
    )]
    AutoRemove {
        /// The container.
        container: String,
    },
    /// A pull was given up: it made no progress, or took too long.
    #[error(
        "gave up pulling `{image}`: {waited}; check the registry and the network, then try again"
    )]
    PullStalled {
        /// The reference.
        image: String,
        /// What was waited for.
        waited: String,
    },
    /// A call about a container failed.
    #[error("cannot {action} container `{container}`")]
    Container {
        /// The container.
        container: String,
        /// What was attempted, such as "inspect" or "stop".
        action: &'static str,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// A call about an image failed.
    #[error("cannot {action} image `{image}`")]
    Image {
        /// The image.
        image: String,
        /// What was attempted, such as "inspect" or "tag".
        action: &'static str,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// A leftover container from an interrupted update is in the way.
    #[error(
        "container `{old}` is left over from an interrupted update of `{container}`; check which of the two to keep and remove the other with `docker rm`"
    )]
    Leftover {
        /// The container being updated.
        container: String,
        /// The leftover's name.
        old: String,
    },
    /// Recreating failed; the old container was put back.
    #[error("cannot recreate `{container}` from `{image}`; the old container was put back")]
    Recreate {
        /// The container.
        container: String,
        /// The image it was to run.
        image: String,
        /// The step that failed.
        #[source]
        source: Box<Self>,
    },
    /// Recreating failed, and so did putting the old container back.
    #[error(
        "cannot recreate `{container}` from `{image}`, nor put the old container back ({restore_error}); it is named `{old}` and may be stopped: fix the cause, name it `{container}` again if needed (`docker rename`) and start it with `docker start`"
    )]
    Stranded {
        /// The container.
        container: String,
        /// The image it was to run.
        image: String,
        /// The old container's name now: `{container}-upkeep-old`, or `container` when only
        /// starting it failed.
        old: String,
        /// Why putting it back failed, with its causes.
        restore_error: String,
        /// The step that failed.
        #[source]
        source: Box<Self>,
    },
    /// Neither `docker compose` nor `docker-compose` runs.
    #[error(
        "neither `docker compose` nor `docker-compose` runs on this host; install the compose plugin (apt package docker-compose-plugin) or docker-compose"
    )]
    ComposeUnavailable,
    /// A compose command failed.
    #[error(
        "`{command}` failed ({status}); run it yourself to see the whole output. It ended with:\n{stderr}"
    )]
    Compose {
        /// The command line, with the directory it ran in and the variable it set.
        command: String,
        /// How it ended, such as `exit status: 1`, or why it could not start.
        status: String,
        /// The last lines it wrote to stderr.
        stderr: String,
    },
    /// A compose service has no container.
    #[error(
        "no container for compose service `{service}` in project `{project}`; start it with `{start}`"
    )]
    ServiceNotFound {
        /// The service.
        service: String,
        /// The compose project.
        project: String,
        /// The command that starts it.
        start: String,
    },
    /// A compose service does not take its image from its `versions.env` variable.
    #[error(
        "compose service `{service}` runs `{running}` instead of `{expected}`: its `image:` in {file} must be `${{{key}}}` so that upkeep can choose the version"
    )]
    ImageNotFromVariable {
        /// The service.
        service: String,
        /// The compose file.
        file: String,
        /// The variable the service's `image:` must use, such as `WEB_IMAGE`.
        key: String,
        /// The image the service was to run.
        expected: String,
        /// The image it runs.
        running: String,
    },
    /// No Swarm service has the name.
    #[error("no Swarm service named `{service}`; list the services with `docker service ls`")]
    SwarmServiceNotFound {
        /// The name asked for.
        service: String,
    },
    /// The engine on this host is not a manager of a Swarm.
    #[error(
        "the Docker Engine on this host is not a Swarm manager; run upkeep on a manager node (`docker node ls` works there)"
    )]
    NotSwarmManager,
    /// A call about a Swarm service failed.
    #[error("cannot {action} Swarm service `{service}`")]
    Service {
        /// The service.
        service: String,
        /// What was attempted, such as "inspect" or "update".
        action: &'static str,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// Swarm rolled the update back by itself: tasks of the new image failed.
    #[error(
        "Swarm rolled `{service}` back from `{image}` by itself ({message}); `docker service ps {service}` shows the failed tasks"
    )]
    SwarmRolledBack {
        /// The service.
        service: String,
        /// The image it was to run.
        image: String,
        /// What Swarm said.
        message: String,
    },
    /// Swarm paused the rollout: some tasks run the new image, some the old.
    #[error(
        "Swarm paused the rollout of `{image}` to `{service}` ({message}); see `docker service ps {service}`, then finish it with `docker service update --rollback {service}` or by updating again"
    )]
    SwarmPaused {
        /// The service.
        service: String,
        /// The image it was to run.
        image: String,
        /// What Swarm said.
        message: String,
    },
    /// The rollout did not end in time.
    #[error(
        "Swarm's rollout of `{image}` to `{service}` did not end within {waited}; see `docker service ps {service}`"
    )]
    SwarmStalled {
        /// The service.
        service: String,
        /// The image it was to run.
        image: String,
        /// How long was waited.
        waited: String,
    },
    /// The runtime cannot do this for this kind of deployment.
    #[error("{subject} cannot have {what}")]
    Unsupported {
        /// What was asked about, such as "Swarm service `web`".
        subject: String,
        /// What it cannot do.
        what: &'static str,
    },
    /// The name is not a compose service name upkeep can manage.
    #[error("`{service}` is not a compose service name upkeep can manage")]
    ServiceName {
        /// The name given.
        service: String,
        /// Why.
        #[source]
        source: upkeep_versioning_core::manifest::ManifestError,
    },
}

impl RuntimeError {
    /// Whether the container or service asked about does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            Self::ContainerNotFound { .. }
                | Self::ServiceNotFound { .. }
                | Self::SwarmServiceNotFound { .. }
        )
    }

    /// Whether the Docker Engine did not answer at all (stopped, restarting, its socket
    /// gone), as opposed to answering with an error. A container cannot be judged sick while
    /// its engine is away, so an update in flight is then left to recovery, not rolled back.
    pub fn engine_unreachable(&self) -> bool {
        use bollard::errors::Error as Bollard;
        match self {
            Self::Connect { .. } => true,
            Self::Pull { source, .. }
            | Self::Container { source, .. }
            | Self::Service { source, .. }
            | Self::Image { source, .. } => matches!(
                source,
                Bollard::IOError { .. }
                    | Bollard::HyperResponseError { .. }
                    | Bollard::HyperLegacyError { .. }
                    | Bollard::SocketNotFoundError(_)
                    | Bollard::RequestTimeoutError
            ),
            Self::Recreate { source, .. } | Self::Stranded { source, .. } => {
                source.engine_unreachable()
            }
            _ => false,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Unknown => "unknown",
        })
    }
}

/// The repository part of an image reference: `host:5000/app:1.0@sha256:…` → `host:5000/app`.
pub fn repository(reference: &str) -> &str {
    let name = reference
        .split_once('@')
        .map_or(reference, |(name, _)| name);
    let last_slash = name.rfind('/').map_or(0, |index| index + 1);
    match name[last_slash..].rfind(':') {
        Some(colon) => &name[..last_slash + colon],
        None => name,
    }
}

/// The tag of an image reference: `host:5000/app:1.0@sha256:…` → `1.0`; `latest` when the
/// reference names none.
pub fn tag_of(reference: &str) -> &str {
    let name = reference
        .split_once('@')
        .map_or(reference, |(name, _)| name);
    name.get(repository(reference).len() + 1..)
        .filter(|tag| !tag.is_empty())
        .unwrap_or("latest")
}

/// Whether a reference names a tag or digest, not only a repository.
pub(crate) fn has_tag_or_digest(reference: &str) -> bool {
    repository(reference).len() != reference.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_strips_tag_and_digest_but_not_a_registry_port() {
        for (reference, expected) in [
            ("nginx", "nginx"),
            ("nginx:1.27", "nginx"),
            ("127.0.0.1:5000/test/web", "127.0.0.1:5000/test/web"),
            ("127.0.0.1:5000/test/web:1.0.0", "127.0.0.1:5000/test/web"),
            ("host/app@sha256:abc", "host/app"),
            ("host:1/app:1@sha256:abc", "host:1/app"),
        ] {
            assert_eq!(repository(reference), expected, "{reference}");
        }
        for (reference, tag) in [
            ("nginx", "latest"),
            ("nginx:1.27", "1.27"),
            ("127.0.0.1:5000/test/web", "latest"),
            ("host:1/app:1@sha256:abc", "1"),
            ("host/app@sha256:abc", "latest"),
        ] {
            assert_eq!(tag_of(reference), tag, "{reference}");
        }
        assert!(!has_tag_or_digest("127.0.0.1:5000/test/web"));
        assert!(has_tag_or_digest("nginx:1"));
    }
}
