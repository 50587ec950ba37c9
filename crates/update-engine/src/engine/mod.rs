//! The update flow: one update end to end ([`Engine::update`]: recover, plan, approve,
//! apply), and its parts: what each deployment should run ([`Engine::plan`]), carrying it
//! out safely ([`Engine::apply`]), going back ([`Engine::rollback`]), setting a version by hand
//! ([`Engine::pin`]) and finishing or undoing an update that was cut short
//! ([`Engine::recover`]).
//!
//! Every change follows the same path, with the journal written before each step acts:
//! pre-hook, pull, keep the running image for a rollback, recreate, health checks, then
//! record the new version in the manifest and `versions.env`, then the post-hook. A failed
//! health check puts the previous version back at once and records the failed attempt, so
//! later plans skip that version.
//!
//! An engine is made by [`Engine::builder`]. The parts: `plan` gathers each deployment's
//! facts and what the registry says and asks the core's planner; `change` carries a change out; `recover` finishes or undoes a change the
//! journal says was cut short; `update` strings them together; `outcome` holds what callers
//! get back, `report` what they hear while it works, `error` why a request failed.
//!
//! # What this module does not do
//! It renders nothing: callers get [`PlanEntry`]s and [`Outcome`]s (serialisable for
//! `--json`) and follow progress through a [`Reporter`]. Decisions about versions are the
//! core's; what a deployment runs on (a container, a compose or Swarm service) is the
//! [`Target`]'s, which the engine drives without knowing what it is.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use upkeep_registry_clients::router::RegistryRouter;
use upkeep_registry_clients::{Registry, RegistryError};
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::clock::Clock;
use upkeep_versioning_core::manifest::{Manifest, ServiceName};
use upkeep_versioning_core::reference::ImageRef;

use crate::config::{Config, Deployment};
use crate::hint::{Hint, HintWords};
use crate::lock::StateLock;
use crate::store::StateDir;
use crate::target::{Target, Targets};

mod builder;
mod change;
mod error;
mod outcome;
mod plan;
mod recover;
mod report;
mod update;

pub use builder::EngineBuilder;
pub use error::EngineError;
pub use outcome::{
    Outcome, OutcomeKind, PlanAction, PlanEntry, PlanReason, PlanRequest, Recovered,
    RecoveryAction, Resolution,
};
pub use report::{ChangeStep, Report, Reporter, Silent};
pub use update::{Approval, UpdateReport, UpdateRequest};

/// Where the engine finds a registry client for an image.
#[async_trait]
pub trait Registries: Send + Sync {
    /// The client for `image`'s registry.
    async fn registry_for(&self, image: &ImageRef) -> Result<Arc<dyn Registry>, RegistryError>;

    /// Forgets cached answers about `image`'s repository, so the next plan asks the registry;
    /// registries without a cache have nothing to forget.
    async fn forget(&self, image: &ImageRef) {
        let _ = image;
    }
}

#[async_trait]
impl Registries for RegistryRouter {
    async fn registry_for(&self, image: &ImageRef) -> Result<Arc<dyn Registry>, RegistryError> {
        Self::registry_for(self, image).await
    }

    async fn forget(&self, image: &ImageRef) {
        Self::forget(self, image).await;
    }
}

/// What a change does when another process holds the state directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockWait {
    /// Waits as long as it takes (the holder's steps all have deadlines of their own).
    Forever,
    /// Fails at once with [`EngineError::Busy`].
    No,
    /// Waits this long, then fails with [`EngineError::Busy`].
    AtMost(Duration),
}

/// The update engine for one state directory.
pub struct Engine {
    state: StateDir,
    base: PathBuf,
    config: Config,
    registries: Arc<dyn Registries>,
    targets: Arc<dyn Targets>,
    reporter: Arc<dyn Reporter>,
    hint_words: Arc<dyn HintWords>,
    lock_wait: LockWait,
    clock: Arc<dyn Clock>,
    /// The manifest as last read, with the file's modification time and length: the agent
    /// plans hundreds of services per cycle, and reading the file once per plan is quadratic.
    manifest_cache: std::sync::Mutex<Option<(ManifestStamp, Arc<Manifest>)>>,
}

/// How often a waiting writer tries the lock again.
const LOCK_POLL: Duration = Duration::from_millis(100);

impl Engine {
    /// A builder of the engine for the state directory `directory`, asking `registries`.
    pub fn builder(directory: &Path, registries: Arc<dyn Registries>) -> EngineBuilder {
        EngineBuilder::new(directory, registries)
    }

    /// `hint` in this engine's words, noted in `hints`.
    fn hint(&self, hints: &mut Vec<Hint>, hint: Hint) -> String {
        let worded = self.hint_words.word(&hint);
        hints.push(hint);
        worded
    }

    /// The outcome of a change the engine's absence cut short; the journal is kept for
    /// [`Engine::recover`].
    fn interrupted(&self, mut outcome: Outcome, why: &str) -> Outcome {
        outcome.result = OutcomeKind::Interrupted;
        let recover = self.hint(&mut outcome.hints, Hint::Recover);
        outcome.message = format!(
            "{} -> {} was cut short: {why}. The journal keeps it: {recover} finishes or undoes it once the Docker Engine answers; {} is not marked as failed",
            outcome.from, outcome.to, outcome.to
        );
        outcome
    }

    /// Takes the state directory's lock for `doing` (such as `the update of web`), waiting
    /// for another holder as [`LockWait`] says.
    pub async fn lock(&self, doing: &str) -> Result<StateLock, EngineError> {
        let started = tokio::time::Instant::now();
        let mut told = false;
        loop {
            let holder = match StateLock::try_acquire(&self.base, doing)? {
                Ok(lock) => return Ok(lock),
                Err(holder) => holder,
            };
            let give_up = match self.lock_wait {
                LockWait::Forever => false,
                LockWait::No => true,
                LockWait::AtMost(limit) => started.elapsed() >= limit,
            };
            if give_up {
                return Err(EngineError::Busy { holder });
            }
            if !told {
                self.reporter.report(&Report::Waiting { holder: &holder });
                told = true;
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// Forgets what the registry cache holds about `service`'s repository, so that its next
    /// plan sees a push that just happened.
    pub async fn forget_cached(&self, service: &str) -> Result<(), EngineError> {
        let manifest = self.shared_manifest()?;
        if let Some(version) = manifest.service(service) {
            self.registries.forget(&parse_image(version.image())?).await;
        }
        Ok(())
    }

    /// The state files.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The manifest; an error when there is none. A copy to change: readers that only look
    /// take [`shared_manifest`](Self::shared_manifest).
    pub fn manifest(&self) -> Result<Manifest, EngineError> {
        Ok(self.shared_manifest()?.as_ref().clone())
    }

    /// The manifest as last read, shared rather than copied; an error when there is none. The
    /// agent reads it for every deployment of every cycle, and a copy of a manifest of
    /// hundreds of services each time makes a cycle quadratic.
    pub fn shared_manifest(&self) -> Result<Arc<Manifest>, EngineError> {
        let stamp = ManifestStamp::of(&self.state.manifest_path());
        if let (Some(stamp), Ok(cache)) = (stamp, self.manifest_cache.lock())
            && let Some((cached, manifest)) = cache.as_ref()
            && *cached == stamp
        {
            return Ok(Arc::clone(manifest));
        }
        match self.state.load()? {
            Some((manifest, _warnings)) => {
                let manifest = Arc::new(manifest);
                if let (Some(stamp), Ok(mut cache)) = (stamp, self.manifest_cache.lock()) {
                    *cache = Some((stamp, Arc::clone(&manifest)));
                }
                Ok(manifest)
            }
            None => Err(EngineError::NoManifest(self.base.clone())),
        }
    }

    /// Writes the manifest (and `versions.env`), forgetting the cached copy.
    fn save(&self, manifest: &Manifest, now: Timestamp) -> Result<(), EngineError> {
        if let Ok(mut cache) = self.manifest_cache.lock() {
            *cache = None;
        }
        Ok(self.state.save(manifest, now)?)
    }

    /// The deployment of `service`: its configuration, or the defaults for a service only
    /// the manifest knows.
    pub fn deployment(&self, service: &ServiceName, image: &str) -> Deployment {
        self.config
            .deployments
            .get(service)
            .cloned()
            .unwrap_or_else(|| Deployment::new(service.clone(), image))
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The names asked for, checked against the manifest; all services when none.
    fn select(
        &self,
        manifest: &Manifest,
        asked: &[String],
    ) -> Result<Vec<ServiceName>, EngineError> {
        if asked.is_empty() {
            return Ok(manifest.services().keys().cloned().collect());
        }
        asked
            .iter()
            .map(|name| {
                manifest
                    .services()
                    .keys()
                    .find(|known| known.as_str() == name)
                    .cloned()
                    .ok_or_else(|| EngineError::UnknownService {
                        service: name.clone(),
                        known: known_services(manifest),
                    })
            })
            .collect()
    }

    /// The target `deployment` runs as.
    async fn target_for(&self, deployment: &Deployment) -> Result<Arc<dyn Target>, EngineError> {
        self.targets.target_for(deployment).await
    }
}

/// What identifies one version of the manifest file: every write replaces the file (a new
/// inode by rename), and changes its time and usually its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ManifestStamp {
    inode: u64,
    modified: SystemTime,
    len: u64,
}

impl ManifestStamp {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            inode: meta.ino(),
            modified: meta.modified().ok()?,
            len: meta.len(),
        })
    }
}

fn parse_image(image: &str) -> Result<ImageRef, EngineError> {
    image
        .parse()
        .map_err(
            |error: upkeep_versioning_core::reference::ReferenceError| EngineError::BadImage {
                image: image.to_owned(),
                problem: error.to_string(),
            },
        )
}

/// `the rollback of web, api`, or `the rollback of every service`, for the lock's holder.
fn describe_change(what: &str, services: &[String]) -> String {
    if services.is_empty() {
        format!("{what} of every service")
    } else {
        format!("{what} of {}", services.join(", "))
    }
}

fn short_digest(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.get(..12).unwrap_or(hex)
}

fn known_services(manifest: &Manifest) -> String {
    let names: Vec<String> = manifest
        .services()
        .keys()
        .map(|name| format!("`{name}`"))
        .collect();
    if names.is_empty() {
        "no services".to_owned()
    } else {
        names.join(", ")
    }
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
