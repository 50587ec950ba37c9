//! The agent's cycle on this machine's Docker Engine and a loopback registry, with a test
//! clock, SQLite, and a local HTTP sink catching notifications: `auto_patch` updates and
//! ignores a minor release, `notify_only` announces once (with its release notes link),
//! `disabled` is never checked, a failing version is rolled back and never retried, a later
//! good version is applied, and nothing is asked of the registry again within the interval;
//! updates wait for their window (in its time zone) and for a new tag to age, and say so once;
//! a change under way holds the cycle back only for a while.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use upkeep_agent::agent::Agent;
use upkeep_agent::api::Metrics;
use upkeep_agent::config::AgentConfig;
use upkeep_agent::cycle::Step;
use upkeep_agent::notify::{Notifier, RetryPolicy, Target};
use upkeep_agent::store::{EventKind, Store};
use upkeep_registry_clients::credentials::CredentialStore;
use upkeep_registry_clients::router::{RegistryRouter, RouterConfig};
use upkeep_test_registry::docker::{available as docker_available, free_port, run as docker};
use upkeep_test_registry::{self as support, Auth};
use upkeep_update_engine::engine::{Engine, OutcomeKind};
use upkeep_update_engine::store::JOURNAL_FILE;
use upkeep_versioning_core::{Clock, ManualClock, Timestamp};

use crate::notify::Sink;

/// Containers made for a test, removed when it ends.
struct Containers(Vec<String>, String);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            upkeep_test_registry::docker::remove_container(name);
        }
        for tag in [
            "1.0.0",
            "1.0.1",
            "1.0.2",
            "1.0.5",
            "1.1.0",
            "1.2.0",
            "1.3.0",
            "upkeep-previous",
        ] {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "-f", &format!("{}:{tag}", self.1)])
                .output();
        }
    }
}

fn start(name: &str, image: &str, tag: &str, port: u16) {
    docker(&[
        "run",
        "-d",
        "--name",
        name,
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        &format!("{image}:{tag}"),
    ]);
}

fn deployment(name: &str, image: &str, policy: &str, port: u16) -> String {
    format!(
        "  {name}:\n    image: {image}\n    container: {name}\n    policy: {policy}\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      expected_status: 200\n      timeout: 1s\n      retries: 6\n      interval: 250ms\n"
    )
}

async fn agent(
    config_text: &str,
    dir: &Path,
    sink: &Sink,
    clock: Arc<ManualClock>,
    metrics: Arc<Metrics>,
) -> Agent {
    let file = dir.join("agent.yaml");
    std::fs::write(&file, config_text).unwrap();
    let config = AgentConfig::load(&file, &|_| None).unwrap();
    let router = RegistryRouter::new(
        RouterConfig::default(),
        Arc::new(CredentialStore::from_process().unwrap()),
    )
    .unwrap();
    std::fs::create_dir_all(&config.state).unwrap();
    let engine = Engine::builder(&config.state, Arc::new(router))
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build_with(config.deployments.clone());
    let store = Store::open(&config.database).await.unwrap();
    let target: Target = sink.url("http", "/hook").parse().unwrap();
    let notifier = Notifier::new(vec![target], RetryPolicy::default()).unwrap();
    let agent = Agent::new(config, engine, store, Some(notifier))
        .with_metrics(metrics)
        .with_clock(clock);
    agent.adopt_containers().await.unwrap();
    agent
}

/// A loopback registry holding the web images, and their image name; `None` (the test
/// passes by) without Docker or the registry tools, outside CI.
async fn registry_with_web_images() -> Option<(support::TestRegistry, String)> {
    if !docker_available() {
        return None;
    }
    let registry = support::registry(Auth::None).await?;
    let image = registry.push_web_images().await.unwrap().image;
    Some((registry, image))
}

fn checked(steps: &[&Step]) -> bool {
    steps.iter().any(|step| matches!(step, Step::Checked(_)))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cycle_applies_announces_skips_and_rolls_back_by_policy() {
    let Some((registry, image)) = registry_with_web_images().await else {
        return;
    };
    let id = std::process::id();
    let (patch, notify, off, minor) = (
        format!("agent-patch-{id}"),
        format!("agent-notify-{id}"),
        format!("agent-off-{id}"),
        format!("agent-minor-{id}"),
    );
    let _containers = Containers(
        vec![patch.clone(), notify.clone(), off.clone(), minor.clone()],
        image.clone(),
    );
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    start(&patch, &image, "1.0.0", ports[0]);
    start(&notify, &image, "1.0.0", ports[1]);
    start(&off, &image, "1.0.0", ports[2]);
    start(&minor, &image, "1.0.1", ports[3]);
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::start().await;
    let config = format!(
        "interval: 1h\ndeployments:\n{}{}{}{}{}",
        deployment(&patch, &image, "auto_patch", ports[0]),
        deployment(&notify, &image, "notify_only", ports[1]),
        "    release_notes: https://github.com/acme/web/releases/tag/v{tag}\n",
        deployment(&off, &image, "disabled", ports[2]),
        deployment(&minor, &image, "auto_minor", ports[3]),
    );
    let start_time = Timestamp::from_timestamp(1_790_000_000, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start_time));
    let metrics = Arc::new(Metrics::default());
    let agent = agent(
        &config,
        dir.path(),
        &sink,
        Arc::clone(&clock),
        Arc::clone(&metrics),
    )
    .await;
    let none = BTreeSet::new();

    // Cycle 1.
    let report = agent.cycle(&none).await.unwrap();
    agent.flush_notifications().await;
    assert_eq!(
        report.of(&patch)[1],
        &Step::Applied("1.0.1".to_owned()),
        "{report:#?}"
    );
    assert_eq!(
        report.of(&notify)[1],
        &Step::Announced("1.2.0".to_owned()),
        "{report:#?}"
    );
    assert!(
        report.of(&off).is_empty(),
        "disabled is never checked: {report:#?}"
    );
    assert!(agent.store().last_check(&off).await.unwrap().is_none());
    // auto_minor goes for 1.2.0, which crashes: rolled back and skipped from now on.
    assert_eq!(
        report.of(&minor)[1],
        &Step::RolledBack("1.2.0".to_owned()),
        "{report:#?}"
    );
    let running = |name: &str| docker(&["inspect", "--format", "{{.Config.Image}}", name]);
    assert_eq!(running(&patch), format!("{image}:1.0.1"));
    assert_eq!(running(&notify), format!("{image}:1.0.0"));
    assert_eq!(running(&minor), format!("{image}:1.0.1"));
    let sent: Vec<serde_json::Value> = sink.received().iter().map(|r| r.json()).collect();
    let kinds: Vec<(String, String)> = sent
        .iter()
        .map(|n| {
            (
                n["deployment"].as_str().unwrap().to_owned(),
                n["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&(patch.clone(), "update_applied".to_owned())),
        "{sent:#?}"
    );
    assert!(
        kinds.contains(&(notify.clone(), "update_available".to_owned())),
        "{sent:#?}"
    );
    // Where the deployment says its release notes are; nowhere for one that does not say.
    for notice in &sent {
        let expected = (notice["deployment"] == notify.as_str())
            .then_some("https://github.com/acme/web/releases/tag/v1.2.0");
        assert_eq!(notice["release_notes"].as_str(), expected, "{notice:#}");
    }
    assert!(
        kinds.contains(&(minor.clone(), "update_rolled_back".to_owned())),
        "{sent:#?}"
    );
    assert_eq!(metrics.notifications_sent.get(), sent.len() as u64);
    assert_eq!(metrics.notifications_failed.get(), 0);

    // Ten minutes later: within the interval, nobody asks the registry. auto_patch, now on
    // 1.0.1, learns from the check before its update that the minor 1.2.0 exists: announced,
    // not applied.
    clock.set(start_time + chrono::TimeDelta::minutes(10));
    let report = agent.cycle(&none).await.unwrap();
    agent.flush_notifications().await;
    for name in [&patch, &notify, &minor] {
        assert!(!checked(&report.of(name)), "{report:#?}");
    }
    assert_eq!(
        report.of(&patch),
        [&Step::Announced("1.2.0".to_owned())],
        "{report:#?}"
    );
    let sent: Vec<serde_json::Value> = sink.received().iter().map(|r| r.json()).collect();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["kind"], "update_available");
    assert_eq!(sent[0]["deployment"], patch.as_str());

    // Two hours later: checked again. auto_patch at 1.0.1 does not apply the minor 1.1.0
    // or 1.2.0; notify_only is not announced twice; auto_minor tries 1.1.0 (sick): rolled
    // back too.
    clock.set(start_time + chrono::TimeDelta::hours(2));
    let report = agent.cycle(&none).await.unwrap();
    agent.flush_notifications().await;
    assert!(checked(&report.of(&patch)), "{report:#?}");
    assert!(
        !report
            .of(&patch)
            .iter()
            .any(|s| matches!(s, Step::Applied(_))),
        "{report:#?}"
    );
    assert_eq!(running(&patch), format!("{image}:1.0.1"));
    assert!(
        !report
            .of(&notify)
            .iter()
            .any(|s| matches!(s, Step::Announced(_))),
        "announced once only: {report:#?}"
    );
    assert_eq!(
        report.of(&minor)[1],
        &Step::RolledBack("1.1.0".to_owned()),
        "{report:#?}"
    );

    // A good 1.3.0 appears; a webhook-triggered check applies it at once, not the skipped
    // 1.1.0 or 1.2.0.
    registry.alias_web_image("1.0.1", "1.3.0").await.unwrap();
    clock.set(start_time + chrono::TimeDelta::hours(2) + chrono::TimeDelta::minutes(5));
    let triggered = BTreeSet::from([minor.clone()]);
    let report = agent.cycle(&triggered).await.unwrap();
    agent.flush_notifications().await;
    assert_eq!(
        report.of(&minor).get(1).copied(),
        Some(&Step::Applied("1.3.0".to_owned())),
        "{report:#?}"
    );
    assert_eq!(running(&minor), format!("{image}:1.3.0"));
    // Both failures are in the one store of them, the manifest, which every plan reads.
    let manifest = agent.engine().manifest().unwrap();
    let mut failed: Vec<&str> = manifest.service(&minor).unwrap().failed_tags().collect();
    failed.sort_unstable();
    assert_eq!(failed, ["1.1.0", "1.2.0"]);
    let events = agent.store().events(0, 100).await.unwrap();
    assert!(
        events.iter().any(|e| e.event.kind == EventKind::Applied),
        "{events:#?}"
    );

    // The registry goes away: the check fails and is recorded with its error; nothing is
    // changed and the cycle goes on.
    drop(registry);
    clock.set(start_time + chrono::TimeDelta::hours(5));
    // Triggered, so the cache does not answer for the registry.
    let report = agent.cycle(&triggered).await.unwrap();
    assert_eq!(report.of(&minor), [&Step::Checked(None)], "{report:#?}");
    let failed = agent.store().last_check(&minor).await.unwrap().unwrap();
    assert!(failed.error.is_some(), "{failed:?}");
    assert_eq!(running(&minor), format!("{image}:1.3.0"));
    assert_eq!(running(&patch), format!("{image}:1.0.1"));

    // A month later (keep_checks defaults to 30 days) the cycle prunes the check history:
    // each deployment keeps its newest check and the first check that saw each tag.
    let database = agent.config().database.clone();
    let mut before = Vec::new();
    for id in [&patch, &notify, &minor] {
        before.push(check_rows(&database, id).await);
    }
    assert!(
        before.iter().any(|(rows, tags)| rows > tags),
        "something to prune: {before:?}"
    );
    let first_sighting = agent
        .store()
        .first_seen(&notify, "1.2.0", None)
        .await
        .unwrap();
    assert_eq!(first_sighting, Some(start_time));
    clock.set(start_time + chrono::TimeDelta::days(31));
    agent.cycle(&none).await.unwrap();
    for (id, (_, tags)) in [&patch, &notify, &minor].into_iter().zip(&before) {
        let (rows, _) = check_rows(&database, id).await;
        assert_eq!(
            rows,
            tags + 1,
            "{id}: the first sighting of each tag and the newest"
        );
    }
    assert_eq!(
        agent
            .store()
            .first_seen(&notify, "1.2.0", None)
            .await
            .unwrap(),
        first_sighting
    );
}

/// A container `NAME-PID` on web 1.0.0 and an agent on the registry's images whose one
/// deployment watches it with `extra` lines (indented as deployment keys), on a clock that
/// starts at `start` and moves when the test sets it.
struct Scene {
    registry: support::TestRegistry,
    image: String,
    name: String,
    port: u16,
    clock: Arc<ManualClock>,
    agent: Agent,
    _containers: Containers,
    _sink: Sink,
    _dir: tempfile::TempDir,
}

impl Scene {
    async fn new(name: &str, extra: &str, start_at: &str) -> Option<Self> {
        let (registry, image) = registry_with_web_images().await?;
        let name = format!("{name}-{}", std::process::id());
        let containers = Containers(vec![name.clone()], image.clone());
        let port = free_port();
        start(&name, &image, "1.0.0", port);
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::start().await;
        let config = format!(
            "interval: 1h\ndeployments:\n{}{extra}",
            deployment(&name, &image, "auto_patch", port),
        );
        let clock = Arc::new(ManualClock::new(timestamp(start_at)));
        let agent = agent(
            &config,
            dir.path(),
            &sink,
            Arc::clone(&clock),
            Arc::new(Metrics::default()),
        )
        .await;
        Some(Self {
            registry,
            image,
            name,
            port,
            clock,
            agent,
            _containers: containers,
            _sink: sink,
            _dir: dir,
        })
    }

    fn set_time(&self, text: &str) {
        self.clock.set(timestamp(text));
    }

    /// The image reference the container runs.
    fn running(&self) -> String {
        docker(&["inspect", "--format", "{{.Config.Image}}", &self.name])
    }
}

fn timestamp(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_wait_for_their_window_and_for_new_tags_to_age() {
    // 02:00 to 04:59 in Berlin, which is UTC+1 in November: the UTC hours 1 to 3.
    let Some(scene) = Scene::new(
        "agent-window",
        "    window: '* 2-4 * * *'\n    timezone: Europe/Berlin\n    min_age: 1h\n",
        "2026-11-25T04:30:00Z",
    )
    .await
    else {
        return;
    };
    let (registry, image, name, agent) = (&scene.registry, &scene.image, &scene.name, &scene.agent);
    let none = BTreeSet::new();
    let running = || scene.running();

    // 04:30 UTC is 05:30 in Berlin: inside the hours 2 to 4 of UTC, outside Berlin's.
    let report = agent.cycle(&none).await.unwrap();
    let steps = report.of(name);
    assert_eq!(
        steps[0],
        &Step::Checked(Some("1.0.1".to_owned())),
        "{report:#?}"
    );
    assert!(
        matches!(steps.get(1), Some(Step::Waiting(why)) if why.contains("'* 2-4 * * *' (Europe/Berlin)")),
        "{report:#?}"
    );
    assert_eq!(running(), format!("{image}:1.0.0"));

    // The daemon decides every 30 s; a wait that goes on is not reported or logged again.
    scene.set_time("2026-11-25T04:40:00Z");
    let report = agent.cycle(&none).await.unwrap();
    assert!(report.of(name).is_empty(), "{report:#?}");
    assert_eq!(running(), format!("{image}:1.0.0"));

    // 01:10 UTC next night is 02:10 in Berlin, inside the window; 1.0.2 was just pushed, and
    // its registry notification asks for a check. Known for 0 minutes: it waits an hour.
    registry.alias_web_image("1.0.1", "1.0.2").await.unwrap();
    scene.set_time("2026-11-26T01:10:00Z");
    let report = agent.cycle(&BTreeSet::from([name.clone()])).await.unwrap();
    let steps = report.of(name);
    assert_eq!(
        steps[0],
        &Step::Checked(Some("1.0.2".to_owned())),
        "{report:#?}"
    );
    assert!(
        matches!(steps.get(1), Some(Step::Waiting(why)) if why.contains("1.0.2 is known for 0 min; it is applied once it is 60 min old")),
        "{report:#?}"
    );
    scene.set_time("2026-11-26T01:40:00Z");
    let report = agent.cycle(&none).await.unwrap();
    assert!(report.of(name).is_empty(), "{report:#?}");
    assert_eq!(running(), format!("{image}:1.0.0"));

    // Two hours after it appeared, still inside the window (04:10 in Berlin): applied.
    scene.set_time("2026-11-26T03:10:00Z");
    let report = agent.cycle(&none).await.unwrap();
    assert_eq!(
        report.of(name),
        [
            &Step::Checked(Some("1.0.2".to_owned())),
            &Step::Applied("1.0.2".to_owned())
        ],
        "{report:#?}"
    );
    assert_eq!(running(), format!("{image}:1.0.2"));
    let waits: Vec<(Option<String>, String)> = agent
        .store()
        .events(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.kind == EventKind::Waiting)
        .map(|e| (e.event.to_tag, e.event.message))
        .collect();
    assert_eq!(waits.len(), 2, "one event per wait: {waits:#?}");
    assert_eq!(waits[0].0.as_deref(), Some("1.0.1"));
    assert_eq!(waits[1].0.as_deref(), Some("1.0.2"));
}

/// Issue 11: a minimum age is the age of an image, not of a tag name. A tag pushed again
/// with other content before it was applied is known afresh: its clock starts again.
#[tokio::test(flavor = "multi_thread")]
async fn a_tag_pushed_again_waits_for_its_own_minimum_age() {
    let Some(scene) = Scene::new("agent-repush", "    min_age: 1h\n", "2026-11-25T10:00:00Z").await
    else {
        return;
    };
    let (registry, image, name, agent, port) = (
        &scene.registry,
        &scene.image,
        &scene.name,
        &scene.agent,
        scene.port,
    );
    let pushed = BTreeSet::from([name.clone()]);
    let running = || scene.running();
    let serves = || {
        let output = std::process::Command::new("busybox")
            .args([
                "wget",
                "-q",
                "-O",
                "-",
                &format!("http://127.0.0.1:{port}/cgi-bin/health"),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };

    // 10:00 1.0.2 appears (1.0.1's image): known for 0 minutes, it waits an hour.
    registry.alias_web_image("1.0.1", "1.0.2").await.unwrap();
    let report = agent.cycle(&pushed).await.unwrap();
    assert!(
        matches!(report.of(name).get(1), Some(Step::Waiting(why)) if why.contains("1.0.2 is known for 0 min")),
        "{report:#?}"
    );
    // 10:50 1.0.2 is pushed again with other content (1.0.0's image).
    registry.alias_web_image("1.0.0", "1.0.2").await.unwrap();
    scene.set_time("2026-11-25T10:50:00Z");
    let report = agent.cycle(&pushed).await.unwrap();
    assert_eq!(
        report.of(name)[0],
        &Step::Checked(Some("1.0.2".to_owned())),
        "{report:#?}"
    );
    // 11:10: an hour after the tag first appeared, 20 minutes after its image did: it waits.
    scene.set_time("2026-11-25T11:10:00Z");
    let report = agent.cycle(&pushed).await.unwrap();
    assert!(
        !report
            .of(name)
            .iter()
            .any(|step| matches!(step, Step::Applied(_))),
        "{report:#?}"
    );
    assert_eq!(running(), format!("{image}:1.0.0"));
    // 11:55: the new image is an hour old; it is applied, and it is the image pushed last.
    scene.set_time("2026-11-25T11:55:00Z");
    let report = agent.cycle(&pushed).await.unwrap();
    assert_eq!(
        report.of(name),
        [
            &Step::Checked(Some("1.0.2".to_owned())),
            &Step::Applied("1.0.2".to_owned())
        ],
        "{report:#?}"
    );
    assert_eq!(running(), format!("{image}:1.0.2"));
    assert_eq!(serves(), "1.0.0", "the image 1.0.2 names now");
}

/// How many checks of deployment `id` the SQLite file `database` holds, and how many
/// distinct tags they chose.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_under_way_holds_the_cycle_back_only_for_a_while() {
    let Some((_registry, image)) = registry_with_web_images().await else {
        return;
    };
    let id = std::process::id();
    let (slow, other) = (format!("agent-slow-{id}"), format!("agent-other-{id}"));
    let _containers = Containers(vec![slow.clone(), other.clone()], image.clone());
    let port = free_port();
    start(&slow, &image, "1.0.0", free_port());
    start(&other, &image, "1.0.0", port);
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    // `slow` has no probe: its update waits `interval` before it checks that the container
    // still runs, and holds the right to change for all that time.
    let config = format!(
        "interval: 1h\nstate: state\ndeployments:\n  {slow}:\n    image: {image}\n    container: {slow}\n    policy: notify_only\n    health:\n      retries: 1\n      interval: 15s\n{}",
        deployment(&other, &image, "auto_patch", port),
    );
    let clock = Arc::new(ManualClock::new(
        Timestamp::from_timestamp(1_790_000_000, 0).unwrap(),
    ));
    let agent = agent(
        &config,
        dir.path(),
        &sink,
        clock,
        Arc::new(Metrics::default()),
    )
    .await
    .with_change_wait(Duration::from_secs(1));
    let journal = dir.path().join("state").join(JOURNAL_FILE);
    let none = BTreeSet::new();

    let (applied, (report, still_applying)) =
        tokio::join!(agent.apply_now(&slow, Some("1.0.1".to_owned())), async {
            // The change holds its right from before its journal is written until after it
            // is removed.
            let deadline = Instant::now() + Duration::from_secs(60);
            while !journal.exists() {
                assert!(Instant::now() < deadline, "no update under way");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let report = agent.cycle(&none).await.unwrap();
            (report, journal.exists())
        });
    // The cycle ended while the change still ran: it waited a while, not for the change.
    assert!(still_applying, "{report:#?}");
    let waiting = report.of(&other).into_iter().any(|step| {
        matches!(step, Step::Waiting(why) if why.contains("another change is still under way"))
    });
    assert!(waiting, "{report:#?}");
    let running = |name: &str| docker(&["inspect", "--format", "{{.Config.Image}}", name]);
    assert_eq!(running(&other), format!("{image}:1.0.0"));
    // The change went on to its end, and a later cycle makes the one left waiting.
    let applied = applied.unwrap();
    assert_eq!(applied[0].result, OutcomeKind::Changed, "{applied:#?}");
    assert_eq!(running(&slow), format!("{image}:1.0.1"));
    let report = agent.cycle(&BTreeSet::from([other.clone()])).await.unwrap();
    assert!(
        report
            .of(&other)
            .contains(&&Step::Applied("1.0.1".to_owned())),
        "{report:#?}"
    );
    assert_eq!(running(&other), format!("{image}:1.0.1"));
}

async fn check_rows(database: &str, id: &str) -> (i64, i64) {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(database);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let counts =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT target) FROM checks WHERE deployment = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    counts
}

/// One store of failed versions: a version rolled back through the API (`apply_now`) is in
/// the manifest the cycle plans from, so the cycle passes it by for the next good one.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_rolled_back_through_the_api_is_skipped_by_the_cycle() {
    let Some(scene) = Scene::new("agent-api-failed", "", "2026-11-25T10:00:00Z").await else {
        return;
    };
    let (registry, image, name, agent) = (&scene.registry, &scene.image, &scene.name, &scene.agent);
    // 1.0.5 is the sick image (its health endpoint answers 500), the newest patch release.
    registry.alias_web_image("1.1.0", "1.0.5").await.unwrap();
    let outcomes = agent
        .apply_now(name, Some("1.0.5".to_owned()))
        .await
        .unwrap();
    assert_eq!(outcomes[0].result, OutcomeKind::RolledBack, "{outcomes:#?}");
    assert_eq!(scene.running(), format!("{image}:1.0.0"));

    // The cycle's check finds 1.0.5 failed and applies the patch before it instead.
    let report = agent.cycle(&BTreeSet::from([name.clone()])).await.unwrap();
    assert_eq!(
        report.of(name),
        [
            &Step::Checked(Some("1.0.1".to_owned())),
            &Step::Applied("1.0.1".to_owned())
        ],
        "{report:#?}"
    );
    assert_eq!(scene.running(), format!("{image}:1.0.1"));
}
