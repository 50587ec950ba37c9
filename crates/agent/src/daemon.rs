//! The daemon around the cycle: builds the agent from its configuration, finds labelled
//! containers, runs a cycle on every tick and whenever a push asks for one, and stops
//! between cycles on a shutdown signal, so an update in flight is finished (or journaled by
//! the engine if the process is killed) rather than cut.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use upkeep_registry_clients::credentials::CredentialStore;
use upkeep_registry_clients::router::{RegistryRouter, RouterConfig};
use upkeep_update_engine::config::{Config, Problem};
use upkeep_update_engine::engine::{Engine, EngineBuilder, LockWait, Registries};
use upkeep_update_engine::hint::HintWords as _;
use upkeep_update_engine::runtime::{DockerRuntime, repository};
use upkeep_versioning_core::manifest::ServiceName;
use upkeep_versioning_core::reference::ImageRef;

use crate::agent::Agent;
use crate::api::{self, ApiSettings, ApiState, Control, ControlError, Metrics};
use crate::config::{AgentConfig, ENABLE_LABEL, Schedule, from_labels};
use crate::cycle::{CycleError, CycleReport, Step};
use crate::hints::ApiWords;
use crate::id::DeploymentId;
use crate::notify::{Notifier, RetryPolicy, Target};
use crate::store::{Store, StoreError};
use crate::webhooks::Push;
use upkeep_versioning_core::clock::{Clock, SystemClock};

/// How often the daemon wakes to see which deployments are due. Deciding costs no registry
/// request; only due deployments are checked.
pub const TICK: Duration = Duration::from_secs(30);

/// The daemon as the HTTP API sees it: checks are queued for the next cycle, which starts
/// at once; updates and rollbacks run now, one change at a time with the cycle's.
struct DaemonControl {
    trigger: Trigger,
    /// The Docker client `/health` pings, kept between requests: connecting negotiates the
    /// API version, one more request each time.
    docker: std::sync::RwLock<Option<DockerRuntime>>,
}

fn outcome_json(
    outcomes: Vec<upkeep_update_engine::engine::Outcome>,
) -> Result<serde_json::Value, ControlError> {
    let Some(outcome) = outcomes.into_iter().next() else {
        return Err(ControlError::Conflict {
            message: "nothing to do: the plan has no change for this deployment".to_owned(),
        });
    };
    serde_json::to_value(outcome).map_err(|error| ControlError::Failed {
        message: error.to_string(),
    })
}

/// An engine as the agent runs it: waiting a bounded time for another writer, on the
/// agent's clock, wording its advice as API requests for the deployments of `project` (the
/// agent's own for `None`).
fn agent_engine(
    directory: &Path,
    router: &Arc<RegistryRouter>,
    clock: &Arc<dyn Clock>,
    project: Option<&str>,
) -> EngineBuilder {
    Engine::builder(directory, Arc::clone(router) as Arc<dyn Registries>)
        .lock_wait(LOCK_WAIT)
        .clock(Arc::clone(clock))
        .hint_words(Arc::new(ApiWords::new(project)))
}

fn control_error(error: CycleError) -> ControlError {
    let mut message = error.to_string();
    // The engine's advice, in the API's words.
    if let CycleError::Engine(engine_error) = &error
        && let Some(hint) = engine_error.hint()
    {
        message = format!("{message}; see {}", ApiWords::new(None).word(&hint));
    }
    match error {
        CycleError::Engine(upkeep_update_engine::engine::EngineError::UnknownService {
            ..
        }) => ControlError::NotFound { message },
        CycleError::Engine(error) if error.is_invalid_request() => {
            ControlError::Rejected { message }
        }
        _ => ControlError::Failed { message },
    }
}

#[async_trait::async_trait]
impl Control for DaemonControl {
    async fn check_now(&self, deployment: &str) -> Result<(), ControlError> {
        self.trigger.check(deployment);
        Ok(())
    }

    async fn apply(
        &self,
        deployment: &str,
        tag: Option<upkeep_versioning_core::reference::Tag>,
    ) -> Result<serde_json::Value, ControlError> {
        let outcomes = self
            .trigger
            .agent
            .apply_now(deployment, tag.map(|tag| tag.as_str().to_owned()))
            .await
            .map_err(control_error)?;
        outcome_json(outcomes)
    }

    async fn rollback(&self, deployment: &str) -> Result<serde_json::Value, ControlError> {
        let outcomes = self
            .trigger
            .agent
            .rollback_now(deployment)
            .await
            .map_err(control_error)?;
        outcome_json(outcomes)
    }

    async fn docker_reachable(&self) -> bool {
        let kept = self.docker.read().ok().and_then(|kept| kept.clone());
        if let Some(docker) = kept
            && docker.ping().await.is_ok()
        {
            return true;
        }
        // Away, or restarted under the kept client: connecting afresh (which asks the engine
        // its version) tells which, so a restart costs no false 503.
        let connected = DockerRuntime::connect().await.ok();
        let reachable = connected.is_some();
        if let Ok(mut kept) = self.docker.write() {
            *kept = connected;
        }
        reachable
    }

    async fn pushed_deployments(&self, pushes: Vec<Push>) -> Vec<String> {
        self.trigger.matching(&pushes)
    }

    async fn without_container(&self) -> Vec<api::WithoutContainer> {
        self.trigger
            .agent
            .without_container()
            .into_iter()
            .map(|(id, image, container)| api::WithoutContainer {
                id,
                image,
                container,
            })
            .collect()
    }
}

/// Why the daemon cannot start or go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// A notification target is wrong.
    #[error("notify: {0}")]
    Notify(String),
    /// The registry clients cannot be built.
    #[error(transparent)]
    Registry(#[from] upkeep_registry_clients::RegistryError),
    /// The credentials cannot be read.
    #[error(transparent)]
    Credentials(#[from] upkeep_registry_clients::credentials::ConfigError),
    /// The database cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cycle failed as a whole.
    #[error(transparent)]
    Cycle(#[from] CycleError),
    /// The HTTP API cannot listen.
    #[error(
        "cannot listen on {address}: {source}; choose another `listen` address or stop what uses it"
    )]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A project's files cannot be read.
    #[error("project {project}: {source}")]
    Project {
        /// The project's name in the configuration.
        project: String,
        /// Why.
        source: Box<upkeep_update_engine::engine::EngineError>,
    },
    /// The state directory cannot be created.
    #[error(
        "cannot create the state directory {path}: {source}; check the `state` setting and its permissions"
    )]
    State {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// How long the agent waits for another process (`upkeep` run by hand on a project, say)
/// that holds a state directory; then that change is left for the next cycle.
const LOCK_WAIT: LockWait = LockWait::AtMost(Duration::from_secs(30));

/// The running agent and the way to ask it for checks.
pub struct Daemon {
    agent: Arc<Agent>,
    metrics: Arc<Metrics>,
    router: Arc<RegistryRouter>,
    /// The one clock the agent, its engines, its API and its registry clients read.
    clock: Arc<dyn Clock>,
    triggers: mpsc::UnboundedSender<String>,
    triggered: mpsc::UnboundedReceiver<String>,
    ignored_labels: IgnoredLabels,
}

impl Daemon {
    /// Builds the agent: opens the database, reads the notification targets, takes over the
    /// configured and labelled containers.
    pub async fn start(config: AgentConfig) -> Result<Self, DaemonError> {
        std::fs::create_dir_all(&config.state).map_err(|source| DaemonError::State {
            path: config.state.display().to_string(),
            source,
        })?;
        let targets = config
            .notify
            .iter()
            .map(|url| {
                url.parse::<Target>()
                    .map_err(|error| DaemonError::Notify(error.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let notifier = if targets.is_empty() {
            None
        } else {
            Some(
                Notifier::new(targets, RetryPolicy::default())
                    .map_err(|error| DaemonError::Notify(error.to_string()))?,
            )
        };
        let store = Store::open(&config.database).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let router = Arc::new(
            RegistryRouter::new(
                RouterConfig::default(),
                Arc::new(CredentialStore::from_process()?),
            )?
            .with_clock(Arc::clone(&clock)),
        );
        let ignored_labels = IgnoredLabels::default();
        let (deployments, labelled_schedules) = deployments(&config, &ignored_labels).await;
        let engine = agent_engine(&config.state, &router, &clock, None).build_with(deployments);
        let mut projects = BTreeMap::new();
        for (name, project) in &config.projects {
            let engine = agent_engine(&project.directory, &router, &clock, Some(name))
                .build()
                .map_err(|source| DaemonError::Project {
                    project: name.clone(),
                    source: Box::new(source),
                })?;
            projects.insert(name.clone(), engine);
        }
        let metrics = Arc::new(Metrics::default());
        let agent = Arc::new(
            Agent::new(config, engine, store, notifier)
                .with_metrics(Arc::clone(&metrics))
                .with_clock(Arc::clone(&clock)),
        );
        agent.set_labelled_schedules(labelled_schedules);
        agent.set_projects(projects);
        // The Docker Engine may be away when the agent starts (both restarting after a
        // reboot, say): it serves its API and retries these every cycle.
        for (deployment, step) in agent.recover_interrupted().await {
            if let Step::Error(error) = step {
                tracing::warn!(%deployment, %error, "retried every cycle");
            }
        }
        if let Err(error) = agent.adopt_containers().await {
            tracing::warn!(error = %upkeep_update_engine::error_chain(&error), "cannot take over the configured containers yet; retried every cycle");
        }
        agent.record_deployments().await?;
        let (triggers, triggered) = mpsc::unbounded_channel();
        Ok(Self {
            agent,
            metrics,
            router,
            clock,
            triggers,
            triggered,
            ignored_labels,
        })
    }

    /// The counters `/metrics` shows.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// The HTTP API over this daemon, for [`serve`](Self::serve) or a test.
    pub fn api(&self) -> axum::Router {
        let config = self.agent.config();
        let state = ApiState::new(
            self.agent.store().clone(),
            Arc::new(DaemonControl {
                trigger: self.trigger(),
                docker: std::sync::RwLock::default(),
            }),
            Arc::clone(&self.metrics),
            ApiSettings::from_config(config),
        )
        .with_clock(Arc::clone(&self.clock));
        api::router(state)
    }

    /// Serves the HTTP API on the configured address, within the default
    /// [`ServerLimits`](api::ServerLimits), until `shutdown` completes and the requests in
    /// flight are done (at most the limits' shutdown timeout).
    pub async fn serve(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
        let address = self.agent.config().listen;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| DaemonError::Listen { address, source })?;
        let router = self.api();
        tracing::info!(%address, "HTTP API listening");
        Ok(tokio::spawn(api::serve(
            listener,
            router,
            api::ServerLimits::default(),
            shutdown,
        )))
    }

    /// The agent.
    pub fn agent(&self) -> Arc<Agent> {
        Arc::clone(&self.agent)
    }

    /// A handle that asks for checks; cheap to clone, usable from the HTTP API.
    pub fn trigger(&self) -> Trigger {
        Trigger {
            agent: Arc::clone(&self.agent),
            sender: self.triggers.clone(),
        }
    }

    /// Runs cycles until `shutdown` completes; a cycle under way is finished first.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut triggered = BTreeSet::new();
        let mut requests_counted = 0;
        loop {
            self.refresh().await;
            let began = std::time::Instant::now();
            match self.agent.cycle(&triggered).await {
                Ok(report) => {
                    count(&self.metrics, &report);
                    log(&report);
                }
                Err(error) => tracing::error!(%error, "cycle failed"),
            }
            self.metrics.record_cycle(began.elapsed());
            let requests: u32 = self.router.requests_sent().await.values().sum();
            self.metrics
                .registry_requests
                .add(u64::from(requests.saturating_sub(requests_counted)));
            requests_counted = requests;
            triggered.clear();
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("shutting down between cycles");
                    return;
                }
                name = self.triggered.recv() => {
                    if let Some(name) = name {
                        triggered.insert(name);
                    }
                    // A push often names several tags at once; take them in one cycle.
                    while let Ok(name) = self.triggered.try_recv() {
                        triggered.insert(name);
                    }
                }
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }

    /// Picks up containers labelled since the last cycle, and policies set through the API
    /// (which last until the agent restarts; the file's policy wins at start).
    async fn refresh(&self) {
        let config = self.agent.config();
        let (mut deployments, labelled_schedules) = deployments(config, &self.ignored_labels).await;
        self.agent.set_labelled_schedules(labelled_schedules);
        for (name, deployment) in &mut deployments.deployments {
            if let Ok(Some(record)) = self.agent.store().deployment(name.as_str()).await {
                deployment.policy = record.deployment.policy;
            }
        }
        let current = self.agent.engine();
        let shape = |config: &Config| {
            config
                .deployments
                .iter()
                .map(|(name, deployment)| (name.clone(), deployment.policy))
                .collect::<Vec<_>>()
        };
        if shape(&deployments) != shape(current.config()) {
            self.agent.replace_engine(
                agent_engine(&config.state, &self.router, &self.clock, None)
                    .build_with(deployments),
            );
        }
        self.refresh_projects().await;
        // Containers not taken over yet: newly labelled, or the Docker Engine was away.
        if let Err(error) = self.agent.adopt_containers().await {
            tracing::warn!(error = %upkeep_update_engine::error_chain(&error), "cannot take over the configured containers");
        }
    }
}

impl Daemon {
    /// Reads each project's `upkeep.yaml` again (`upkeep init` may have added services, or a
    /// person changed a policy), with the policies set through the API on top.
    async fn refresh_projects(&self) {
        let config = self.agent.config();
        let mut engines = BTreeMap::new();
        for (name, project) in &config.projects {
            let file = project
                .directory
                .join(upkeep_update_engine::config::CONFIG_FILE);
            let mut loaded = match Config::load(&file) {
                Ok(loaded) => loaded.unwrap_or_default(),
                Err(error) => {
                    tracing::warn!(project = %name, %error, "keeping the project's previous configuration");
                    continue;
                }
            };
            for (service, deployment) in &mut loaded.deployments {
                let id = DeploymentId::new(Some(name), service.as_str()).to_string();
                if let Ok(Some(record)) = self.agent.store().deployment(&id).await {
                    deployment.policy = record.deployment.policy;
                }
            }
            let unchanged = self
                .agent
                .project_engine(name)
                .is_some_and(|current| current.config().to_yaml() == loaded.to_yaml());
            if !unchanged {
                engines.insert(name.clone(), loaded);
            }
        }
        for (name, loaded) in engines {
            let directory = &config.projects[&name].directory;
            self.agent.set_project(
                &name,
                agent_engine(directory, &self.router, &self.clock, Some(&name)).build_with(loaded),
            );
        }
    }
}

/// Asks the daemon for checks: by deployment, or for the deployments a push concerns.
#[derive(Clone)]
pub struct Trigger {
    agent: Arc<Agent>,
    sender: mpsc::UnboundedSender<String>,
}

impl Trigger {
    /// Checks `deployment` in the next cycle, which starts at once.
    pub fn check(&self, deployment: &str) {
        let _ = self.sender.send(deployment.to_owned());
    }

    /// Checks every deployment whose image is one of the pushed repositories; returns how
    /// many were asked for.
    pub fn pushed(&self, pushes: &[Push]) -> usize {
        let matching = self.matching(pushes);
        for deployment in &matching {
            self.check(deployment);
        }
        matching.len()
    }

    /// The deployments whose image is one of the pushed repositories.
    pub fn matching(&self, pushes: &[Push]) -> Vec<String> {
        self.agent
            .deployment_images()
            .into_iter()
            .filter(|(_, image)| {
                image
                    .parse::<ImageRef>()
                    .is_ok_and(|image| pushes.iter().any(|push| push.name() == image.name()))
            })
            .map(|(deployment, _)| deployment)
            .collect()
    }
}

/// The `(container, label)` pairs already logged as brought by the image, so that each is
/// logged once, not every cycle.
type IgnoredLabels = std::sync::Mutex<BTreeSet<(String, String)>>;

/// The file's deployments, and (with `labels: true`) those of labelled containers with their
/// schedules; the file wins where both name a service.
async fn deployments(
    config: &AgentConfig,
    ignored_labels: &IgnoredLabels,
) -> (Config, BTreeMap<ServiceName, Schedule>) {
    let mut all = config.deployments.clone();
    let mut schedules = BTreeMap::new();
    if !config.labels {
        return (all, schedules);
    }
    let labelled = match DockerRuntime::connect().await {
        Ok(docker) => docker.labelled(&format!("{ENABLE_LABEL}=true")).await,
        Err(error) => Err(error),
    };
    let labelled = match labelled {
        Ok(labelled) => labelled,
        Err(error) => {
            tracing::warn!(%error, "cannot list labelled containers; watching the file's deployments only");
            return (all, schedules);
        }
    };
    for container in labelled {
        for (label, value) in &container.from_image {
            // Once per container and label: the list is read again every cycle.
            let first = ignored_labels
                .lock()
                .is_ok_and(|mut seen| seen.insert((container.name.clone(), label.clone())));
            if first {
                tracing::warn!(
                    container = %container.name,
                    label = %label,
                    value = %value,
                    "ignoring a label the image brought: only labels set on the container (docker run --label, compose labels:) or the agent's file say what upkeep does; to watch this container, set its labels yourself or add it under deployments:"
                );
            }
        }
        match from_labels(
            &container.name,
            repository(&container.image),
            &container.labels,
        ) {
            Ok(Some(found)) => {
                for (name, deployment) in found.config.deployments {
                    schedules.insert(name.clone(), found.schedule.clone());
                    all.deployments.entry(name).or_insert(deployment);
                }
            }
            Ok(None) => {}
            Err(problems) => {
                let problems: Vec<String> = problems.iter().map(Problem::to_string).collect();
                tracing::warn!(container = %container.name, problems = %problems.join("; "), "ignoring a labelled container");
            }
        }
    }
    (all, schedules)
}

/// Counts a cycle's steps into the metrics.
fn count(metrics: &Metrics, report: &CycleReport) {
    for (_, step) in &report.steps {
        match step {
            Step::Checked(_) => metrics.checks.inc(),
            Step::Applied(_) => metrics.updates_applied.inc(),
            Step::RolledBack(_) | Step::RollbackFailed(_) => metrics.rollbacks.inc(),
            Step::Interrupted(_) => metrics.updates_interrupted.inc(),
            _ => {}
        }
    }
}

fn log(report: &CycleReport) {
    for (deployment, step) in &report.steps {
        tracing::info!(%deployment, step = ?step, "cycle");
    }
}
