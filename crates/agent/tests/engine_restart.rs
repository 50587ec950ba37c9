//! The agent survives the Docker Engine restarting, between cycles and in the middle of an
//! update, without a crash or a wrong update: the real `upkeep-agent` binary, this machine's
//! dockerd (stopped and started again as an operator would) and the loopback registry.
//!
//! Its own test binary: cargo runs test binaries one at a time, so no other test's
//! containers are running while the engine stops. It needs root; under CI it fails without.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

#[path = "it/support/agent_process.rs"]
mod agent_process;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agent_process::{AgentProcess, HOOK_TOKEN, running_image, wait_until_running};
use upkeep_test_registry::docker::{available, free_port, run as docker, stop_engine};
use upkeep_test_registry::{self as support, Auth};
use upkeep_update_engine::store::{JOURNAL_FILE, StateDir};

struct Cleanup {
    container: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        upkeep_test_registry::docker::remove_container(&self.container);
        for tag in ["1.0.1", "1.0.2", "upkeep-previous"] {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "-f", &format!("{}:{tag}", self.image)])
                .output();
        }
    }
}

/// Polls `/metrics` until `line` is in it.
async fn wait_for_metric(agent: &mut AgentProcess, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let metrics = reqwest::get(format!("{}/metrics", agent.api()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.lines().any(|sample| sample == line) {
            return;
        }
        assert!(agent.running(), "the agent exited:\n{}", agent.log());
        assert!(Instant::now() < deadline, "no `{line}` in:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_survives_the_docker_engine_restarting() {
    if !available() {
        return;
    }
    let Some(registry) = support::registry(Auth::None).await else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    let image = images.image.clone();
    let container = format!("agent-engine-restart-{}", std::process::id());
    let _cleanup = Cleanup {
        container: container.clone(),
        image: image.clone(),
    };
    // As a service is usually run: restarted by the engine when the engine comes back.
    docker(&[
        "run",
        "-d",
        "--restart",
        "unless-stopped",
        "--name",
        &container,
        &format!("{image}:1.0.1"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let state: PathBuf = dir.path().join("state");
    let api_port = free_port();
    let host = registry.host();
    // No probe: the engine waits `interval` after starting the new container, then requires
    // it to be running still; the engine is stopped in that wait.
    std::fs::write(
        dir.path().join("agent.yaml"),
        format!(
            "interval: 24h\nlisten: 127.0.0.1:{api_port}\napi_token_env: AGENT_TOKEN\nwebhooks:\n  registries: ['{host}']\n  token_env: HOOK_TOKEN\nstate: state\ndeployments:\n  web:\n    image: {image}\n    container: {container}\n    policy: auto_patch\n    health:\n      retries: 1\n      interval: 6s\n"
        ),
    )
    .unwrap();
    let mut agent = AgentProcess::start(
        &dir.path().join("agent.yaml"),
        api_port,
        &dir.path().join("agent.log"),
    )
    .await;
    // The first cycle: nothing newer in 1.0's patch line.
    wait_for_metric(&mut agent, "upkeep_agent_cycle_duration_seconds_count 1").await;
    assert_eq!(agent.get("/health").await.0, 200);
    let journal = || std::fs::read_to_string(state.join(JOURNAL_FILE)).ok();

    // 1. The engine is away when an update is due: the check is made and stored, the update
    // cannot start, nothing is blamed; /health says what is wrong.
    registry.alias_web_image("1.0.0", "1.0.2").await.unwrap();
    let stopped = stop_engine().expect("root may stop the Docker Engine");
    let (status, health) = agent.get("/health").await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["docker"], false, "{health}");
    // Malformed webhooks, meanwhile, are refused with a reason and change nothing.
    for (content_type, body) in [
        ("application/json", "{\"events\": [{\"action\": \"push\""),
        ("application/json", "[1, 2, 3]"),
        ("text/plain", "\u{0}\u{1}binary"),
    ] {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/webhooks/distribution?token={HOOK_TOKEN}",
                agent.api()
            ))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body:?}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert!(answer["error"].as_str().is_some(), "{answer}");
    }
    agent.check_now("web").await;
    wait_for_metric(&mut agent, "upkeep_agent_cycle_duration_seconds_count 2").await;
    let (_, web) = agent.get("/api/v1/deployments/web").await;
    assert_eq!(web["last_check"]["target"], "1.0.2", "{web}");
    assert_eq!(web["current_tag"], "1.0.1", "{web}");
    assert_eq!(journal(), None, "nothing was started");
    stopped.start();
    wait_until_running(
        &container,
        &format!("{image}:1.0.1"),
        Duration::from_secs(60),
    )
    .await;

    // 2. The engine goes away while the new version's health is checked: the update is left
    // to recovery, 1.0.2 is not blamed.
    agent.check_now("web").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !journal().is_some_and(|journal| journal.contains("\"health_check\"")) {
        assert!(Instant::now() < deadline, "no update in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = stop_engine().expect("root may stop the Docker Engine");
    let kinds = agent
        .wait_for_event("interrupted", Duration::from_secs(60))
        .await;
    assert!(!kinds.contains(&"rolled_back".to_owned()), "{kinds:?}");
    wait_for_metric(&mut agent, "upkeep_agent_updates_interrupted_total 1").await;
    assert!(journal().is_some(), "the journal keeps the update");
    // While the engine is away the next cycle can neither recover nor change anything.
    agent.check_now("web").await;
    wait_for_metric(&mut agent, "upkeep_agent_cycle_duration_seconds_count 4").await;
    assert!(journal().is_some());
    stopped.start();

    // 3. Back: the next cycle undoes the unproven 1.0.2, then applies it again, to the end.
    agent.check_now("web").await;
    let kinds = agent
        .wait_for_event("applied", Duration::from_secs(90))
        .await;
    let recovered = kinds.iter().position(|kind| kind == "recovered");
    let applied = kinds.iter().position(|kind| kind == "applied");
    assert!(recovered.is_some() && recovered < applied, "{kinds:?}");
    assert_eq!(running_image(&container), format!("{image}:1.0.2"));
    assert_eq!(journal(), None);
    let (manifest, _) = StateDir::new(&state).load().unwrap().unwrap();
    let web = manifest.service("web").unwrap();
    assert_eq!(web.current_tag(), "1.0.2");
    assert!(
        web.history().iter().all(|entry| entry.failed().is_none()),
        "{web:?}"
    );
    let (status, health) = agent.get("/health").await;
    assert_eq!(status, 200, "{health}");

    // Still the same process, and it stops cleanly.
    assert!(agent.running(), "{}", agent.log());
    agent.signal("TERM");
    assert!(agent.exited(Duration::from_secs(60)).await.success());
}
