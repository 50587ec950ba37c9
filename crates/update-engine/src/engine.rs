//! The update flow: what each deployment should run ([`Engine::plan`]), carrying it out safely
//! ([`Engine::apply`]), going back ([`Engine::rollback`]), setting a version by hand
//! ([`Engine::pin`]) and finishing or undoing an update that was cut short
//! ([`Engine::recover`]).
//!
//! Every change follows the same path, with the journal written before each step acts:
//! pre-hook, pull, keep the running image for a rollback, recreate, health checks, then
//! record the new version in the manifest and `versions.env`, then the post-hook. A failed
//! health check puts the previous version back at once and records the failed attempt, so
//! later plans skip that version.
//!
//! # What this module does not do
//! It renders nothing: callers get [`PlanEntry`]s and [`Outcome`]s (serialisable for
//! `--json`) and follow progress through an [`Observer`]. Decisions about versions are the
//! core's; container mechanics are the [`Runtime`]'s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Serialize;
use upkeep_registry_clients::router::RegistryRouter;
use upkeep_registry_clients::{ErrorKind, Registry, RegistryError};
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::UpdateKind;
use upkeep_versioning_core::journal::{
    self, ChangeKind, JournalEntry, JournalVersion, Observed, Recovery, Step,
};
use upkeep_versioning_core::manifest::{DeployReason, Manifest, ManifestError, ServiceName};
use upkeep_versioning_core::policy::Policy;
use upkeep_versioning_core::reference::ImageRef;
use upkeep_versioning_core::select::{Selector, Within};
use upkeep_versioning_core::version::classify;

use crate::check::platform_image;
use crate::config::{CONFIG_FILE, Config, ConfigError, Deployment, Placement};
use crate::error_chain as chain;
use crate::fault;
use crate::hooks::{HookContext, HookEvent};
use crate::lock::{self, Holder, StateLock};
use crate::runtime::{
    ComposeRuntime, ContainerState, DockerRuntime, PullProgress, ROLLBACK_TAG, RollbackPoint,
    Runtime, RuntimeError, Status, SwarmRuntime, dependency_order, image_variable,
};
use crate::store::{StateDir, StoreError};

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

/// What the engine reports while it works, for progress bars and logs.
pub trait Observer: Send + Sync {
    /// A step of a change of `service` begins, such as "pulling 127.0.0.1:5000/web:1.0.1".
    fn step(&self, service: &str, what: &str) {
        let _ = (service, what);
    }
    /// A pull of `service`'s image made progress.
    fn pull(&self, service: &str, progress: &PullProgress) {
        let _ = (service, progress);
    }
    /// Another process holds the state directory; the engine waits for it. Said once per
    /// wait.
    fn waiting(&self, holder: &Holder) {
        let _ = holder;
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

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Why the engine cannot do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A state file cannot be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// There is no manifest yet.
    #[error("no {} in {}; create it with `upkeep init --from-running` or `upkeep init --compose FILE`", crate::store::MANIFEST_FILE, .0.display())]
    NoManifest(PathBuf),
    /// A manifest transition refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A service named on the command line is not in the manifest.
    #[error(
        "unknown service `{service}`; the manifest has {known}; add it with `upkeep pin {service} TAG` after `upkeep init`"
    )]
    UnknownService {
        /// The name given.
        service: String,
        /// The services known, listed.
        known: String,
    },
    /// A registry could not answer.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The container runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// Another process is changing the same state directory.
    #[error("{holder} is changing this state directory; wait for it to finish, or stop it")]
    Busy {
        /// Who holds the directory.
        holder: Holder,
    },
    /// The journal's change is still being made by a live process, which holds no lock (an
    /// older upkeep): it is not interrupted, and recovering it would undo it mid-way.
    #[error(
        "the change of {service} from {from} to {to} is still being made by {owner}; wait for it to finish"
    )]
    ChangeUnderWay {
        /// The service.
        service: String,
        /// Its tag before.
        from: String,
        /// The tag it is going to.
        to: String,
        /// The process making it.
        owner: String,
    },
    /// An earlier change was cut short and not recovered yet; the journal holds one change.
    #[error(
        "the change of {service} from {from} to {to} was cut short and is not recovered yet; run `upkeep recover` first"
    )]
    Unrecovered {
        /// The service the interrupted change was for.
        service: String,
        /// Its tag before.
        from: String,
        /// The tag it was going to.
        to: String,
    },
}

/// What a plan says to do for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// Move to the target.
    Update,
    /// A newer version exists, but it is not applied; `why` says why.
    Hold,
    /// Nothing newer is eligible.
    UpToDate,
    /// The registry could not be asked; `why` says what failed.
    Unknown,
}

/// The plan for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanEntry {
    /// The service.
    pub service: String,
    /// The image repository.
    pub image: String,
    /// The tag deployed now.
    pub current: String,
    /// The digest deployed now, when known.
    pub current_digest: Option<String>,
    /// Whether the current tag is a custom tag pinned by hand.
    pub custom: bool,
    /// The policy.
    pub policy: String,
    /// The newest eligible tag under the configured constraints, when one is newer.
    pub newest: Option<String>,
    /// The kind of move to `newest`: `major`, `minor`, `patch`, ..., `none`.
    pub newest_kind: String,
    /// The tag `update` moves to (for `update`), or the one held back (for `hold`).
    pub target: Option<String>,
    /// The kind of move to `target`.
    pub kind: String,
    /// The digest `target` named when planned, for an update: what `update` pulls, after
    /// checking that the tag still names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_digest: Option<String>,
    /// What `update` would do.
    pub action: PlanAction,
    /// Why, in words.
    pub why: String,
}

/// What to plan for.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// The services; empty means all.
    pub services: Vec<String>,
    /// A tag to move to, whatever the policy says.
    pub to: Option<String>,
    /// Move to the newest eligible version in any line, whatever the policy says.
    pub latest: bool,
}

/// How a change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// The service runs the new version, which passed its health checks.
    Changed,
    /// Nothing to do, or a dry run.
    Unchanged,
    /// The new version failed its health checks; the previous one runs again.
    RolledBack,
    /// The change failed before anything was touched, or was put back by the runtime.
    Failed,
    /// The change failed and the service could not be restored: it needs a person.
    Stranded,
    /// The Docker Engine stopped answering in the middle of the change. The journal keeps
    /// it; [`Engine::recover`] finishes or undoes it once the engine answers again. The new
    /// version is not blamed: nothing could be learnt about its health.
    Interrupted,
}

/// How one change went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The service.
    pub service: String,
    /// The tag before.
    pub from: String,
    /// The tag asked for.
    pub to: String,
    /// The digest now running, when known.
    pub digest: Option<String>,
    /// How it ended.
    pub result: OutcomeKind,
    /// What happened, in words.
    pub message: String,
    /// Things that went wrong without stopping the change (a post-hook, a note).
    pub warnings: Vec<String>,
}

/// What a change records when it succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Update,
    Pin { custom: bool },
    Rollback,
    RollbackTo,
}

impl Kind {
    /// How the journal names this kind.
    fn journal(&self) -> ChangeKind {
        match self {
            Self::Update => ChangeKind::Update,
            Self::Pin { custom: false } => ChangeKind::Set,
            Self::Pin { custom: true } => ChangeKind::SetCustom,
            Self::Rollback => ChangeKind::Rollback,
            Self::RollbackTo => ChangeKind::RollbackTo,
        }
    }

    fn from_journal(change: ChangeKind) -> Self {
        match change {
            ChangeKind::Set => Self::Pin { custom: false },
            ChangeKind::SetCustom => Self::Pin { custom: true },
            ChangeKind::Rollback => Self::Rollback,
            ChangeKind::RollbackTo => Self::RollbackTo,
            ChangeKind::Update => Self::Update,
        }
    }
}

/// One change to carry out.
#[derive(Debug, Clone)]
struct Planned {
    service: ServiceName,
    from_tag: String,
    from_digest: Option<String>,
    to_tag: String,
    /// The digest of what was pulled for `to_tag`, once it is known.
    to_digest: Option<String>,
    /// The digest `to_tag` named when the update was planned: pulled by digest, and the
    /// update refused if the tag names another image by then.
    planned_digest: Option<String>,
    kind: Kind,
}

/// How an interrupted update was recovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovered {
    /// The service.
    pub service: String,
    /// The step the update had reached.
    pub step: String,
    /// `finished`, `undone` or `forgotten`.
    pub action: String,
    /// Why, in words.
    pub message: String,
}

/// The update engine for one state directory.
pub struct Engine {
    state: StateDir,
    base: PathBuf,
    config: Config,
    registries: Arc<dyn Registries>,
    runtime: Option<Arc<dyn Runtime>>,
    observer: Arc<dyn Observer>,
    lock_wait: LockWait,
    clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
    /// The manifest as last read, with the file's modification time and length: the agent
    /// plans hundreds of services per cycle, and reading the file once per plan is quadratic.
    manifest_cache: std::sync::Mutex<Option<(ManifestStamp, Manifest)>>,
}

/// How many of the newest version tags are looked up to name the version a floating tag
/// points at.
const VERSIONS_TO_NAME_AN_IMAGE: usize = 5;

/// A floating tag that points at a new image for this platform.
struct Moved {
    /// The tag's digest now (an index's, for a multi-platform image).
    digest: String,
    /// The config digest of this platform's image, when the registry says.
    platform_image: Option<String>,
}

impl Moved {
    fn describe(&self, tag: &str) -> String {
        format!(
            "{tag} now points at a new image ({})",
            short_digest(&self.digest)
        )
    }
}

/// How often a waiting writer tries the lock again.
const LOCK_POLL: Duration = Duration::from_millis(100);

fn system_now() -> Timestamp {
    Timestamp::from(SystemTime::now())
}

impl Engine {
    /// The engine for `directory`, reading `upkeep.yaml` there (absent means defaults).
    pub fn open(directory: &Path, registries: Arc<dyn Registries>) -> Result<Self, EngineError> {
        let config = Config::load(&directory.join(CONFIG_FILE))?.unwrap_or_default();
        Ok(Self::with_config(directory, config, registries))
    }

    /// The engine for `directory` with `config` instead of the directory's `upkeep.yaml`:
    /// the agent builds its configuration from its own file and container labels.
    pub fn with_config(directory: &Path, config: Config, registries: Arc<dyn Registries>) -> Self {
        Self {
            state: StateDir::new(directory),
            base: directory.to_owned(),
            config,
            registries,
            runtime: None,
            observer: Arc::new(Silent),
            lock_wait: LockWait::Forever,
            clock: Arc::new(system_now),
            manifest_cache: std::sync::Mutex::new(None),
        }
    }

    /// Uses `runtime` for every deployment, instead of one chosen by placement.
    #[must_use]
    pub fn with_runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Reports progress to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// What a change does when another process holds the state directory (by default it
    /// waits, telling the observer once).
    #[must_use]
    pub fn with_lock_wait(mut self, lock_wait: LockWait) -> Self {
        self.lock_wait = lock_wait;
        self
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
                self.observer.waiting(&holder);
                told = true;
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// Forgets what the registry cache holds about `service`'s repository, so that its next
    /// plan sees a push that just happened.
    pub async fn forget_cached(&self, service: &str) -> Result<(), EngineError> {
        let manifest = self.manifest()?;
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

    /// The manifest; an error when there is none.
    pub fn manifest(&self) -> Result<Manifest, EngineError> {
        let stamp = ManifestStamp::of(&self.state.manifest_path());
        if let (Some(stamp), Ok(cache)) = (stamp, self.manifest_cache.lock())
            && let Some((cached, manifest)) = cache.as_ref()
            && *cached == stamp
        {
            return Ok(manifest.clone());
        }
        match self.state.load()? {
            Some((manifest, _warnings)) => {
                if let (Some(stamp), Ok(mut cache)) = (stamp, self.manifest_cache.lock()) {
                    *cache = Some((stamp, manifest.clone()));
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
        (self.clock)()
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

    /// What `update` would do for each service asked for, and why.
    pub async fn plan(&self, request: &PlanRequest) -> Result<Vec<PlanEntry>, EngineError> {
        let manifest = self.manifest()?;
        let services = self.select(&manifest, &request.services)?;
        let mut entries = Vec::new();
        for service in services {
            let Some(version) = manifest.service(service.as_str()) else {
                continue;
            };
            let deployment = self.deployment(&service, version.image());
            let mut entry = PlanEntry {
                service: service.to_string(),
                image: version.image().to_owned(),
                current: version.current_tag().to_owned(),
                current_digest: version.image_digest().map(str::to_owned),
                custom: version.is_custom(),
                policy: deployment.policy.as_str().to_owned(),
                newest: None,
                newest_kind: UpdateKind::None.to_string(),
                target: None,
                kind: UpdateKind::None.to_string(),
                target_digest: None,
                action: PlanAction::UpToDate,
                why: String::new(),
            };
            let failed: Vec<(String, Option<String>)> = version
                .failed_versions()
                .map(|(tag, digest)| (tag.to_owned(), digest.map(str::to_owned)))
                .collect();
            let planned = match self
                .plan_one(&deployment, &mut entry, &failed, request)
                .await
            {
                Ok(()) => self.pin_target_digest(&mut entry).await,
                Err(error) => Err(error),
            };
            match planned {
                Ok(()) => {}
                Err(error) => {
                    entry.action = PlanAction::Unknown;
                    entry.why = format!("{error:#}");
                }
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Whether `image:tag` still names `planned` in the registry; if not, why, in words.
    async fn still_names(&self, image: &str, tag: &str, planned: &str) -> Result<(), String> {
        let parsed = parse_image(image).map_err(|error| error.to_string())?;
        // Asked afresh: a cached answer may predate the move.
        self.registries.forget(&parsed).await;
        let now = async {
            let registry = self.registries.registry_for(&parsed).await?;
            registry.resolve_digest(parsed.repository(), tag).await
        }
        .await
        .map_err(|error| {
            format!(
                "cannot check that {image}:{tag} still names the planned image: {}",
                chain(&error)
            )
        })?;
        if now.as_str() == planned {
            Ok(())
        } else {
            Err(format!(
                "{image}:{tag} moved since the update was planned: it named {}, it names {} now; plan again to see what it is",
                short_digest(planned),
                short_digest(now.as_str())
            ))
        }
    }

    /// Records the digest an update's target names now, so that what is pulled is what was
    /// planned.
    async fn pin_target_digest(&self, entry: &mut PlanEntry) -> Result<(), EngineError> {
        if entry.action != PlanAction::Update || entry.target_digest.is_some() {
            return Ok(());
        }
        let Some(target) = &entry.target else {
            return Ok(());
        };
        let image = parse_image(&entry.image)?;
        let registry = self.registries.registry_for(&image).await?;
        let digest = registry.resolve_digest(image.repository(), target).await?;
        entry.target_digest = Some(digest.to_string());
        Ok(())
    }

    async fn plan_one(
        &self,
        deployment: &Deployment,
        entry: &mut PlanEntry,
        failed_versions: &[(String, Option<String>)],
        request: &PlanRequest,
    ) -> Result<(), EngineError> {
        let image = parse_image(&entry.image)?;
        let registry = self.registries.registry_for(&image).await?;
        let repository = image.repository().to_owned();
        if request.to.as_ref() == Some(&entry.current) {
            // The tag it runs, asked for again: what that tag is now, if it moved.
            return match self
                .name_moved(registry.as_ref(), &repository, entry)
                .await?
            {
                Some(moved) => {
                    entry.target = Some(entry.current.clone());
                    entry.kind = UpdateKind::Digest.to_string();
                    entry.target_digest = Some(moved.digest.clone());
                    entry.action = PlanAction::Update;
                    entry.why = moved.describe(&entry.current);
                    Ok(())
                }
                None => {
                    entry.why = format!("already runs {}", entry.current);
                    Ok(())
                }
            };
        }
        if let Some(to) = &request.to {
            match registry.resolve_digest(&repository, to).await {
                Ok(_) => {}
                Err(error) if matches!(error.kind(), ErrorKind::NotFound { .. }) => {
                    return Err(EngineError::Invalid(format!(
                        "{}:{to} is not in the registry; list the tags with `upkeep tags {}`",
                        entry.image, entry.image
                    )));
                }
                Err(error) => return Err(error.into()),
            }
            entry.target = Some(to.clone());
            entry.kind = classify(&entry.current, to, &deployment.scheme).to_string();
            if *to == entry.current {
                entry.action = PlanAction::UpToDate;
                entry.why = format!("already runs {to}");
            } else {
                entry.action = PlanAction::Update;
                entry.why = format!("{to} asked for with --to");
            }
            return Ok(());
        }
        if deployment.policy == Policy::Disabled {
            entry.action = PlanAction::Hold;
            entry.why = format!(
                "policy disabled: upkeep leaves it alone; set a policy in upkeep.yaml, or `upkeep update {} --to TAG`",
                entry.service
            );
            return Ok(());
        }
        let tags = registry.list_tags(&repository).await?;
        let scheme = &deployment.scheme;
        if scheme.parse(&entry.current).is_err() && !request.latest && !entry.custom {
            return self
                .plan_floating(deployment, entry, failed_versions, registry.as_ref(), &tags)
                .await;
        }
        // A failed version stays skipped while its tag still names the image that failed; a
        // tag pushed again with other content is another image, tried afresh.
        let mut failed = Vec::new();
        for (tag, digest) in failed_versions {
            let pushed_again = match digest {
                Some(digest) => registry
                    .resolve_digest(&repository, tag)
                    .await
                    .is_ok_and(|now| now.as_str() != digest),
                None => false,
            };
            if !pushed_again {
                failed.push(tag.clone());
            }
        }
        let failed = &failed;
        let mut constraints = deployment.constraints(failed.iter().cloned());
        if request.latest {
            constraints.within = Within::Any;
        }
        let pick = |constraints: &upkeep_versioning_core::select::Constraints| {
            Selector::new(scheme.clone(), &entry.current, constraints.clone())
                .select(tags.iter().map(String::as_str))
        };
        let newest = pick(&constraints);
        // Which failed version would have been chosen, to say why it was not.
        let unskipped = {
            let mut open = constraints.clone();
            open.skip.clear();
            pick(&open).map(|selected| selected.tag().to_owned())
        };
        let mut skipped_note = match &unskipped {
            Some(tag) if failed.contains(tag) && newest.as_ref().map(|s| s.tag()) != Some(tag) => {
                format!(
                    "; {tag} is skipped because it failed and was rolled back (`upkeep update {} --to {tag}` tries it again)",
                    entry.service
                )
            }
            _ => String::new(),
        };
        entry.newest = newest.as_ref().map(|selected| selected.tag().to_owned());
        entry.newest_kind = newest
            .as_ref()
            .map_or(UpdateKind::None, |selected| selected.kind)
            .to_string();
        let Some(newest) = newest else {
            entry.why = format!("no newer eligible tag{skipped_note}");
            return Ok(());
        };
        if entry.custom && !request.latest {
            entry.target = Some(newest.tag().to_owned());
            entry.kind = newest.kind.to_string();
            entry.action = PlanAction::Hold;
            entry.why = format!(
                "runs the custom tag {} pinned by hand; `upkeep update {} --latest` moves it to {}{skipped_note}",
                entry.current,
                entry.service,
                newest.tag()
            );
            return Ok(());
        }
        if request.latest {
            entry.target = Some(newest.tag().to_owned());
            entry.kind = newest.kind.to_string();
            entry.action = PlanAction::Update;
            entry.why = format!("newest eligible version, asked for with --latest{skipped_note}");
            return Ok(());
        }
        // The newest version the policy applies by itself, which may be older than the
        // newest eligible one (a patch while a minor release waits).
        let allowed = deployment.policy.line().and_then(|line| {
            let mut narrowed = constraints.clone();
            narrowed.within = narrowed.within.min(line);
            pick(&narrowed).filter(|selected| deployment.policy.allows(selected.kind))
        });
        // A failed version the policy would have applied by itself (a patch while a minor
        // release waits) is skipped too; say so, unless the note above names it already.
        if let Some(tag) = deployment.policy.line().and_then(|line| {
            let mut open = constraints.clone();
            open.within = open.within.min(line);
            open.skip.clear();
            pick(&open)
                .filter(|selected| deployment.policy.allows(selected.kind))
                .map(|selected| selected.tag().to_owned())
        }) && failed.contains(&tag)
            && unskipped.as_ref() != Some(&tag)
        {
            skipped_note = format!(
                "{skipped_note}; {tag} is skipped because it failed and was rolled back (`upkeep update {} --to {tag}` tries it again)",
                entry.service
            );
        }
        let held = |target: &str| {
            format!(
                "{} ({}) waits: policy {} does not apply a {} update by itself; `upkeep update {} --latest` or `--to {}` applies it",
                target,
                newest.kind,
                deployment.policy.as_str(),
                newest.kind,
                entry.service,
                target
            )
        };
        match allowed {
            Some(allowed) => {
                entry.target = Some(allowed.tag().to_owned());
                entry.kind = allowed.kind.to_string();
                entry.action = PlanAction::Update;
                entry.why = format!(
                    "a {} update, which policy {} applies",
                    allowed.kind,
                    deployment.policy.as_str()
                );
                if allowed.tag() != newest.tag() {
                    entry.why = format!("{}; {}", entry.why, held(newest.tag()));
                }
                entry.why.push_str(&skipped_note);
            }
            None => {
                entry.target = Some(newest.tag().to_owned());
                entry.kind = newest.kind.to_string();
                entry.action = PlanAction::Hold;
                entry.why = format!("{}{skipped_note}", held(newest.tag()));
            }
        }
        Ok(())
    }

    /// The plan of a service that follows a floating tag (`latest`, `stable`, `3`): the tag
    /// is followed, not left. Its news is a new image behind it for this machine's platform
    /// (an update of kind `digest`, which the auto policies apply by pulling the tag again);
    /// an index whose other platforms were rebuilt is no news. Moving to a version tag stays
    /// the user's choice (`resolve`, `--to`, `--latest`).
    async fn plan_floating(
        &self,
        deployment: &Deployment,
        entry: &mut PlanEntry,
        failed_versions: &[(String, Option<String>)],
        registry: &dyn Registry,
        tags: &[String],
    ) -> Result<(), EngineError> {
        let repository = parse_image(&entry.image)?.repository().to_owned();
        if entry.current_digest.is_none() {
            // Nothing to compare with: whether the tag moved cannot be told.
            entry.why = format!(
                "no digest is recorded for {}, so whether it points at a new image cannot be told; `upkeep pull {}` records it",
                entry.current, entry.service
            );
            return Ok(());
        }
        let Some(moved) = self.name_moved(registry, &repository, entry).await? else {
            entry.why = format!(
                "{} still points at the image it runs for this platform",
                entry.current
            );
            return Ok(());
        };
        let mut why = moved.describe(&entry.current);
        if let Some(version) = self
            .version_with_image(registry, &repository, deployment, tags, &moved)
            .await
        {
            why = format!("{} now points at {version}'s image", entry.current);
        }
        let failed_before = failed_versions.iter().any(|(tag, digest)| {
            *tag == entry.current && digest.as_deref() == Some(moved.digest.as_str())
        });
        if failed_before {
            entry.why = format!(
                "{why}, which failed and was rolled back; `upkeep update {} --to {}` tries it again",
                entry.service, entry.current
            );
            return Ok(());
        }
        entry.target = Some(entry.current.clone());
        entry.newest = Some(entry.current.clone());
        entry.kind = UpdateKind::Digest.to_string();
        entry.target_digest = Some(moved.digest.clone());
        entry.newest_kind = entry.kind.clone();
        if deployment.policy.allows(UpdateKind::Digest) {
            entry.action = PlanAction::Update;
            entry.why = format!(
                "{why}; policy {} pulls it again",
                deployment.policy.as_str()
            );
        } else {
            entry.action = PlanAction::Hold;
            entry.why = format!(
                "{why}; policy {} does not apply it by itself; `upkeep update {} --to {}` applies it",
                deployment.policy.as_str(),
                entry.service,
                entry.current
            );
        }
        Ok(())
    }

    /// The newest version tag (of the few newest) whose image for this platform is the one
    /// `moved` found, to name what a floating tag points at now.
    async fn version_with_image(
        &self,
        registry: &dyn Registry,
        repository: &str,
        deployment: &Deployment,
        tags: &[String],
        moved: &Moved,
    ) -> Option<String> {
        let here = moved.platform_image.as_ref()?;
        let mut versions: Vec<_> = tags
            .iter()
            .filter_map(|tag| Some((deployment.scheme.parse(tag).ok()?, tag)))
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        // A few lookups at most: the tag is usually one of the newest versions.
        for (_, tag) in versions.into_iter().take(VERSIONS_TO_NAME_AN_IMAGE) {
            let Ok(digest) = registry.resolve_digest(repository, tag).await else {
                continue;
            };
            if let Ok(Some(image)) = platform_image(registry, repository, digest.as_str()).await
                && &image == here
            {
                return Some(tag.clone());
            }
        }
        None
    }

    /// For a service on a name such as `latest`: whether the name now points at another
    /// image for this machine's platform than the one recorded.
    async fn name_moved(
        &self,
        registry: &dyn Registry,
        repository: &str,
        entry: &PlanEntry,
    ) -> Result<Option<Moved>, EngineError> {
        let Some(recorded) = &entry.current_digest else {
            return Ok(None);
        };
        let now = match registry.resolve_digest(repository, &entry.current).await {
            Ok(digest) => digest.to_string(),
            Err(error) if matches!(error.kind(), ErrorKind::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        if &now == recorded {
            return Ok(None);
        }
        // An index changes when any platform is rebuilt; only this platform's image counts.
        let here = platform_image(registry, repository, &now).await?;
        let before = platform_image(registry, repository, recorded)
            .await
            .ok()
            .flatten();
        if here.is_some() && here == before {
            return Ok(None);
        }
        Ok(Some(Moved {
            digest: now,
            platform_image: here,
        }))
    }

    /// Carries out the `Update` entries of `plan`, one service at a time. With `dry_run`,
    /// reports what would happen and touches nothing.
    pub async fn apply(
        &self,
        plan: &[PlanEntry],
        dry_run: bool,
    ) -> Result<Vec<Outcome>, EngineError> {
        let updates: Vec<&str> = plan
            .iter()
            .filter(|entry| entry.action == PlanAction::Update)
            .map(|entry| entry.service.as_str())
            .collect();
        let _lock = if dry_run || updates.is_empty() {
            None
        } else {
            Some(
                self.lock(&format!("the update of {}", updates.join(", ")))
                    .await?,
            )
        };
        // Read under the lock: another writer may have changed it while this one waited.
        let mut manifest = self.manifest()?;
        let mut outcomes = Vec::new();
        let order = self.change_order(
            plan.iter()
                .filter(|e| e.action == PlanAction::Update)
                .map(|e| e.service.as_str()),
        )?;
        for name in order {
            let Some(entry) = plan.iter().find(|entry| entry.service == name) else {
                continue;
            };
            let Some(target) = &entry.target else {
                continue;
            };
            let service = ServiceName::parse(&entry.service)?;
            let planned = Planned {
                service,
                from_tag: entry.current.clone(),
                from_digest: entry.current_digest.clone(),
                to_tag: target.clone(),
                to_digest: None,
                planned_digest: entry.target_digest.clone(),
                kind: Kind::Update,
            };
            outcomes.push(self.change(&mut manifest, planned, dry_run).await?);
        }
        Ok(outcomes)
    }

    /// Compose services go in dependency order, dependencies first; others keep their order.
    fn change_order<'a>(
        &self,
        services: impl Iterator<Item = &'a str>,
    ) -> Result<Vec<String>, EngineError> {
        let mut order: Vec<String> = services.map(str::to_owned).collect();
        let mut files: Vec<PathBuf> = Vec::new();
        for name in &order {
            if let Some(Placement::Compose { file }) = self
                .config
                .deployments
                .get(name.as_str())
                .map(|deployment| &deployment.placement)
                && !files.contains(file)
            {
                files.push(file.clone());
            }
        }
        for file in files {
            // The slots this file's services hold, refilled in dependency order.
            let slots: Vec<usize> = order
                .iter()
                .enumerate()
                .filter(|(_, name)| {
                    self.config
                        .deployments
                        .get(name.as_str())
                        .is_some_and(|d| d.placement == Placement::Compose { file: file.clone() })
                })
                .map(|(index, _)| index)
                .collect();
            let names: Vec<&str> = slots.iter().map(|&index| order[index].as_str()).collect();
            let sorted = dependency_order(&self.base.join(&file), &names)
                .map_err(|error| EngineError::Invalid(error.to_string()))?;
            for (slot, name) in slots.into_iter().zip(sorted) {
                order[slot] = name;
            }
        }
        Ok(order)
    }

    /// Puts `services` (all when empty) back to their previous version, or to `to`.
    pub async fn rollback(
        &self,
        services: &[String],
        to: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<Outcome>, EngineError> {
        let _lock = if dry_run {
            None
        } else {
            Some(
                self.lock(&describe_change("the rollback", services))
                    .await?,
            )
        };
        let mut manifest = self.manifest()?;
        let names = self.select(&manifest, services)?;
        let mut outcomes = Vec::new();
        for service in names {
            let Some(version) = manifest.service(service.as_str()) else {
                continue;
            };
            let (to_tag, kind) = match to {
                Some(tag) => (tag.to_owned(), Kind::RollbackTo),
                None => match version.rollback_target() {
                    Some(target) => (target.tag().to_owned(), Kind::Rollback),
                    None => {
                        outcomes.push(Outcome {
                            service: service.to_string(),
                            from: version.current_tag().to_owned(),
                            to: version.current_tag().to_owned(),
                            digest: version.image_digest().map(str::to_owned),
                            result: OutcomeKind::Unchanged,
                            message: "no earlier version in the history to go back to".to_owned(),
                            warnings: Vec::new(),
                        });
                        continue;
                    }
                },
            };
            let planned = Planned {
                from_tag: version.current_tag().to_owned(),
                from_digest: version.image_digest().map(str::to_owned),
                to_tag,
                to_digest: None,
                planned_digest: None,
                kind,
                service,
            };
            outcomes.push(self.change(&mut manifest, planned, dry_run).await?);
        }
        Ok(outcomes)
    }

    /// Sets `service` to `tag` by hand; with `custom`, marks it as a custom (hotfix) tag that
    /// plans leave alone.
    pub async fn pin(
        &self,
        service: &str,
        tag: &str,
        custom: bool,
        dry_run: bool,
    ) -> Result<Outcome, EngineError> {
        let _lock = if dry_run {
            None
        } else {
            Some(self.lock(&format!("the pin of {service}")).await?)
        };
        let mut manifest = self.manifest()?;
        let names = self.select(&manifest, &[service.to_owned()])?;
        let Some(service) = names.into_iter().next() else {
            return Err(EngineError::Invalid("no service given".to_owned()));
        };
        let Some(version) = manifest.service(service.as_str()) else {
            return Err(EngineError::Invalid(format!("unknown service {service}")));
        };
        let deployment = self.deployment(&service, version.image());
        if !custom && deployment.scheme.parse(tag).is_err() {
            return Err(EngineError::Invalid(format!(
                "{tag} is not a version under the {} scheme; pin it with --custom to mark it as a custom tag",
                deployment.scheme
            )));
        }
        let planned = Planned {
            from_tag: version.current_tag().to_owned(),
            from_digest: version.image_digest().map(str::to_owned),
            to_tag: tag.to_owned(),
            to_digest: None,
            planned_digest: None,
            kind: Kind::Pin { custom },
            service,
        };
        self.change(&mut manifest, planned, dry_run).await
    }

    fn runtime_for(
        &self,
        deployment: &Deployment,
    ) -> impl Future<Output = Result<Arc<dyn Runtime>, EngineError>> + '_ {
        let fixed = self.runtime.clone();
        let placement = deployment.placement.clone();
        let base = self.base.clone();
        let env_file = self.state.env_path();
        let service = deployment.service.clone();
        async move {
            if let Some(runtime) = fixed {
                return Ok(runtime);
            }
            match placement {
                Placement::Container(_) => {
                    let docker: Arc<dyn Runtime> = Arc::new(DockerRuntime::connect().await?);
                    Ok(docker)
                }
                Placement::Compose { file } => {
                    let file = base.join(file);
                    let key = service.env_key();
                    match image_variable(&file, service.as_str()) {
                        Ok(Some(variable)) if variable == key => {}
                        Ok(found) => {
                            return Err(EngineError::Invalid(format!(
                                "{}: services.{service}.image is {}, so upkeep cannot choose its version; write `image: ${{{key}}}` there (upkeep's versions.env gives {key} its value)",
                                file.display(),
                                found.map_or_else(
                                    || "written out".to_owned(),
                                    |v| format!("${{{v}}}")
                                )
                            )));
                        }
                        Err(error) => return Err(EngineError::Invalid(error.to_string())),
                    }
                    let docker = DockerRuntime::connect().await?;
                    let compose: Arc<dyn Runtime> =
                        Arc::new(ComposeRuntime::new(file, env_file, None, docker));
                    Ok(compose)
                }
                Placement::Swarm { rollout, .. } => {
                    let docker = DockerRuntime::connect().await?;
                    let swarm: Arc<dyn Runtime> = Arc::new(SwarmRuntime::new(docker, rollout));
                    Ok(swarm)
                }
            }
        }
    }

    /// The container (or compose service) name the runtime knows the deployment by.
    fn container_of(deployment: &Deployment) -> String {
        match &deployment.placement {
            Placement::Container(name) => name.clone(),
            Placement::Compose { .. } => deployment.service.to_string(),
            Placement::Swarm { service, .. } => service.clone(),
        }
    }

    /// One change, end to end. Errors are for what makes the whole command fail (state
    /// files); a change that fails is an [`Outcome`].
    async fn change(
        &self,
        manifest: &mut Manifest,
        mut planned: Planned,
        dry_run: bool,
    ) -> Result<Outcome, EngineError> {
        let Some(version) = manifest.service(planned.service.as_str()) else {
            return Err(EngineError::UnknownService {
                service: planned.service.to_string(),
                known: known_services(manifest),
            });
        };
        let deployment = self.deployment(&planned.service, version.image());
        let image = version.image().to_owned();
        let service = planned.service.to_string();
        let mut outcome = Outcome {
            service: service.clone(),
            from: planned.from_tag.clone(),
            to: planned.to_tag.clone(),
            digest: planned.from_digest.clone(),
            result: OutcomeKind::Unchanged,
            message: String::new(),
            warnings: Vec::new(),
        };
        let verb = match planned.kind {
            Kind::Update => "update",
            Kind::Pin { .. } => "set",
            Kind::Rollback | Kind::RollbackTo => "roll back",
        };
        if dry_run {
            outcome.message = format!(
                "would {verb} {service} from {} to {} (dry run: nothing changed)",
                planned.from_tag, planned.to_tag
            );
            return Ok(outcome);
        }
        // The journal holds one change: an unrecovered one must not be overwritten.
        if let Some(pending) = self.state.read_journal()? {
            return Err(EngineError::Unrecovered {
                service: pending.service,
                from: pending.from.tag,
                to: pending.to.tag,
            });
        }
        let runtime = self.runtime_for(&deployment).await?;
        let container = Self::container_of(&deployment);
        let reference = format!("{image}:{}", planned.to_tag);
        let (pre, post) = match planned.kind {
            Kind::Rollback | Kind::RollbackTo => (HookEvent::PreRollback, HookEvent::PostRollback),
            _ => (HookEvent::PreUpdate, HookEvent::PostUpdate),
        };
        let context = HookContext {
            service: &service,
            from: &planned.from_tag,
            to: &planned.to_tag,
        };
        // The service must exist before anything is written.
        runtime.inspect(&container).await?;

        let mut journal = JournalEntry::begin(
            &service,
            JournalVersion {
                tag: planned.from_tag.clone(),
                digest: planned.from_digest.clone(),
            },
            JournalVersion {
                tag: planned.to_tag.clone(),
                digest: None,
            },
            self.now(),
        );
        journal.change = planned.kind.journal();
        journal.owner = Some(lock::this_process());
        self.state.write_journal(&journal)?;
        fault::point("after-intent");

        if let Err(failed) = deployment.hooks.run(pre, &context).await {
            self.state.clear_journal()?;
            outcome.result = OutcomeKind::Failed;
            outcome.message = format!("{failed}; nothing was changed");
            return Ok(outcome);
        }

        journal.advance(Step::Pull);
        self.state.write_journal(&journal)?;
        // What is pulled is what was planned: the tag must still name the planned image,
        // which is then pulled by its digest and given the tag here.
        let pull_reference = match &planned.planned_digest {
            Some(planned_digest) => {
                if let Err(why) = self
                    .still_names(&image, &planned.to_tag, planned_digest)
                    .await
                {
                    self.state.clear_journal()?;
                    outcome.result = OutcomeKind::Failed;
                    outcome.message = format!("{why}; nothing was changed");
                    return Ok(outcome);
                }
                format!("{image}@{planned_digest}")
            }
            None => reference.clone(),
        };
        self.observer
            .step(&service, &format!("pulling {pull_reference}"));
        let observer = Arc::clone(&self.observer);
        let progress_service = service.clone();
        let pulled = runtime
            .pull(&container, &pull_reference, &move |progress| {
                observer.pull(&progress_service, &progress);
            })
            .await;
        let pulled = match pulled {
            Ok(pulled) if pull_reference != reference => runtime
                .tag_image(&pulled.id, &reference)
                .await
                .map(|()| pulled),
            other => other,
        };
        let pulled = match pulled {
            Ok(pulled) => pulled,
            Err(error) => {
                self.state.clear_journal()?;
                outcome.result = OutcomeKind::Failed;
                outcome.message = format!("{}; nothing was changed", chain(&error));
                return Ok(outcome);
            }
        };
        let digest = planned
            .planned_digest
            .clone()
            .or_else(|| digest_of(&pulled.repo_digests, &reference));
        journal.to.digest.clone_from(&digest);
        planned.to_digest.clone_from(&digest);
        fault::point("after-pull");

        journal.advance(Step::KeepPrevious);
        self.state.write_journal(&journal)?;
        let point = match runtime.keep_for_rollback(&container).await {
            Ok(point) => point,
            Err(error) => {
                self.state.clear_journal()?;
                outcome.result = OutcomeKind::Failed;
                outcome.message = format!(
                    "cannot keep the running image for a rollback ({}); nothing was changed",
                    chain(&error)
                );
                return Ok(outcome);
            }
        };
        journal.previous_image = Some(point.image_id.clone());
        self.state.write_journal(&journal)?;
        fault::point("after-keep");

        journal.advance(Step::Stop);
        self.state.write_journal(&journal)?;
        self.observer.step(
            &service,
            &format!("recreating {container} from {reference}"),
        );
        if let Err(error) = runtime.recreate(&container, &reference).await {
            let put_back = matches!(error, RuntimeError::Recreate { .. });
            if let RuntimeError::SwarmRolledBack { message, .. } = &error {
                // Swarm judged the version sick and put the previous one back itself.
                let why = format!("Swarm rolled it back by itself ({message})");
                return self
                    .undo_failed(
                        manifest,
                        runtime.as_ref(),
                        &container,
                        &deployment,
                        None,
                        &planned,
                        why,
                        outcome,
                    )
                    .await;
            }
            if put_back {
                self.state.clear_journal()?;
                outcome.result = OutcomeKind::Failed;
                outcome.message = format!(
                    "{}; {planned_from} runs as before",
                    chain(&error),
                    planned_from = planned.from_tag
                );
            } else if error.engine_unreachable() {
                return Ok(interrupted(outcome, &chain(&error)));
            } else {
                outcome.result = OutcomeKind::Stranded;
                outcome.message = format!(
                    "{}; run `upkeep recover` once the cause is fixed",
                    chain(&error)
                );
            }
            return Ok(outcome);
        }
        fault::point("after-start");
        journal.advance(Step::HealthCheck);
        self.state.write_journal(&journal)?;
        self.observer.step(&service, "checking health");

        if let Err(unproven) = self
            .wait_until_healthy(runtime.as_ref(), &container, &deployment)
            .await
        {
            let why = match unproven {
                Unproven::Sick(why) => why,
                Unproven::EngineAway(why) => return Ok(interrupted(outcome, &why)),
            };
            return self
                .undo_failed(
                    manifest,
                    runtime.as_ref(),
                    &container,
                    &deployment,
                    Some(&point),
                    &planned,
                    why,
                    outcome,
                )
                .await;
        }

        journal.advance(Step::Record);
        self.state.write_journal(&journal)?;
        fault::point("before-record");
        self.record(manifest, &planned, digest.as_deref())?;
        fault::point("after-record");
        self.state.clear_journal()?;
        outcome.result = OutcomeKind::Changed;
        outcome.digest = digest;
        outcome.message = format!(
            "{service}: {} -> {} ({}), healthy",
            planned.from_tag,
            planned.to_tag,
            match planned.kind {
                Kind::Update => "update",
                Kind::Pin { custom: true } => "set, custom",
                Kind::Pin { custom: false } => "set",
                Kind::Rollback => "rollback",
                Kind::RollbackTo => "rollback_to",
            }
        );
        if let Err(failed) = deployment.hooks.run(post, &context).await {
            outcome.warnings.push(failed.to_string());
        }
        Ok(outcome)
    }

    /// Records a healthy change in the manifest and `versions.env`.
    fn record(
        &self,
        manifest: &mut Manifest,
        planned: &Planned,
        digest: Option<&str>,
    ) -> Result<(), EngineError> {
        let now = self.now();
        match planned.kind {
            Kind::Update | Kind::Pin { custom: false } => {
                manifest.deploy(
                    &planned.service,
                    None,
                    &planned.to_tag,
                    digest,
                    DeployReason::Update,
                    now,
                )?;
                if planned.kind != Kind::Update {
                    manifest.annotate(&planned.service, "set by hand")?;
                }
            }
            Kind::Pin { custom: true } => {
                manifest.pin(&planned.service, &planned.to_tag, digest, now)?;
            }
            Kind::Rollback => {
                manifest.roll_back(&planned.service, now)?;
                if let Some(digest) = digest {
                    let _ = manifest.record_digest(&planned.service, digest);
                }
            }
            Kind::RollbackTo => {
                manifest.roll_back_to(&planned.service, &planned.to_tag, now)?;
                if let Some(digest) = digest {
                    let _ = manifest.record_digest(&planned.service, digest);
                }
            }
        }
        self.save(manifest, now)?;
        Ok(())
    }

    /// The new version is sick: put the previous one back (from `point`; `None` when the
    /// runtime has already done so), record the failed attempt.
    #[allow(clippy::too_many_arguments)]
    async fn undo_failed(
        &self,
        manifest: &mut Manifest,
        runtime: &dyn Runtime,
        container: &str,
        deployment: &Deployment,
        point: Option<&RollbackPoint>,
        planned: &Planned,
        why: String,
        mut outcome: Outcome,
    ) -> Result<Outcome, EngineError> {
        let service = planned.service.to_string();
        self.observer.step(
            &service,
            &format!("{why}; rolling back to {}", planned.from_tag),
        );
        let context = HookContext {
            service: &service,
            from: &planned.to_tag,
            to: &planned.from_tag,
        };
        // An automatic rollback restores service whatever its pre-hook says.
        if let Err(failed) = deployment.hooks.run(HookEvent::PreRollback, &context).await {
            outcome.warnings.push(failed.to_string());
        }
        let restored = match point {
            Some(point) => runtime.restore(container, point).await.map(drop),
            None => Ok(()),
        };
        if let Err(error) = restored {
            if error.engine_unreachable() {
                let why = format!("{why}, and then {}", chain(&error));
                return Ok(interrupted(outcome, &why));
            }
            outcome.result = OutcomeKind::Stranded;
            outcome.message = format!(
                "{} -> {} failed ({why}), and putting {} back failed too: {}; run `upkeep recover` once the cause is fixed",
                planned.from_tag,
                planned.to_tag,
                planned.from_tag,
                chain(&error)
            );
            return Ok(outcome);
        }
        if let Err(Unproven::Sick(still) | Unproven::EngineAway(still)) = self
            .wait_until_healthy(runtime, container, deployment)
            .await
        {
            outcome.warnings.push(format!(
                "{} runs again but is not healthy either: {still}",
                planned.from_tag
            ));
        }
        let note = format!(
            "{} failed: {why}; rolled back automatically",
            planned.to_tag
        );
        manifest.record_failed_update(
            &planned.service,
            &planned.to_tag,
            planned.to_digest.as_deref(),
            &one_line(&note),
            self.now(),
        )?;
        self.save(manifest, self.now())?;
        self.state.clear_journal()?;
        if let Err(failed) = deployment
            .hooks
            .run(HookEvent::PostRollback, &context)
            .await
        {
            outcome.warnings.push(failed.to_string());
        }
        outcome.result = OutcomeKind::RolledBack;
        outcome.message = format!(
            "{service}: {} -> {} failed: {why}; rolled back to {}, which runs again",
            planned.from_tag, planned.to_tag, planned.from_tag
        );
        Ok(outcome)
    }

    /// Waits until the container runs steadily and every configured check passes, or says
    /// which check failed and how.
    async fn wait_until_healthy(
        &self,
        runtime: &dyn Runtime,
        container: &str,
        deployment: &Deployment,
    ) -> Result<(), Unproven> {
        let inspect = || async {
            runtime.inspect(container).await.map_err(|error| {
                if error.engine_unreachable() {
                    Unproven::EngineAway(chain(&error))
                } else {
                    Unproven::Sick(chain(&error))
                }
            })
        };
        let health = &deployment.health;
        let patience = health.patience;
        let attempts = patience.attempts.max(1);
        let first = inspect().await?;
        let restarts = first.restart_count;
        if health.probes.is_empty() && !health.image_healthcheck {
            // Nothing to ask: give a crash at start the time to show.
            tokio::time::sleep(patience.interval).await;
        }
        let mut last = String::new();
        for attempt in 1..=attempts {
            let state = inspect().await?;
            if let Some(dead) = not_running(&state, restarts) {
                return Err(Unproven::Sick(dead));
            }
            let mut passed = true;
            for probe in &health.probes {
                if let Err(reason) = probe.attempt_in(patience.timeout, runtime, container).await {
                    last = format!(
                        "health check {} failed after {attempt} attempt{}: {reason}",
                        probe.describe(),
                        if attempt == 1 { "" } else { "s" }
                    );
                    passed = false;
                    break;
                }
            }
            if passed && health.image_healthcheck {
                match state.health {
                    Some(crate::runtime::Health::Healthy) => {}
                    Some(crate::runtime::Health::Unhealthy) => {
                        return Err(Unproven::Sick(
                            "the image's HEALTHCHECK reports unhealthy".to_owned(),
                        ));
                    }
                    Some(crate::runtime::Health::Starting) => {
                        last = format!(
                            "the image's HEALTHCHECK is still starting after {attempt} attempts"
                        );
                        passed = false;
                    }
                    None => {
                        return Err(Unproven::Sick("the image has no HEALTHCHECK; remove `image_healthcheck` from upkeep.yaml".to_owned()));
                    }
                }
            }
            if passed {
                // One more look: a container that answered once and then died is not well.
                let state = inspect().await?;
                return match not_running(&state, restarts) {
                    Some(dead) => Err(Unproven::Sick(dead)),
                    None => Ok(()),
                };
            }
            if attempt < attempts {
                tokio::time::sleep(patience.interval).await;
            }
        }
        // Probes fail too while the engine restarts; only an engine that answers can say the
        // container is sick.
        inspect().await?;
        Err(Unproven::Sick(last))
    }

    /// Finishes or undoes the update the journal records, if one was interrupted.
    pub async fn recover(&self) -> Result<Option<Recovered>, EngineError> {
        // Nothing to do (the common case) needs no lock, and must not wait behind a writer.
        if self.state.read_journal()?.is_none() {
            return Ok(None);
        }
        let _lock = self.lock("recovery").await?;
        // Read again under the lock: the change may have finished meanwhile.
        let Some(entry) = self.state.read_journal()? else {
            return Ok(None);
        };
        // An owner that still runs (and holds no lock: an older upkeep) is making the change
        // now; only this process's own journal, or a dead owner's, is interrupted.
        if let Some(owner) = &entry.owner
            && owner.pid != std::process::id()
            && lock::is_alive(owner)
        {
            return Err(EngineError::ChangeUnderWay {
                service: entry.service,
                from: entry.from.tag,
                to: entry.to.tag,
                owner: lock::describe(owner),
            });
        }
        let mut manifest = self.manifest()?;
        let service = ServiceName::parse(&entry.service)?;
        let image = manifest
            .service(service.as_str())
            .map(|version| version.image().to_owned())
            .ok_or_else(|| EngineError::UnknownService {
                service: entry.service.clone(),
                known: known_services(&manifest),
            })?;
        let deployment = self.deployment(&service, &image);
        let runtime = self.runtime_for(&deployment).await?;
        let container = Self::container_of(&deployment);
        // A recreate cut short leaves the old container parked; it goes back first, so that
        // what runs is one of the two versions.
        let parked = runtime.undo_interrupted_recreate(&container).await?;
        let state = match runtime.inspect(&container).await {
            Ok(state) => Some(state),
            Err(RuntimeError::ContainerNotFound { .. }) => None,
            Err(error) => return Err(error.into()),
        };
        let from_reference = format!("{image}:{}", entry.from.tag);
        let to_reference = format!("{image}:{}", entry.to.tag);
        let observed = match &state {
            Some(state)
                if state.status == Status::Running || state.status == Status::Restarting =>
            {
                let kept_image = entry.previous_image.as_deref() == Some(state.image_id.as_str());
                // Both versions carry the same reference when a floating tag got a new
                // image: only the image id tells them apart.
                let runs_previous = if from_reference == to_reference {
                    kept_image || entry.previous_image.is_none()
                } else {
                    state.image == from_reference || kept_image
                };
                if state.image == to_reference && !runs_previous {
                    Observed::NewRunning
                } else if runs_previous {
                    Observed::PreviousRunning
                } else {
                    Observed::NothingRunning
                }
            }
            _ => Observed::NothingRunning,
        };
        let decision = journal::recover(&entry, observed);
        // The step as the journal file names it, such as `health_check`.
        let step = serde_json::to_value(entry.step)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        let recovered = match decision {
            Recovery::Finish => {
                let digest = entry.to.digest.clone();
                let planned = Planned {
                    service: service.clone(),
                    from_tag: entry.from.tag.clone(),
                    from_digest: entry.from.digest.clone(),
                    to_tag: entry.to.tag.clone(),
                    to_digest: None,
                    planned_digest: None,
                    kind: Kind::from_journal(entry.change),
                };
                let already = manifest
                    .service(service.as_str())
                    .is_some_and(|version| version.current_tag() == entry.to.tag);
                if !already {
                    self.record(&mut manifest, &planned, digest.as_deref())?;
                }
                Recovered {
                    service: entry.service.clone(),
                    step,
                    action: "finished".to_owned(),
                    message: format!(
                        "{} had passed its health checks and runs; recorded it in the manifest",
                        entry.to.tag
                    ),
                }
            }
            Recovery::Forget => Recovered {
                service: entry.service.clone(),
                step,
                action: "forgotten".to_owned(),
                message: format!(
                    "nothing had been changed; {} runs as before",
                    entry.from.tag
                ),
            },
            Recovery::Undo { reason } => {
                let healthy_previous = observed == Observed::PreviousRunning;
                if !healthy_previous {
                    let point = RollbackPoint {
                        container: container.clone(),
                        reference: from_reference.clone(),
                        tag: format!("{image}:{ROLLBACK_TAG}"),
                        image_id: entry
                            .previous_image
                            .clone()
                            .unwrap_or_else(|| from_reference.clone()),
                        repo_digest: entry.from.digest.clone(),
                    };
                    if state.is_some() {
                        runtime.restore(&container, &point).await?;
                    } else {
                        return Err(EngineError::Invalid(format!(
                            "the container `{container}` of {} is gone; recreate it from {from_reference} (`docker run ...` as before), then run `upkeep recover` again",
                            entry.service
                        )));
                    }
                }
                Recovered {
                    service: entry.service.clone(),
                    step,
                    action: "undone".to_owned(),
                    message: format!(
                        "{reason}; {} runs again{}",
                        entry.from.tag,
                        if parked {
                            " (its container was put back)"
                        } else {
                            ""
                        }
                    ),
                }
            }
        };
        self.state.clear_journal()?;
        Ok(Some(recovered))
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

/// What `upkeep resolve` found for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The service.
    pub service: String,
    /// The floating tag it runs, such as `latest`.
    pub tag: String,
    /// The digest looked for: what runs, as recorded, or what the tag points to now.
    pub digest: Option<String>,
    /// The version tag with the same digest, if one was found.
    pub resolved: Option<String>,
    /// Whether the manifest now records the version tag.
    pub recorded: bool,
    /// What happened, in words.
    pub message: String,
}

/// How many digests `resolve` asks for at most per service: the newest versions come first,
/// and a floating tag almost always points at one of them.
const RESOLVE_LOOKUPS: usize = 50;

impl Engine {
    /// Pulls the versions the manifest names, filling in digests it does not know yet.
    pub async fn pull(&self, services: &[String]) -> Result<Vec<Outcome>, EngineError> {
        // A writer: it records digests in the manifest.
        let _lock = self.lock(&describe_change("the pull", services)).await?;
        let mut manifest = self.manifest()?;
        let names = self.select(&manifest, services)?;
        let mut outcomes = Vec::new();
        let mut changed = false;
        for service in names {
            let Some(version) = manifest.service(service.as_str()) else {
                continue;
            };
            let deployment = self.deployment(&service, version.image());
            let reference = version.image_reference();
            let recorded = version.image_digest().map(str::to_owned);
            let mut outcome = Outcome {
                service: service.to_string(),
                from: version.current_tag().to_owned(),
                to: version.current_tag().to_owned(),
                digest: recorded.clone(),
                result: OutcomeKind::Unchanged,
                message: String::new(),
                warnings: Vec::new(),
            };
            let runtime = self.runtime_for(&deployment).await?;
            self.observer
                .step(service.as_str(), &format!("pulling {reference}"));
            let observer = Arc::clone(&self.observer);
            let name = service.to_string();
            let pulled = runtime
                .pull(
                    &Self::container_of(&deployment),
                    &reference,
                    &move |progress| {
                        observer.pull(&name, &progress);
                    },
                )
                .await;
            match pulled {
                Err(error) => {
                    outcome.result = OutcomeKind::Failed;
                    outcome.message = chain(&error);
                }
                Ok(pulled) => {
                    let digest = digest_of(&pulled.repo_digests, &reference);
                    outcome.message = format!("pulled {reference}");
                    match (&recorded, &digest) {
                        (None, Some(digest)) => {
                            manifest.record_digest(&service, digest)?;
                            changed = true;
                            outcome.digest = Some(digest.clone());
                        }
                        (Some(recorded), Some(digest)) if recorded != digest => {
                            outcome.warnings.push(format!(
                                "{reference} now points at {}, not the recorded {}; `upkeep update {service}` moves to it",
                                short_digest(digest),
                                short_digest(recorded)
                            ));
                        }
                        _ => {}
                    }
                }
            }
            outcomes.push(outcome);
        }
        if changed {
            self.save(&manifest, self.now())?;
        }
        Ok(outcomes)
    }

    /// For services on a floating tag such as `latest`, finds the version tag with the same
    /// digest and, unless `dry_run`, records it in the manifest in place of the name.
    pub async fn resolve(
        &self,
        services: &[String],
        dry_run: bool,
    ) -> Result<Vec<Resolution>, EngineError> {
        let _lock = if dry_run {
            None
        } else {
            Some(self.lock(&describe_change("the resolve", services)).await?)
        };
        let mut manifest = self.manifest()?;
        let names = self.select(&manifest, services)?;
        let mut resolutions = Vec::new();
        for service in names {
            let Some(version) = manifest.service(service.as_str()) else {
                continue;
            };
            let deployment = self.deployment(&service, version.image());
            let tag = version.current_tag().to_owned();
            let mut resolution = Resolution {
                service: service.to_string(),
                tag: tag.clone(),
                digest: version.image_digest().map(str::to_owned),
                resolved: None,
                recorded: false,
                message: String::new(),
            };
            if deployment.scheme.parse(&tag).is_ok() {
                resolution.message = format!("{tag} is already a version");
                resolutions.push(resolution);
                continue;
            }
            let image = parse_image(version.image())?;
            let registry = self.registries.registry_for(&image).await?;
            let repository = image.repository();
            let wanted = match &resolution.digest {
                Some(digest) => digest.clone(),
                None => registry.resolve_digest(repository, &tag).await?.to_string(),
            };
            resolution.digest = Some(wanted.clone());
            let tags = registry.list_tags(repository).await?;
            let candidates = upkeep_versioning_core::select::newest_first(
                &deployment.scheme,
                tags.iter().map(String::as_str),
            );
            for candidate in candidates.iter().take(RESOLVE_LOOKUPS) {
                let digest = match registry
                    .resolve_digest(repository, candidate.as_str())
                    .await
                {
                    Ok(digest) => digest,
                    Err(error) if matches!(error.kind(), ErrorKind::NotFound { .. }) => continue,
                    Err(error) => return Err(error.into()),
                };
                if digest.as_str() == wanted {
                    resolution.resolved = Some(candidate.as_str().to_owned());
                    break;
                }
            }
            match &resolution.resolved {
                None => {
                    resolution.message = format!(
                        "no version tag among the newest {RESOLVE_LOOKUPS} has the digest {} of {tag}",
                        short_digest(&wanted)
                    );
                }
                Some(found) if dry_run => {
                    resolution.message = format!("{tag} is {found} (dry run: not recorded)");
                }
                Some(found) => {
                    manifest.deploy(
                        &service,
                        None,
                        found,
                        Some(&wanted),
                        DeployReason::Update,
                        self.now(),
                    )?;
                    manifest.annotate(&service, &format!("resolved from {tag} by digest"))?;
                    resolution.recorded = true;
                    resolution.message = format!("{tag} is {found}; recorded");
                }
            }
            resolutions.push(resolution);
        }
        if resolutions.iter().any(|resolution| resolution.recorded) {
            self.save(&manifest, self.now())?;
        }
        Ok(resolutions)
    }
}

/// The registry digest of `reference`'s repository among an image's repo digests.
fn digest_of(repo_digests: &[String], reference: &str) -> Option<String> {
    let repository = crate::runtime::repository(reference);
    repo_digests.iter().find_map(|entry| {
        let (name, digest) = entry.split_once('@')?;
        (name == repository).then(|| digest.to_owned())
    })
}

/// Why a container is not running steadily, if it is not.
/// Why a container did not prove healthy.
enum Unproven {
    /// It failed a check: the version is sick.
    Sick(String),
    /// The engine stopped answering: nothing can be said about the version.
    EngineAway(String),
}

/// The outcome of a change the engine's absence cut short; the journal is kept for
/// [`Engine::recover`].
fn interrupted(mut outcome: Outcome, why: &str) -> Outcome {
    outcome.result = OutcomeKind::Interrupted;
    outcome.message = format!(
        "{} -> {} was cut short: {why}. The journal keeps it: `upkeep recover` (the agent does it by itself) finishes or undoes it once the Docker Engine answers; {} is not marked as failed",
        outcome.from, outcome.to, outcome.to
    );
    outcome
}

fn not_running(state: &ContainerState, restarts_before: i64) -> Option<String> {
    match state.status {
        Status::Running if state.restart_count == restarts_before => None,
        Status::Running | Status::Restarting => Some(format!(
            "container {} keeps restarting (restarted {} times; last exit code {})",
            state.name,
            state.restart_count - restarts_before,
            state.exit_code
        )),
        Status::Exited | Status::Dead => Some(format!(
            "container {} exited with code {}",
            state.name, state.exit_code
        )),
        other => Some(format!("container {} is {other}, not running", state.name)),
    }
}

fn parse_image(image: &str) -> Result<ImageRef, EngineError> {
    image.parse().map_err(|error| {
        EngineError::Invalid(format!(
            "the manifest's image `{image}` is not an image reference: {error}"
        ))
    })
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
