//! [`Runtime`] for Docker Swarm services: upkeep chooses the version, Swarm rolls it out.
//!
//! A service is updated by setting its spec's image to `repository:tag@digest` together with
//! an update config from the deployment ([`SwarmRollout`]: parallelism, delay, monitor,
//! maximum failure ratio, order) whose failure action is `rollback`, and then following the
//! service's `UpdateStatus` until Swarm says `completed`, `rollback_completed` or `paused`.
//! Swarm replaces the tasks itself, on whichever nodes they run; a rollback Swarm carries out
//! by itself is reported as [`RuntimeError::SwarmRolledBack`], which the engine treats like a
//! failed health check (the version is recorded as failed).
//!
//! The image is pulled on this node (a manager) first: that proves the registry serves it
//! before any task is touched, and gives the digest every node then runs.
//!
//! # What this module does not do
//! It does not run commands inside a service's tasks (they may be on other nodes), and it
//! does not judge health beyond what Swarm reports of the tasks: upkeep's own probes run
//! after Swarm converges, as for containers.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{Service, ServiceUpdateStatusStateEnum, Task, TaskState};
use bollard::query_parameters::{ListServicesOptions, ListTasksOptions};

use super::{
    ContainerState, DockerRuntime, Exited, PullProgress, PulledImage, RollbackPoint, Runtime,
    RuntimeError, Status, repository,
};

/// How often a rollout's progress is asked for.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How long a rollout may take beyond its own delays and monitoring: pulling the image on
/// each node and starting its tasks.
const ROLLOUT_MARGIN: Duration = Duration::from_secs(10 * 60);

/// How Swarm rolls an update out, from the deployment's `swarm:` settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SwarmRollout {
    /// How many tasks are replaced at once.
    pub parallelism: u32,
    /// The pause between two batches.
    pub delay: Duration,
    /// How long each new task is watched for failure before the next batch.
    pub monitor: Duration,
    /// The share of tasks (0 to 1) that may fail before Swarm rolls the update back.
    pub max_failure_ratio: f64,
    /// Whether a new task starts before or after the old one stops.
    pub order: RolloutOrder,
}

/// A failure ratio is never NaN (the configuration refuses it), so equality is total.
impl Eq for SwarmRollout {}

impl Default for SwarmRollout {
    /// One task at a time, no pause, each watched for 5 s (Swarm's own default), no failure
    /// tolerated, old task stopped first (host-mode ports allow no other order).
    fn default() -> Self {
        Self {
            parallelism: 1,
            delay: Duration::ZERO,
            monitor: Duration::from_secs(5),
            max_failure_ratio: 0.0,
            order: RolloutOrder::StopFirst,
        }
    }
}

/// Whether Swarm starts a new task before or after stopping the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RolloutOrder {
    /// The old task stops first: a short gap, but no two tasks hold a host port at once.
    #[default]
    StopFirst,
    /// The new task starts first: no gap, but both run for a moment.
    StartFirst,
}

impl RolloutOrder {
    /// The word `upkeep.yaml` and Swarm use: `stop-first` or `start-first`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StopFirst => "stop-first",
            Self::StartFirst => "start-first",
        }
    }
}

/// The Swarm services of the engine on this host, which must be a Swarm manager.
#[derive(Debug, Clone)]
pub struct SwarmRuntime {
    local: DockerRuntime,
    rollout: SwarmRollout,
}

impl SwarmRuntime {
    /// Services reached through `local`'s engine, updated as `rollout` says.
    pub fn new(local: DockerRuntime, rollout: SwarmRollout) -> Self {
        Self { local, rollout }
    }

    fn docker(&self) -> &Docker {
        self.local.client()
    }

    /// The names of the services, in name order (the order `upkeep init --from-swarm`
    /// lists them in).
    pub async fn services(&self) -> Result<Vec<String>, RuntimeError> {
        let services = self
            .docker()
            .list_services(None::<ListServicesOptions>)
            .await
            .map_err(|source| service_error("(all)", "list", source))?;
        let mut names: Vec<String> = services
            .into_iter()
            .filter_map(|service| service.spec?.name)
            .collect();
        names.sort();
        Ok(names)
    }

    async fn service(&self, service: &str) -> Result<Service, RuntimeError> {
        self.docker()
            .inspect_service(service, None)
            .await
            .map_err(|source| service_error(service, "inspect", source))
    }

    async fn tasks(&self, service: &str) -> Result<Vec<Task>, RuntimeError> {
        let filters = HashMap::from([("service".to_owned(), vec![service.to_owned()])]);
        let options = ListTasksOptions {
            filters: Some(filters),
        };
        self.docker()
            .list_tasks(Some(options))
            .await
            .map_err(|source| service_error(service, "list the tasks of", source))
    }

    /// Sets the service's image to `image` (with its digest) and follows Swarm's rollout of
    /// it to its end.
    ///
    /// The spec is read and written back as the engine's own JSON, changing only the image
    /// and the update config: a typed model drops what it does not know or spells otherwise
    /// (bollard's reads the engine's `Healthcheck` as `HealthCheck`, and so loses it), and an
    /// update must keep everything else the operator set.
    async fn roll_out(&self, service: &str, image: &str) -> Result<ContainerState, RuntimeError> {
        let before = self
            .service(service)
            .await?
            .update_status
            .and_then(|status| status.started_at);
        let path = format!("/services/{}", path_segment(service));
        let current = engine_json("GET", &path, None)
            .await
            .map_err(|source| service_error(service, "inspect", source))?;
        let mut spec = current["Spec"].clone();
        let Some(container_spec) = spec
            .pointer_mut("/TaskTemplate/ContainerSpec")
            .and_then(serde_json::Value::as_object_mut)
        else {
            return Err(incomplete(service));
        };
        if container_spec
            .get("Image")
            .and_then(serde_json::Value::as_str)
            == Some(image)
        {
            // Swarm starts no rollout for an unchanged spec.
            return self.inspect(service).await;
        }
        container_spec.insert("Image".to_owned(), image.into());
        if let Some(spec) = spec.as_object_mut() {
            spec.insert("UpdateConfig".to_owned(), self.update_config());
        }
        let (Some(id), Some(version)) = (
            current["ID"].as_str(),
            current
                .pointer("/Version/Index")
                .and_then(serde_json::Value::as_u64),
        ) else {
            return Err(incomplete(service));
        };
        let body = serde_json::to_vec(&spec).map_err(|_| incomplete(service))?;
        let path = format!("/services/{}/update?version={version}", path_segment(id));
        engine_json("POST", &path, Some(body))
            .await
            .map_err(|source| RuntimeError::Recreate {
                container: service.to_owned(),
                image: image.to_owned(),
                source: Box::new(service_error(service, "update", source)),
            })?;
        self.follow(service, image, Some(before)).await
    }

    /// The update config Swarm rolls the change out with: the deployment's, and a rollback
    /// by Swarm itself when tasks fail.
    fn update_config(&self) -> serde_json::Value {
        let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        serde_json::json!({
            "Parallelism": self.rollout.parallelism,
            "Delay": nanos(self.rollout.delay),
            "FailureAction": "rollback",
            "Monitor": nanos(self.rollout.monitor),
            "MaxFailureRatio": self.rollout.max_failure_ratio,
            "Order": self.rollout.order.as_str(),
        })
    }

    /// How long a rollout of `tasks` tasks may take: each batch's delay and monitoring, and a
    /// margin for pulls and starts.
    fn rollout_deadline(&self, tasks: usize) -> Duration {
        let parallelism = usize::try_from(self.rollout.parallelism.max(1)).unwrap_or(1);
        let batches = u32::try_from(tasks.max(1).div_ceil(parallelism)).unwrap_or(u32::MAX);
        (self.rollout.delay + self.rollout.monitor)
            .saturating_mul(batches)
            .saturating_add(ROLLOUT_MARGIN)
    }

    /// Waits until Swarm ends the rollout of `image`. `before` is the start time of the
    /// rollout that was on record before this one was asked for (`None` inside: there was
    /// none), so that a finished earlier rollout is not taken for this one; `None` follows
    /// whatever rollout is under way.
    async fn follow(
        &self,
        service: &str,
        image: &str,
        before: Option<Option<bollard::models::BollardDate>>,
    ) -> Result<ContainerState, RuntimeError> {
        let tasks = self.tasks(service).await?.len();
        let waited = self.rollout_deadline(tasks);
        let deadline = tokio::time::Instant::now() + waited;
        loop {
            let current = self.service(service).await?;
            let status = current.update_status.as_ref();
            let started = status.and_then(|status| status.started_at.clone());
            let ours = match &before {
                Some(before) => status.is_some() && started != *before,
                None => true,
            };
            let state = status.and_then(|status| status.state);
            let message = status
                .and_then(|status| status.message.clone())
                .unwrap_or_default();
            if ours {
                use ServiceUpdateStatusStateEnum as State;
                match state {
                    Some(State::COMPLETED) => return self.inspect(service).await,
                    Some(State::ROLLBACK_COMPLETED) => {
                        return Err(RuntimeError::SwarmRolledBack {
                            service: service.to_owned(),
                            image: image.to_owned(),
                            message,
                        });
                    }
                    Some(State::PAUSED | State::ROLLBACK_PAUSED) => {
                        return Err(RuntimeError::SwarmPaused {
                            service: service.to_owned(),
                            image: image.to_owned(),
                            message,
                        });
                    }
                    // No rollout on record and none asked for: nothing to follow.
                    None | Some(State::EMPTY) if before.is_none() => {
                        return self.inspect(service).await;
                    }
                    _ => {}
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RuntimeError::SwarmStalled {
                    service: service.to_owned(),
                    image: image.to_owned(),
                    waited: format!("{} s", waited.as_secs()),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// The most a service's JSON may take: specs are a few KiB.
const SERVICE_JSON_CAP: usize = 4 * 1024 * 1024;

/// A service name or id as one path segment: only the characters Docker allows in them pass.
fn path_segment(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect()
}

/// One call to the engine's API on its local socket, whose answer is JSON, kept as it is.
/// An error status is [`BollardError::DockerResponseServerError`] and a failure to reach
/// the engine [`BollardError::IOError`], as bollard's own calls report them.
async fn engine_json(
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<serde_json::Value, BollardError> {
    use http_body_util::{BodyExt, Full, Limited};
    let io = |err: std::io::Error| BollardError::IOError { err };
    let other = |what: String| io(std::io::Error::other(what));
    let call = async {
        let address = super::docker::local_address();
        let socket = address.trim_start_matches("unix://");
        let stream = tokio::net::UnixStream::connect(socket).await.map_err(io)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|error| other(error.to_string()))?;
        // The connection is driven beside the call and ends with it, however it ends.
        let _driver = AbortOnDrop(tokio::spawn(connection));
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "docker")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(bytes_of(body)))
            .map_err(|error| other(error.to_string()))?;
        let exchange = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|error| other(error.to_string()))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), SERVICE_JSON_CAP)
                .collect()
                .await
                .map_err(|error| other(format!("reading the answer: {error}")))?
                .to_bytes();
            Ok::<_, BollardError>((status, bytes))
        };
        let (status, bytes) = exchange.await?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|error| error["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(BollardError::DockerResponseServerError {
                status_code: status,
                message,
            });
        }
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|error| other(format!("not JSON: {error}")))
    };
    tokio::time::timeout(super::docker::ENGINE_CALL_DEADLINE, call)
        .await
        .unwrap_or(Err(BollardError::RequestTimeoutError))
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn bytes_of(body: Option<Vec<u8>>) -> hyper::body::Bytes {
    body.map(hyper::body::Bytes::from).unwrap_or_default()
}

/// The image a service's spec runs, such as `registry/app:1.0@sha256:…`.
fn spec_image(service: &Service) -> Option<String> {
    service
        .spec
        .as_ref()?
        .task_template
        .as_ref()?
        .container_spec
        .as_ref()?
        .image
        .clone()
}

/// How many tasks the service asks for: its replicas, or one per node for a global service
/// (counted as at least one).
fn desired_tasks(service: &Service) -> usize {
    service
        .spec
        .as_ref()
        .and_then(|spec| spec.mode.as_ref())
        .and_then(|mode| mode.replicated.as_ref())
        .and_then(|replicated| replicated.replicas)
        .and_then(|replicas| usize::try_from(replicas).ok())
        .unwrap_or(1)
}

fn incomplete(service: &str) -> RuntimeError {
    RuntimeError::Incomplete {
        subject: service.to_owned(),
        what: "the service's spec and version",
    }
}

fn service_error(service: &str, action: &'static str, source: BollardError) -> RuntimeError {
    match &source {
        BollardError::DockerResponseServerError {
            status_code: 404, ..
        } if action == "inspect" => RuntimeError::SwarmServiceNotFound {
            service: service.to_owned(),
        },
        // 503: "This node is not a swarm manager".
        BollardError::DockerResponseServerError {
            status_code: 503, ..
        } => RuntimeError::NotSwarmManager,
        _ => RuntimeError::Service {
            service: service.to_owned(),
            action,
            source,
        },
    }
}

#[async_trait]
impl Runtime for SwarmRuntime {
    async fn inspect(&self, service: &str) -> Result<ContainerState, RuntimeError> {
        let current = self.service(service).await?;
        let image = spec_image(&current).ok_or_else(|| incomplete(service))?;
        let (reference, digest) = match image.split_once('@') {
            Some((reference, digest)) => (reference.to_owned(), Some(digest.to_owned())),
            None => (image.clone(), None),
        };
        let tasks = self.tasks(service).await?;
        let of_this_image = |task: &&Task| {
            task.spec
                .as_ref()
                .and_then(|spec| spec.container_spec.as_ref())
                .and_then(|container| container.image.as_deref())
                == Some(image.as_str())
        };
        let state_of = |task: &Task| task.status.as_ref().and_then(|status| status.state);
        let running = tasks
            .iter()
            .filter(of_this_image)
            .filter(|task| task.desired_state == Some(TaskState::RUNNING))
            .filter(|task| state_of(task) == Some(TaskState::RUNNING))
            .count();
        // Tasks of this image that died count as restarts: Swarm replaces a failed task
        // with a new one, as a restart policy restarts a container.
        let failed: Vec<&Task> = tasks
            .iter()
            .filter(of_this_image)
            .filter(|task| {
                matches!(
                    state_of(task),
                    Some(TaskState::FAILED | TaskState::REJECTED)
                )
            })
            .collect();
        let updating = current.update_status.as_ref().is_some_and(|status| {
            matches!(
                status.state,
                Some(
                    ServiceUpdateStatusStateEnum::UPDATING
                        | ServiceUpdateStatusStateEnum::ROLLBACK_STARTED
                )
            )
        });
        let status = if updating {
            Status::Restarting
        } else if running >= desired_tasks(&current) {
            Status::Running
        } else {
            Status::Created
        };
        let mut state = ContainerState::new(
            service,
            current.id.clone().unwrap_or_default(),
            reference,
            digest.clone().unwrap_or_else(|| image.clone()),
            status,
        );
        state.repo_digest = digest;
        state.restart_count = i64::try_from(failed.len()).unwrap_or(i64::MAX);
        state.exit_code = failed
            .iter()
            .filter_map(|task| {
                let status = task.status.as_ref()?;
                Some((
                    status.timestamp.clone(),
                    status.container_status.as_ref()?.exit_code?,
                ))
            })
            .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
            .map_or(0, |(_, code)| code);
        Ok(state)
    }

    async fn pull(
        &self,
        service: &str,
        image: &str,
        progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<PulledImage, RuntimeError> {
        self.local.pull(service, image, progress).await
    }

    /// Swarm keeps the previous spec itself; the point records the exact image, with its
    /// digest, that the service runs now.
    async fn keep_for_rollback(&self, service: &str) -> Result<RollbackPoint, RuntimeError> {
        let current = self.service(service).await?;
        let image = spec_image(&current).ok_or_else(|| incomplete(service))?;
        let (reference, digest) = match image.split_once('@') {
            Some((reference, digest)) => (reference.to_owned(), Some(digest.to_owned())),
            None => (image.clone(), None),
        };
        let mut point = RollbackPoint::new(
            service,
            reference,
            image.clone(),
            digest.clone().unwrap_or_else(|| image.clone()),
        );
        point.repo_digest = digest;
        Ok(point)
    }

    /// Rolls `image` (`repository:tag`, pulled on this node) out with its digest, so that
    /// every node runs the very image pulled here.
    async fn recreate(&self, service: &str, image: &str) -> Result<ContainerState, RuntimeError> {
        let pulled =
            self.local
                .image_details(image)
                .await
                .map_err(|error| RuntimeError::Recreate {
                    container: service.to_owned(),
                    image: image.to_owned(),
                    source: Box::new(error),
                })?;
        let wanted = repository(image);
        let pinned = pulled
            .repo_digests
            .iter()
            .find_map(|known| {
                let (name, digest) = known.split_once('@')?;
                (name == wanted).then(|| format!("{image}@{digest}"))
            })
            .ok_or_else(|| RuntimeError::Recreate {
                container: service.to_owned(),
                image: image.to_owned(),
                source: Box::new(RuntimeError::Incomplete {
                    subject: image.to_owned(),
                    what: "the registry digest (Swarm's nodes pull by it)",
                }),
            })?;
        self.roll_out(service, &pinned).await
    }

    /// A rollout cut short goes on in Swarm by itself: wait for it to end. Nothing is ever
    /// parked under another name.
    async fn undo_interrupted_recreate(&self, service: &str) -> Result<bool, RuntimeError> {
        let current = self.service(service).await?;
        let image = spec_image(&current).unwrap_or_default();
        match self.follow(service, &image, None).await {
            Ok(_) | Err(RuntimeError::SwarmRolledBack { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    async fn restore(
        &self,
        service: &str,
        point: &RollbackPoint,
    ) -> Result<ContainerState, RuntimeError> {
        // A point taken here names the exact image, digest included; one rebuilt from the
        // journal (recovery) has the reference and the digest apart.
        let image = if point.tag.contains('@') {
            point.tag.clone()
        } else {
            match &point.repo_digest {
                Some(digest) => format!("{}@{digest}", point.reference),
                None => point.reference.clone(),
            }
        };
        self.roll_out(service, &image).await
    }

    async fn tag_image(&self, image_id: &str, reference: &str) -> Result<(), RuntimeError> {
        self.local.tag_image(image_id, reference).await
    }

    async fn exec(
        &self,
        service: &str,
        _command: &[String],
        _timeout: Duration,
    ) -> Result<Exited, RuntimeError> {
        Err(RuntimeError::Unsupported {
            subject: format!("Swarm service `{service}`"),
            what: "health checks run inside it (`exec`); its tasks may run on other nodes",
        })
    }
}
