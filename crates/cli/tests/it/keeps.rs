//! The container keeps what it had, on this machine's Docker Engine: an update and a rollback
//! recreate the container with the same anonymous volume, user and health check, and a
//! container that `--rm` would delete when stopped is refused at take-over.

use std::io::Write as _;
use std::process::{Command, Stdio};

use upkeep_test_registry::docker::{free_port, without_leftover_volumes};
use upkeep_test_registry::{self as support, Auth};

use crate::{docker, docker_available, upkeep};

/// Removes the test's containers (with their anonymous volumes) and images.
struct Cleanup {
    containers: Vec<String>,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for container in &self.containers {
            for name in [container.clone(), format!("{container}-upkeep-old")] {
                upkeep_test_registry::docker::remove_container(&name);
            }
        }
        for image in &self.images {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

/// `docker build -t TAG -` from `dockerfile`, then `docker push TAG`.
fn build_and_push(dockerfile: &str, tag: &str) {
    without_leftover_volumes(|| build(dockerfile, tag));
    docker(&["push", tag]);
}

fn build(dockerfile: &str, tag: &str) {
    let mut build = Command::new("docker")
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    build
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    let output = build.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The name of the volume `container` has at `destination`.
fn volume_at(container: &str, destination: &str) -> String {
    docker(&[
        "inspect",
        "--format",
        &format!(
            "{{{{range .Mounts}}}}{{{{if eq .Destination \"{destination}\"}}}}{{{{.Name}}}}{{{{end}}}}{{{{end}}}}"
        ),
        container,
    ])
}

/// Issue 11: an anonymous volume (`--mount type=volume,dst=/store`, no source) keeps its data
/// across an update and a rollback, and a user and health check given to `docker run` are
/// kept even when they equal the old image's own `USER` and `HEALTHCHECK`.
#[tokio::test(flavor = "multi_thread")]
async fn a_container_keeps_its_anonymous_volume_user_and_health_check() {
    if !docker_available() {
        return;
    }
    let Some(registry) = support::registry(Auth::None).await else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    let repository = format!("{}/test/keeps", registry.host());
    tokio::task::spawn_blocking(move || {
        let container = format!("upkeep-e2e-keeps-{}", std::process::id());
        let _cleanup = Cleanup {
            containers: vec![container.clone()],
            images: ["1.0.0", "1.0.1", "upkeep-previous"]
                .iter()
                .map(|tag| format!("{repository}:{tag}"))
                .chain(["1.0.0", "1.0.1"].map(|tag| format!("{}:{tag}", images.image)))
                .collect(),
        };
        // 1.0.0 sets a USER and a HEALTHCHECK of its own, 1.0.1 neither: a container that had
        // them from its image takes 1.0.1's, one that was given them keeps them.
        build_and_push(
            &format!(
                "FROM {}:1.0.0\nUSER 65534\nHEALTHCHECK --interval=1s CMD busybox true\n",
                images.image
            ),
            &format!("{repository}:1.0.0"),
        );
        build_and_push(
            &format!("FROM {}:1.0.1\n", images.image),
            &format!("{repository}:1.0.1"),
        );
        let port = free_port();
        docker(&[
            "run",
            "-d",
            "--name",
            &container,
            "-p",
            &format!("127.0.0.1:{port}:8080"),
            "--user",
            "65534",
            "--health-cmd",
            "busybox true",
            "--health-interval",
            "1s",
            "--mount",
            "type=volume,dst=/store",
            &format!("{repository}:1.0.0"),
        ]);
        docker(&[
            "exec",
            "-u",
            "0",
            &container,
            "busybox",
            "sh",
            "-c",
            "echo kept > /store/keep",
        ]);
        let volume = volume_at(&container, "/store");
        assert!(!volume.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().display().to_string();
        let init = upkeep(
            &["init", "--from-running", &container, "--dir", &dir_arg],
            "",
        );
        assert_eq!(init.code, 0, "{init}");
        std::fs::write(
            dir.path().join("upkeep.yaml"),
            format!(
                "deployments:\n  {container}:\n    image: {repository}\n    container: {container}\n    policy: auto_patch\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      timeout: 1s\n      retries: 20\n      interval: 250ms\n"
            ),
        )
        .unwrap();
        let kept = |when: &str| {
            let image = docker(&["inspect", "--format", "{{.Config.Image}}", &container]);
            let user = docker(&["inspect", "--format", "{{.Config.User}}", &container]);
            let health = docker(&[
                "inspect",
                "--format",
                "{{json .Config.Healthcheck}}",
                &container,
            ]);
            assert_eq!(user, "65534", "{when}: the user ({image})");
            assert!(
                health.contains("busybox true"),
                "{when}: the health check ({image}): {health}"
            );
            assert_eq!(volume_at(&container, "/store"), volume, "{when}: the volume");
            assert_eq!(
                docker(&["exec", &container, "busybox", "cat", "/store/keep"]),
                "kept",
                "{when}: the volume's data"
            );
            image
        };
        let update = upkeep(&["update", "--yes", "--dir", &dir_arg], "");
        assert_eq!(update.code, 0, "{update}");
        assert_eq!(kept("after the update"), format!("{repository}:1.0.1"));
        let rollback = upkeep(&["rollback", "--yes", "--dir", &dir_arg], "");
        assert_eq!(rollback.code, 0, "{rollback}");
        assert_eq!(kept("after the rollback"), format!("{repository}:1.0.0"));
    })
    .await
    .unwrap();
}

/// Issue 11: a container started with `--rm` would be deleted by the stop an update needs;
/// taking it over is refused with the reason and the fix, and nothing is written for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_container_started_with_rm_is_refused_at_take_over() {
    if !docker_available() {
        return;
    }
    let Some(registry) = support::registry(Auth::None).await else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    tokio::task::spawn_blocking(move || {
        let container = format!("upkeep-e2e-rm-{}", std::process::id());
        let _cleanup = Cleanup {
            containers: vec![container.clone()],
            images: vec![format!("{}:1.0.0", images.image)],
        };
        docker(&[
            "run",
            "-d",
            "--rm",
            "--name",
            &container,
            &format!("{}:1.0.0", images.image),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().display().to_string();
        let init = upkeep(
            &["init", "--from-running", &container, "--dir", &dir_arg],
            "",
        );
        assert_eq!(init.code, 0, "{init}");
        let said = format!("{}{}", init.stdout, init.stderr);
        assert!(
            said.contains(&format!(
                "refused: container `{container}` was started with --rm"
            )) && said.contains("start it again without --rm"),
            "{init}"
        );
        let manifest =
            std::fs::read_to_string(dir.path().join("version-manifest.yaml")).unwrap_or_default();
        assert!(!manifest.contains(&container), "{manifest}");
        assert_eq!(
            docker(&["inspect", "--format", "{{.State.Running}}", &container]),
            "true",
            "the container is left alone"
        );
    })
    .await
    .unwrap();
}
