//! [`DockerRuntime`] against this machine's Docker Engine: inspect, pull, keep for
//! rollback, recreate with the same configuration, and restore, using the web images of a
//! loopback registry.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use upkeep_test_registry::web::WebImages;
use upkeep_test_registry::{self as support, Auth};
use upkeep_update_engine::runtime::{
    DockerRuntime, OLD_SUFFIX, ROLLBACK_TAG, Runtime, RuntimeError, Status,
};

use crate::{docker, docker_available};

/// Removes what a test made in the engine when it ends, however it ends.
#[derive(Default)]
struct Cleanup {
    containers: Vec<String>,
    volumes: Vec<String>,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for container in &self.containers {
            for name in [container.clone(), format!("{container}{OLD_SUFFIX}")] {
                upkeep_test_registry::docker::remove_container(&name);
            }
        }
        for volume in &self.volumes {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f", volume])
                .output();
        }
        for image in &self.images {
            let _ = Command::new("docker")
                .args(["rmi", "--force", image])
                .output();
        }
    }
}

/// The registry with the web images pushed, or `None` when the test is skipped.
async fn web_images() -> Option<(support::TestRegistry, WebImages)> {
    if !docker_available() {
        return None;
    }
    let registry = support::registry(Auth::None).await?;
    let images = registry.push_web_images().await.unwrap();
    Some((registry, images))
}

/// Runs `IMAGE:1.0.0` as `name` the way a user would: a named volume with a file in it, a
/// loopback port binding, an env var and a label.
fn run_web(cleanup: &mut Cleanup, image: &str, name: &str) {
    let volume = format!("{name}-data");
    cleanup.containers.push(name.to_owned());
    cleanup.volumes.push(volume.clone());
    for tag in ["1.0.0", "1.0.1", "1.2.0", ROLLBACK_TAG] {
        cleanup.images.push(format!("{image}:{tag}"));
    }
    let reference = format!("{image}:1.0.0");
    docker(&["pull", "--quiet", &reference]);
    docker(&[
        "run",
        "-d",
        "--name",
        name,
        "-v",
        &format!("{volume}:/data"),
        "-p",
        "127.0.0.1::8080",
        "-e",
        "UPKEEP_TEST=hello",
        "-l",
        "upkeep.test=label",
        &reference,
    ]);
    docker(&["exec", name, "sh", "-c", "echo keep > /data/file"]);
}

/// Asserts that `name` kept what [`run_web`] gave it.
fn assert_same_configuration(name: &str) {
    let format = |template: &str| docker(&["inspect", name, "--format", template]);
    assert!(
        format("{{json .Config.Env}}").contains("\"UPKEEP_TEST=hello\""),
        "env"
    );
    assert_eq!(format("{{index .Config.Labels \"upkeep.test\"}}"), "label");
    assert_eq!(
        format("{{json .HostConfig.PortBindings}}"),
        r#"{"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":""}]}"#
    );
    assert_eq!(
        format("{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}"),
        format!("volume {name}-data /data")
    );
    assert_eq!(
        docker(&[
            "exec",
            name,
            "sh",
            "-c",
            "read line < /data/file && echo $line"
        ]),
        "keep"
    );
    // The old container is gone once the new one runs.
    assert_eq!(
        docker(&[
            "ps",
            "--all",
            "--quiet",
            "--filter",
            &format!("name=^{name}{OLD_SUFFIX}$"),
        ]),
        ""
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recreate_updates_the_image_and_keeps_configuration_and_data_and_restore_returns() {
    let Some((_registry, images)) = web_images().await else {
        return;
    };
    let image = images.image.clone();
    let name = format!("upkeep-runtime-update-{}", std::process::id());
    let mut cleanup = Cleanup::default();
    run_web(&mut cleanup, &image, &name);
    let runtime = DockerRuntime::connect().await.unwrap();

    let before = runtime.inspect(&name).await.unwrap();
    assert_eq!(before.name, name);
    assert_eq!(before.image, format!("{image}:1.0.0"));
    assert_eq!(
        before.repo_digest.as_deref(),
        Some(images.digests["1.0.0"].to_string().as_str())
    );
    assert_eq!(before.status, Status::Running);
    assert_eq!(before.health, None, "the web images have no HEALTHCHECK");

    let messages = AtomicUsize::new(0);
    let pulled = runtime
        .pull(&name, &format!("{image}:1.0.1"), &|_| {
            messages.fetch_add(1, Ordering::Relaxed);
        })
        .await
        .unwrap();
    assert!(messages.load(Ordering::Relaxed) > 0, "progress is reported");
    assert_eq!(
        pulled.repo_digests,
        [format!("{image}@{}", images.digests["1.0.1"])]
    );

    let point = runtime.keep_for_rollback(&name).await.unwrap();
    assert_eq!(point.tag, format!("{image}:{ROLLBACK_TAG}"));
    assert_eq!(point.image_id, before.image_id);
    assert_eq!(point.repo_digest, before.repo_digest);
    assert_eq!(
        docker(&["image", "inspect", &point.tag, "--format", "{{.Id}}"]),
        before.image_id
    );

    let updated = runtime
        .recreate(&name, &format!("{image}:1.0.1"))
        .await
        .unwrap();
    assert_eq!(updated.image, format!("{image}:1.0.1"));
    assert_eq!(updated.image_id, pulled.id);
    assert_eq!(
        updated.repo_digest.as_deref(),
        Some(images.digests["1.0.1"].to_string().as_str())
    );
    assert_eq!(updated.status, Status::Running);
    assert_ne!(updated.id, before.id);
    assert_same_configuration(&name);

    let restored = runtime.restore(&name, &point).await.unwrap();
    assert_eq!(restored.image, format!("{image}:1.0.0"));
    assert_eq!(restored.image_id, before.image_id);
    assert_eq!(restored.repo_digest, before.repo_digest);
    assert_eq!(restored.status, Status::Running);
    assert_same_configuration(&name);
}

#[tokio::test(flavor = "multi_thread")]
async fn recreate_with_an_image_that_crashes_succeeds_and_the_exit_shows_in_inspect() {
    let Some((_registry, images)) = web_images().await else {
        return;
    };
    let image = images.image.clone();
    let name = format!("upkeep-runtime-crash-{}", std::process::id());
    let mut cleanup = Cleanup::default();
    run_web(&mut cleanup, &image, &name);
    let runtime = DockerRuntime::connect().await.unwrap();
    // An image the engine does not hold is refused before the container is touched.
    let absent = format!("{image}:9.9.9");
    let error = runtime.recreate(&name, &absent).await.unwrap_err();
    assert!(
        matches!(&error, RuntimeError::ImageNotFound { image } if *image == absent),
        "{error:?}"
    );
    assert_eq!(
        runtime.inspect(&name).await.unwrap().status,
        Status::Running
    );

    let crashing = format!("{image}:1.2.0");
    runtime.pull(&name, &crashing, &|_| {}).await.unwrap();

    // Whether the new version is well is for the health checks to judge.
    let recreated = runtime.recreate(&name, &crashing).await.unwrap();
    assert_eq!(
        recreated.repo_digest.as_deref(),
        Some(images.digests["1.2.0"].to_string().as_str())
    );
    assert_eq!(docker(&["wait", &name]), "3");
    let exited = runtime.inspect(&name).await.unwrap();
    assert_eq!(exited.status, Status::Exited);
    assert_eq!(exited.exit_code, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_container_or_image_is_named_and_changes_nothing() {
    if !docker_available() {
        return;
    }
    let runtime = DockerRuntime::connect().await.unwrap();
    let missing = format!("upkeep-runtime-missing-{}", std::process::id());
    let error = runtime.inspect(&missing).await.unwrap_err();
    assert!(
        matches!(&error, RuntimeError::ContainerNotFound { container } if *container == missing),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("no container named `{missing}`; list the containers with `docker ps --all`")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recreate_that_cannot_start_removes_the_new_container_and_names_the_old_one() {
    let Some((_registry, images)) = web_images().await else {
        return;
    };
    let image = images.image.clone();
    let name = format!("upkeep-runtime-stranded-{}", std::process::id());
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    for tag in ["1.0.0", "1.0.1"] {
        cleanup.images.push(format!("{image}:{tag}"));
    }
    // A bind mount whose source disappears: neither a new container nor the old one can
    // start again, so both the recreate and the putting back fail.
    let host = tempfile::tempdir().unwrap();
    let source = host.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let reference = format!("{image}:1.0.0");
    docker(&["pull", "--quiet", &reference]);
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--mount",
        &format!("type=bind,source={},target=/host", source.display()),
        &reference,
    ]);
    std::fs::remove_dir(&source).unwrap();
    let runtime = DockerRuntime::connect().await.unwrap();
    let before = runtime.inspect(&name).await.unwrap();
    let newer = format!("{image}:1.0.1");
    runtime.pull(&name, &newer, &|_| {}).await.unwrap();

    let error = runtime.recreate(&name, &newer).await.unwrap_err();
    let RuntimeError::Stranded { old, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*old, name, "the old container was renamed back: {error}");
    let after = runtime.inspect(&name).await.unwrap();
    assert_eq!(after.id, before.id, "the old container is kept");
    assert_eq!(after.image, reference);
    assert_ne!(after.status, Status::Running);
    // Only the old container is left: the new one was removed.
    assert_eq!(
        docker(&[
            "ps",
            "--all",
            "--quiet",
            "--filter",
            &format!("name=upkeep-runtime-stranded-{}", std::process::id()),
        ])
        .lines()
        .count(),
        1
    );
    let message = error.to_string();
    assert!(
        message.contains("start it with `docker start`"),
        "{message}"
    );
}
