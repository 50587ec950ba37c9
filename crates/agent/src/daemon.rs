//! The daemon around the cycle: builds the agent from its configuration, finds labelled
//! containers, runs a cycle on every tick and whenever a push asks for one, and stops
//! between cycles on a shutdown signal, so an update in flight is finished (or journaled by
//! the engine if the process is killed) rather than cut.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use upkeep_registry_clients::credentials::CredentialStore;
use upkeep_registry_clients::router::{RegistryRouter, RouterConfig};
use upkeep_update_engine::config::{Config, Problem};
use upkeep_update_engine::engine::Engine;
use upkeep_update_engine::runtime::{DockerRuntime, repository};
use upkeep_versioning_core::manifest::ServiceName;
use upkeep_versioning_core::reference::ImageRef;

use crate::config::{AgentConfig, ENABLE_LABEL, Schedule, from_labels};
use crate::cycle::{Agent, CycleError, CycleReport};
use crate::notify::{Notifier, RetryPolicy, Target};
use crate::store::{Store, StoreError};
use crate::webhooks::Push;

/// How often the daemon wakes to see which deployments are due. Deciding costs no registry
/// request; only due deployments are checked.
pub const TICK: Duration = Duration::from_secs(30);

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

/// The running agent and the way to ask it for checks.
pub struct Daemon {
    agent: Arc<Agent>,
    router: Arc<RegistryRouter>,
    triggers: mpsc::UnboundedSender<String>,
    triggered: mpsc::UnboundedReceiver<String>,
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
        let router = Arc::new(RegistryRouter::new(
            RouterConfig::default(),
            Arc::new(CredentialStore::from_process()?),
        )?);
        let (deployments, labelled_schedules) = deployments(&config).await;
        let engine = Engine::with_config(&config.state, deployments, router.clone());
        let agent = Arc::new(Agent::new(config, engine, store, notifier));
        agent.set_labelled_schedules(labelled_schedules);
        agent.adopt_containers().await?;
        let (triggers, triggered) = mpsc::unbounded_channel();
        Ok(Self {
            agent,
            router,
            triggers,
            triggered,
        })
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
        loop {
            self.refresh().await;
            match self.agent.cycle(&triggered).await {
                Ok(report) => log(&report),
                Err(error) => tracing::error!(%error, "cycle failed"),
            }
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

    /// Picks up containers labelled since the last cycle.
    async fn refresh(&self) {
        let config = self.agent.config();
        if !config.labels {
            return;
        }
        let (deployments, labelled_schedules) = deployments(config).await;
        self.agent.set_labelled_schedules(labelled_schedules);
        let current = self.agent.engine();
        let names = |config: &Config| config.deployments.keys().cloned().collect::<Vec<_>>();
        if names(&deployments) != names(current.config()) {
            self.agent.replace_engine(Engine::with_config(
                &config.state,
                deployments,
                self.router.clone(),
            ));
            if let Err(error) = self.agent.adopt_containers().await {
                tracing::warn!(%error, "cannot take over the newly labelled containers");
            }
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
        let engine = self.agent.engine();
        let mut matched = 0;
        for (service, deployment) in &engine.config().deployments {
            let Ok(image) = deployment.image.parse::<ImageRef>() else {
                continue;
            };
            if pushes.iter().any(|push| push.name() == image.name()) {
                self.check(service.as_str());
                matched += 1;
            }
        }
        matched
    }
}

/// The file's deployments, and (with `labels: true`) those of labelled containers with their
/// schedules; the file wins where both name a service.
async fn deployments(config: &AgentConfig) -> (Config, BTreeMap<ServiceName, Schedule>) {
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

fn log(report: &CycleReport) {
    for (deployment, step) in &report.steps {
        tracing::info!(%deployment, step = ?step, "cycle");
    }
}
