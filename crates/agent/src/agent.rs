//! The agent: its configuration, its engines (its own and each compose project's), its
//! database, its notifier and its clock, and what it does besides the cycle: taking over
//! containers, recovering changes cut short, and the changes the API asks for.
//!
//! # What this module does not do
//! It decides nothing: what to update, hold or announce is the core's planner's
//! (asked in [`crate::cycle`]); how a change is made is the engine's.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use upkeep_update_engine::config::Placement;
use upkeep_update_engine::engine::{Engine, EngineError, PlanRequest, Recovered, UpdateRequest};
use upkeep_update_engine::runtime::DockerRuntime;
use upkeep_update_engine::setup;
use upkeep_versioning_core::clock::{Clock, SystemClock};
use upkeep_versioning_core::manifest::{ServiceName, ServiceVersion};
use upkeep_versioning_core::policy::Policy;

use crate::config::{AgentConfig, Schedule};
use crate::id::DeploymentId;
use crate::notify::Notifier;
use crate::store::{Deployment, DeploymentSource, Event, EventKind, Store};

use crate::cycle::{CycleError, Step};

/// How long the cycle waits for a change under way before it leaves its own for later,
/// unless [`Agent::with_change_wait`] says otherwise.
pub const CHANGE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The agent: configuration, engine, store and notifier, and a clock.
pub struct Agent {
    pub(crate) config: AgentConfig,
    pub(crate) engine: std::sync::RwLock<Arc<Engine>>,
    /// The engines of the projects the configuration names, by project.
    pub(crate) projects: std::sync::RwLock<std::collections::BTreeMap<String, Arc<Engine>>>,
    pub(crate) labelled_schedules:
        std::sync::RwLock<std::collections::BTreeMap<ServiceName, Schedule>>,
    pub(crate) store: Store,
    pub(crate) notifier: Option<Notifier>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sending: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Held while a change runs: the engine keeps one journal, so changes go one at a time,
    /// whether the cycle or the API asks.
    pub(crate) changes: tokio::sync::Mutex<()>,
    /// How long the cycle waits for [`Agent::changes`] before it goes on without it.
    pub(crate) change_wait: std::time::Duration,
    /// What taking over containers had to say (a container refused, say), logged once each.
    pub(crate) take_over_notes: Mutex<BTreeSet<String>>,
    /// Where notification deliveries are counted, when the daemon serves metrics.
    pub(crate) metrics: Option<Arc<crate::api::Metrics>>,
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
            change_wait: CHANGE_WAIT,
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

    /// Waits `wait` instead of [`CHANGE_WAIT`] for a change under way before the cycle goes
    /// on without it, for tests.
    #[must_use]
    pub fn with_change_wait(mut self, wait: std::time::Duration) -> Self {
        self.change_wait = wait;
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

    /// The right to make a change, waiting at most `change_wait` for a change under way
    /// (one the API asked for, say): the cycle goes on with its other deployments rather
    /// than wait behind a long one. The guard frees the right when dropped, however the
    /// change ends.
    pub(crate) async fn change_slot(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        tokio::time::timeout(self.change_wait, self.changes.lock())
            .await
            .ok()
    }

    pub(crate) async fn recover_holding_lock(
        &self,
        watched: &Watched,
    ) -> Result<Option<(String, String)>, CycleError> {
        let Some(recovered) = watched.engine.recover().await? else {
            return Ok(None);
        };
        self.note_recovered(watched, &recovered).await.map(Some)
    }

    /// Logs a recovery the engine made, and records what runs since.
    pub(crate) async fn note_recovered(
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
                kind: EventKind::Recovered,
                from_tag: None,
                to_tag: None,
                message: message.clone(),
            })
            .await?;
        tracing::warn!(deployment = %id, %message, "recovered an interrupted change");
        Ok((id, message))
    }

    /// The engines the agent drives: its own first, then each project's.
    pub(crate) fn watched(&self) -> Vec<Watched> {
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
    pub(crate) fn locate(&self, id: &str) -> Result<(Watched, ServiceName), CycleError> {
        let parsed = DeploymentId::parse(id);
        let (project, service) = (parsed.project(), parsed.service());
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
            self.log_outcomes(EventKind::AppliedByApi, &watched, &outcomes)
                .await?;
            Ok(outcomes)
        }
        .await;
        self.log_failure(EventKind::ApplyFailedByApi, deployment, result)
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
            self.log_outcomes(EventKind::RolledBackByApi, &watched, &outcomes)
                .await?;
            Ok(outcomes)
        }
        .await;
        self.log_failure(EventKind::RollbackFailedByApi, deployment, result)
            .await
    }

    /// Waits until no change runs: the daemon's last step before it exits, so that a change
    /// asked through the API by a client that has gone away still ends before the process.
    pub async fn changes_finished(&self) {
        drop(self.changes.lock().await);
    }

    /// Logs `result`'s error, if any, as an event of `kind` for `deployment`, and passes it on.
    pub(crate) async fn log_failure<T>(
        &self,
        kind: EventKind,
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
                    kind,
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

    pub(crate) async fn log_outcomes(
        &self,
        kind: EventKind,
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
                    kind,
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
    pub(crate) async fn record_current(&self, id: &str) -> Result<(), CycleError> {
        let Ok((watched, service)) = self.locate(id) else {
            return Ok(());
        };
        let engine = &watched.engine;
        let manifest = match engine.shared_manifest() {
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
}

/// One engine the agent drives: its own (the file's and the labels' deployments, in its
/// state directory), or a project's (in the project's directory).
#[derive(Clone)]
pub(crate) struct Watched {
    /// The project's name; `None` for the agent's own deployments.
    pub(crate) project: Option<String>,
    pub(crate) engine: Arc<Engine>,
}

impl Watched {
    /// The deployment id of `service`: its name, or `PROJECT:SERVICE` in a project.
    pub(crate) fn id(&self, service: &str) -> String {
        DeploymentId::new(self.project.as_deref(), service).to_string()
    }

    pub(crate) fn source(&self) -> DeploymentSource {
        if self.project.is_some() {
            DeploymentSource::Compose
        } else {
            DeploymentSource::Config
        }
    }

    /// The stored row of deployment `id`, running `version` under `policy`.
    pub(crate) fn record(
        &self,
        id: String,
        version: &ServiceVersion,
        policy: Policy,
    ) -> Deployment {
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
    pub(crate) fn describe(&self) -> String {
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
