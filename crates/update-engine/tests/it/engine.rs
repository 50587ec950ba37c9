//! The engine's decisions without Docker: plans, updates, automatic rollbacks, hooks,
//! rollbacks and recovery, on an in-memory registry and a fake runtime that records what it
//! was asked to do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tempfile::TempDir;
use upkeep_registry_clients::{ErrorKind, Manifest as RegistryManifest, Registry, RegistryError};
use upkeep_registry_clients::{TagMetadata, core::reference::Digest};
use upkeep_update_engine::config::Deployment;
use upkeep_update_engine::engine::{
    Engine, EngineError, OutcomeKind, PlanAction, PlanEntry, PlanReason, PlanRequest,
    RecoveryAction, Registries, Report, Reporter, Silent, UpdateRequest,
};
use upkeep_update_engine::hint::Hint;
use upkeep_update_engine::lock::{self, LOCK_FILE};
use upkeep_update_engine::runtime::{
    ContainerState, Exited, PullProgress, PulledImage, ROLLBACK_TAG, RollbackPoint, Runtime,
    RuntimeError, Status,
};
use upkeep_update_engine::store::StateDir;
use upkeep_update_engine::target::{
    Condition, Prepared, Previous, Running, Switched, Target, TargetFuture, TargetHealth, Targets,
    Wanted,
};
use upkeep_versioning_core::journal::{ChangeKind, JournalEntry, JournalVersion, Step};
use upkeep_versioning_core::manifest::{DeployReason, Manifest, Reason, ServiceName};
use upkeep_versioning_core::planner::{HoldReason, MoveReason};
use upkeep_versioning_core::reference::ImageRef;
use upkeep_versioning_core::{Timestamp, UpdateKind};

const IMAGE: &str = "registry.example/team/web";
const TAGS: [&str; 4] = ["1.0.0", "1.0.1", "1.1.0", "2.0.0"];

/// The registry digest of `tag`: its bytes in hex, padded to a sha256.
fn digest(tag: &str) -> String {
    format!("sha256:{:0<64}", hex(tag))
}

/// The image id (config digest) of `tag`, distinct from its registry digest.
fn image_id(tag: &str) -> String {
    format!("sha256:{:f<64}", hex(tag))
}

fn hex(text: &str) -> String {
    assert!(text.len() <= 32, "tag too long for a fake digest: {text}");
    text.bytes().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn reference(tag: &str) -> String {
    format!("{IMAGE}:{tag}")
}

fn tag_of(reference: &str) -> &str {
    reference.rsplit_once(':').map_or(reference, |(_, tag)| tag)
}

/// The tag an image reference names: `IMAGE:TAG`, or `IMAGE@DIGEST` of a fake [`digest`].
fn tag_named(reference: &str) -> String {
    match reference.split_once('@') {
        Some((_, digest)) => {
            let hex = digest.trim_start_matches("sha256:").trim_end_matches('0');
            // A tag's hex may end in a 0 that the padding took: put it back.
            let hex = if hex.len() % 2 == 1 {
                format!("{hex}0")
            } else {
                hex.to_owned()
            };
            (0..hex.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap() as char)
                .collect()
        }
        None => tag_of(reference).to_owned(),
    }
}

/// What the engine pulls for an update to `tag`: the digest it planned.
fn pulled(tag: &str) -> String {
    format!("pull {IMAGE}@{}", digest(tag))
}

/// How the engine names an image pulled by digest: the tag, on the image's id.
fn tagged(tag: &str) -> String {
    format!("tag {} {}", image_id(tag), reference(tag))
}

/// Long ago, so that the engine's own (system clock) records come after it.
fn long_ago() -> Timestamp {
    Timestamp::from_timestamp(1_700_000_000, 0).unwrap()
}

fn later() -> Timestamp {
    Timestamp::from_timestamp(1_700_000_100, 0).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The registry

/// One repository with a fixed tag list; each tag points to [`digest`] of itself.
struct FakeRegistry {
    tags: Vec<String>,
}

impl FakeRegistry {
    fn not_found(repository: &str, what: String) -> RegistryError {
        RegistryError::new(
            "registry.example",
            Some(repository),
            ErrorKind::NotFound { what, code: None },
        )
    }
}

#[async_trait]
impl Registry for FakeRegistry {
    fn host(&self) -> &str {
        "registry.example"
    }

    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        assert_eq!(repository, "team/web");
        Ok(self.tags.clone())
    }

    async fn resolve_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Digest, RegistryError> {
        if self.tags.iter().any(|tag| tag == reference) {
            Ok(digest(reference).parse().unwrap())
        } else {
            Err(Self::not_found(
                repository,
                format!("manifest '{reference}'"),
            ))
        }
    }

    async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<RegistryManifest, RegistryError> {
        Err(Self::not_found(
            repository,
            format!("manifest '{reference}'"),
        ))
    }

    async fn tag_metadata(&self, repository: &str) -> Result<Vec<TagMetadata>, RegistryError> {
        Err(RegistryError::new(
            "registry.example",
            Some(repository),
            ErrorKind::Unsupported {
                operation: "tag metadata",
            },
        ))
    }
}

struct FakeRegistries(Arc<FakeRegistry>);

#[async_trait]
impl Registries for FakeRegistries {
    async fn registry_for(&self, image: &ImageRef) -> Result<Arc<dyn Registry>, RegistryError> {
        assert_eq!(image.registry(), "registry.example");
        let registry: Arc<dyn Registry> = self.0.clone();
        Ok(registry)
    }
}

// ---------------------------------------------------------------------------------------------
// The runtime

/// The one container the fake runtime holds.
#[derive(Debug, Clone)]
struct Container {
    image: String,
    image_id: String,
    status: Status,
    exit_code: i64,
}

impl Container {
    fn running(tag: &str) -> Self {
        Self {
            image: reference(tag),
            image_id: image_id(tag),
            status: Status::Running,
            exit_code: 0,
        }
    }
}

#[derive(Debug, Default)]
struct RuntimeState {
    container: Option<Container>,
    /// Every call, in order, such as `pull registry.example/team/web:1.0.1`.
    calls: Vec<String>,
    /// Tags whose containers exit with code 3 as soon as they start.
    crashing: BTreeSet<String>,
    /// Tags whose pull fails.
    unpullable: BTreeSet<String>,
    /// Tags whose recreate takes the engine away with it: from then on every call fails as
    /// if dockerd had stopped, until [`FakeRuntime::engine_back`].
    engine_leaves_on: BTreeSet<String>,
    engine_away: bool,
}

/// A runtime with one container, `web`, that does in memory what it is asked.
#[derive(Debug, Default)]
struct FakeRuntime {
    state: Mutex<RuntimeState>,
}

impl FakeRuntime {
    fn running(tag: &str) -> Arc<Self> {
        let runtime = Self::default();
        runtime.state.lock().unwrap().container = Some(Container::running(tag));
        Arc::new(runtime)
    }

    fn crash_on(&self, tag: &str) {
        self.state.lock().unwrap().crashing.insert(tag.to_owned());
    }

    fn fail_pull_of(&self, tag: &str) {
        self.state.lock().unwrap().unpullable.insert(tag.to_owned());
    }

    fn engine_leaves_on(&self, tag: &str) {
        self.state
            .lock()
            .unwrap()
            .engine_leaves_on
            .insert(tag.to_owned());
    }

    fn engine_back(&self) {
        self.state.lock().unwrap().engine_away = false;
    }

    /// The error a call gets while the engine is away: the socket refuses.
    fn away(&self, container: &str, action: &'static str) -> Result<(), RuntimeError> {
        if !self.state.lock().unwrap().engine_away {
            return Ok(());
        }
        Err(RuntimeError::Container {
            container: container.to_owned(),
            action,
            source: bollard::errors::Error::IOError {
                err: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            },
        })
    }

    fn set_container(&self, container: Container) {
        self.state.lock().unwrap().container = Some(container);
    }

    fn container(&self) -> Container {
        self.state.lock().unwrap().container.clone().unwrap()
    }

    /// Every call, inspections included.
    fn all_calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls that could change something: everything but `inspect`.
    fn calls(&self) -> Vec<String> {
        self.all_calls()
            .into_iter()
            .filter(|call| !call.starts_with("inspect "))
            .collect()
    }

    fn record(&self, call: String) {
        self.state.lock().unwrap().calls.push(call);
    }

    fn state_of(name: &str, container: &Container) -> ContainerState {
        let mut state = ContainerState::new(
            name,
            format!("id-{}", tag_of(&container.image)),
            container.image.clone(),
            container.image_id.clone(),
            container.status,
        );
        state.exit_code = container.exit_code;
        state.repo_digest = Some(digest(tag_of(&container.image)));
        state
    }

    fn current(&self, name: &str) -> Result<ContainerState, RuntimeError> {
        assert_eq!(name, "web", "the engine asked for another container");
        let state = self.state.lock().unwrap();
        match &state.container {
            Some(container) => Ok(Self::state_of(name, container)),
            None => Err(RuntimeError::ContainerNotFound {
                container: name.to_owned(),
            }),
        }
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    async fn inspect(&self, container: &str) -> Result<ContainerState, RuntimeError> {
        self.record(format!("inspect {container}"));
        self.away(container, "inspect")?;
        self.current(container)
    }

    async fn pull(
        &self,
        container: &str,
        image: &str,
        _progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<PulledImage, RuntimeError> {
        self.record(format!("pull {image}"));
        assert_eq!(container, "web");
        let tag = tag_named(image);
        let tag = tag.as_str();
        if self.state.lock().unwrap().unpullable.contains(tag) {
            return Err(RuntimeError::ImageNotFound {
                image: image.to_owned(),
            });
        }
        Ok(PulledImage::new(
            image,
            image_id(tag),
            vec![format!("{IMAGE}@{}", digest(tag))],
        ))
    }

    async fn keep_for_rollback(&self, container: &str) -> Result<RollbackPoint, RuntimeError> {
        self.record(format!("keep {container}"));
        let state = self.current(container)?;
        let mut point = RollbackPoint::new(
            container,
            state.image,
            format!("{IMAGE}:{ROLLBACK_TAG}"),
            state.image_id,
        );
        point.repo_digest = state.repo_digest;
        Ok(point)
    }

    async fn recreate(&self, container: &str, image: &str) -> Result<ContainerState, RuntimeError> {
        self.record(format!("recreate {container} {image}"));
        let tag = tag_of(image);
        let mut state = self.state.lock().unwrap();
        let crashes = state.crashing.contains(tag);
        let new = Container {
            image: image.to_owned(),
            image_id: image_id(tag),
            status: if crashes {
                Status::Exited
            } else {
                Status::Running
            },
            exit_code: if crashes { 3 } else { 0 },
        };
        let reported = Self::state_of(container, &new);
        state.container = Some(new);
        if state.engine_leaves_on.contains(tag) {
            state.engine_away = true;
        }
        Ok(reported)
    }

    async fn undo_interrupted_recreate(&self, container: &str) -> Result<bool, RuntimeError> {
        self.record(format!("undo_interrupted_recreate {container}"));
        Ok(false)
    }

    async fn restore(
        &self,
        container: &str,
        point: &RollbackPoint,
    ) -> Result<ContainerState, RuntimeError> {
        self.record(format!(
            "restore {container} {} {}",
            point.reference, point.image_id
        ));
        self.away(container, "restore")?;
        let restored = Container {
            image: point.reference.clone(),
            image_id: point.image_id.clone(),
            status: Status::Running,
            exit_code: 0,
        };
        let reported = Self::state_of(container, &restored);
        self.state.lock().unwrap().container = Some(restored);
        Ok(reported)
    }

    async fn tag_image(&self, image_id: &str, reference: &str) -> Result<(), RuntimeError> {
        self.record(format!("tag {image_id} {reference}"));
        Ok(())
    }

    async fn exec(
        &self,
        container: &str,
        command: &[String],
        _timeout: Duration,
    ) -> Result<Exited, RuntimeError> {
        self.record(format!("exec {container} {}", command.join(" ")));
        self.away(container, "exec")?;
        Ok(Exited::Code {
            code: 0,
            last_line: String::new(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The state directory

/// A state directory with `upkeep.yaml`, a manifest, a registry and a runtime.
struct Fixture {
    dir: TempDir,
    registries: Arc<FakeRegistries>,
    runtime: Arc<FakeRuntime>,
}

/// `upkeep.yaml` with one deployment per `(service, extra lines)`, each on the image, fast
/// health checks and the extra lines (indented as deployment fields).
fn config(deployments: &[(&str, &str)]) -> String {
    let mut text = String::from("deployments:\n");
    for (service, extra) in deployments {
        let _ = writeln!(text, "  {service}:\n    image: {IMAGE}\n    container: web");
        text.push_str("    health:\n      retries: 2\n      interval: 10ms\n");
        for line in extra.lines() {
            let _ = writeln!(text, "    {line}");
        }
    }
    text
}

fn name(service: &str) -> ServiceName {
    ServiceName::parse(service).unwrap()
}

/// A manifest where each service was deployed at its tag (with its digest), long ago.
fn manifest(services: &[(&str, &str)]) -> Manifest {
    let mut manifest = Manifest::new();
    for (service, tag) in services {
        manifest
            .deploy(
                &name(service),
                Some(IMAGE),
                tag,
                Some(&digest(tag)),
                DeployReason::Update,
                long_ago(),
            )
            .unwrap();
    }
    manifest
}

impl Fixture {
    fn new(config: &str, manifest: &Manifest, tags: &[&str], running: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("upkeep.yaml"), config).unwrap();
        StateDir::new(dir.path())
            .save(manifest, long_ago())
            .unwrap();
        let registry = FakeRegistry {
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        };
        Self {
            dir,
            registries: Arc::new(FakeRegistries(Arc::new(registry))),
            runtime: FakeRuntime::running(running),
        }
    }

    /// One service `web` at `1.0.0` under `policy`, the tags [`TAGS`], running `1.0.0`.
    fn web(extra: &str) -> Self {
        Self::new(
            &config(&[("web", extra)]),
            &manifest(&[("web", "1.0.0")]),
            &TAGS,
            "1.0.0",
        )
    }

    fn engine(&self) -> Engine {
        self.engine_reporting_to(Arc::new(Silent))
    }

    fn engine_reporting_to(&self, reporter: Arc<dyn Reporter>) -> Engine {
        let runtime: Arc<dyn Runtime> = self.runtime.clone();
        let registries: Arc<dyn Registries> = self.registries.clone();
        Engine::builder(self.dir.path(), registries)
            .runtime(runtime)
            .reporter(reporter)
            .build()
            .unwrap()
    }

    fn state(&self) -> StateDir {
        StateDir::new(self.dir.path())
    }

    fn manifest(&self) -> Manifest {
        self.state().load().unwrap().unwrap().0
    }

    fn journal_left(&self) -> bool {
        self.state().journal_path().exists()
    }

    fn env(&self) -> String {
        std::fs::read_to_string(self.state().env_path()).unwrap()
    }

    /// Every file under the directory with its bytes.
    /// The state files and their contents; the lock file, which only says who last held the
    /// directory, is not state.
    fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().is_some_and(|name| name == LOCK_FILE) {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    let bytes = std::fs::read(&path).unwrap();
                    out.insert(path, bytes);
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(self.dir.path(), &mut files);
        files
    }
}

async fn plan(fx: &Fixture, request: &PlanRequest) -> Vec<PlanEntry> {
    fx.engine().plan(request).await.unwrap()
}

async fn plan_one(fx: &Fixture, request: &PlanRequest) -> PlanEntry {
    let mut entries = plan(fx, request).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    entries.remove(0)
}

// ---------------------------------------------------------------------------------------------
// plan

#[tokio::test]
async fn auto_patch_plans_the_patch_and_says_the_minor_release_waits() {
    let fx = Fixture::web("policy: auto_patch");
    let entry = plan_one(&fx, &PlanRequest::default()).await;
    assert_eq!(entry.action, PlanAction::Update, "{entry:#?}");
    assert_eq!(entry.current, "1.0.0");
    assert_eq!(
        entry.current_digest.as_deref(),
        Some(digest("1.0.0").as_str())
    );
    assert_eq!(entry.target.as_deref(), Some("1.0.1"));
    assert_eq!(entry.kind, UpdateKind::Patch);
    // The newest within the major line (the default `within`), not 2.0.0.
    assert_eq!(entry.newest.as_deref(), Some("1.1.0"));
    assert_eq!(entry.newest_kind, UpdateKind::Minor);
    assert!(entry.why.contains("1.1.0"), "{}", entry.why);
    assert!(entry.why.contains("auto_patch"), "{}", entry.why);
    // The way to the minor release that waits, as data for any frontend to word.
    assert_eq!(
        entry.hints,
        [
            Hint::UpdateLatest {
                service: "web".to_owned()
            },
            Hint::update_to("web", "1.1.0")
        ]
    );
    assert!(matches!(
        &entry.reason,
        PlanReason::Move(MoveReason::Policy { waiting: Some((tag, UpdateKind::Minor)) }) if tag == "1.1.0"
    ));
    // The engine's default words name no frontend's commands.
    assert!(!entry.why.contains("`upkeep"), "{}", entry.why);
    assert!(
        fx.runtime.all_calls().is_empty(),
        "a plan asks no runtime: {:?}",
        fx.runtime.all_calls()
    );
}

#[tokio::test]
async fn notify_only_holds_the_newest_version() {
    let fx = Fixture::web("policy: notify_only");
    let entry = plan_one(&fx, &PlanRequest::default()).await;
    assert_eq!(entry.action, PlanAction::Hold, "{entry:#?}");
    assert_eq!(entry.target.as_deref(), Some("1.1.0"));
    assert_eq!(entry.newest.as_deref(), Some("1.1.0"));
    assert!(entry.why.contains("notify_only"), "{}", entry.why);
}

#[tokio::test]
async fn disabled_holds_and_says_why() {
    let fx = Fixture::web("policy: disabled");
    let entry = plan_one(&fx, &PlanRequest::default()).await;
    assert_eq!(entry.action, PlanAction::Hold, "{entry:#?}");
    assert_eq!(entry.target, None);
    assert!(entry.why.contains("policy disabled"), "{}", entry.why);
    assert_eq!(entry.reason, PlanReason::Hold(HoldReason::Disabled));
    assert!(
        entry.hints.contains(&Hint::UpdateTo {
            service: "web".to_owned(),
            tag: None
        }),
        "{:?}",
        entry.hints
    );
}

#[tokio::test]
async fn latest_moves_across_majors_whatever_the_policy() {
    let fx = Fixture::web("policy: notify_only");
    let request = PlanRequest {
        latest: true,
        ..PlanRequest::default()
    };
    let entry = plan_one(&fx, &request).await;
    assert_eq!(entry.action, PlanAction::Update, "{entry:#?}");
    assert_eq!(entry.target.as_deref(), Some("2.0.0"));
    assert_eq!(entry.kind, UpdateKind::Major);
    assert_eq!(entry.reason, PlanReason::Move(MoveReason::Latest));
}

#[tokio::test]
async fn to_moves_to_the_tag_asked_for_or_names_an_unknown_one() {
    let fx = Fixture::web("policy: notify_only");
    let to = |tag: &str| PlanRequest {
        to: Some(tag.to_owned()),
        ..PlanRequest::default()
    };
    let entry = plan_one(&fx, &to("1.1.0")).await;
    assert_eq!(entry.action, PlanAction::Update, "{entry:#?}");
    assert_eq!(entry.target.as_deref(), Some("1.1.0"));
    assert_eq!(entry.kind, UpdateKind::Minor);
    assert_eq!(entry.reason, PlanReason::Move(MoveReason::Asked));

    let entry = plan_one(&fx, &to("1.0.0")).await;
    assert_eq!(entry.action, PlanAction::UpToDate, "{entry:#?}");

    let entry = plan_one(&fx, &to("9.9.9")).await;
    assert_eq!(entry.action, PlanAction::Unknown, "{entry:#?}");
    assert!(entry.why.contains("9.9.9"), "{}", entry.why);
    assert!(entry.why.contains("not in the registry"), "{}", entry.why);
    assert_eq!(
        entry.hints,
        [Hint::ListTags {
            image: IMAGE.to_owned()
        }]
    );
}

#[tokio::test]
async fn a_custom_pinned_service_is_held() {
    for pinned in ["1.0.0", "hotfix-acme"] {
        let mut manifest = manifest(&[("web", "1.0.0")]);
        manifest.pin(&name("web"), pinned, None, later()).unwrap();
        let fx = Fixture::new(
            &config(&[("web", "policy: auto_major")]),
            &manifest,
            &TAGS,
            pinned,
        );
        let entry = plan_one(&fx, &PlanRequest::default()).await;
        assert!(entry.custom, "{entry:#?}");
        assert_eq!(entry.action, PlanAction::Hold, "{pinned}: {entry:#?}");
        assert!(entry.why.contains("custom tag"), "{}", entry.why);
        assert!(entry.why.contains(pinned), "{}", entry.why);
    }
}

#[tokio::test]
async fn a_service_on_the_newest_version_is_up_to_date() {
    let fx = Fixture::new(
        &config(&[("web", "policy: auto_major")]),
        &manifest(&[("web", "2.0.0")]),
        &TAGS,
        "2.0.0",
    );
    let entry = plan_one(&fx, &PlanRequest::default()).await;
    assert_eq!(entry.action, PlanAction::UpToDate, "{entry:#?}");
    assert_eq!(entry.newest, None);
    assert_eq!(entry.target, None);
    assert!(entry.why.contains("no newer"), "{}", entry.why);
}

#[tokio::test]
async fn plans_cover_every_service_or_the_ones_named() {
    let fx = Fixture::new(
        &config(&[
            ("web", "policy: auto_patch"),
            ("quiet", "policy: notify_only"),
            ("off", "policy: disabled"),
        ]),
        &manifest(&[("web", "1.0.0"), ("quiet", "1.0.0"), ("off", "1.0.0")]),
        &TAGS,
        "1.0.0",
    );
    let entries = plan(&fx, &PlanRequest::default()).await;
    let actions: Vec<(&str, PlanAction)> = entries
        .iter()
        .map(|entry| (entry.service.as_str(), entry.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("off", PlanAction::Hold),
            ("quiet", PlanAction::Hold),
            ("web", PlanAction::Update),
        ]
    );
    let request = PlanRequest {
        services: vec!["quiet".to_owned()],
        ..PlanRequest::default()
    };
    assert_eq!(plan_one(&fx, &request).await.service, "quiet");
    let request = PlanRequest {
        services: vec!["nope".to_owned()],
        ..PlanRequest::default()
    };
    let error = fx.engine().plan(&request).await.unwrap_err().to_string();
    assert!(error.contains("unknown service `nope`"), "{error}");
}

#[tokio::test]
async fn a_failed_tag_is_skipped_and_the_why_says_so() {
    let mut manifest = manifest(&[("web", "1.0.0")]);
    manifest
        .record_failed_update(
            &name("web"),
            "1.0.2",
            None,
            "1.0.2 failed: it crashed",
            later(),
        )
        .unwrap();
    let fx = Fixture::new(
        &config(&[("web", "policy: auto_patch")]),
        &manifest,
        &["1.0.0", "1.0.1", "1.0.2"],
        "1.0.0",
    );
    let entry = plan_one(&fx, &PlanRequest::default()).await;
    assert_eq!(entry.action, PlanAction::Update, "{entry:#?}");
    assert_eq!(entry.target.as_deref(), Some("1.0.1"));
    assert_eq!(entry.newest.as_deref(), Some("1.0.1"));
    assert!(entry.why.contains("1.0.2 is skipped"), "{}", entry.why);
    assert_eq!(entry.skipped, ["1.0.2"]);
    assert_eq!(entry.hints, [Hint::update_to("web", "1.0.2")]);

    // The same with --latest, and with --to the failed tag is tried again.
    let latest = PlanRequest {
        latest: true,
        ..PlanRequest::default()
    };
    let entry = plan_one(&fx, &latest).await;
    assert_eq!(entry.target.as_deref(), Some("1.0.1"), "{entry:#?}");
    assert!(entry.why.contains("1.0.2 is skipped"), "{}", entry.why);
    let to = PlanRequest {
        to: Some("1.0.2".to_owned()),
        ..PlanRequest::default()
    };
    let entry = plan_one(&fx, &to).await;
    assert_eq!(entry.action, PlanAction::Update, "{entry:#?}");
    assert_eq!(entry.target.as_deref(), Some("1.0.2"));
}

#[tokio::test]
async fn a_failed_patch_held_behind_a_minor_release_is_named_as_skipped() {
    // auto_patch would apply 1.0.1, but it failed: the plan holds 1.1.0 and must say why
    // the patch is not applied.
    let mut manifest = manifest(&[("web", "1.0.0")]);
    manifest
        .record_failed_update(
            &name("web"),
            "1.0.1",
            None,
            "1.0.1 failed: it crashed",
            later(),
        )
        .unwrap();
    let fx = Fixture::new(
        &config(&[("web", "policy: auto_patch")]),
        &manifest,
        &TAGS,
        "1.0.0",
    );
    let entry = plan_one(&fx, &PlanRequest::default()).await;
    assert_eq!(entry.action, PlanAction::Hold, "{entry:#?}");
    assert_eq!(entry.target.as_deref(), Some("1.1.0"));
    assert!(entry.why.contains("1.0.1 is skipped"), "{}", entry.why);
}

// ---------------------------------------------------------------------------------------------
// apply

/// A reporter that writes down what it hears, in words.
#[derive(Default)]
struct Heard(Mutex<Vec<String>>);

impl Reporter for Heard {
    fn report(&self, report: &Report<'_>) {
        let said = match report {
            Report::Step { service, step } => format!("{service}: {step}"),
            Report::Planned(plan) => format!("planned {}", plan.len()),
            Report::Finished(outcome) => format!("{}: {:?}", outcome.service, outcome.result),
            Report::Recovered(recovered) => format!("recovered {}", recovered.service),
            _ => return,
        };
        self.0.lock().unwrap().push(said);
    }
}

#[tokio::test]
async fn an_update_asks_for_approval_and_reports_each_part() {
    let fx = Fixture::web("policy: auto_patch");
    let heard = Arc::new(Heard::default());
    let engine = fx.engine_reporting_to(heard.clone());

    // Refused: planned, nothing touched.
    let refuse = |plan: &[PlanEntry]| {
        assert_eq!(plan[0].target.as_deref(), Some("1.0.1"));
        false
    };
    let report = engine
        .update(&UpdateRequest::new(PlanRequest::default()).approve(&refuse))
        .await
        .unwrap();
    assert!(!report.approved);
    assert!(report.outcomes.is_empty());
    assert!(
        fx.runtime.all_calls().is_empty(),
        "{:?}",
        fx.runtime.all_calls()
    );
    assert_eq!(fx.manifest().service("web").unwrap().current_tag(), "1.0.0");

    // Approved: applied, each step reported in order.
    let approve = |_: &[PlanEntry]| true;
    let report = engine
        .update(&UpdateRequest::new(PlanRequest::default()).approve(&approve))
        .await
        .unwrap();
    assert!(report.approved);
    assert_eq!(
        report.outcomes[0].result,
        OutcomeKind::Changed,
        "{report:#?}"
    );
    assert_eq!(fx.manifest().service("web").unwrap().current_tag(), "1.0.1");
    let heard = heard.0.lock().unwrap().clone();
    assert_eq!(
        heard,
        [
            "planned 1".to_owned(),
            "planned 1".to_owned(),
            format!("web: pulling {IMAGE}@{}", digest("1.0.1")),
            format!("web: recreating web from {}", reference("1.0.1")),
            "web: checking health".to_owned(),
            "web: Changed".to_owned(),
        ]
    );
}

#[tokio::test]
async fn a_healthy_update_pulls_keeps_recreates_and_records() {
    let fx = Fixture::web("policy: auto_patch");
    let engine = fx.engine();
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    let outcomes = engine.apply(&plan, false).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    let outcome = &outcomes[0];
    assert_eq!(outcome.result, OutcomeKind::Changed, "{outcome:#?}");
    assert_eq!(
        (outcome.from.as_str(), outcome.to.as_str()),
        ("1.0.0", "1.0.1")
    );
    assert_eq!(outcome.digest.as_deref(), Some(digest("1.0.1").as_str()));
    assert!(outcome.warnings.is_empty(), "{outcome:#?}");

    assert_eq!(
        fx.runtime.calls(),
        [
            pulled("1.0.1"),
            tagged("1.0.1"),
            "keep web".to_owned(),
            format!("recreate web {}", reference("1.0.1")),
        ]
    );
    assert_eq!(fx.runtime.container().image, reference("1.0.1"));

    let manifest = fx.manifest();
    let web = manifest.service("web").unwrap();
    assert_eq!(web.current_tag(), "1.0.1");
    assert_eq!(web.image_digest(), Some(digest("1.0.1").as_str()));
    assert_eq!(web.history()[0].reason(), Reason::Update);
    assert_eq!(web.history()[0].tag(), "1.0.1");
    assert_eq!(web.history()[1].tag(), "1.0.0");
    assert!(
        fx.env().contains(&format!("WEB_IMAGE={IMAGE}:1.0.1\n")),
        "{}",
        fx.env()
    );
    assert!(!fx.journal_left());
    assert!(!fx.state().backups().unwrap().is_empty());
}

#[tokio::test]
async fn a_dry_run_touches_nothing() {
    let fx = Fixture::web("policy: auto_patch");
    let before = fx.files();
    let engine = fx.engine();
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    let outcomes = engine.apply(&plan, true).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].result, OutcomeKind::Unchanged, "{outcomes:#?}");
    assert!(outcomes[0].message.contains("dry run"), "{outcomes:#?}");
    assert!(
        fx.runtime.all_calls().is_empty(),
        "{:?}",
        fx.runtime.all_calls()
    );
    assert_eq!(fx.files(), before);
}

#[tokio::test]
async fn holds_are_not_applied() {
    let fx = Fixture::web("policy: notify_only");
    let engine = fx.engine();
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    assert_eq!(plan[0].action, PlanAction::Hold);
    let before = fx.files();
    assert!(engine.apply(&plan, false).await.unwrap().is_empty());
    assert!(fx.runtime.all_calls().is_empty());
    assert_eq!(fx.files(), before);
}

#[tokio::test]
async fn a_crashing_version_is_rolled_back_and_remembered() {
    let fx = Fixture::web("policy: auto_patch");
    fx.runtime.crash_on("1.0.1");
    let engine = fx.engine();
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    let outcomes = engine.apply(&plan, false).await.unwrap();
    let outcome = &outcomes[0];
    assert_eq!(outcome.result, OutcomeKind::RolledBack, "{outcome:#?}");
    assert!(
        outcome.message.contains("exited with code 3"),
        "{}",
        outcome.message
    );
    assert!(outcome.warnings.is_empty(), "{outcome:#?}");

    assert_eq!(
        fx.runtime.calls(),
        [
            pulled("1.0.1"),
            tagged("1.0.1"),
            "keep web".to_owned(),
            format!("recreate web {}", reference("1.0.1")),
            format!("restore web {} {}", reference("1.0.0"), image_id("1.0.0")),
        ]
    );
    let container = fx.runtime.container();
    assert_eq!(container.image, reference("1.0.0"));
    assert_eq!(container.status, Status::Running);

    let manifest = fx.manifest();
    let web = manifest.service("web").unwrap();
    assert_eq!(web.current_tag(), "1.0.0");
    assert_eq!(web.image_digest(), Some(digest("1.0.0").as_str()));
    let head = &web.history()[0];
    assert_eq!(head.reason(), Reason::Rollback);
    assert_eq!(head.failed(), Some("1.0.1"));
    assert!(
        head.note()
            .is_some_and(|note| note.contains("exited with code 3")),
        "{head:?}"
    );
    assert!(fx.env().contains(&format!("WEB_IMAGE={IMAGE}:1.0.0\n")));
    assert!(!fx.journal_left());

    // The next plan does not try 1.0.1 again.
    let entry = plan_one(&fx, &PlanRequest::default()).await;
    assert_ne!(entry.target.as_deref(), Some("1.0.1"), "{entry:#?}");
    assert_ne!(entry.action, PlanAction::Update, "{entry:#?}");
    assert!(entry.why.contains("1.0.1 is skipped"), "{}", entry.why);
}

#[tokio::test]
async fn an_engine_gone_during_the_health_check_leaves_the_update_to_recovery() {
    let fx = Fixture::web("policy: auto_patch");
    fx.runtime.engine_leaves_on("1.0.1");
    let engine = fx.engine();
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    let outcome = &engine.apply(&plan, false).await.unwrap()[0];
    assert_eq!(outcome.result, OutcomeKind::Interrupted, "{outcome:#?}");
    assert!(
        outcome.message.contains("cannot inspect container `web`")
            && outcome.message.contains("1.0.1 is not marked as failed"),
        "{}",
        outcome.message
    );
    // Nothing can be said of 1.0.1: no rollback was tried, nothing recorded, the journal kept.
    assert!(
        !fx.runtime
            .calls()
            .iter()
            .any(|call| call.starts_with("restore")),
        "{:?}",
        fx.runtime.calls()
    );
    let web = fx.manifest();
    let web = web.service("web").unwrap();
    assert_eq!(web.current_tag(), "1.0.0");
    assert!(web.history().iter().all(|entry| entry.failed().is_none()));
    assert!(fx.journal_left());

    // No other change may overwrite the journal until it is recovered.
    let refused = engine.apply(&plan, false).await.unwrap_err();
    assert!(
        matches!(refused, EngineError::Unrecovered { ref to, .. } if to == "1.0.1"),
        "{refused:?}"
    );
    assert!(engine.recover().await.is_err(), "the engine is still away");
    assert!(fx.journal_left());

    // Back: 1.0.1 was never proven healthy, so 1.0.0 is put back, and 1.0.1 stays eligible.
    fx.runtime.engine_back();
    let recovered = engine.recover().await.unwrap().unwrap();
    assert_eq!(recovered.action, RecoveryAction::Undone, "{recovered:#?}");
    assert_eq!(fx.runtime.container().image, reference("1.0.0"));
    assert!(!fx.journal_left());
    let entry = plan_one(&fx, &PlanRequest::default()).await;
    assert_eq!(entry.action, PlanAction::Update, "{entry:#?}");
    assert_eq!(entry.target.as_deref(), Some("1.0.1"));
}

#[tokio::test]
async fn a_failing_health_command_rolls_back() {
    // A command probe that always fails, with the fast patience.
    let config = config(&[("web", "policy: auto_patch")]).replace(
        "      retries: 2\n",
        "      command: [sh, -c, 'exit 1']\n      timeout: 5s\n      retries: 2\n",
    );
    let fx = Fixture::new(&config, &manifest(&[("web", "1.0.0")]), &TAGS, "1.0.0");
    let engine = fx.engine();
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    let outcome = &engine.apply(&plan, false).await.unwrap()[0];
    assert_eq!(outcome.result, OutcomeKind::RolledBack, "{outcome:#?}");
    assert!(
        outcome
            .message
            .contains("health check command sh -c exit 1 failed after 2 attempts"),
        "{}",
        outcome.message
    );
    // The previous version fails the same probe: said, but it runs again.
    assert_eq!(outcome.warnings.len(), 1, "{outcome:#?}");
    assert!(
        fx.runtime
            .calls()
            .iter()
            .any(|call| call.starts_with("restore web")),
        "{:?}",
        fx.runtime.calls()
    );
    let manifest = fx.manifest();
    assert_eq!(manifest.service("web").unwrap().current_tag(), "1.0.0");
    assert_eq!(
        manifest.service("web").unwrap().history()[0].failed(),
        Some("1.0.1")
    );
    assert!(!fx.journal_left());
}

#[tokio::test]
async fn a_failing_pre_update_hook_changes_nothing() {
    let fx = Fixture::web("policy: auto_patch\nhooks: {pre_update: {command: [sh, -c, 'exit 1']}}");
    let manifest_before = std::fs::read(fx.state().manifest_path()).unwrap();
    let engine = fx.engine();
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    let outcome = &engine.apply(&plan, false).await.unwrap()[0];
    assert_eq!(outcome.result, OutcomeKind::Failed, "{outcome:#?}");
    assert!(
        outcome.message.contains("nothing was changed"),
        "{}",
        outcome.message
    );
    // Only the check that the container exists.
    assert_eq!(fx.runtime.all_calls(), ["inspect web"]);
    assert!(!fx.journal_left());
    assert_eq!(
        std::fs::read(fx.state().manifest_path()).unwrap(),
        manifest_before
    );
}

/// Issue 11: what is pulled is what was planned. An update pulls the digest its plan saw and
/// tags it; a tag that names another image by the time of the pull is refused, with nothing
/// changed.
#[tokio::test]
async fn a_tag_that_moved_since_the_plan_is_refused() {
    let fx = Fixture::web("policy: auto_patch");
    let before = fx.files();
    let engine = fx.engine();
    let mut plan = engine.plan(&PlanRequest::default()).await.unwrap();
    assert_eq!(
        plan[0].target_digest.as_deref(),
        Some(digest("1.0.1").as_str())
    );
    // As if 1.0.1 had named another image when the plan was made.
    plan[0].target_digest = Some(digest("9.9.9"));
    let outcome = &engine.apply(&plan, false).await.unwrap()[0];
    assert_eq!(outcome.result, OutcomeKind::Failed, "{outcome:#?}");
    assert!(
        outcome
            .message
            .contains("registry.example/team/web:1.0.1 moved since the update was planned")
            && outcome.message.ends_with("nothing was changed"),
        "{}",
        outcome.message
    );
    assert!(fx.runtime.calls().is_empty(), "{:?}", fx.runtime.calls());
    assert_eq!(fx.files(), before);
}

#[tokio::test]
async fn a_failed_pull_changes_nothing() {
    let fx = Fixture::web("policy: auto_patch");
    fx.runtime.fail_pull_of("1.0.1");
    let before = fx.files();
    let engine = fx.engine();
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    let outcome = &engine.apply(&plan, false).await.unwrap()[0];
    assert_eq!(outcome.result, OutcomeKind::Failed, "{outcome:#?}");
    assert!(
        outcome.message.contains("nothing was changed"),
        "{}",
        outcome.message
    );
    assert_eq!(fx.runtime.calls(), [pulled("1.0.1")]);
    assert_eq!(fx.runtime.container().image, reference("1.0.0"));
    assert_eq!(fx.files(), before);
}

// ---------------------------------------------------------------------------------------------
// recover

/// A journal of `web` from 1.0.0 to 1.0.1 that reached `step`.
fn journal(step: Step) -> JournalEntry {
    let mut entry = JournalEntry::begin(
        "web",
        JournalVersion {
            tag: "1.0.0".to_owned(),
            digest: Some(digest("1.0.0")),
        },
        JournalVersion {
            tag: "1.0.1".to_owned(),
            digest: None,
        },
        later(),
    );
    entry.advance(Step::Pull);
    if step >= Step::KeepPrevious {
        entry.to.digest = Some(digest("1.0.1"));
        entry.previous_image = Some(image_id("1.0.0"));
    }
    entry.advance(step);
    entry
}

#[tokio::test]
async fn recover_without_a_journal_does_nothing() {
    let fx = Fixture::web("policy: auto_patch");
    assert_eq!(fx.engine().recover().await.unwrap(), None);
    assert!(fx.runtime.all_calls().is_empty());
}

#[tokio::test]
async fn recover_forgets_an_update_cut_short_while_pulling() {
    let fx = Fixture::web("policy: auto_patch");
    fx.state().write_journal(&journal(Step::Pull)).unwrap();
    let before = std::fs::read(fx.state().manifest_path()).unwrap();
    let recovered = fx.engine().recover().await.unwrap().unwrap();
    assert_eq!(
        recovered.action,
        RecoveryAction::Forgotten,
        "{recovered:#?}"
    );
    assert_eq!(recovered.step, Step::Pull);
    assert_eq!(fx.runtime.calls(), ["undo_interrupted_recreate web"]);
    assert_eq!(fx.runtime.container().image, reference("1.0.0"));
    assert_eq!(std::fs::read(fx.state().manifest_path()).unwrap(), before);
    assert!(!fx.journal_left());
}

/// Issue 11: a journal whose owner still runs is a change under way, not an interrupted one:
/// it is left alone (even by a process that holds the lock, as an older upkeep would not
/// have taken it). Once its owner is gone it is recovered.
#[tokio::test]
async fn a_journal_whose_owner_still_runs_is_not_recovered() {
    let fx = Fixture::web("policy: auto_patch");
    let mut owner = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let mut entry = journal(Step::Pull);
    entry.owner = lock::owner_of(owner.id());
    assert!(entry.owner.is_some());
    fx.state().write_journal(&entry).unwrap();
    let error = fx.engine().recover().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the change of web from 1.0.0 to 1.0.1 is still being made by pid {}; wait for it to finish",
            owner.id()
        )
    );
    assert!(fx.runtime.calls().is_empty());
    assert!(fx.journal_left());
    owner.kill().unwrap();
    owner.wait().unwrap();
    let recovered = fx.engine().recover().await.unwrap().unwrap();
    assert_eq!(
        recovered.action,
        RecoveryAction::Forgotten,
        "{recovered:#?}"
    );
    assert!(!fx.journal_left());
}

#[tokio::test]
async fn recover_undoes_an_update_cut_short_after_stopping() {
    let fx = Fixture::web("policy: auto_patch");
    fx.state().write_journal(&journal(Step::Stop)).unwrap();
    // The old container was stopped and nothing runs.
    fx.runtime.set_container(Container {
        status: Status::Exited,
        ..Container::running("1.0.0")
    });
    let recovered = fx.engine().recover().await.unwrap().unwrap();
    assert_eq!(recovered.action, RecoveryAction::Undone, "{recovered:#?}");
    assert_eq!(recovered.step, Step::Stop);
    assert!(
        recovered.message.contains("1.0.0 runs again"),
        "{recovered:#?}"
    );
    assert_eq!(
        fx.runtime.calls(),
        [
            "undo_interrupted_recreate web".to_owned(),
            format!("restore web {} {}", reference("1.0.0"), image_id("1.0.0")),
        ]
    );
    let container = fx.runtime.container();
    assert_eq!(container.image, reference("1.0.0"));
    assert_eq!(container.status, Status::Running);
    let manifest = fx.manifest();
    assert_eq!(manifest.service("web").unwrap().current_tag(), "1.0.0");
    assert_eq!(manifest.service("web").unwrap().history().len(), 1);
    assert!(!fx.journal_left());
}

#[tokio::test]
async fn recover_undoes_a_new_version_never_proven_healthy() {
    let fx = Fixture::web("policy: auto_patch");
    fx.state()
        .write_journal(&journal(Step::HealthCheck))
        .unwrap();
    fx.runtime.set_container(Container::running("1.0.1"));
    let recovered = fx.engine().recover().await.unwrap().unwrap();
    assert_eq!(recovered.action, RecoveryAction::Undone, "{recovered:#?}");
    assert_eq!(fx.runtime.container().image, reference("1.0.0"));
    assert_eq!(fx.manifest().service("web").unwrap().current_tag(), "1.0.0");
    assert!(!fx.journal_left());
}

#[tokio::test]
async fn recover_finishes_an_update_cut_short_while_recording() {
    let fx = Fixture::web("policy: auto_patch");
    fx.state().write_journal(&journal(Step::Record)).unwrap();
    fx.runtime.set_container(Container::running("1.0.1"));
    let recovered = fx.engine().recover().await.unwrap().unwrap();
    assert_eq!(recovered.action, RecoveryAction::Finished, "{recovered:#?}");
    assert_eq!(recovered.step, Step::Record);
    assert_eq!(fx.runtime.calls(), ["undo_interrupted_recreate web"]);
    let manifest = fx.manifest();
    let web = manifest.service("web").unwrap();
    assert_eq!(web.current_tag(), "1.0.1");
    assert_eq!(web.image_digest(), Some(digest("1.0.1").as_str()));
    assert_eq!(web.history()[0].reason(), Reason::Update);
    assert!(fx.env().contains(&format!("WEB_IMAGE={IMAGE}:1.0.1\n")));
    assert!(!fx.journal_left());
}

#[tokio::test]
async fn recover_finishes_a_custom_pin_as_a_custom_pin() {
    let fx = Fixture::web("policy: auto_patch");
    let mut entry = journal(Step::Record);
    entry.change = ChangeKind::SetCustom;
    fx.state().write_journal(&entry).unwrap();
    fx.runtime.set_container(Container::running("1.0.1"));
    let recovered = fx.engine().recover().await.unwrap().unwrap();
    assert_eq!(recovered.action, RecoveryAction::Finished, "{recovered:#?}");
    let manifest = fx.manifest();
    let web = manifest.service("web").unwrap();
    assert_eq!(web.current_tag(), "1.0.1");
    assert!(
        web.is_custom(),
        "a custom pin stays custom when finished by recovery"
    );
    assert_eq!(web.history()[0].reason(), Reason::Set);
}

// ---------------------------------------------------------------------------------------------
// rollback

#[tokio::test]
async fn rollback_without_an_earlier_version_changes_nothing() {
    let fx = Fixture::web("policy: auto_patch");
    let before = fx.files();
    let outcomes = fx.engine().rollback(&[], None, false).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].result, OutcomeKind::Unchanged, "{outcomes:#?}");
    assert!(
        outcomes[0].message.contains("no earlier version"),
        "{outcomes:#?}"
    );
    assert!(fx.runtime.all_calls().is_empty());
    assert_eq!(fx.files(), before);
}

#[tokio::test]
async fn rollback_after_an_update_returns_to_the_previous_version() {
    let fx = Fixture::web("policy: auto_patch");
    let engine = fx.engine();
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    assert_eq!(
        engine.apply(&plan, false).await.unwrap()[0].result,
        OutcomeKind::Changed
    );
    let updated = fx.runtime.calls().len();

    let outcomes = engine.rollback(&[], None, false).await.unwrap();
    let outcome = &outcomes[0];
    assert_eq!(outcome.result, OutcomeKind::Changed, "{outcome:#?}");
    assert_eq!(
        (outcome.from.as_str(), outcome.to.as_str()),
        ("1.0.1", "1.0.0")
    );
    assert_eq!(
        fx.runtime.calls()[updated..],
        [
            format!("pull {}", reference("1.0.0")),
            "keep web".to_owned(),
            format!("recreate web {}", reference("1.0.0")),
        ]
    );
    let manifest = fx.manifest();
    let web = manifest.service("web").unwrap();
    assert_eq!(web.current_tag(), "1.0.0");
    assert_eq!(web.image_digest(), Some(digest("1.0.0").as_str()));
    assert_eq!(web.history()[0].reason(), Reason::Rollback);
    assert_eq!(web.history()[0].failed(), None);
    assert!(fx.env().contains(&format!("WEB_IMAGE={IMAGE}:1.0.0\n")));
    assert!(!fx.journal_left());

    // A rollback of a rollback goes forward again, like `cd -`.
    let outcome = &engine.rollback(&[], None, false).await.unwrap()[0];
    assert_eq!(outcome.to, "1.0.1", "{outcome:#?}");
    assert_eq!(fx.manifest().service("web").unwrap().current_tag(), "1.0.1");
}

#[tokio::test]
async fn a_crashing_rollback_target_is_put_back_too() {
    let fx = Fixture::web("policy: auto_patch");
    let engine = fx.engine();
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    engine.apply(&plan, false).await.unwrap();
    fx.runtime.crash_on("1.0.0");
    let outcome = &engine.rollback(&[], None, false).await.unwrap()[0];
    assert_eq!(outcome.result, OutcomeKind::RolledBack, "{outcome:#?}");
    assert_eq!(fx.runtime.container().image, reference("1.0.1"));
    let manifest = fx.manifest();
    let web = manifest.service("web").unwrap();
    assert_eq!(web.current_tag(), "1.0.1");
    assert_eq!(web.history()[0].failed(), Some("1.0.0"));
}

/// A target that is not a container: a release installed in place (as a tarball run by a
/// service manager would be), kept in memory. It proves that the engine drives anything
/// through the target's verbs alone.
#[derive(Default)]
struct FakeRelease {
    /// The tag installed now, with the artifact (a checksum) it was installed as.
    installed: Mutex<(String, String)>,
    /// Versions that exit as soon as they start.
    sick: BTreeSet<String>,
    calls: Mutex<Vec<String>>,
}

impl FakeRelease {
    fn installed_at(tag: &str, sick: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            installed: Mutex::new((tag.to_owned(), format!("release-{tag}"))),
            sick: sick.iter().map(|tag| (*tag).to_owned()).collect(),
            calls: Mutex::default(),
        })
    }

    fn tag(&self) -> String {
        self.installed.lock().unwrap().0.clone()
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn called(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait]
impl Target for FakeRelease {
    fn name(&self) -> &str {
        "web"
    }

    fn noun(&self) -> &'static str {
        "release"
    }

    async fn running(&self) -> Result<Running, RuntimeError> {
        let (tag, artifact) = self.installed.lock().unwrap().clone();
        Ok(Running::new(
            reference(&tag),
            artifact,
            self.health().await?,
        ))
    }

    async fn prepare(
        &self,
        version: &Wanted,
        _progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<Prepared, RuntimeError> {
        self.called(format!("download {}", version.reference));
        let digest = version
            .digest
            .clone()
            .unwrap_or_else(|| digest(tag_of(&version.reference)));
        Ok(Prepared::new(version.reference.clone(), Some(digest)))
    }

    async fn keep_previous(&self) -> Result<Previous, RuntimeError> {
        let (tag, artifact) = self.installed.lock().unwrap().clone();
        self.called(format!("keep {tag}"));
        Ok(Previous::new(reference(&tag), artifact, None))
    }

    async fn switch(&self, to: &Prepared) -> Result<Switched, RuntimeError> {
        let tag = tag_of(&to.reference).to_owned();
        self.called(format!("switch {tag}"));
        *self.installed.lock().unwrap() = (tag.clone(), format!("release-{tag}"));
        Ok(Switched::Started)
    }

    async fn health(&self) -> Result<TargetHealth, RuntimeError> {
        let condition = if self.sick.contains(&self.tag()) {
            Condition::Exited { code: 1 }
        } else {
            Condition::Running {
                restarts: 0,
                last_exit: 0,
            }
        };
        Ok(TargetHealth::new(condition))
    }

    async fn restore(&self, previous: &Previous) -> Result<(), RuntimeError> {
        let tag = tag_of(&previous.reference).to_owned();
        self.called(format!("restore {tag} {}", previous.artifact));
        *self.installed.lock().unwrap() = (tag, previous.artifact.clone());
        Ok(())
    }

    async fn undo_interrupted_switch(&self) -> Result<bool, RuntimeError> {
        Ok(false)
    }

    async fn run_inside(
        &self,
        _command: &[String],
        _timeout: Duration,
    ) -> Result<Exited, RuntimeError> {
        Err(RuntimeError::Unsupported {
            subject: "release `web`".to_owned(),
            what: "commands run inside it",
        })
    }
}

/// Every deployment is the one release.
struct OneRelease(Arc<FakeRelease>);

impl Targets for OneRelease {
    fn target_for<'a>(&'a self, _deployment: &'a Deployment) -> TargetFuture<'a> {
        let target: Arc<dyn Target> = self.0.clone();
        Box::pin(async move { Ok(target) })
    }
}

#[tokio::test]
async fn a_target_that_is_not_a_container_is_updated_and_rolled_back_through_its_verbs() {
    let fx = Fixture::web("policy: auto_minor");
    let release = FakeRelease::installed_at("1.0.0", &["1.1.0"]);
    let registries: Arc<dyn Registries> = fx.registries.clone();
    let engine = Engine::builder(fx.dir.path(), registries)
        .targets(Arc::new(OneRelease(release.clone())))
        .build()
        .unwrap();

    // auto_minor goes to 1.1.0, which exits at once: the release is put back.
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    assert_eq!(plan[0].target.as_deref(), Some("1.1.0"), "{plan:#?}");
    let outcome = engine.apply(&plan, false).await.unwrap().remove(0);
    assert_eq!(outcome.result, OutcomeKind::RolledBack, "{outcome:#?}");
    assert!(
        outcome.message.contains("release web exited with code 1"),
        "{}",
        outcome.message
    );
    assert_eq!(
        release.calls(),
        [
            format!("download {IMAGE}:1.1.0"),
            "keep 1.0.0".to_owned(),
            "switch 1.1.0".to_owned(),
            "restore 1.0.0 release-1.0.0".to_owned(),
        ]
    );
    assert_eq!(release.tag(), "1.0.0");
    let manifest = fx.manifest();
    let web = manifest.service("web").unwrap();
    assert_eq!(web.current_tag(), "1.0.0");
    assert_eq!(web.history()[0].failed(), Some("1.1.0"));

    // The failed version is passed by: the next update takes the patch, and it stays.
    let plan = engine.plan(&PlanRequest::default()).await.unwrap();
    assert_eq!(plan[0].target.as_deref(), Some("1.0.1"), "{plan:#?}");
    let outcome = engine.apply(&plan, false).await.unwrap().remove(0);
    assert_eq!(outcome.result, OutcomeKind::Changed, "{outcome:#?}");
    assert_eq!(outcome.digest.as_deref(), Some(digest("1.0.1").as_str()));
    assert_eq!(release.tag(), "1.0.1");
    assert_eq!(fx.manifest().service("web").unwrap().current_tag(), "1.0.1");
    assert!(!fx.journal_left());
}
