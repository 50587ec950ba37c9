//! The daemon on this machine's Docker Engine: a push for a deployment's repository makes it
//! check at once, not at its next interval; it stops between cycles on shutdown.

use std::time::{Duration, Instant};

use upkeep_agent::config::AgentConfig;
use upkeep_agent::daemon::Daemon;
use upkeep_agent::webhooks::Push;
use upkeep_test_registry::docker::{available as docker_available, free_port, run as docker};
use upkeep_test_registry::{self as support, Auth};
use upkeep_versioning_core::reference::ImageRef;

#[tokio::test(flavor = "multi_thread")]
async fn a_push_makes_the_daemon_check_and_update_at_once() {
    if !docker_available() {
        return;
    }
    let Some(registry) = support::registry(Auth::None).await else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    let image = images.image.clone();
    let name = format!("agent-daemon-{}", std::process::id());
    let port = free_port();
    struct Cleanup(String, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", &self.0])
                .output();
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
            "interval: 24h\ndeployments:\n  web:\n    image: {image}\n    container: {name}\n    policy: auto_patch\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      timeout: 1s\n      retries: 6\n      interval: 250ms\n"
        ),
    )
    .unwrap();
    let config = AgentConfig::load(&file, &|_| None).unwrap();
    let daemon = Daemon::start(config).await.unwrap();
    let trigger = daemon.trigger();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(daemon.run(async {
        let _ = stopped.await;
    }));
    // The first cycle checks (nothing newer than 1.0.1 in its patch line) and then waits a
    // day; a push of 1.0.2 must not wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    registry.alias_web_image("1.0.0", "1.0.2").await.unwrap();
    let pushed: ImageRef = format!("{image}:1.0.2").parse().unwrap();
    let matched = trigger.pushed(&[Push {
        registry: pushed.registry().to_owned(),
        repository: pushed.repository().to_owned(),
        tag: Some("1.0.2".to_owned()),
        digest: None,
    }]);
    assert_eq!(matched, 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    let running_tag = || docker(&["inspect", "--format", "{{.Config.Image}}", &name]);
    while running_tag() != format!("{image}:1.0.2") {
        assert!(Instant::now() < deadline, "not updated: {}", running_tag());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the daemon stops between cycles")
        .unwrap();
}
