//! Changes asked through the API on a real daemon, the Docker Engine and a loopback registry:
//! a client that goes away in the middle of an update does not cut it short.

use std::time::{Duration, Instant};

use axum::body::Body;
use http::Request;
use tower::ServiceExt as _;
use upkeep_agent::config::AgentConfig;
use upkeep_agent::daemon::Daemon;
use upkeep_agent::store::EventKind;
use upkeep_test_registry::docker::{available as docker_available, run as docker};
use upkeep_test_registry::{self as support, Auth};
use upkeep_update_engine::store::JOURNAL_FILE;

use crate::support::agent_process::running_image;

const TOKEN: &str = "agent-secret";

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_whose_client_goes_away_still_finishes_and_is_logged() {
    if !docker_available() {
        return;
    }
    let Some(registry) = support::registry(Auth::None).await else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    let image = images.image.clone();
    let container = format!("agent-api-gone-{}", std::process::id());
    let _cleanup = Cleanup {
        container: container.clone(),
        image: image.clone(),
    };
    upkeep_test_registry::docker::remove_container(&container);
    docker(&["run", "-d", "--name", &container, &format!("{image}:1.0.0")]);
    let dir = tempfile::tempdir().unwrap();
    // `notify_only`: only the API changes anything. No probe: the engine waits `interval`,
    // then requires the container to be running still; that wait is when the client leaves.
    let file = dir.path().join("agent.yaml");
    std::fs::write(
        &file,
        format!(
            "interval: 24h\nlisten: 127.0.0.1:0\napi_token_env: AGENT_TOKEN\ndatabase: agent.db\nstate: state\ndeployments:\n  web:\n    image: {image}\n    container: {container}\n    policy: notify_only\n    health:\n      retries: 1\n      interval: 3s\n"
        ),
    )
    .unwrap();
    let config = AgentConfig::load(&file, &|name| {
        (name == "AGENT_TOKEN").then(|| TOKEN.to_owned())
    })
    .unwrap();
    let daemon = Daemon::start(config).await.unwrap();
    let journal = dir.path().join("state").join(JOURNAL_FILE);

    let request = Request::post("/api/v1/deployments/web/apply")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"tag": "1.0.1"}"#))
        .unwrap();
    let answer = daemon.api().oneshot(request);
    tokio::select! {
        answer = answer => panic!("answered before the update was under way: {answer:?}"),
        () = health_check_under_way(&journal) => {}
    }
    // The request's future is dropped here, as when a client closes its connection.

    let store = daemon.agent().store().clone();
    let deadline = Instant::now() + Duration::from_secs(90);
    let applied = loop {
        let events = store.events(0, 100).await.unwrap();
        if let Some(applied) = events
            .into_iter()
            .find(|record| record.event.kind == EventKind::AppliedByApi)
        {
            break applied.event;
        }
        assert!(
            Instant::now() < deadline,
            "the update was not finished; journal: {:?}",
            std::fs::read_to_string(&journal).ok()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(applied.deployment.as_deref(), Some("web"));
    assert_eq!(applied.from_tag.as_deref(), Some("1.0.0"));
    assert_eq!(applied.to_tag.as_deref(), Some("1.0.1"));
    assert!(
        !journal.exists(),
        "the change is finished, not left to recovery"
    );
    assert_eq!(running_image(&container), format!("{image}:1.0.1"));
    let stored = store.deployment("web").await.unwrap().unwrap();
    assert_eq!(stored.deployment.current_tag, "1.0.1");
}

/// Waits until the engine's journal says the new container runs and its health is checked.
async fn health_check_under_way(journal: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(journal).is_ok_and(|text| text.contains("\"health_check\"")) {
        assert!(Instant::now() < deadline, "no update under way");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Cleanup {
    container: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        upkeep_test_registry::docker::remove_container(&self.container);
        for tag in ["1.0.0", "1.0.1", "upkeep-previous"] {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "-f", &format!("{}:{tag}", self.image)])
                .output();
        }
    }
}
