//! The daemon on this machine's Docker Engine: a push for a deployment's repository makes it
//! check at once, not at its next interval; it stops between cycles on shutdown.

use std::str::FromStr;
use std::time::{Duration, Instant};

use upkeep_agent::config::AgentConfig;
use upkeep_agent::daemon::Daemon;
use upkeep_test_registry::docker::{available as docker_available, free_port, run as docker};
use upkeep_test_registry::{self as support, Auth};
use upkeep_versioning_core::reference::ImageRef;

#[tokio::test(flavor = "multi_thread")]
async fn a_push_makes_the_daemon_check_and_update_at_once() {
    if !docker_available() {
        return;
    }
    // The registry notifies the agent's webhook route of every push, as a user would set it.
    let api_port = free_port();
    let Some(registry) = support::notifying_registry(
        Auth::None,
        &format!("http://127.0.0.1:{api_port}/webhooks/distribution?token=hook-secret"),
    )
    .await
    else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    let image = images.image.clone();
    let name = format!("agent-daemon-{}", std::process::id());
    let port = free_port();
    let host = ImageRef::from_str(&image).unwrap().registry().to_owned();
    struct Cleanup(String, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            upkeep_test_registry::docker::remove_container(&self.0);
            for tag in ["1.0.0", "1.0.1", "1.0.2", "upkeep-previous"] {
                let _ = std::process::Command::new("docker")
                    .args(["rmi", "-f", &format!("{}:{tag}", self.1)])
                    .output();
            }
        }
    }
    let _cleanup = Cleanup(name.clone(), image.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        &format!("{image}:1.0.1"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.yaml");
    std::fs::write(
        &file,
        format!(
            "interval: 24h\nlisten: 127.0.0.1:{api_port}\napi_token_env: AGENT_TOKEN\nwebhooks:\n  registries: ['{host}']\n  token_env: HOOK_TOKEN\ndeployments:\n  web:\n    image: {image}\n    container: {name}\n    policy: auto_patch\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      timeout: 1s\n      retries: 6\n      interval: 250ms\n"
        ),
    )
    .unwrap();
    let config = AgentConfig::load(&file, &|name| match name {
        "AGENT_TOKEN" => Some("agent-secret".to_owned()),
        "HOOK_TOKEN" => Some("hook-secret".to_owned()),
        _ => None,
    })
    .unwrap();
    let daemon = Daemon::start(config).await.unwrap();
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = daemon
        .serve(async {
            let _ = api_stopped.await;
        })
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(daemon.run(async {
        let _ = stopped.await;
    }));
    // The first cycle checks (nothing newer than 1.0.1 in its patch line) and then waits a
    // day; a push of 1.0.2 must not wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A hand-made notification without the token is refused.
    let client = reqwest::Client::new();
    let refused = client
        .post(format!("http://127.0.0.1:{api_port}/webhooks/distribution"))
        .header(
            "Content-Type",
            "application/vnd.docker.distribution.events.v1+json",
        )
        .body(r#"{"events":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401, "no token");
    // The push of 1.0.2; the registry's own notification does the rest.
    registry.alias_web_image("1.0.0", "1.0.2").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // While the container is replaced its name is briefly free: ask without failing.
    let running_tag = || {
        let output = std::process::Command::new("docker")
            .args(["inspect", "--format", "{{.Config.Image}}", &name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    while running_tag() != format!("{image}:1.0.2") {
        assert!(Instant::now() < deadline, "not updated: {}", running_tag());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The API sees the update, health and metrics.
    let health: serde_json::Value = client
        .get(format!("http://127.0.0.1:{api_port}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    // The cycle counts once it has finished (health checked, recorded).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = client
            .get(format!("http://127.0.0.1:{api_port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("\nupkeep_agent_updates_applied_total 1\n") {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the daemon stops between cycles")
        .unwrap();
    stop_api.send(()).unwrap();
    api.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_whose_container_is_missing_is_listed_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.yaml");
    let container = format!("agent-never-started-{}", std::process::id());
    std::fs::write(
        &file,
        format!(
            "listen: 127.0.0.1:0\ndatabase: agent.db\nstate: state\ndeployments:\n  web:\n    image: 127.0.0.1:9/team/web\n    container: {container}\n    policy: auto_patch\n"
        ),
    )
    .unwrap();
    let config = AgentConfig::load(&file, &|_| None).unwrap();
    // The container does not exist (nor, maybe, the Docker Engine): the agent starts anyway.
    let daemon = Daemon::start(config).await.unwrap();
    let request = http::Request::get("/api/v1/deployments")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(daemon.api(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "deployments": [],
            "not_watched": [{
                "id": "web",
                "image": "127.0.0.1:9/team/web",
                "container": container,
                "state": "container missing",
                "fix": format!("start the container `{container}`, or remove the deployment `web` from the agent's configuration; the agent takes the container over within 30 s of its start"),
            }],
        })
    );
}
