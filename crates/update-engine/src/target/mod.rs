//! Targets: whatever the engine updates, seen through the verbs of an update.
//!
//! A [`Target`] is one deployment's running thing, bound when it is made: a Docker container,
//! a compose service or a Swarm service today; a release tarball run as a systemd unit or a
//! device of a fleet next. The engine carries every change out through it: what runs now,
//! prepare a version (pull it, or download and verify it), keep the running one for a
//! rollback, switch, report health, restore the previous one. It knows nothing else about
//! the target: no container states, image ids or engine calls.
//!
//! [`Targets`] chooses the target of a deployment. [`PlacedTargets`], the default, does so by
//! the deployment's placement in `upkeep.yaml`; [`FixedRuntime`] puts every deployment on one
//! container runtime (tests and benchmarks hand the engine a runtime of their own that way).
//! [`ContainerTarget`] is the target of anything a container [`Runtime`] runs.
//!
//! # What this module does not do
//! It decides nothing: which version to prepare, when to switch, whether the new version is
//! sick and when to restore are the engine's. It does not probe from the outside either
//! ([`crate::health`] does); a target only reports what it knows of itself.

mod container;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use container::ContainerTarget;

use crate::config::{Config, Deployment, Placement};
use crate::engine::EngineError;
use crate::runtime::{
    ComposeRuntime, DockerRuntime, Exited, PullProgress, Runtime, RuntimeError, SwarmRuntime,
    dependency_order, image_variable, repository,
};

/// One deployment's running thing, as the engine drives an update of it.
///
/// The operations, in the order an update uses them: [`running`](Self::running) (it must
/// exist), [`prepare`](Self::prepare), [`keep_previous`](Self::keep_previous),
/// [`switch`](Self::switch), [`health`](Self::health) until the engine is satisfied, and
/// [`restore`](Self::restore) when it is not. A switch cut short by a crash is undone by
/// [`undo_interrupted_switch`](Self::undo_interrupted_switch) before recovery looks at what
/// runs.
///
/// Errors are [`RuntimeError`]s; the engine asks them only whether the target could not be
/// reached at all ([`RuntimeError::engine_unreachable`]) or does not exist
/// ([`RuntimeError::is_missing`]), and otherwise passes their words on.
#[async_trait]
pub trait Target: Send + Sync {
    /// The name the target is known by where it runs (`web`), for messages.
    fn name(&self) -> &str;

    /// What kind of thing it is (`container`, `Swarm service`), for messages.
    fn noun(&self) -> &'static str;

    /// What runs now.
    async fn running(&self) -> Result<Running, RuntimeError>;

    /// Makes `version` ready to switch to (pulls the image, or downloads and verifies the
    /// release), calling `progress` as it goes.
    async fn prepare(
        &self,
        version: &Wanted,
        progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<Prepared, RuntimeError>;

    /// Keeps what runs now so that [`restore`](Self::restore) can return to it after the
    /// switch, and says what it kept.
    async fn keep_previous(&self) -> Result<Previous, RuntimeError>;

    /// Switches to the prepared version and starts it.
    async fn switch(&self, to: &Prepared) -> Result<Switched, RuntimeError>;

    /// How the target is doing by its own account (running, restarting, its own health
    /// check).
    async fn health(&self) -> Result<TargetHealth, RuntimeError>;

    /// Returns to `previous` (as [`keep_previous`](Self::keep_previous) gave it, or as the
    /// journal recorded it).
    async fn restore(&self, previous: &Previous) -> Result<(), RuntimeError>;

    /// Undoes a switch that was cut short (the process was killed in it), so that what runs
    /// is one of the two versions. Returns whether there was anything to undo.
    async fn undo_interrupted_switch(&self) -> Result<bool, RuntimeError>;

    /// Runs `command` inside the target (never on this host), giving up after `timeout`:
    /// how a health check declared by the target's own labels runs.
    async fn run_inside(
        &self,
        command: &[String],
        timeout: Duration,
    ) -> Result<Exited, RuntimeError>;
}

/// What a target runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Running {
    /// What it was made from, `repository:tag`.
    pub reference: String,
    /// What identifies the running artifact where it runs (an image id; a release's
    /// checksum), which tells two versions under one reference apart.
    pub artifact: String,
    /// The registry digest of what runs, when known.
    pub digest: Option<String>,
    /// How it is doing.
    pub health: TargetHealth,
}

impl Running {
    /// What runs, made from `reference` as `artifact`, doing as `health` says.
    pub fn new(
        reference: impl Into<String>,
        artifact: impl Into<String>,
        health: TargetHealth,
    ) -> Self {
        Self {
            reference: reference.into(),
            artifact: artifact.into(),
            digest: None,
            health,
        }
    }
}

/// How a target is doing by its own account.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetHealth {
    /// Whether it runs.
    pub condition: Condition,
    /// The verdict of its own health check (an image's `HEALTHCHECK`, say); `None` when it has
    /// none.
    pub own_check: Option<OwnCheck>,
}

impl TargetHealth {
    /// A target in `condition` with no health check of its own.
    pub fn new(condition: Condition) -> Self {
        Self {
            condition,
            own_check: None,
        }
    }
}

/// Whether a target runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Condition {
    /// It runs; it was restarted `restarts` times since it was made.
    Running {
        /// How often it was restarted (a growing count means a crash loop).
        restarts: i64,
        /// The exit code of the run before this one; 0 when it never exited.
        last_exit: i64,
    },
    /// It exited and is being restarted.
    Restarting {
        /// How often it was restarted.
        restarts: i64,
        /// The exit code of the last run.
        last_exit: i64,
    },
    /// It exited (or died) with `code` and stays down.
    Exited {
        /// The exit code.
        code: i64,
    },
    /// Any other state (created, paused, being removed), in the target's words.
    Other {
        /// The state.
        state: String,
    },
}

impl Condition {
    /// Whether it runs or is coming back by itself.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Running { .. } | Self::Restarting { .. })
    }

    /// How often it was restarted, where it says.
    pub fn restarts(&self) -> i64 {
        match self {
            Self::Running { restarts, .. } | Self::Restarting { restarts, .. } => *restarts,
            Self::Exited { .. } | Self::Other { .. } => 0,
        }
    }
}

/// The verdict of a target's own health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnCheck {
    /// No verdict yet (within its start period).
    Starting,
    /// Its checks pass.
    Healthy,
    /// Its checks fail.
    Unhealthy,
}

/// The version to prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Wanted {
    /// `repository:tag`.
    pub reference: String,
    /// The digest the plan saw the tag at: what is prepared must be exactly this.
    pub digest: Option<String>,
}

impl Wanted {
    /// The version `reference`, pinned to `digest` when the plan knows it.
    pub fn new(reference: impl Into<String>, digest: Option<String>) -> Self {
        Self {
            reference: reference.into(),
            digest,
        }
    }

    /// What to fetch: `repository@digest` when the digest is pinned, else the reference.
    pub fn fetch_reference(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}@{digest}", repository(&self.reference)),
            None => self.reference.clone(),
        }
    }
}

/// A version made ready to switch to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prepared {
    /// `repository:tag`, which the target runs after the switch.
    pub reference: String,
    /// The registry digest of what was prepared, when known.
    pub digest: Option<String>,
}

impl Prepared {
    /// `reference`, prepared as `digest`.
    pub fn new(reference: impl Into<String>, digest: Option<String>) -> Self {
        Self {
            reference: reference.into(),
            digest,
        }
    }
}

/// What ran before a switch, kept to return to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Previous {
    /// What it was made from, `repository:tag`.
    pub reference: String,
    /// What identifies it where it runs (see [`Running::artifact`]); the journal records it.
    pub artifact: String,
    /// Its registry digest, when known.
    pub digest: Option<String>,
}

impl Previous {
    /// The version made from `reference`, kept as `artifact`.
    pub fn new(
        reference: impl Into<String>,
        artifact: impl Into<String>,
        digest: Option<String>,
    ) -> Self {
        Self {
            reference: reference.into(),
            artifact: artifact.into(),
            digest,
        }
    }
}

/// How a switch ended, when the target answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Switched {
    /// The new version was started; whether it is well is for the health checks to say.
    Started,
    /// It did not switch, and the previous version runs as before.
    Refused {
        /// Why, in the target's words.
        why: String,
    },
    /// It switched, judged the new version sick itself and put the previous one back (Swarm
    /// with `failure_action: rollback` does): a failed update.
    RolledBackByItself {
        /// What it said.
        why: String,
    },
}

/// A boxed future, as [`Targets::target_for`] returns.
pub type TargetFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<dyn Target>, EngineError>> + Send + 'a>>;

/// Chooses the target of each deployment.
pub trait Targets: Send + Sync {
    /// The target `deployment` runs as.
    fn target_for<'a>(&'a self, deployment: &'a Deployment) -> TargetFuture<'a>;

    /// The order in which to change `services` (of `config`), when the targets depend on
    /// each other; by default the order given.
    fn change_order(
        &self,
        config: &Config,
        services: Vec<String>,
    ) -> Result<Vec<String>, EngineError> {
        let _ = config;
        Ok(services)
    }
}

/// The targets `upkeep.yaml` places the deployments on: a container on this host's Docker
/// Engine, a service of a compose file (whose `image:` must be the deployment's variable), or
/// a Swarm service.
#[derive(Debug, Clone)]
pub struct PlacedTargets {
    /// The directory relative compose file paths start from.
    base: PathBuf,
    /// The `versions.env` file compose reads the versions from.
    env_file: PathBuf,
}

impl PlacedTargets {
    /// Targets for deployments configured in `base`, whose compose files read `env_file`.
    pub fn new(base: impl Into<PathBuf>, env_file: impl Into<PathBuf>) -> Self {
        Self {
            base: base.into(),
            env_file: env_file.into(),
        }
    }
}

impl Targets for PlacedTargets {
    fn target_for<'a>(&'a self, deployment: &'a Deployment) -> TargetFuture<'a> {
        Box::pin(async move {
            let name = name_of(deployment);
            let target: Arc<dyn Target> = match &deployment.placement {
                Placement::Container(_) => Arc::new(ContainerTarget::new(
                    Arc::new(DockerRuntime::connect().await?),
                    name,
                    "container",
                )),
                Placement::Compose { file } => {
                    let file = self.base.join(file);
                    let service = deployment.service.as_str();
                    let key = deployment.service.env_key();
                    match image_variable(&file, service) {
                        Ok(Some(variable)) if variable == key => {}
                        Ok(found) => {
                            return Err(EngineError::ImageNotChosen {
                                file,
                                service: service.to_owned(),
                                found: found.map_or_else(
                                    || "written out".to_owned(),
                                    |v| format!("${{{v}}}"),
                                ),
                                variable: key,
                            });
                        }
                        Err(error) => return Err(error.into()),
                    }
                    let docker = DockerRuntime::connect().await?;
                    let compose = ComposeRuntime::new(file, self.env_file.clone(), None, docker);
                    Arc::new(ContainerTarget::new(Arc::new(compose), name, "service"))
                }
                Placement::Swarm { rollout, .. } => {
                    let docker = DockerRuntime::connect().await?;
                    let swarm = SwarmRuntime::new(docker, rollout.clone());
                    Arc::new(ContainerTarget::new(Arc::new(swarm), name, "Swarm service"))
                }
            };
            Ok(target)
        })
    }

    /// Compose services go in dependency order, dependencies first; others keep their order.
    fn change_order(
        &self,
        config: &Config,
        mut order: Vec<String>,
    ) -> Result<Vec<String>, EngineError> {
        let compose_file = |name: &str| match config.deployments.get(name).map(|d| &d.placement) {
            Some(Placement::Compose { file }) => Some(file.clone()),
            _ => None,
        };
        let mut files: Vec<PathBuf> = Vec::new();
        for name in &order {
            if let Some(file) = compose_file(name)
                && !files.contains(&file)
            {
                files.push(file);
            }
        }
        for file in files {
            // The slots this file's services hold, refilled in dependency order.
            let slots: Vec<usize> = order
                .iter()
                .enumerate()
                .filter(|(_, name)| compose_file(name).as_ref() == Some(&file))
                .map(|(index, _)| index)
                .collect();
            let names: Vec<&str> = slots.iter().map(|&index| order[index].as_str()).collect();
            let sorted = dependency_order(&self.base.join(&file), &names)?;
            for (slot, name) in slots.into_iter().zip(sorted) {
                order[slot] = name;
            }
        }
        Ok(order)
    }
}

/// Every deployment on one container runtime, by the name its placement gives it.
#[derive(Clone)]
pub struct FixedRuntime(pub Arc<dyn Runtime>);

impl fmt::Debug for FixedRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FixedRuntime")
    }
}

impl Targets for FixedRuntime {
    fn target_for<'a>(&'a self, deployment: &'a Deployment) -> TargetFuture<'a> {
        Box::pin(async move {
            let target: Arc<dyn Target> = Arc::new(ContainerTarget::new(
                Arc::clone(&self.0),
                name_of(deployment),
                "container",
            ));
            Ok(target)
        })
    }
}

/// The name a deployment's container, compose service or Swarm service has.
fn name_of(deployment: &Deployment) -> String {
    match &deployment.placement {
        Placement::Container(name) => name.clone(),
        Placement::Compose { .. } => deployment.service.to_string(),
        Placement::Swarm { service, .. } => service.clone(),
    }
}
