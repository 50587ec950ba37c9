//! Container labels on the real `upkeep-agent` and Docker Engine. Docker copies an image's
//! labels onto its containers, so labels an image brought are its publisher's word: they never
//! make the agent watch a container, choose its policy or run a command. Labels the operator
//! set do, and the health command they declare runs inside the container, never on the host.

use std::path::Path;
use std::time::{Duration, Instant};

use upkeep_test_registry::docker::{available as docker_available, free_port, run as docker};
use upkeep_test_registry::{self as support, Auth};

use crate::support::agent_process::{AgentProcess, running_image, wait_until_running};

/// Removes the test's containers and images.
struct Cleanup {
    containers: Vec<String>,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for container in &self.containers {
            upkeep_test_registry::docker::remove_container(container);
        }
        for image in &self.images {
            for tag in ["1.0.0", "1.0.1", "upkeep-previous"] {
                let _ = std::process::Command::new("docker")
                    .args(["rmi", "-f", &format!("{image}:{tag}")])
                    .output();
            }
        }
    }
}

/// A shell line that leaves `marker` behind wherever it runs: busybox is on this host and in
/// the test images.
fn leaves(marker: &str) -> String {
    format!("busybox mkdir -p /tmp && busybox touch {marker}")
}

/// Issue 11: an image published with `upkeep.enable`, `upkeep.policy` and
/// `upkeep.health.command` labels, run without labels of its own, is not watched and runs
/// nothing on the host; a container whose operator set the same labels is watched, updated
/// by its policy, and its health command runs inside it.
#[tokio::test(flavor = "multi_thread")]
async fn an_image_cannot_make_the_agent_watch_it_or_run_commands_on_the_host() {
    if !docker_available() {
        return;
    }
    let Some(registry) = support::registry(Auth::None).await else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    let pid = std::process::id();
    let publisher_marker = format!("/tmp/upkeep-publisher-command-{pid}");
    let operator_marker = format!("/tmp/upkeep-operator-command-{pid}");
    let publisher_command = leaves(&publisher_marker);
    // The publisher's image: two versions, so that a watched container would be updated and
    // its health command run.
    let hostile_repository = "test/hostile";
    for tag in ["1.0.0", "1.0.1"] {
        registry
            .push_web_image_with_labels(
                tag,
                &[
                    ("upkeep.enable", "true"),
                    ("upkeep.policy", "auto_major"),
                    ("upkeep.health.command", &publisher_command),
                ],
                hostile_repository,
                tag,
            )
            .await
            .unwrap();
    }
    let hostile_image = format!("{}/{hostile_repository}", registry.host());
    let hostile = format!("agent-hostile-{pid}");
    let operated = format!("agent-labelled-{pid}");
    let _cleanup = Cleanup {
        containers: vec![hostile.clone(), operated.clone()],
        images: vec![hostile_image.clone(), images.image.clone()],
    };
    for marker in [&publisher_marker, &operator_marker] {
        let _ = std::fs::remove_file(marker);
    }
    docker(&[
        "run",
        "-d",
        "--name",
        &hostile,
        &format!("{hostile_image}:1.0.0"),
    ]);
    let operator_command = leaves(&operator_marker);
    docker(&[
        "run",
        "-d",
        "--name",
        &operated,
        "--label",
        "upkeep.enable=true",
        "--label",
        "upkeep.policy=auto_patch",
        "--label",
        &format!("upkeep.health.command={operator_command}"),
        "--label",
        "upkeep.health.retries=20",
        "--label",
        "upkeep.health.interval=250ms",
        &format!("{}:1.0.0", images.image),
    ]);

    let dir = tempfile::tempdir().unwrap();
    let api_port = free_port();
    std::fs::write(
        dir.path().join("agent.yaml"),
        format!(
            "interval: 24h\nlisten: 127.0.0.1:{api_port}\napi_token_env: AGENT_TOKEN\nstate: state\nlabels: true\n"
        ),
    )
    .unwrap();
    let mut agent = AgentProcess::start(
        &dir.path().join("agent.yaml"),
        api_port,
        &dir.path().join("agent.log"),
    )
    .await;

    // The operator's container: watched, updated by its own policy (1.0.0 -> 1.0.1), and its
    // health command ran inside the new container.
    wait_until_running(
        &operated,
        &format!("{}:1.0.1", images.image),
        Duration::from_secs(120),
    )
    .await;
    agent
        .wait_for_event("applied", Duration::from_secs(60))
        .await;
    docker(&["exec", &operated, "busybox", "test", "-f", &operator_marker]);
    assert!(
        !Path::new(&operator_marker).exists(),
        "a labelled health command ran on the host"
    );

    // Another cycle reads the labels again; what was ignored is not logged again.
    let cycles = cycles_done(&agent).await;
    agent.check_now(&operated).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while cycles_done(&agent).await <= cycles {
        assert!(
            Instant::now() < deadline,
            "no other cycle:\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, deployments) = agent.get("/api/v1/deployments").await;

    // The publisher's container: not watched, not updated, and nothing of its ran here.
    let names: Vec<&str> = deployments["deployments"]
        .as_array()
        .unwrap_or_else(|| panic!("{deployments}"))
        .iter()
        .filter_map(|deployment| deployment["id"].as_str())
        .collect();
    assert!(names.contains(&operated.as_str()), "{deployments}");
    assert!(!names.contains(&hostile.as_str()), "{deployments}");
    assert_eq!(running_image(&hostile), format!("{hostile_image}:1.0.0"));
    assert!(
        !Path::new(&publisher_marker).exists(),
        "the image's health command ran on the host"
    );
    let log = agent.log();
    let ignored: Vec<&str> = log
        .lines()
        .filter(|line| {
            line.contains("ignoring a label the image brought")
                && line.contains(&format!("container={hostile}"))
        })
        .collect();
    assert_eq!(
        ignored.len(),
        3,
        "each of the image's three labels is logged once:\n{log}"
    );
    assert!(
        ignored
            .iter()
            .any(|line| line.contains("label=upkeep.policy")),
        "{log}"
    );
}

/// How many cycles the agent has finished, from its metrics.
async fn cycles_done(agent: &AgentProcess) -> u64 {
    let metrics = reqwest::get(format!("{}/metrics", agent.api()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("upkeep_agent_cycle_duration_seconds_count "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}
