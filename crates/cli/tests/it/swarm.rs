//! Docker Swarm services, the third kind of deployment: a single-node swarm on this machine's
//! engine, the web images from a loopback registry, ports published in host mode (the
//! ingress routing mesh does not answer in this machine's VM; host mode does).

use upkeep_test_registry::docker::{SwarmService, free_port, swarm_manager};
use upkeep_test_registry::{self as support, Auth};

use crate::{docker, docker_available, upkeep};

/// The image a service's spec names, such as `repo:1.0.1@sha256:…`.
fn spec_image(service: &str) -> String {
    docker(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        service,
    ])
}

/// What the service's `/cgi-bin/health` answers on `port`, asked until it answers 200 or
/// 30 s pass (a hang guard: Swarm starts the task in its own time).
fn serves(service: &str, port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/cgi-bin/health");
    for _ in 0..120 {
        // `timeout`, as this busybox's wget crashes on its own `-T`.
        let output = std::process::Command::new("timeout")
            .args(["5", "busybox", "wget", "-q", "-O", "-", &url])
            .output()
            .unwrap();
        if output.status.success() {
            return String::from_utf8_lossy(&output.stdout).trim().to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let tasks = docker(&["service", "ps", "--no-trunc", service]);
    panic!("{url} never answered 200; the tasks:\n{tasks}");
}

/// `init --from-swarm` takes a service over; `update` has Swarm roll 1.0.1 out; the sick
/// 1.1.0 (health 500, seen by the service's own HEALTHCHECK) is rolled back by Swarm by
/// itself, which is a failed update (exit 3, recorded, skipped from then on); `rollback`
/// goes back to 1.0.0; `status` and `history` read the service.
#[tokio::test(flavor = "multi_thread")]
async fn a_swarm_service_is_updated_by_swarm_and_rolled_back_by_it_when_sick() {
    if !docker_available() || std::env::consts::ARCH != "x86_64" || !swarm_manager() {
        return;
    }
    let Some(registry) = support::registry(Auth::None).await else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    tokio::task::spawn_blocking(move || {
        let image = images.image.clone();
        let service = format!("upkeep-e2e-swarm-{}", std::process::id());
        let port = free_port();
        let _cleanup = SwarmService(service.clone(), image.clone());
        docker(&[
            "service",
            "create",
            "--name",
            &service,
            "--detach=false",
            "--quiet",
            "--publish",
            &format!("mode=host,target=8080,published={port}"),
            // A tmpfs at the image's VOLUME: no anonymous volume per task.
            "--mount",
            "type=tmpfs,dst=/data",
            "--health-cmd",
            "busybox wget -q -O /dev/null http://127.0.0.1:8080/cgi-bin/health",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "--health-timeout",
            "1s",
            &format!("{image}:1.0.0@{}", images.digests["1.0.0"]),
        ]);
        assert_eq!(serves(&service, port), "1.0.0");

        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().display().to_string();
        let run = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend(["--dir", &dir_arg]);
            upkeep(&all, "")
        };
        let names_only = run(&[&service]);
        assert_eq!(names_only.code, 2, "{names_only}");
        let init = run(&["init", "--from-swarm", &service]);
        assert_eq!(init.code, 0, "{init}");
        let manifest =
            std::fs::read_to_string(dir.path().join("version-manifest.yaml")).unwrap();
        assert!(
            manifest.contains(&images.digests["1.0.0"].to_string()),
            "the running digest is recorded: {manifest}"
        );
        let config = std::fs::read_to_string(dir.path().join("upkeep.yaml")).unwrap();
        assert!(
            config.contains(&format!("swarm_service: {service}")),
            "{config}"
        );
        std::fs::write(
            dir.path().join("upkeep.yaml"),
            format!(
                "deployments:\n  {service}:\n    image: {image}\n    swarm_service: {service}\n    policy: auto_patch\n    swarm:\n      monitor: 10s\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      timeout: 1s\n      retries: 40\n      interval: 250ms\n"
            ),
        )
        .unwrap();

        let status = run(&["status", "--offline"]);
        assert_eq!(status.code, 0, "{status}");
        assert!(status.stdout.contains("1.0.0"), "{status}");

        let plan = run(&["plan"]);
        assert_eq!(plan.code, 0, "{plan}");
        assert!(plan.stdout.contains("1.0.1"), "{plan}");
        let update = run(&["update", "--yes"]);
        assert_eq!(update.code, 0, "{update}");
        assert!(update.stdout.contains("1.0.0 -> 1.0.1"), "{update}");
        assert_eq!(
            spec_image(&service),
            format!("{image}:1.0.1@{}", images.digests["1.0.1"]),
            "Swarm runs the very image upkeep chose, by digest"
        );
        assert_eq!(serves(&service, port), "1.0.1");
        let update_config = docker(&[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.UpdateConfig}}",
            &service,
        ]);
        assert!(
            update_config.contains("\"FailureAction\":\"rollback\"")
                && update_config.contains("\"Monitor\":10000000000"),
            "{update_config}"
        );

        let healthcheck = docker(&[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.TaskTemplate.ContainerSpec.Healthcheck}}",
            &service,
        ]);
        assert!(
            healthcheck.contains("busybox wget"),
            "the rest of the spec is kept: {healthcheck}"
        );

        // 1.1.0 answers 500: its tasks turn unhealthy and Swarm rolls back by itself.
        let sick = run(&["update", "--to", "1.1.0", "--yes"]);
        assert_eq!(sick.code, 3, "{sick}");
        assert!(
            sick.stdout.contains("Swarm rolled it back by itself")
                && sick.stdout.contains("rolled back to 1.0.1, which runs again"),
            "{sick}"
        );
        assert_eq!(
            spec_image(&service),
            format!("{image}:1.0.1@{}", images.digests["1.0.1"])
        );
        assert_eq!(serves(&service, port), "1.0.1");
        let history = run(&["history", &service]);
        assert_eq!(history.code, 0, "{history}");
        assert!(history.stdout.contains("[1.1.0 failed]"), "{history}");
        let plan = run(&["plan", "--latest", "--json"]);
        assert!(
            !plan.stdout.contains("\"1.1.0\""),
            "the failed version is skipped: {plan}"
        );

        let back = run(&["rollback", "--yes"]);
        assert_eq!(back.code, 0, "{back}");
        assert_eq!(
            spec_image(&service),
            format!("{image}:1.0.0@{}", images.digests["1.0.0"])
        );
        assert_eq!(serves(&service, port), "1.0.0");
        let status = run(&["status", "--offline"]);
        assert!(status.stdout.contains("1.0.0"), "{status}");
    })
    .await
    .unwrap();
}
