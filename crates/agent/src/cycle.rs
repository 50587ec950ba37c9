//! One pass of the agent over its deployments: seed 000's ops cycle.
//!
//! For each deployment the core's [`decide`] says what to do; the agent only carries it out
//! through the engine and records it. In order:
//! 1. `disabled` deployments are not checked at all;
//! 2. a deployment is checked when its last check is older than its interval (or a webhook
//!    asked for it), and the result is stored, so a restart does not check again early;
//! 3. an update the policy allows is applied inside the deployment's window, once the tag
//!    has been known for the minimum age; outside, it is noted and waits;
//! 4. an update the policy does not allow is announced once per version;
//! 5. a failed update is rolled back by the engine, announced loudly, and its version is never
//!    applied again on its own (a newer one is).
//!
//! Before any of it, a change cut short (the agent killed, the Docker Engine gone mid-update)
//! is finished or undone from the engine's journal; until that succeeds nothing is applied.
//!
//! Notifications are sent in the background: a slow target never holds the cycle.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use upkeep_update_engine::config::Placement;
use upkeep_update_engine::engine::{
    Engine, EngineError, OutcomeKind, PlanAction, PlanEntry, PlanRequest, Recovered, UpdateRequest,
};
use upkeep_update_engine::runtime::DockerRuntime;
use upkeep_update_engine::setup;
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::UpdateKind;
use upkeep_versioning_core::clock::{Clock, SystemClock};
use upkeep_versioning_core::manifest::{ServiceName, ServiceVersion};
use upkeep_versioning_core::planner::{self, HoldReason};
use upkeep_versioning_core::policy::{
    Action, CheckResult, DeploymentState, DeploymentStatus, Notice as CoreNotice, Policy,
    PolicyConfig, decide,
};
use upkeep_versioning_core::version::classify;

use crate::config::{AgentConfig, PROJECT_SEPARATOR, Schedule};
use crate::notify::{Notice, Notifier};
use crate::store::{Check, Deployment, DeploymentSource, Event, Store, StoreError};

/// Why a cycle could not run at all (a deployment's own failures are in its report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CycleError {
    /// The engine could not read its state.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one cycle did for one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Asked the registry; the target found, if any.
    Checked(Option<String>),
    /// Updated to the tag, healthy.
    Applied(String),
    /// The tag failed and was rolled back.
    RolledBack(String),
    /// The tag failed and so did the rollback.
    RollbackFailed(String),
    /// The Docker Engine stopped answering mid-update; the journal keeps the change for
    /// recovery, and the tag is not blamed.
    Interrupted(String),
    /// A change cut short earlier was finished or undone; what was done, in words.
    Recovered(String),
    /// The update could not start; nothing changed.
    Failed(String),
    /// An update is due but waits: outside the window, or the tag is too new. Reported (and
    /// written to the event log) when the wait for that tag and reason begins, not on every
    /// cycle it lasts.
    Waiting(String),
    /// Announced an update the policy leaves to a person.
    Announced(String),
    /// Something went wrong for this deployment; the others went on.
    Error(String),
}

/// What one cycle did, by deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// The steps, in order, as `(deployment, step)`.
    pub steps: Vec<(String, Step)>,
}

impl CycleReport {
    /// The steps of one deployment.
    pub fn of(&self, deployment: &str) -> Vec<&Step> {
        self.steps
            .iter()
            .filter(|(name, _)| name == deployment)
            .map(|(_, step)| step)
            .collect()
    }
}

/// How long the cycle waits for a change under way before it leaves its own for later.
const CHANGE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The agent: configuration, engine, store and notifier, and a clock.
pub struct Agent {
    config: AgentConfig,
    engine: std::sync::RwLock<Arc<Engine>>,
    /// The engines of the projects the configuration names, by project.
    projects: std::sync::RwLock<std::collections::BTreeMap<String, Arc<Engine>>>,
    labelled_schedules: std::sync::RwLock<std::collections::BTreeMap<ServiceName, Schedule>>,
    store: Store,
    notifier: Option<Notifier>,
    clock: Arc<dyn Clock>,
    sending: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Held while a change runs: the engine keeps one journal, so changes go one at a time,
    /// whether the cycle or the API asks.
    changes: tokio::sync::Mutex<()>,
    /// What taking over containers had to say (a container refused, say), logged once each.
    take_over_notes: Mutex<BTreeSet<String>>,
    /// Where notification deliveries are counted, when the daemon serves metrics.
    metrics: Option<Arc<crate::api::Metrics>>,
}

impl Agent {
    /// An agent over `engine` (whose configuration is the agent's deployments) and `store`.
    pub fn new(
        config: AgentConfig,
        engine: Engine,
        store: Store,
        notifier: Option<Notifier>,
    ) -> Self {
        Self {
            config,
            engine: std::sync::RwLock::new(Arc::new(engine)),
            projects: std::sync::RwLock::default(),
            labelled_schedules: std::sync::RwLock::default(),
            store,
            notifier,
            clock: Arc::new(SystemClock),
            sending: Mutex::new(Vec::new()),
            changes: tokio::sync::Mutex::new(()),
            take_over_notes: Mutex::default(),
            metrics: None,
        }
    }

    /// Counts notification deliveries into `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<crate::api::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Reads the time from `clock` instead of the system, for tests.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Adds the configured containers the manifest does not track yet, at the version they
    /// run, and returns their names: the agent takes over what runs.
    pub async fn adopt_containers(&self) -> Result<Vec<ServiceName>, CycleError> {
        let manifest = self.engine().state().load().map_err(EngineError::from)?;
        let tracked = |name: &ServiceName| {
            manifest
                .as_ref()
                .is_some_and(|(manifest, _)| manifest.service(name.as_str()).is_some())
        };
        let containers: Vec<String> = self
            .engine()
            .config()
            .deployments
            .iter()
            .filter(|(name, _)| !tracked(name))
            .filter_map(|(_, deployment)| match &deployment.placement {
                Placement::Container(container) => Some(container.clone()),
                Placement::Compose { .. } | Placement::Swarm { .. } => None,
            })
            .collect();
        if containers.is_empty() {
            return Ok(Vec::new());
        }
        let docker = DockerRuntime::connect().await.map_err(EngineError::from)?;
        let now = self.clock.now();
        let initial = setup::from_running(&docker, &containers, now).await?;
        for note in &initial.notes {
            let first = self
                .take_over_notes
                .lock()
                .is_ok_and(|mut noted| noted.insert(note.clone()));
            if first {
                tracing::warn!(%note, "cannot take a container over");
            }
        }
        // Named after the deployment, not the container, where the two differ.
        let mut renamed = setup::Initial::default();
        let engine = self.engine();
        for (name, deployment) in &engine.config().deployments {
            let Placement::Container(container) = &deployment.placement else {
                continue;
            };
            let Some(found) = initial
                .manifest
                .services()
                .iter()
                .find(|(service, _)| service.as_str() == container.as_str())
                .map(|(_, version)| version)
            else {
                continue;
            };
            renamed
                .manifest
                .deploy(
                    name,
                    Some(found.image()),
                    found.current_tag(),
                    found.image_digest(),
                    upkeep_versioning_core::manifest::DeployReason::Update,
                    now,
                )
                .map_err(EngineError::from)?;
        }
        std::fs::create_dir_all(&self.config.state).map_err(|source| {
            EngineError::Store(upkeep_update_engine::store::StoreError::Io {
                action: "create",
                path: self.config.state.clone(),
                source,
            })
        })?;
        Ok(setup::write(self.engine().state(), &renamed, false, now)?)
    }

    /// The engine in use: its configuration is the agent's deployments as last discovered.
    pub fn engine(&self) -> Arc<Engine> {
        match self.engine.read() {
            Ok(engine) => Arc::clone(&engine),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Uses `engine` from the next cycle on: the deployments changed (labels came or went).
    pub fn replace_engine(&self, engine: Engine) {
        match self.engine.write() {
            Ok(mut current) => *current = Arc::new(engine),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(engine),
        }
    }

    /// The schedules container labels give (`upkeep.window`, `upkeep.min_age`, ...); the
    /// file's own schedules win for a deployment both name.
    pub fn set_labelled_schedules(
        &self,
        schedules: std::collections::BTreeMap<ServiceName, Schedule>,
    ) {
        if let Ok(mut current) = self.labelled_schedules.write() {
            *current = schedules;
        }
    }

    /// The agent's configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Finishes or undoes a change that was cut short (the agent killed mid-update, or the
    /// Docker Engine gone), as the engine's journal records it, and logs what it did. Runs
    /// when the agent starts and before every cycle and change.
    /// Each engine (the agent's own, each project's) keeps its own journal. Returns what was
    /// recovered, and the engines that could not be (the Docker Engine still away), as
    /// [`Step::Recovered`] and [`Step::Error`] by deployment.
    pub async fn recover_interrupted(&self) -> Vec<(String, Step)> {
        // A change under way holds the journal: there is nothing to recover until it ends.
        let Some(_one_at_a_time) = self.change_slot().await else {
            return Vec::new();
        };
        let mut steps = Vec::new();
        for watched in self.watched() {
            match self.recover_holding_lock(&watched).await {
                Ok(Some((id, message))) => steps.push((id, Step::Recovered(message))),
                Ok(None) => {}
                Err(error) => steps.push((
                    watched.describe(),
                    Step::Error(format!(
                        "cannot recover an interrupted change yet: {}",
                        upkeep_update_engine::error_chain(&error)
                    )),
                )),
            }
        }
        steps
    }

    /// The right to make a change, waiting at most [`CHANGE_WAIT`] for a change under way
    /// (one the API asked for, say): the cycle goes on with its other deployments rather
    /// than wait behind a long one. The guard frees the right when dropped, however the
    /// change ends.
    async fn change_slot(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        tokio::time::timeout(CHANGE_WAIT, self.changes.lock())
            .await
            .ok()
    }

    async fn recover_holding_lock(
        &self,
        watched: &Watched,
    ) -> Result<Option<(String, String)>, CycleError> {
        let Some(recovered) = watched.engine.recover().await? else {
            return Ok(None);
        };
        self.note_recovered(watched, &recovered).await.map(Some)
    }

    /// Logs a recovery the engine made, and records what runs since.
    async fn note_recovered(
        &self,
        watched: &Watched,
        recovered: &Recovered,
    ) -> Result<(String, String), CycleError> {
        let id = watched.id(&recovered.service);
        let message = describe(recovered);
        self.record_current(&id).await?;
        self.store
            .append_event(&Event {
                at: self.clock.now(),
                deployment: Some(id.clone()),
                kind: "recovered".to_owned(),
                from_tag: None,
                to_tag: None,
                message: message.clone(),
            })
            .await?;
        tracing::warn!(deployment = %id, %message, "recovered an interrupted change");
        Ok((id, message))
    }

    /// The engines the agent drives: its own first, then each project's.
    fn watched(&self) -> Vec<Watched> {
        let mut watched = vec![Watched {
            project: None,
            engine: self.engine(),
        }];
        if let Ok(projects) = self.projects.read() {
            watched.extend(projects.iter().map(|(name, engine)| Watched {
                project: Some(name.clone()),
                engine: Arc::clone(engine),
            }));
        }
        watched
    }

    /// The engine and service of deployment `id` (`web`, or `shop:web` in project `shop`).
    fn locate(&self, id: &str) -> Result<(Watched, ServiceName), CycleError> {
        let (project, service) = match id.split_once(PROJECT_SEPARATOR) {
            Some((project, service)) => (Some(project), service),
            None => (None, id),
        };
        let watched = self
            .watched()
            .into_iter()
            .find(|watched| watched.project.as_deref() == project);
        let found = watched.and_then(|watched| {
            let service = watched
                .engine
                .config()
                .deployments
                .keys()
                .find(|name| name.as_str() == service)?
                .clone();
            Some((watched, service))
        });
        found.ok_or_else(|| {
            let known: Vec<String> = self
                .deployment_images()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            EngineError::UnknownService {
                service: id.to_owned(),
                known: if known.is_empty() {
                    "no deployments".to_owned()
                } else {
                    known.join(", ")
                },
            }
            .into()
        })
    }

    /// Uses `engines` for the projects from the next cycle on.
    pub fn set_projects(&self, engines: std::collections::BTreeMap<String, Engine>) {
        let engines = engines
            .into_iter()
            .map(|(name, engine)| (name, Arc::new(engine)))
            .collect();
        match self.projects.write() {
            Ok(mut current) => *current = engines,
            Err(poisoned) => *poisoned.into_inner() = engines,
        }
    }

    /// The deployments of the configuration whose container the agent has not taken over,
    /// as (id, image, container): the container does not exist (yet), or the Docker Engine
    /// was away when the agent last tried. They are taken over on the first cycle that finds
    /// them.
    pub fn without_container(&self) -> Vec<(String, String, String)> {
        let engine = self.engine();
        let manifest = engine.state().load().ok().flatten();
        engine
            .config()
            .deployments
            .iter()
            .filter(|(name, _)| {
                manifest
                    .as_ref()
                    .is_none_or(|(manifest, _)| manifest.service(name.as_str()).is_none())
            })
            .filter_map(|(name, deployment)| match &deployment.placement {
                Placement::Container(container) => Some((
                    name.to_string(),
                    deployment.image.clone(),
                    container.clone(),
                )),
                Placement::Compose { .. } | Placement::Swarm { .. } => None,
            })
            .collect()
    }

    /// Every deployment's id and image repository, the projects' included.
    pub fn deployment_images(&self) -> Vec<(String, String)> {
        self.watched()
            .iter()
            .flat_map(|watched| {
                watched
                    .engine
                    .config()
                    .deployments
                    .iter()
                    .map(|(service, deployment)| {
                        (watched.id(service.as_str()), deployment.image.clone())
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Uses `engine` for project `name` from the next cycle on.
    pub fn set_project(&self, name: &str, engine: Engine) {
        let engine = Arc::new(engine);
        match self.projects.write() {
            Ok(mut current) => {
                current.insert(name.to_owned(), engine);
            }
            Err(poisoned) => {
                poisoned.into_inner().insert(name.to_owned(), engine);
            }
        }
    }

    /// The engine of project `name`, if the configuration names it.
    pub fn project_engine(&self, name: &str) -> Option<Arc<Engine>> {
        self.projects.read().ok()?.get(name).cloned()
    }

    /// Updates `deployment` now, to `tag` or to what its plan says, as the API asks; one
    /// change at a time with the cycle's. The outcome is logged as an event, and so is a
    /// failure (`apply_failed_by_api`): the caller may have gone away before it is known.
    pub async fn apply_now(
        &self,
        deployment: &str,
        tag: Option<String>,
    ) -> Result<Vec<upkeep_update_engine::engine::Outcome>, CycleError> {
        let (watched, service) = self.locate(deployment)?;
        let result = async {
            let _one_at_a_time = self.changes.lock().await;
            let report = watched
                .engine
                .update(&UpdateRequest::new(PlanRequest {
                    services: vec![service.to_string()],
                    to: tag,
                    latest: false,
                }))
                .await?;
            if let Some(recovered) = &report.recovered {
                self.note_recovered(&watched, recovered).await?;
            }
            let outcomes = report.outcomes;
            self.log_outcomes("applied_by_api", &watched, &outcomes)
                .await?;
            Ok(outcomes)
        }
        .await;
        self.log_failure("apply_failed_by_api", deployment, result)
            .await
    }

    /// Rolls `deployment` back to its previous version now, as the API asks. The outcome is
    /// logged as an event, and so is a failure (`rollback_failed_by_api`).
    pub async fn rollback_now(
        &self,
        deployment: &str,
    ) -> Result<Vec<upkeep_update_engine::engine::Outcome>, CycleError> {
        let (watched, service) = self.locate(deployment)?;
        let result = async {
            let _one_at_a_time = self.changes.lock().await;
            self.recover_holding_lock(&watched).await?;
            let outcomes = watched
                .engine
                .rollback(&[service.to_string()], None, false)
                .await?;
            self.log_outcomes("rolled_back_by_api", &watched, &outcomes)
                .await?;
            Ok(outcomes)
        }
        .await;
        self.log_failure("rollback_failed_by_api", deployment, result)
            .await
    }

    /// Waits until no change runs: the daemon's last step before it exits, so that a change
    /// asked through the API by a client that has gone away still ends before the process.
    pub async fn changes_finished(&self) {
        drop(self.changes.lock().await);
    }

    /// Logs `result`'s error, if any, as an event of `kind` for `deployment`, and passes it on.
    async fn log_failure<T>(
        &self,
        kind: &str,
        deployment: &str,
        result: Result<T, CycleError>,
    ) -> Result<T, CycleError> {
        if let Err(error) = &result {
            let message = upkeep_update_engine::error_chain(error);
            tracing::warn!(%deployment, %message, "{kind}");
            let logged = self
                .store
                .append_event(&Event {
                    at: self.clock.now(),
                    deployment: Some(deployment.to_owned()),
                    kind: kind.to_owned(),
                    from_tag: None,
                    to_tag: None,
                    message,
                })
                .await;
            if let Err(store_error) = logged {
                tracing::error!(error = %upkeep_update_engine::error_chain(&store_error), "cannot log a failed change");
            }
        }
        result
    }

    async fn log_outcomes(
        &self,
        kind: &str,
        watched: &Watched,
        outcomes: &[upkeep_update_engine::engine::Outcome],
    ) -> Result<(), CycleError> {
        let now = self.clock.now();
        for outcome in outcomes {
            let id = watched.id(&outcome.service);
            self.record_current(&id).await?;
            self.store
                .append_event(&Event {
                    at: now,
                    deployment: Some(id),
                    kind: kind.to_owned(),
                    from_tag: Some(outcome.from.clone()),
                    to_tag: Some(outcome.to.clone()),
                    message: outcome.message.clone(),
                })
                .await?;
        }
        Ok(())
    }

    /// Records every deployment with the policy its configuration gives: at start, the
    /// file's policy wins over one set through the API before a restart.
    pub async fn record_deployments(&self) -> Result<(), CycleError> {
        for watched in self.watched() {
            for service in watched.engine.config().deployments.keys() {
                self.record_current(&watched.id(service.as_str())).await?;
            }
        }
        Ok(())
    }

    /// Stores what `service` runs now, as the manifest records it: after each change, so
    /// that the API does not show the version before it until the next cycle.
    async fn record_current(&self, id: &str) -> Result<(), CycleError> {
        let Ok((watched, service)) = self.locate(id) else {
            return Ok(());
        };
        let engine = &watched.engine;
        let manifest = match engine.manifest() {
            Ok(manifest) => manifest,
            // Nothing taken over yet (the Docker Engine was away at start): nothing to store.
            Err(EngineError::NoManifest(_)) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        let (Some(version), Some(deployment)) = (
            manifest.service(service.as_str()),
            engine.config().deployments.get(&service),
        ) else {
            return Ok(());
        };
        self.store
            .upsert_deployment(
                &watched.record(id.to_owned(), version, deployment.policy),
                self.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Waits until the notifications sent so far are delivered or given up.
    pub async fn flush_notifications(&self) {
        let handles: Vec<_> = self
            .sending
            .lock()
            .map(|mut handles| handles.drain(..).collect())
            .unwrap_or_default();
        for handle in handles {
            let _ = handle.await;
        }
    }

    /// One pass over every deployment. `triggered` are deployments a webhook asked to check
    /// now, whatever their interval.
    pub async fn cycle(&self, triggered: &BTreeSet<String>) -> Result<CycleReport, CycleError> {
        // While a change cut short cannot be recovered (the Docker Engine is still away), the
        // engine refuses new changes; checks and announcements go on.
        let mut report = CycleReport {
            steps: self.recover_interrupted().await,
        };
        for watched in self.watched() {
            if watched.engine.config().deployments.is_empty() {
                continue;
            }
            // One project's broken manifest does not stop the others.
            let manifest = match watched.engine.manifest() {
                Ok(manifest) => manifest,
                Err(error) => {
                    report.steps.push((
                        watched.describe(),
                        Step::Error(upkeep_update_engine::error_chain(&error)),
                    ));
                    continue;
                }
            };
            for (service, deployment) in &watched.engine.config().deployments {
                let id = watched.id(service.as_str());
                let Some(version) = manifest.service(service.as_str()) else {
                    report.steps.push((
                        id,
                        Step::Error(format!(
                            "not in the manifest of {}; the agent adds containers when it starts, `upkeep init` adds a project's services",
                            watched.engine.state().manifest_path().display()
                        )),
                    ));
                    continue;
                };
                // Rule 1: a disabled deployment is never checked.
                if deployment.policy == Policy::Disabled {
                    continue;
                }
                let record = watched.record(id.clone(), version, deployment.policy);
                let schedule = self.schedule_of(&watched, service);
                let checked_now = triggered.contains(&id);
                if let Err(error) = self
                    .one(
                        &watched,
                        service,
                        &record,
                        &schedule,
                        checked_now,
                        &mut report,
                    )
                    .await
                {
                    report.steps.push((id, Step::Error(error.to_string())));
                }
            }
        }
        // The check history would otherwise grow by every deployment every interval.
        let keep = TimeDelta::from_std(self.config.keep_checks).unwrap_or(TimeDelta::MAX);
        if let Some(before) = self.clock.now().checked_sub_signed(keep) {
            match self.store.prune_checks(before).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, %before, "pruned old check records"),
                Err(error) => report
                    .steps
                    .push(("check history".to_owned(), Step::Error(error.to_string()))),
            }
        }
        Ok(report)
    }

    /// When `service` may be checked and updated: the file's schedule, else its container
    /// labels'; a project's for all its services.
    fn schedule_of(&self, watched: &Watched, service: &ServiceName) -> Schedule {
        if let Some(project) = &watched.project {
            return self
                .config
                .projects
                .get(project)
                .map(|project| project.schedule.clone())
                .unwrap_or_default();
        }
        let labelled = self
            .labelled_schedules
            .read()
            .ok()
            .and_then(|schedules| schedules.get(service).cloned());
        self.config
            .schedules
            .get(service)
            .cloned()
            .or(labelled)
            .unwrap_or_default()
    }

    async fn one(
        &self,
        watched: &Watched,
        service: &ServiceName,
        record: &Deployment,
        schedule: &Schedule,
        triggered: bool,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let now = self.clock.now();
        let id = record.id.as_str();
        self.store.upsert_deployment(record, now).await?;
        // Each deployment's checks fall at its own offset within the jitter, so that many
        // deployments do not ask the registries at the same moment.
        let interval =
            schedule.interval.unwrap_or(self.config.interval) + jitter(id, self.config.jitter);
        let policy = PolicyConfig::new(
            record.policy,
            TimeDelta::from_std(interval).unwrap_or(TimeDelta::hours(1)),
        )
        .unwrap_or_else(|_| PolicyConfig::from(record.policy));
        let last = self.store.last_check(id).await?;
        let mut state = DeploymentState::new(DeploymentStatus::Running, record.current_tag.clone());
        state.last_check = last
            .as_ref()
            .filter(|_| !triggered)
            .map(|check| check.result.checked_at);
        // The versions that failed, from the one store of them: the manifest the engine
        // records each rollback in.
        let failed: Vec<(String, Option<String>)> = watched
            .engine
            .manifest()?
            .service(service.as_str())
            .map(|version| {
                version
                    .failed_versions()
                    .map(|(tag, digest)| (tag.to_owned(), digest.map(str::to_owned)))
                    .collect()
            })
            .unwrap_or_default();
        // A failed tag that names another image than the one that failed (pushed again) is
        // no longer skipped.
        let still_skipped = |target: Option<&str>, digest: Option<&str>| {
            failed
                .iter()
                .filter(|(tag, failed_digest)| {
                    let pushed_again = Some(tag.as_str()) == target
                        && failed_digest.is_some()
                        && digest.is_some()
                        && failed_digest.as_deref() != digest;
                    !pushed_again
                })
                .map(|(tag, _)| tag.clone())
                .collect()
        };
        let mut latest_digest = last.as_ref().and_then(|check| check.target_digest.clone());
        state.skipped = still_skipped(
            last.as_ref()
                .and_then(|check| check.result.target.as_deref()),
            latest_digest.as_deref(),
        );
        if triggered {
            // A push notification: the cached tag list predates it.
            watched.engine.forget_cached(service.as_str()).await?;
        }
        let mut latest = last.map(|check| check.result);
        let mut decision = decide(&state, &policy, latest.as_ref(), now);
        let mut newest = None;
        if decision.actions.contains(&Action::Check) {
            let (result, newest_found, digest) = self.check(watched, service, record, now).await?;
            newest = newest_found;
            report
                .steps
                .push((id.to_owned(), Step::Checked(result.target.clone())));
            state.last_check = Some(now);
            state.skipped = still_skipped(result.target.as_deref(), digest.as_deref());
            latest_digest = digest;
            latest = Some(result);
            decision = decide(&state, &policy, latest.as_ref(), now);
        }
        for action in decision.actions {
            match action {
                Action::Apply { target, kind } => {
                    let Some(step) = self
                        .apply(
                            watched,
                            service,
                            record,
                            schedule,
                            (&target, latest_digest.as_deref()),
                            kind,
                            now,
                        )
                        .await?
                    else {
                        continue;
                    };
                    if step == Step::Applied(target.clone()) {
                        // What the registry said still holds for the new tag until the
                        // interval has passed: record it, so the next cycle does not ask again.
                        let checked_at = latest.as_ref().map_or(now, |result| result.checked_at);
                        self.record_after_update(
                            watched,
                            service,
                            id,
                            &target,
                            newest.as_deref(),
                            checked_at,
                        )
                        .await?;
                    }
                    report.steps.push((id.to_owned(), step));
                }
                Action::Notify(CoreNotice::UpdateAvailable { target, kind, .. }) => {
                    let notice = Notice::update_available(
                        id,
                        &record.image,
                        &record.current_tag,
                        &target,
                        kind,
                        schedule
                            .release_notes
                            .as_ref()
                            .map(|notes| notes.link(&target)),
                        now,
                    );
                    if self.announce(notice, now).await? {
                        report.steps.push((id.to_owned(), Step::Announced(target)));
                    }
                }
                // A running deployment is never failed here: the engine rolls a failed update
                // back itself, within `apply`.
                _ => {}
            }
        }
        Ok(())
    }

    /// Records the check made before an update as if made for the new tag: the newest
    /// eligible version it found is the target from there, when it is newer.
    async fn record_after_update(
        &self,
        watched: &Watched,
        service: &ServiceName,
        id: &str,
        applied: &str,
        newest: Option<&str>,
        checked_at: Timestamp,
    ) -> Result<(), CycleError> {
        let scheme = watched
            .engine
            .config()
            .deployments
            .get(service)
            .map(|deployment| deployment.scheme.clone())
            .unwrap_or_default();
        let onward = newest
            .filter(|newest| *newest != applied)
            .map(|newest| (newest.to_owned(), classify(applied, newest, &scheme)))
            .filter(|(_, kind)| !matches!(kind, UpdateKind::None | UpdateKind::Downgrade));
        let result = CheckResult {
            checked_at,
            current_tag: applied.to_owned(),
            kind: onward.as_ref().map_or(UpdateKind::None, |(_, kind)| *kind),
            target: onward.map(|(tag, _)| tag),
        };
        self.store
            .record_check(
                id,
                &Check {
                    result,
                    target_digest: None,
                    error: None,
                },
            )
            .await?;
        Ok(())
    }

    /// Asks the registry through the engine's plan and stores the result; also returns the
    /// newest eligible version under the configured constraints.
    async fn check(
        &self,
        watched: &Watched,
        service: &ServiceName,
        record: &Deployment,
        now: Timestamp,
    ) -> Result<(CheckResult, Option<String>, Option<String>), CycleError> {
        let entries = watched
            .engine
            .plan(&PlanRequest {
                services: vec![service.to_string()],
                ..PlanRequest::default()
            })
            .await?;
        let entry = entries.into_iter().next();
        let newest = entry.as_ref().and_then(|entry| entry.newest.clone());
        let target_digest = entry.as_ref().and_then(|entry| entry.target_digest.clone());
        let (target, kind, error) = match &entry {
            // To apply or to announce: `decide` tells which by the policy.
            Some(PlanEntry {
                action: PlanAction::Update | PlanAction::Hold,
                target: Some(target),
                kind,
                ..
            }) => (Some(target.clone()), *kind, None),
            Some(PlanEntry {
                action: PlanAction::Unknown,
                why,
                ..
            }) => (None, UpdateKind::None, Some(why.clone())),
            _ => (None, UpdateKind::None, None),
        };
        let result = CheckResult {
            checked_at: now,
            current_tag: record.current_tag.clone(),
            target,
            kind,
        };
        self.store
            .record_check(
                &record.id,
                &Check {
                    result: result.clone(),
                    target_digest: target_digest.clone(),
                    error,
                },
            )
            .await?;
        Ok((result, newest, target_digest))
    }

    /// Applies `target` when the window and the minimum age allow, and tells people. `None`
    /// while a wait already reported goes on.
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        watched: &Watched,
        service: &ServiceName,
        record: &Deployment,
        schedule: &Schedule,
        (target, checked_digest): (&str, Option<&str>),
        kind: UpdateKind,
        now: Timestamp,
    ) -> Result<Option<Step>, CycleError> {
        let id = record.id.as_str();
        // Whether the window and the minimum age let the move be made by itself is the
        // planner's to say; the image the age counts for is the one checked.
        if let Some((key, why)) = self
            .held_by_schedule(record, schedule, target, kind, checked_digest, now)
            .await?
        {
            return self.wait(now, record, target, key, why).await;
        }
        let Some(_one_at_a_time) = self.change_slot().await else {
            let why = format!(
                "another change is still under way after {} s; {target} is applied in a later cycle",
                CHANGE_WAIT.as_secs()
            );
            return self
                .wait(now, record, target, "change_under_way", why)
                .await;
        };
        let plan = watched
            .engine
            .plan(&PlanRequest {
                services: vec![service.to_string()],
                to: Some(target.to_owned()),
                latest: false,
            })
            .await?;
        // The image the minimum age was counted for must be the one applied: a tag pushed
        // again since the check names another image, whose own age counts.
        let planned_digest = plan.first().and_then(|entry| entry.target_digest.clone());
        if let (Some(checked), Some(planned)) = (checked_digest, planned_digest.as_deref())
            && checked != planned
            && self
                .held_by_schedule(record, schedule, target, kind, Some(planned), now)
                .await?
                .is_some()
        {
            let why = format!(
                "{target} names another image than when it was checked; it is applied once that image is old enough"
            );
            return self.wait(now, record, target, "pushed_again", why).await;
        }
        let outcomes = watched.engine.apply(&plan, false).await?;
        let Some(outcome) = outcomes.into_iter().next() else {
            return Ok(Some(Step::Error(format!(
                "{target} was not applied: {plan:?}"
            ))));
        };
        let (step, notice, kind_word) = match outcome.result {
            OutcomeKind::Changed => (
                Step::Applied(target.to_owned()),
                Some(Notice::update_applied(
                    id,
                    &record.image,
                    &record.current_tag,
                    target,
                    kind,
                    now,
                )),
                "applied",
            ),
            // The engine has recorded the failed version in the manifest, which later plans
            // (this agent's, the CLI's, the API's) skip.
            OutcomeKind::RolledBack => (
                Step::RolledBack(target.to_owned()),
                Some(Notice::update_rolled_back(
                    id,
                    &record.image,
                    &record.current_tag,
                    target,
                    kind,
                    &outcome.message,
                    now,
                )),
                "rolled_back",
            ),
            OutcomeKind::Stranded => (
                Step::RollbackFailed(target.to_owned()),
                Some(Notice::rollback_failed(
                    id,
                    &record.image,
                    &record.current_tag,
                    target,
                    kind,
                    &outcome.message,
                    now,
                )),
                "rollback_failed",
            ),
            // Not the tag's fault: the journal keeps the change, and the next cycle (or the
            // next start) recovers it once the engine answers.
            OutcomeKind::Interrupted => (Step::Interrupted(target.to_owned()), None, "interrupted"),
            _ => (Step::Failed(outcome.message.clone()), None, "failed"),
        };
        self.record_current(id).await?;
        self.event(now, id, kind_word, record, target, &outcome.message)
            .await?;
        if let Some(mut notice) = notice {
            notice.release_notes = schedule
                .release_notes
                .as_ref()
                .map(|notes| notes.link(target));
            self.announce(notice, now).await?;
        }
        Ok(Some(step))
    }

    /// Asks the planner whether `schedule` holds the move to `target` (the image `digest`)
    /// now; if so, the wait's key and why, in words.
    async fn held_by_schedule(
        &self,
        record: &Deployment,
        schedule: &Schedule,
        target: &str,
        kind: UpdateKind,
        digest: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<(&'static str, String)>, CycleError> {
        if schedule.window.is_none() && schedule.min_age.is_none() {
            return Ok(None);
        }
        // Counted from the first sighting of this image under the tag: a tag pushed again
        // with other content starts the clock again.
        let first_seen = if schedule.min_age.is_some() {
            self.store.first_seen(&record.id, target, digest).await?
        } else {
            None
        };
        let moving = planner::Plan {
            newest: Some((target.to_owned(), kind)),
            decision: planner::Decision::Move {
                target: target.to_owned(),
                kind,
                digest: digest.map(str::to_owned),
                reason: planner::MoveReason::Policy { waiting: None },
            },
            skipped: Vec::new(),
        };
        let gated = planner::gate(
            moving,
            &planner::Schedule {
                window: schedule.window.as_ref(),
                min_age: schedule
                    .min_age
                    .map(|age| TimeDelta::from_std(age).unwrap_or(TimeDelta::MAX)),
            },
            first_seen,
            now,
        );
        Ok(match gated.decision {
            planner::Decision::Hold {
                reason: HoldReason::OutsideWindow { opens },
                ..
            } => {
                let window = schedule
                    .window
                    .as_ref()
                    .map(|window| window.describe())
                    .unwrap_or_default();
                let opens = opens.map_or_else(
                    || "; it does not open within four years".to_owned(),
                    |opens| format!(" (it opens at {})", opens.format("%Y-%m-%d %H:%M UTC")),
                );
                Some((
                    "window",
                    format!(
                        "{} -> {target} waits for the update window {window}{opens}",
                        record.current_tag
                    ),
                ))
            }
            planner::Decision::Hold {
                reason: HoldReason::TooNew { seen, until },
                ..
            } => Some((
                "min_age",
                format!(
                    "{target} is known for {} min; it is applied once it is {} min old",
                    now.signed_duration_since(seen).num_minutes(),
                    until.signed_duration_since(seen).num_minutes()
                ),
            )),
            _ => None,
        })
    }

    /// Notes that the update to `target` waits for `reason`: in the event log and the report
    /// once per (deployment, target, reason), since the daemon decides every tick and a
    /// window can be a day away.
    async fn wait(
        &self,
        now: Timestamp,
        record: &Deployment,
        target: &str,
        reason: &str,
        why: String,
    ) -> Result<Option<Step>, CycleError> {
        let id = record.id.as_str();
        // The ledger of announcements doubles as the ledger of waits; notices' keys end in
        // their kind (`update_available`, ...), so these cannot collide with them.
        let key = format!("{id}|{target}|waiting_for_{reason}");
        if !self.store.mark_notified(&key, now).await? {
            return Ok(None);
        }
        self.event(now, id, "waiting", record, target, &why).await?;
        Ok(Some(Step::Waiting(why)))
    }

    async fn event(
        &self,
        now: Timestamp,
        id: &str,
        kind: &str,
        record: &Deployment,
        target: &str,
        message: &str,
    ) -> Result<(), CycleError> {
        self.store
            .append_event(&Event {
                at: now,
                deployment: Some(id.to_owned()),
                kind: kind.to_owned(),
                from_tag: Some(record.current_tag.clone()),
                to_tag: Some(target.to_owned()),
                message: message.to_owned(),
            })
            .await?;
        Ok(())
    }

    /// Sends `notice` once per (deployment, version, event), in the background. True when it
    /// was not sent before.
    async fn announce(&self, notice: Notice, now: Timestamp) -> Result<bool, CycleError> {
        if !self.store.mark_notified(&notice.dedup_key(), now).await? {
            return Ok(false);
        }
        if let Some(notifier) = &self.notifier {
            let notifier = notifier.clone();
            let metrics = self.metrics.clone();
            let handle = tokio::spawn(async move {
                let deliveries = notifier.send(&notice).await;
                if let Some(metrics) = metrics {
                    for delivery in deliveries {
                        if delivery.ok {
                            metrics.notifications_sent.inc();
                        } else {
                            metrics.notifications_failed.inc();
                        }
                    }
                }
            });
            if let Ok(mut sending) = self.sending.lock() {
                sending.retain(|handle| !handle.is_finished());
                sending.push(handle);
            }
        }
        Ok(true)
    }
}

/// One engine the agent drives: its own (the file's and the labels' deployments, in its
/// state directory), or a project's (in the project's directory).
#[derive(Clone)]
struct Watched {
    /// The project's name; `None` for the agent's own deployments.
    project: Option<String>,
    engine: Arc<Engine>,
}

impl Watched {
    /// The deployment id of `service`: its name, or `PROJECT:SERVICE` in a project.
    fn id(&self, service: &str) -> String {
        match &self.project {
            Some(project) => format!("{project}{PROJECT_SEPARATOR}{service}"),
            None => service.to_owned(),
        }
    }

    fn source(&self) -> DeploymentSource {
        if self.project.is_some() {
            DeploymentSource::Compose
        } else {
            DeploymentSource::Config
        }
    }

    /// The stored row of deployment `id`, running `version` under `policy`.
    fn record(&self, id: String, version: &ServiceVersion, policy: Policy) -> Deployment {
        Deployment {
            id,
            image: version.image().to_owned(),
            current_tag: version.current_tag().to_owned(),
            current_digest: version.image_digest().map(str::to_owned),
            policy,
            source: self.source(),
        }
    }

    /// Names the engine in a report: `project shop`, or the agent's state directory.
    fn describe(&self) -> String {
        match &self.project {
            Some(project) => format!("project {project}"),
            None => self.engine.state().manifest_path().display().to_string(),
        }
    }
}

/// A recovery in words: `undone web (cut short at health_check): ...`.
fn describe(recovered: &Recovered) -> String {
    format!(
        "{} {} (cut short at {}): {}",
        recovered.action, recovered.service, recovered.step, recovered.message
    )
}

/// A fixed offset in `0..jitter` for deployment `id`: the same across cycles and restarts
/// (FNV-1a of the name), different between deployments.
fn jitter(id: &str, jitter: std::time::Duration) -> std::time::Duration {
    let millis = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return std::time::Duration::ZERO;
    }
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    std::time::Duration::from_millis(hash % millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_stable_per_deployment_and_within_bounds() {
        let spread = std::time::Duration::from_secs(300);
        let offsets: Vec<_> = (0..50)
            .map(|n| jitter(&format!("web-{n}"), spread))
            .collect();
        assert!(offsets.iter().all(|offset| *offset < spread));
        assert_eq!(jitter("web-1", spread), offsets[1]);
        let distinct: BTreeSet<_> = offsets.iter().collect();
        assert!(distinct.len() > 40, "spread out: {distinct:?}");
        assert_eq!(
            jitter("web", std::time::Duration::ZERO),
            std::time::Duration::ZERO
        );
    }
}
