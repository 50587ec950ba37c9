//! The `upkeep-agent` process stopped in the middle of an update: SIGTERM lets the update
//! finish (healthy and recorded) before the process exits; SIGKILL leaves the engine's
//! journal, from which the restarted agent recovers, losing nothing it had stored.

use std::path::PathBuf;
use std::time::Duration;

use upkeep_agent::store::{EventKind, Store};
use upkeep_test_registry::docker::{available as docker_available, free_port, run as docker};
use upkeep_test_registry::{self as support, Auth, TestRegistry};
use upkeep_update_engine::store::{JOURNAL_FILE, StateDir};

use crate::support::agent_process::{AgentProcess, running_image};
use crate::support::postgres::PgCluster;

/// A container on the web image 1.0.0, an agent configuration that updates it with
/// `auto_patch` (to 1.0.1) and a health check that takes `settle` before it can pass.
struct Scene {
    _registry: TestRegistry,
    image: String,
    container: String,
    dir: tempfile::TempDir,
    api_port: u16,
    /// The database setting: a SQLite file in `dir`, or a PostgreSQL URL.
    database: String,
}

impl Scene {
    async fn new(label: &str, settle: &str, database: Option<String>) -> Option<Self> {
        if !docker_available() {
            return None;
        }
        let registry = support::registry(Auth::None).await?;
        let images = registry.push_web_images().await.unwrap();
        let image = images.image.clone();
        let container = format!("agent-{label}-{}", std::process::id());
        upkeep_test_registry::docker::remove_container(&container);
        docker(&["run", "-d", "--name", &container, &format!("{image}:1.0.0")]);
        let dir = tempfile::tempdir().unwrap();
        let api_port = free_port();
        let database =
            database.unwrap_or_else(|| dir.path().join("agent.db").display().to_string());
        // No probe: the engine waits `interval`, then requires the container to be running
        // still; that wait is the window in which the test stops the agent.
        std::fs::write(
            dir.path().join("agent.yaml"),
            format!(
                "interval: 24h\nlisten: 127.0.0.1:{api_port}\napi_token_env: AGENT_TOKEN\ndatabase: '{database}'\nstate: state\ndeployments:\n  web:\n    image: {image}\n    container: {container}\n    policy: auto_patch\n    health:\n      retries: 1\n      interval: {settle}\n"
            ),
        )
        .unwrap();
        Some(Self {
            _registry: registry,
            image,
            container,
            dir,
            api_port,
            database,
        })
    }

    async fn start_agent(&self) -> AgentProcess {
        AgentProcess::start(
            &self.dir.path().join("agent.yaml"),
            self.api_port,
            &self.dir.path().join("agent.log"),
        )
        .await
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn recorded_tag(&self) -> String {
        let (manifest, _) = StateDir::new(self.state()).load().unwrap().unwrap();
        manifest.service("web").unwrap().current_tag().to_owned()
    }

    /// Waits until the update's journal says it is checking health: the new container runs.
    async fn wait_for_health_check(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !self
            .journal()
            .is_some_and(|journal| journal.contains("\"health_check\""))
        {
            assert!(std::time::Instant::now() < deadline, "no update in flight");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            running_image(&self.container),
            format!("{}:1.0.1", self.image)
        );
    }

    fn journal(&self) -> Option<String> {
        std::fs::read_to_string(self.state().join(JOURNAL_FILE)).ok()
    }

    async fn store(&self) -> Store {
        Store::open(&self.database).await.unwrap()
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        upkeep_test_registry::docker::remove_container(&self.container);
        for tag in ["1.0.0", "1.0.1", "upkeep-previous"] {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "-f", &format!("{}:{tag}", self.image)])
                .output();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_an_update_lets_it_finish_before_exiting() {
    let Some(scene) = Scene::new("sigterm", "4s", None).await else {
        return;
    };
    let mut agent = scene.start_agent().await;
    // The first cycle updates to 1.0.1; its health check waits 4 s.
    scene.wait_for_health_check().await;
    agent.signal("TERM");
    let status = agent.exited(Duration::from_secs(60)).await;
    let log = agent.log();
    assert!(status.success(), "{status}:\n{log}");
    assert!(log.contains("shutting down between cycles"), "{log}");
    // Finished, not cut: healthy, recorded, no journal left.
    assert_eq!(scene.recorded_tag(), "1.0.1", "{log}");
    assert_eq!(scene.journal(), None, "{log}");
    assert_eq!(
        running_image(&scene.container),
        format!("{}:1.0.1", scene.image)
    );
    let store = scene.store().await;
    let events = store.events(0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|record| record.event.kind == EventKind::Applied
                && record.event.to_tag.as_deref() == Some("1.0.1")),
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_killed_mid_update_recovers_when_started_again_and_loses_nothing() {
    killed_mid_update_recovers("sigkill", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_on_postgresql_killed_mid_update_loses_nothing_either() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    killed_mid_update_recovers("sigkill-pg", Some(cluster.url())).await;
}

async fn killed_mid_update_recovers(label: &str, database: Option<String>) {
    let Some(scene) = Scene::new(label, "4s", database).await else {
        return;
    };
    let mut agent = scene.start_agent().await;
    scene.wait_for_health_check().await;
    agent.signal("KILL");
    agent.exited(Duration::from_secs(10)).await;
    drop(agent);
    // Cut in the health check: the journal says so, the manifest still says 1.0.0.
    let journal = scene
        .journal()
        .expect("the journal of the update in flight");
    assert!(journal.contains("health_check"), "{journal}");
    assert_eq!(scene.recorded_tag(), "1.0.0");
    let before = scene.store().await;
    let check_before = before.last_check("web").await.unwrap().expect("a check");
    let events_before = before.events(0, 100).await.unwrap();
    before.close().await;

    // Started again: 1.0.1 was never proven healthy, so 1.0.0 is put back first; then the
    // stored check (within its interval, so no new lookup) applies 1.0.1 again, this time
    // to the end.
    let mut agent = scene.start_agent().await;
    let kinds = agent
        .wait_for_event("applied", Duration::from_secs(90))
        .await;
    assert!(kinds.contains(&"recovered".to_owned()), "{kinds:?}");
    let (_, deployment) = agent.get("/api/v1/deployments/web").await;
    assert_eq!(deployment["current_tag"], "1.0.1", "{deployment}");
    assert_eq!(scene.recorded_tag(), "1.0.1");
    assert_eq!(scene.journal(), None);
    assert_eq!(
        running_image(&scene.container),
        format!("{}:1.0.1", scene.image)
    );
    assert_eq!(
        running_image(&format!("{}-upkeep-old", scene.container)),
        ""
    );
    agent.signal("TERM");
    assert!(agent.exited(Duration::from_secs(60)).await.success());

    // Nothing stored before the kill was lost, and the check made before it still counts:
    // the update after the restart asked the registry nothing new.
    let after = scene.store().await;
    let events = after.events(0, 100).await.unwrap();
    assert!(events.len() > events_before.len(), "{events:#?}");
    assert_eq!(events[..events_before.len()], events_before[..]);
    let check_after = after.last_check("web").await.unwrap().unwrap();
    assert_eq!(
        check_after.result.checked_at, check_before.result.checked_at,
        "{check_after:?}"
    );
    let recovered = events
        .iter()
        .find(|record| record.event.kind == EventKind::Recovered)
        .unwrap();
    assert!(
        recovered
            .event
            .message
            .contains("undone web (cut short at health_check)"),
        "{recovered:#?}"
    );
}
