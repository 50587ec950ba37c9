//! Building an [`Engine`]: the state directory and the registries it needs, and what a
//! caller may choose beyond them (its configuration, the targets, the clock, the reporter,
//! the words of its advice, how it waits for another writer).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use upkeep_versioning_core::clock::{Clock, SystemClock};

use crate::config::{CONFIG_FILE, Config};
use crate::hint::{HintWords, Neutral};
use crate::runtime::Runtime;
use crate::store::StateDir;
use crate::target::{FixedRuntime, PlacedTargets, Targets};

use super::{Engine, EngineError, LockWait, Registries, Reporter, Silent};

/// A builder of an [`Engine`], from [`Engine::builder`].
#[must_use]
pub struct EngineBuilder {
    directory: PathBuf,
    registries: Arc<dyn Registries>,
    targets: Option<Arc<dyn Targets>>,
    reporter: Arc<dyn Reporter>,
    hint_words: Arc<dyn HintWords>,
    lock_wait: LockWait,
    clock: Arc<dyn Clock>,
}

impl EngineBuilder {
    pub(super) fn new(directory: &Path, registries: Arc<dyn Registries>) -> Self {
        Self {
            directory: directory.to_owned(),
            registries,
            targets: None,
            reporter: Arc::new(Silent),
            hint_words: Arc::new(Neutral),
            lock_wait: LockWait::Forever,
            clock: Arc::new(SystemClock),
        }
    }

    /// Runs every deployment on the container runtime `runtime`, instead of the one each
    /// placement chooses.
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.targets = Some(Arc::new(FixedRuntime(runtime)));
        self
    }

    /// Chooses each deployment's target with `targets`, instead of by its placement in
    /// `upkeep.yaml` ([`PlacedTargets`]): how a tool that updates something else than
    /// containers plugs in.
    pub fn targets(mut self, targets: Arc<dyn Targets>) -> Self {
        self.targets = Some(targets);
        self
    }

    /// Sends what the engine does to `reporter` (by default nowhere).
    pub fn reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    /// Words the advice in plans and outcomes as `words` say (by default in words that name
    /// no frontend).
    pub fn hint_words(mut self, words: Arc<dyn HintWords>) -> Self {
        self.hint_words = words;
        self
    }

    /// What a change does when another process holds the state directory (by default it
    /// waits, reporting so once).
    pub fn lock_wait(mut self, lock_wait: LockWait) -> Self {
        self.lock_wait = lock_wait;
        self
    }

    /// Reads the time it records changes at from `clock` (by default the system's).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The engine, with the directory's `upkeep.yaml` (absent means defaults).
    pub fn build(self) -> Result<Engine, EngineError> {
        let config = Config::load(&self.directory.join(CONFIG_FILE))?.unwrap_or_default();
        Ok(self.build_with(config))
    }

    /// The engine, with `config` instead of the directory's `upkeep.yaml` (the agent builds
    /// its configuration from its own file and container labels).
    pub fn build_with(self, config: Config) -> Engine {
        let state = StateDir::new(&self.directory);
        let targets = self
            .targets
            .unwrap_or_else(|| Arc::new(PlacedTargets::new(&self.directory, state.env_path())));
        Engine {
            state,
            base: self.directory,
            config,
            registries: self.registries,
            targets,
            reporter: self.reporter,
            hint_words: self.hint_words,
            lock_wait: self.lock_wait,
            clock: self.clock,
            manifest_cache: std::sync::Mutex::new(None),
        }
    }
}
