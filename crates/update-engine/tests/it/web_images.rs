//! The web images the end-to-end tests update between, on this machine's Docker Engine:
//! pulled from a loopback registry (Docker treats 127.0.0.0/8 as insecure, so plain HTTP
//! works), they serve, report health as built, or crash at start.

use std::time::{Duration, Instant};

use upkeep_test_registry::web::{Behaviour, WEB_TAGS};
use upkeep_test_registry::{self as support, Auth};

use crate::{docker, docker_available};

/// Removes the pulled images when the test ends, so runs do not pile up in the engine.
struct PulledImages(Vec<String>);

impl Drop for PulledImages {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "--force", image])
                .output();
        }
    }
}

/// Removes the container when the test ends, however it ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        upkeep_test_registry::docker::remove_container(&self.0);
    }
}

/// The status of `/cgi-bin/health`, asked until the server answers or 10 s pass.
async fn health(port: &str) -> Option<u16> {
    let url = format!("http://127.0.0.1:{port}/cgi-bin/health");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(&url).await {
            return Some(response.status().as_u16());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn web_images_pull_from_the_loopback_registry_and_behave_as_built() {
    if !docker_available() {
        return;
    }
    let Some(registry) = support::registry(Auth::None).await else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    let image = images.image.clone();
    let _pulled = PulledImages(
        WEB_TAGS
            .iter()
            .map(|(tag, _)| format!("{image}:{tag}"))
            .collect(),
    );
    for (tag, behaviour) in WEB_TAGS {
        let reference = format!("{image}:{tag}");
        docker(&["pull", "--quiet", &reference]);
        // Docker records the digest it pulled, the one the registry serves.
        let repo_digests = docker(&[
            "image",
            "inspect",
            &reference,
            "--format",
            "{{json .RepoDigests}}",
        ]);
        assert!(
            repo_digests.contains(&images.digests[tag].to_string()),
            "{tag}: {repo_digests}"
        );
        let name = format!("upkeep-web-smoke-{}-{tag}", std::process::id());
        let container = Container(name.clone());
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            "127.0.0.1::8080",
            &reference,
        ]);
        match behaviour {
            Behaviour::Healthy | Behaviour::Sick => {
                let port = docker(&["port", &name, "8080/tcp"]);
                let port = port.rsplit(':').next().unwrap().to_owned();
                let expected = if behaviour == Behaviour::Healthy {
                    200
                } else {
                    500
                };
                assert_eq!(health(&port).await, Some(expected), "{tag}");
            }
            Behaviour::Crashes => {
                let code = docker(&["wait", &name]);
                assert_eq!(code, "3", "{tag} exits with 3");
            }
        }
        drop(container);
    }
}
