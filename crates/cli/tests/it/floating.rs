//! A deployment on a floating tag (`latest`) over a multi-platform index, on this machine's
//! Docker Engine and a loopback registry: compared by the image for this host's platform,
//! never by the index's digest.

use upkeep_test_registry::docker::free_port;
use upkeep_test_registry::web::WEB;
use upkeep_test_registry::{self as support, Auth};

use crate::{docker, docker_available, upkeep};

/// Issue 11: an arm64-only rebuild behind `latest` is no update; a new amd64 image is one of
/// its own kind (`digest`), named after the version that has the same image, and `update`
/// runs it by pulling `latest` again. Moving to a version tag is never proposed by itself.
#[tokio::test(flavor = "multi_thread")]
async fn a_floating_tag_is_compared_by_the_image_for_this_platform() {
    if !docker_available() || std::env::consts::ARCH != "x86_64" {
        // The web images are amd64 builds of this host's busybox.
        return;
    }
    let Some(registry) = support::registry(Auth::None).await else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    for (tag, architecture, build) in [
        ("arm64-a", "arm64", "a"),
        ("arm64-b", "arm64", "b"),
        ("amd64-rebuilt", "amd64", "rebuilt"),
    ] {
        registry
            .web_variant("1.0.1", tag, architecture, &[("build", build)])
            .await
            .unwrap();
    }
    registry
        .push_web_index("latest", &[("1.0.1", "amd64"), ("arm64-a", "arm64")])
        .await
        .unwrap();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let image = images.image.clone();
        let container = format!("upkeep-e2e-floating-{}", std::process::id());
        struct Cleanup(String, String);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                upkeep_test_registry::docker::remove_container(&self.0);
                for tag in ["latest", "upkeep-previous"] {
                    let _ = std::process::Command::new("docker")
                        .args(["rmi", "-f", &format!("{}:{tag}", self.1)])
                        .output();
                }
            }
        }
        let _cleanup = Cleanup(container.clone(), image.clone());
        let port = free_port();
        docker(&[
            "run",
            "-d",
            "--name",
            &container,
            "-p",
            &format!("127.0.0.1:{port}:8080"),
            &format!("{image}:latest"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().display().to_string();
        let run = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend(["--dir", &dir_arg]);
            upkeep(&all, "")
        };
        let init = run(&["init", "--from-running", &container]);
        assert_eq!(init.code, 0, "{init}");
        std::fs::write(
            dir.path().join("upkeep.yaml"),
            format!(
                "deployments:\n  {container}:\n    image: {image}\n    container: {container}\n    policy: auto_patch\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      timeout: 1s\n      retries: 20\n      interval: 250ms\n"
            ),
        )
        .unwrap();
        let plan = |when: &str| {
            let plan = run(&["plan", "--json"]);
            assert_eq!(plan.code, 0, "{when}: {plan}");
            let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
            plan[0].clone()
        };

        // It runs what `latest` points at for amd64: nothing to do, although 1.2.0 exists.
        let check = run(&["check"]);
        assert_eq!(check.code, 0, "{check}");
        let entry = plan("at first");
        assert_eq!(entry["action"], "up_to_date", "{entry}");
        assert!(
            entry["why"]
                .as_str()
                .unwrap()
                .contains("latest still points at the image it runs"),
            "{entry}"
        );

        // Only the arm64 image behind `latest` is rebuilt: a new index, the same image here.
        handle
            .block_on(registry.push_web_index("latest", &[("1.0.1", "amd64"), ("arm64-b", "arm64")]))
            .unwrap();
        let check = run(&["check"]);
        assert_eq!(check.code, 0, "an arm64 rebuild is no update: {check}");
        assert_eq!(plan("after an arm64 rebuild")["action"], "up_to_date");

        // A new amd64 image, which 1.0.2 names too.
        handle
            .block_on(registry.copy_web_image("amd64-rebuilt", WEB, "1.0.2"))
            .unwrap();
        let index = handle
            .block_on(registry.push_web_index(
                "latest",
                &[("amd64-rebuilt", "amd64"), ("arm64-b", "arm64")],
            ))
            .unwrap();
        let check = run(&["check"]);
        assert_eq!(check.code, 10, "a new amd64 image is an update: {check}");
        let entry = plan("after an amd64 rebuild");
        assert_eq!(entry["action"], "update", "{entry}");
        assert_eq!(entry["target"], "latest", "{entry}");
        assert_eq!(entry["kind"], "digest", "{entry}");
        assert!(
            entry["why"]
                .as_str()
                .unwrap()
                .contains("latest now points at 1.0.2's image"),
            "{entry}"
        );
        let update = run(&["update", "--yes"]);
        assert_eq!(update.code, 0, "{update}");
        assert_eq!(
            docker(&["inspect", "--format", "{{.Config.Image}}", &container]),
            format!("{image}:latest"),
            "it still follows latest"
        );
        assert_eq!(
            docker(&[
                "inspect",
                "--format",
                "{{index .Config.Labels \"build\"}}",
                &container
            ]),
            "rebuilt",
            "it runs the new amd64 image"
        );
        let manifest = std::fs::read_to_string(dir.path().join("version-manifest.yaml")).unwrap();
        assert!(manifest.contains(&index.to_string()), "{manifest}");
        assert_eq!(plan("after the update")["action"], "up_to_date");
    })
    .await
    .unwrap();
}
