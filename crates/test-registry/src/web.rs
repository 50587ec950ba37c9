//! Small runnable images for end-to-end tests on a real Docker Engine: a static busybox
//! serving HTTP on port 8080 with a `/cgi-bin/health` endpoint, built with `umoci` from the
//! host's `busybox-static` and pushed with `skopeo`.
//!
//! The tags of [`WEB`]:
//! - `1.0.0` and `1.0.1`: healthy (`/cgi-bin/health` answers 200 with the version);
//! - `1.1.0`: sick (`/cgi-bin/health` answers 500);
//! - `1.2.0`: exits with status 3 as soon as it starts.
//!
//! Every image writes nothing by itself; tests mount a volume at `/data` to show that data
//! survives an update.

use std::collections::BTreeMap;
use std::path::Path;

use upkeep_versioning_core::reference::Digest;

use upkeep_registry_clients::{OCI_INDEX, OCI_MANIFEST};

use crate::fixtures::{Pusher, SkopeoFormat, layout_digest, read_layout_blob, sha256};
use crate::{HarnessError, TestRegistry, tools};

/// The repository the web images are pushed to.
pub const WEB: &str = "test/web";
/// The static busybox the images are made of (Debian's `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";
/// The port the images serve on.
pub const WEB_PORT: u16 = 8080;

/// How a web image behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Serves, and its health endpoint answers 200.
    Healthy,
    /// Serves, but its health endpoint answers 500.
    Sick,
    /// Exits with status 3 at start.
    Crashes,
}

/// The tags pushed and how each behaves.
pub const WEB_TAGS: [(&str, Behaviour); 4] = [
    ("1.0.0", Behaviour::Healthy),
    ("1.0.1", Behaviour::Healthy),
    ("1.1.0", Behaviour::Sick),
    ("1.2.0", Behaviour::Crashes),
];

/// What [`TestRegistry::push_web_images`] pushed: each tag's manifest digest.
#[derive(Debug, Clone)]
pub struct WebImages {
    /// `registry-host/test/web`, the image name to pull.
    pub image: String,
    /// The manifest digest of each tag, as the registry serves it.
    pub digests: BTreeMap<String, Digest>,
}

impl TestRegistry {
    /// Builds and pushes the web images ([`WEB_TAGS`]) to [`WEB`].
    pub async fn push_web_images(&self) -> Result<WebImages, HarnessError> {
        let work = self.directory().join("web-images");
        std::fs::create_dir_all(&work).map_err(|source| HarnessError::Io {
            action: "create",
            path: work.clone(),
            source,
        })?;
        let layout = work.join("oci");
        let layout_arg = layout.display().to_string();
        tools::run("umoci", ["init", "--layout", &layout_arg], &work, &[]).await?;
        tools::run(
            "umoci",
            ["new", "--image", &format!("{layout_arg}:base")],
            &work,
            &[],
        )
        .await?;
        let mut digests = BTreeMap::new();
        for (tag, behaviour) in WEB_TAGS {
            self.build_web_image(&work, &layout_arg, tag, behaviour)
                .await?;
            self.skopeo_push(&layout, tag, WEB, tag, SkopeoFormat::Oci)
                .await?;
            digests.insert(tag.to_owned(), self.served_digest(tag).await?);
        }
        Ok(WebImages {
            image: format!("{}/{WEB}", self.host()),
            digests,
        })
    }

    /// Pushes the already built web image `tag` again as `alias` (a floating tag such as
    /// `latest`, or a hotfix tag), after [`push_web_images`](Self::push_web_images).
    pub async fn alias_web_image(&self, tag: &str, alias: &str) -> Result<Digest, HarnessError> {
        let layout = self.directory().join("web-images").join("oci");
        self.skopeo_push(&layout, tag, WEB, alias, SkopeoFormat::Oci)
            .await?;
        self.served_digest(alias).await
    }

    /// Pushes the already built web image `tag` to another repository of this registry,
    /// as `repository:as_tag`: many repositories for load tests.
    pub async fn copy_web_image(
        &self,
        tag: &str,
        repository: &str,
        as_tag: &str,
    ) -> Result<(), HarnessError> {
        let layout = self.directory().join("web-images").join("oci");
        self.skopeo_push(&layout, tag, repository, as_tag, SkopeoFormat::Oci)
            .await
    }

    /// Pushes the already built web image `tag` with extra image `labels` (baked into its
    /// config, as a publisher's `LABEL` lines do) as `repository:as_tag`, after
    /// [`push_web_images`](Self::push_web_images).
    pub async fn push_web_image_with_labels(
        &self,
        tag: &str,
        labels: &[(&str, &str)],
        repository: &str,
        as_tag: &str,
    ) -> Result<(), HarnessError> {
        let work = self.directory().join("web-images");
        let layout = work.join("oci");
        let labelled = format!("labelled-{as_tag}");
        let mut args = vec![
            "config".to_owned(),
            "--image".to_owned(),
            format!("{}:{tag}", layout.display()),
            "--tag".to_owned(),
            labelled.clone(),
        ];
        for (key, value) in labels {
            args.push("--config.label".to_owned());
            args.push(format!("{key}={value}"));
        }
        tools::run("umoci", &args, &work, &[]).await?;
        self.skopeo_push(&layout, &labelled, repository, as_tag, SkopeoFormat::Oci)
            .await
    }

    /// Makes `new_tag` in the web images' layout from the built web image `tag`: the same
    /// files, for `architecture`, with `labels` added, so a new image (a rebuild) of the same
    /// version. Push it with [`push_web_index`](Self::push_web_index).
    pub async fn web_variant(
        &self,
        tag: &str,
        new_tag: &str,
        architecture: &str,
        labels: &[(&str, &str)],
    ) -> Result<(), HarnessError> {
        let work = self.directory().join("web-images");
        let layout = work.join("oci");
        let mut args = vec![
            "config".to_owned(),
            "--image".to_owned(),
            format!("{}:{tag}", layout.display()),
            "--tag".to_owned(),
            new_tag.to_owned(),
            "--architecture".to_owned(),
            architecture.to_owned(),
        ];
        for (key, value) in labels {
            args.push("--config.label".to_owned());
            args.push(format!("{key}={value}"));
        }
        tools::run("umoci", &args, &work, &[]).await.map(drop)
    }

    /// Pushes an OCI image index to [`WEB`] as `as_tag`, as multi-platform official images
    /// are: for each `(image, architecture)`, the web image `image` of the layout (a web tag,
    /// or one made by [`web_variant`](Self::web_variant)) as the linux/`architecture` entry.
    /// Returns the index's digest.
    pub async fn push_web_index(
        &self,
        as_tag: &str,
        platforms: &[(&str, &str)],
    ) -> Result<Digest, HarnessError> {
        let layout = self.directory().join("web-images").join("oci");
        let pusher = Pusher::for_repositories(self, &[WEB])?;
        let mut descriptors = Vec::new();
        for (image, architecture) in platforms {
            // The image's blobs and manifest, under a tag of its own that is no version.
            self.skopeo_push(
                &layout,
                image,
                WEB,
                &format!("platform-{image}"),
                SkopeoFormat::Oci,
            )
            .await?;
            let manifest = read_layout_blob(&layout, &layout_digest(&layout, image)?)?;
            descriptors.push(serde_json::json!({
                "mediaType": OCI_MANIFEST,
                "digest": sha256(&manifest).as_str(),
                "size": manifest.len(),
                "platform": {"architecture": architecture, "os": "linux"},
            }));
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": descriptors,
        }))
        .map_err(|failure| HarnessError::Unexpected {
            what: "the index".to_owned(),
            status: 0,
            body: failure.to_string(),
        })?;
        let digest = sha256(&index);
        pusher.put_manifest(WEB, as_tag, OCI_INDEX, index).await?;
        Ok(digest)
    }

    async fn build_web_image(
        &self,
        work: &Path,
        layout: &str,
        tag: &str,
        behaviour: Behaviour,
    ) -> Result<(), HarnessError> {
        let bundle = work.join(format!("bundle-{tag}"));
        let bundle_arg = bundle.display().to_string();
        tools::run(
            "umoci",
            [
                "unpack",
                "--rootless",
                "--image",
                &format!("{layout}:base"),
                &bundle_arg,
            ],
            work,
            &[],
        )
        .await?;
        let rootfs = bundle.join("rootfs");
        let status = match behaviour {
            Behaviour::Sick => "500 Internal Server Error",
            Behaviour::Healthy | Behaviour::Crashes => "200 OK",
        };
        let files: [(&str, String, u32); 3] = [
            (
                "www/cgi-bin/health",
                format!(
                    "#!/bin/sh\nprintf 'Status: {status}\\r\\nContent-Type: text/plain\\r\\n\\r\\n{tag}\\n'\n"
                ),
                0o755,
            ),
            ("www/index.html", format!("web {tag}\n"), 0o644),
            ("data/.keep", String::new(), 0o644),
        ];
        for (relative, content, mode) in files {
            write_file(&rootfs.join(relative), content.as_bytes(), mode)?;
        }
        let busybox = std::fs::read(BUSYBOX).map_err(|source| HarnessError::Io {
            action: "read",
            path: BUSYBOX.into(),
            source,
        })?;
        write_file(&rootfs.join("bin/busybox"), &busybox, 0o755)?;
        std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).map_err(|source| {
            HarnessError::Io {
                action: "link",
                path: rootfs.join("bin/sh"),
                source,
            }
        })?;
        tools::run(
            "umoci",
            ["repack", "--image", &format!("{layout}:{tag}"), &bundle_arg],
            work,
            &[],
        )
        .await?;
        let command: &[&str] = match behaviour {
            Behaviour::Crashes => &["sh", "-c", "echo 'crashing on purpose' >&2; exit 3"],
            // A shell as PID 1 that exits on SIGTERM, as a well-behaved service does: PID 1
            // has no default signal actions, so a bare httpd would make every `docker stop`
            // wait its full timeout.
            Behaviour::Healthy | Behaviour::Sick => &[
                "sh",
                "-c",
                "trap 'exit 0' TERM; busybox httpd -f -v -p 8080 -h /www & wait",
            ],
        };
        let mut args = vec![
            "config".to_owned(),
            "--image".to_owned(),
            format!("{layout}:{tag}"),
            "--os".to_owned(),
            "linux".to_owned(),
            "--architecture".to_owned(),
            "amd64".to_owned(),
            "--config.entrypoint".to_owned(),
            "/bin/busybox".to_owned(),
            "--config.exposedports".to_owned(),
            format!("{WEB_PORT}/tcp"),
            "--config.volume".to_owned(),
            "/data".to_owned(),
            "--config.label".to_owned(),
            format!("org.opencontainers.image.version={tag}"),
        ];
        for part in command {
            args.push("--config.cmd".to_owned());
            args.push((*part).to_owned());
        }
        tools::run("umoci", &args, work, &[]).await?;
        Ok(())
    }

    /// The digest the registry serves for a web tag (sha256 of its manifest bytes).
    async fn served_digest(&self, tag: &str) -> Result<Digest, HarnessError> {
        let url = format!("{}/v2/{WEB}/manifests/{tag}", self.base_url());
        let mut request = reqwest::Client::new()
            .head(&url)
            .header("Accept", "application/vnd.oci.image.manifest.v1+json");
        if let Some((user, password)) = self.credentials() {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|source| HarnessError::Http {
            what: format!("HEAD {url}"),
            source,
        })?;
        response
            .headers()
            .get("docker-content-digest")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| HarnessError::Unexpected {
                what: format!("HEAD {url}"),
                status: response.status().as_u16(),
                body: "no valid Docker-Content-Digest header".to_owned(),
            })
    }
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HarnessError> {
    use std::os::unix::fs::PermissionsExt as _;
    let io = |action, source| HarnessError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| io("create", source))?;
    }
    std::fs::write(path, bytes).map_err(|source| io("write", source))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|source| io("set permissions of", source))
}
