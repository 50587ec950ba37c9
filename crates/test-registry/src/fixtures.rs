//! The standard images every registry test can count on, and the pushing that makes them:
//! a few images built with `umoci` and pushed with `skopeo` (so the real tools' uploads and,
//! in token mode, their Bearer flow run too), then many more tags made with plain HTTP
//!: for each, a new config blob (its version label and `created`
//! changed) and the base manifest pointing at it, so every version has its own digest, as
//! real releases do. A few tags copy another tag's exact bytes (`latest`, a commit tag).
//!
//! What was pushed comes back as [`StandardImages`], with every tag's exact bytes and the
//! [`Manifest`] a correct client must return for it. It does not test the registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use upkeep_registry_clients::{
    DOCKER_MANIFEST, Manifest, ManifestContent, OCI_INDEX, OCI_MANIFEST, Platform, PlatformManifest,
};
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::reference::Digest;

use super::{HarnessError, TestRegistry, tools};

/// The big repository: OCI images, more than 100 tags, a multi-platform index.
pub const APP: &str = "test/app";
/// A second OCI repository with a few tags.
pub const OTHER: &str = "test/other";
/// A repository of Docker schema-2 images.
pub const V2S2: &str = "v2s2/app";
/// The tag of [`APP`]'s OCI index over `linux/amd64` (the `1.0.0` image), `linux/arm64/v8`
/// and a BuildKit-style attestation manifest (`unknown/unknown`).
pub const MULTI_TAG: &str = "1.0.0-multi";

/// The label that carries an image's version in its config.
const VERSION_LABEL: &str = "org.opencontainers.image.version";
/// `created` of the images umoci builds.
const BUILT_CREATED: &str = "2024-12-31T00:00:00Z";
/// `created` of the first derived image (2025-01-01T00:00:00Z); each next one is an hour
/// later, in the order the tags are listed below.
const FIRST_CREATED_UNIX: u64 = 1_735_689_600;
/// How many plain-HTTP pushes run at once.
const PUSH_CONCURRENCY: usize = 8;
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";

/// Everything [`TestRegistry::fill_standard`] pushed.
#[derive(Debug, Clone)]
pub struct StandardImages {
    /// [`APP`]: `1.0.0`..`1.9.12` (130 versions), `1.M.0-alpine` and `1.M.12-alpine` for each
    /// minor M, `2.0.0-alpha.1`, `2.0.0-beta.2`, `2.0.0-rc1`, `latest` and `sha-3f2a9c1`
    /// (both the bytes of `1.9.12`), and [`MULTI_TAG`]: 156 tags. OCI media types.
    pub app: PushedRepository,
    /// [`OTHER`]: `3.0.0`, `3.0.1`, `3.1.0`, `latest` (the bytes of `3.1.0`). OCI.
    pub other: PushedRepository,
    /// [`V2S2`]: `2.0.0`, `2.0.1`, `2.1.0`, `latest` (the bytes of `2.1.0`). Docker schema 2.
    pub v2s2: PushedRepository,
}

impl StandardImages {
    /// The three repositories.
    pub fn repositories(&self) -> [&PushedRepository; 3] {
        [&self.app, &self.other, &self.v2s2]
    }
}

/// One repository's pushed manifests.
#[derive(Debug, Clone)]
pub struct PushedRepository {
    /// The repository's name (`test/app`).
    pub name: &'static str,
    /// Every tag, with what it points to.
    pub tags: BTreeMap<String, PushedManifest>,
    /// Manifests pushed by digest only: the index's arm64 image and attestation manifest.
    pub untagged: Vec<PushedManifest>,
}

impl PushedRepository {
    /// The tags, sorted by byte order (the registry lists them unsorted).
    pub fn tag_names(&self) -> Vec<String> {
        self.tags.keys().cloned().collect()
    }

    /// What `tag` points to; panics naming the tag when it was not pushed.
    #[track_caller]
    pub fn tag(&self, tag: &str) -> &PushedManifest {
        self.tags
            .get(tag)
            .unwrap_or_else(|| panic!("the fixture has no tag {}:{tag}", self.name))
    }

    /// The digest `tag` points to; panics naming the tag when it was not pushed.
    #[track_caller]
    pub fn digest(&self, tag: &str) -> &Digest {
        &self.tag(tag).manifest.digest
    }
}

/// One manifest as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// What a correct client returns for it: sha256 of [`Self::bytes`], the media type it
    /// was pushed with (served as `Content-Type`), and its content.
    pub manifest: Manifest,
    /// The exact bytes the registry serves.
    pub bytes: Vec<u8>,
    /// For an image, the platform its config names (configs carry no variant here); `None`
    /// for an index.
    pub platform: Option<Platform>,
    /// For an image, its config's `created`: 2024-12-31T00:00:00Z for the images umoci built
    /// (`1.0.0`, `3.0.0`, `2.0.0` and the arm64 image), then one hour more for each derived
    /// tag from 2025-01-01T00:00:00Z on, later versions later within a repository.
    pub created: Option<Timestamp>,
    /// For an image, its config's `org.opencontainers.image.version` label.
    pub version_label: Option<String>,
}

impl TestRegistry {
    /// Pushes the standard images (see [`StandardImages`]) and returns what was pushed; call
    /// it once per registry. Resets the token-request count afterwards, so tests count only
    /// their own client's requests. Takes about two seconds.
    pub async fn fill_standard(&self) -> Result<StandardImages, HarnessError> {
        let layout = build_layout(self.directory()).await?;
        tokio::try_join!(
            self.skopeo_push(&layout, "amd64", APP, "1.0.0", SkopeoFormat::Oci),
            self.skopeo_push(&layout, "other", OTHER, "3.0.0", SkopeoFormat::Oci),
            self.skopeo_push(&layout, "v2s2", V2S2, "2.0.0", SkopeoFormat::DockerV2s2),
        )?;

        let pusher = Pusher::new(self)?;
        let app_base = Arc::new(pusher.fetch_image(APP, "1.0.0", OCI_MANIFEST).await?);
        let other_base = Arc::new(pusher.fetch_image(OTHER, "3.0.0", OCI_MANIFEST).await?);
        let v2s2_base = Arc::new(pusher.fetch_image(V2S2, "2.0.0", DOCKER_MANIFEST).await?);
        let mut app = PushedRepository::new(APP, "1.0.0", &app_base)?;
        let mut other = PushedRepository::new(OTHER, "3.0.0", &other_base)?;
        let mut v2s2 = PushedRepository::new(V2S2, "2.0.0", &v2s2_base)?;

        let mut derived: Vec<(Arc<BaseImage>, &'static str, String)> = app_derived_tags()
            .into_iter()
            .map(|tag| (Arc::clone(&app_base), APP, tag))
            .collect();
        for tag in ["3.0.1", "3.1.0"] {
            derived.push((Arc::clone(&other_base), OTHER, tag.to_owned()));
        }
        for tag in ["2.0.1", "2.1.0"] {
            derived.push((Arc::clone(&v2s2_base), V2S2, tag.to_owned()));
        }
        let permits = Arc::new(Semaphore::new(PUSH_CONCURRENCY));
        let mut pushes = JoinSet::new();
        for (order, (base, repository, tag)) in derived.into_iter().enumerate() {
            let pusher = pusher.clone();
            let permits = Arc::clone(&permits);
            let created = created_at(order);
            pushes.spawn(async move {
                // The semaphore is never closed.
                let _permit = permits.acquire_owned().await.ok();
                let pushed = pusher
                    .push_derived(&base, repository, &tag, created)
                    .await?;
                Ok::<_, HarnessError>((repository, tag, pushed))
            });
        }
        while let Some(joined) = pushes.join_next().await {
            let (repository, tag, pushed) =
                joined.map_err(|failure| HarnessError::Malformed {
                    what: "a push task".to_owned(),
                    detail: failure.to_string(),
                })??;
            let target = match repository {
                APP => &mut app,
                OTHER => &mut other,
                _ => &mut v2s2,
            };
            target.tags.insert(tag, pushed);
        }

        pusher.copy_tag(&mut app, "1.9.12", "latest").await?;
        pusher.copy_tag(&mut app, "1.9.12", "sha-3f2a9c1").await?;
        pusher.copy_tag(&mut other, "3.1.0", "latest").await?;
        pusher.copy_tag(&mut v2s2, "2.1.0", "latest").await?;

        self.push_multi_platform(&pusher, &layout, &mut app).await?;
        self.reset_token_requests();
        Ok(StandardImages { app, other, v2s2 })
    }

    /// Pushes `image` of the OCI layout to `repository:tag` with `skopeo copy`.
    pub(crate) async fn skopeo_push(
        &self,
        layout: &Path,
        image: &str,
        repository: &str,
        tag: &str,
        format: SkopeoFormat,
    ) -> Result<(), HarnessError> {
        let mut args = vec![
            "--insecure-policy".to_owned(),
            "copy".to_owned(),
            "--quiet".to_owned(),
            "--dest-tls-verify=false".to_owned(),
        ];
        let mut secrets = Vec::new();
        match self.credentials() {
            Some((user, password)) => {
                args.push("--dest-creds".to_owned());
                args.push(format!("{user}:{password}"));
                secrets.push(password);
            }
            None => args.push("--dest-no-creds".to_owned()),
        }
        if format == SkopeoFormat::DockerV2s2 {
            args.push("--format=v2s2".to_owned());
        }
        args.push(format!("oci:{}:{image}", layout.display()));
        args.push(format!("docker://{}/{repository}:{tag}", self.host()));
        tools::run("skopeo", &args, self.directory(), &secrets).await?;
        Ok(())
    }

    /// Pushes the arm64 image and an attestation manifest by digest, then the index over
    /// them and the `1.0.0` image as [`MULTI_TAG`].
    async fn push_multi_platform(
        &self,
        pusher: &Pusher,
        layout: &Path,
        app: &mut PushedRepository,
    ) -> Result<(), HarnessError> {
        let amd64 = app.tag("1.0.0").clone();

        // The arm64 image shares the amd64 image's layer, already in the repository.
        let arm64_manifest = read_layout_blob(layout, &layout_digest(layout, "arm64")?)?;
        let arm64_value = parse(&arm64_manifest, "the arm64 manifest")?;
        let config_digest = string_at(&arm64_value, "/config/digest", "the arm64 manifest")?;
        let arm64_config = read_layout_blob(layout, &config_digest)?;
        pusher.upload_blob(APP, arm64_config.clone()).await?;
        let arm64 = pushed_image(OCI_MANIFEST, arm64_manifest, &arm64_config)?;
        pusher
            .put_manifest(
                APP,
                arm64.manifest.digest.as_str(),
                OCI_MANIFEST,
                arm64.bytes.clone(),
            )
            .await?;

        // As BuildKit makes them: an in-toto statement about the amd64 image as its layer.
        let statement = serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": [{
                "name": format!("pkg:docker/{APP}@{MULTI_TAG}?platform=linux%2Famd64"),
                "digest": {"sha256": amd64.manifest.digest.hex()},
            }],
            "predicate": {},
        }))
        .map_err(|failure| serialisation("the attestation statement", &failure))?;
        let statement_digest = sha256(&statement);
        let attestation_config = serde_json::to_vec(&json!({
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [statement_digest.as_str()]},
        }))
        .map_err(|failure| serialisation("the attestation config", &failure))?;
        let attestation_config_digest = sha256(&attestation_config);
        let attestation_manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": attestation_config_digest.as_str(),
                "size": attestation_config.len(),
            },
            "layers": [{
                "mediaType": IN_TOTO,
                "digest": statement_digest.as_str(),
                "size": statement.len(),
                "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"},
            }],
        }))
        .map_err(|failure| serialisation("the attestation manifest", &failure))?;
        pusher.upload_blob(APP, statement).await?;
        pusher.upload_blob(APP, attestation_config.clone()).await?;
        let attestation = pushed_image(OCI_MANIFEST, attestation_manifest, &attestation_config)?;
        pusher
            .put_manifest(
                APP,
                attestation.manifest.digest.as_str(),
                OCI_MANIFEST,
                attestation.bytes.clone(),
            )
            .await?;

        let entries = [
            (&amd64, platform("linux", "amd64", None), None),
            (&arm64, platform("linux", "arm64", Some("v8")), None),
            (
                &attestation,
                platform("unknown", "unknown", None),
                Some(json!({
                    "vnd.docker.reference.digest": amd64.manifest.digest.as_str(),
                    "vnd.docker.reference.type": "attestation-manifest",
                })),
            ),
        ];
        let descriptors: Vec<Value> = entries
            .iter()
            .map(|(pushed, platform, annotations)| {
                let mut descriptor = json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": pushed.manifest.digest.as_str(),
                    "size": pushed.bytes.len(),
                    "platform": platform_json(platform),
                });
                if let (Some(annotations), Some(object)) = (annotations, descriptor.as_object_mut())
                {
                    object.insert("annotations".to_owned(), annotations.clone());
                }
                descriptor
            })
            .collect();
        let index_bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": descriptors,
        }))
        .map_err(|failure| serialisation("the index", &failure))?;
        pusher
            .put_manifest(APP, MULTI_TAG, OCI_INDEX, index_bytes.clone())
            .await?;
        let index = PushedManifest {
            manifest: Manifest {
                digest: sha256(&index_bytes),
                media_type: OCI_INDEX.to_owned(),
                content: ManifestContent::Index {
                    manifests: entries
                        .into_iter()
                        .map(|(pushed, platform, _)| PlatformManifest {
                            digest: pushed.manifest.digest.clone(),
                            media_type: OCI_MANIFEST.to_owned(),
                            platform: Some(platform),
                        })
                        .collect(),
                },
            },
            bytes: index_bytes,
            platform: None,
            created: None,
            version_label: None,
        };
        app.tags.insert(MULTI_TAG.to_owned(), index);
        app.untagged.push(arm64);
        app.untagged.push(attestation);
        Ok(())
    }
}

/// The tags of [`APP`] made by plain HTTP, in the order their `created` times follow.
fn app_derived_tags() -> Vec<String> {
    let mut tags = Vec::new();
    for minor in 0..=9 {
        for patch in 0..=12 {
            // `1.0.0` itself is the image skopeo pushed.
            if (minor, patch) != (0, 0) {
                tags.push(format!("1.{minor}.{patch}"));
            }
            if patch == 0 || patch == 12 {
                tags.push(format!("1.{minor}.{patch}-alpine"));
            }
        }
    }
    tags.extend(["2.0.0-alpha.1", "2.0.0-beta.2", "2.0.0-rc1"].map(str::to_owned));
    tags
}

fn created_at(order: usize) -> Timestamp {
    let hours = u64::try_from(order).unwrap_or(u64::MAX / 7200);
    Timestamp::from(UNIX_EPOCH + Duration::from_secs(FIRST_CREATED_UNIX + hours * 3600))
}

/// The manifest format `skopeo copy` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkopeoFormat {
    /// Keep the OCI layout's OCI media types.
    Oci,
    /// Convert to Docker schema 2.
    DockerV2s2,
}

/// Builds the OCI layout `images/` in `directory`: one layer, and four tags that differ in
/// config only: `amd64` (version 1.0.0), `arm64` (1.0.0), `other` (3.0.0) and `v2s2` (2.0.0).
async fn build_layout(directory: &Path) -> Result<PathBuf, HarnessError> {
    let layout = directory.join("images");
    let content = directory.join("hello.txt");
    std::fs::write(&content, "hello from upkeep's test registry\n").map_err(|source| {
        HarnessError::Io {
            action: "write",
            path: content.clone(),
            source,
        }
    })?;
    let image = |tag: &str| format!("{}:{tag}", layout.display());
    let umoci = |args: Vec<String>| tools::run("umoci", args, directory, &[]);
    umoci(vec![
        "init".into(),
        "--layout".into(),
        layout.display().to_string(),
    ])
    .await?;
    umoci(vec!["new".into(), "--image".into(), image("base")]).await?;
    umoci(vec![
        "insert".into(),
        "--rootless".into(),
        "--image".into(),
        image("base"),
        content.display().to_string(),
        "/hello.txt".into(),
    ])
    .await?;
    for (tag, architecture, version) in [
        ("amd64", "amd64", "1.0.0"),
        ("arm64", "arm64", "1.0.0"),
        ("other", "amd64", "3.0.0"),
        ("v2s2", "amd64", "2.0.0"),
    ] {
        umoci(vec![
            "config".into(),
            "--image".into(),
            image("base"),
            "--tag".into(),
            tag.into(),
            "--os".into(),
            "linux".into(),
            "--architecture".into(),
            architecture.into(),
            "--created".into(),
            BUILT_CREATED.into(),
            "--config.label".into(),
            format!("{VERSION_LABEL}={version}"),
        ])
        .await?;
    }
    Ok(layout)
}

/// The manifest digest of `tag` in the layout's `index.json`.
pub(crate) fn layout_digest(layout: &Path, tag: &str) -> Result<String, HarnessError> {
    let index_path = layout.join("index.json");
    let index = std::fs::read(&index_path).map_err(|source| HarnessError::Io {
        action: "read",
        path: index_path.clone(),
        source,
    })?;
    let index = parse(&index, "the OCI layout's index.json")?;
    index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|entry| {
            entry.pointer("/annotations/org.opencontainers.image.ref.name")
                == Some(&Value::from(tag))
        })
        .and_then(|entry| entry.get("digest"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| HarnessError::Malformed {
            what: index_path.display().to_string(),
            detail: format!("no manifest tagged {tag}"),
        })
}

pub(crate) fn read_layout_blob(layout: &Path, digest: &str) -> Result<Vec<u8>, HarnessError> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let path = layout.join("blobs").join("sha256").join(hex);
    std::fs::read(&path).map_err(|source| HarnessError::Io {
        action: "read",
        path,
        source,
    })
}

/// An image fetched back from the registry, to derive more tags from.
#[derive(Debug)]
struct BaseImage {
    media_type: &'static str,
    /// The manifest's bytes as served.
    bytes: Vec<u8>,
    manifest: Value,
    config_bytes: Vec<u8>,
    config: Value,
}

impl PushedRepository {
    /// A repository holding the image skopeo pushed as `tag`.
    fn new(name: &'static str, tag: &str, base: &BaseImage) -> Result<Self, HarnessError> {
        let pushed = pushed_image(base.media_type, base.bytes.clone(), &base.config_bytes)?;
        Ok(Self {
            name,
            tags: BTreeMap::from([(tag.to_owned(), pushed)]),
            untagged: Vec::new(),
        })
    }
}

/// The harness's own HTTP pushes, with the registry's auth.
#[derive(Clone)]
pub(crate) struct Pusher {
    http: reqwest::Client,
    base_url: String,
    authorization: Option<String>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("base_url", &self.base_url)
            .field("authorization", &"<redacted>")
            .finish()
    }
}

impl Pusher {
    fn new(registry: &TestRegistry) -> Result<Self, HarnessError> {
        Self::for_repositories(registry, &[APP, OTHER, V2S2])
    }

    /// A pusher allowed to push to `repositories`.
    pub(crate) fn for_repositories(
        registry: &TestRegistry,
        repositories: &[&str],
    ) -> Result<Self, HarnessError> {
        Ok(Self {
            http: registry.http().clone(),
            base_url: registry.base_url(),
            authorization: registry.harness_authorization(repositories)?,
        })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.authorization {
            Some(authorization) => request.header("Authorization", authorization),
            None => request,
        }
    }

    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
        expected: u16,
    ) -> Result<reqwest::Response, HarnessError> {
        let response = request.send().await.map_err(|source| HarnessError::Http {
            what: what.to_owned(),
            source,
        })?;
        if response.status().as_u16() == expected {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Err(HarnessError::Unexpected {
            what: what.to_owned(),
            status,
            body,
        })
    }

    async fn body(&self, what: &str, response: reqwest::Response) -> Result<Vec<u8>, HarnessError> {
        response
            .bytes()
            .await
            .map(|bytes| bytes.to_vec())
            .map_err(|source| HarnessError::Http {
                what: what.to_owned(),
                source,
            })
    }

    /// GETs a manifest (asking for `media_type` only) and its config blob.
    async fn fetch_image(
        &self,
        repository: &str,
        tag: &str,
        media_type: &'static str,
    ) -> Result<BaseImage, HarnessError> {
        let what = format!("GET /v2/{repository}/manifests/{tag}");
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base_url);
        let response = self
            .send(
                &what,
                self.request(reqwest::Method::GET, &url)
                    .header("Accept", media_type),
                200,
            )
            .await?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !content_type.starts_with(media_type) {
            return Err(HarnessError::Unexpected {
                what,
                status: 200,
                body: format!("Content-Type {content_type}, expected {media_type}"),
            });
        }
        let bytes = self.body(&what, response).await?;
        let manifest = parse(&bytes, &what)?;
        let config_digest = string_at(&manifest, "/config/digest", &what)?;
        let config_what = format!("GET /v2/{repository}/blobs/{config_digest}");
        let config_url = format!("{}/v2/{repository}/blobs/{config_digest}", self.base_url);
        let response = self
            .send(
                &config_what,
                self.request(reqwest::Method::GET, &config_url),
                200,
            )
            .await?;
        let config_bytes = self.body(&config_what, response).await?;
        let config = parse(&config_bytes, &config_what)?;
        Ok(BaseImage {
            media_type,
            bytes,
            manifest,
            config_bytes,
            config,
        })
    }

    /// Pushes `base` with its version label set to `tag` and `created` set, under `tag`.
    async fn push_derived(
        &self,
        base: &BaseImage,
        repository: &str,
        tag: &str,
        created: Timestamp,
    ) -> Result<PushedManifest, HarnessError> {
        let mut config = base.config.clone();
        if let Some(object) = config.as_object_mut() {
            object.insert(
                "created".to_owned(),
                Value::from(created.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            );
        }
        let labels = config
            .pointer_mut("/config")
            .and_then(Value::as_object_mut)
            .map(|inner| {
                inner
                    .entry("Labels")
                    .or_insert_with(|| Value::Object(serde_json::Map::new()))
            })
            .and_then(Value::as_object_mut);
        if let Some(labels) = labels {
            labels.insert(VERSION_LABEL.to_owned(), Value::from(tag));
        }
        let config_bytes =
            serde_json::to_vec(&config).map_err(|failure| serialisation("a config", &failure))?;
        let config_digest = self.upload_blob(repository, config_bytes.clone()).await?;

        let mut manifest = base.manifest.clone();
        if let Some(descriptor) = manifest
            .pointer_mut("/config")
            .and_then(Value::as_object_mut)
        {
            descriptor.insert("digest".to_owned(), Value::from(config_digest.as_str()));
            descriptor.insert("size".to_owned(), Value::from(config_bytes.len()));
        }
        let manifest_bytes = serde_json::to_vec(&manifest)
            .map_err(|failure| serialisation("a manifest", &failure))?;
        self.put_manifest(repository, tag, base.media_type, manifest_bytes.clone())
            .await?;
        pushed_image(base.media_type, manifest_bytes, &config_bytes)
    }

    /// Puts the exact bytes of `source` under `tag` too.
    async fn copy_tag(
        &self,
        repository: &mut PushedRepository,
        source: &str,
        tag: &str,
    ) -> Result<(), HarnessError> {
        let copy = repository.tag(source).clone();
        self.put_manifest(
            repository.name,
            tag,
            &copy.manifest.media_type,
            copy.bytes.clone(),
        )
        .await?;
        repository.tags.insert(tag.to_owned(), copy);
        Ok(())
    }

    /// Uploads a blob monolithically (POST, then PUT with the digest) and returns its digest.
    async fn upload_blob(&self, repository: &str, bytes: Vec<u8>) -> Result<Digest, HarnessError> {
        let digest = sha256(&bytes);
        let what = format!("POST /v2/{repository}/blobs/uploads/");
        let url = format!("{}/v2/{repository}/blobs/uploads/", self.base_url);
        let started = self
            .send(&what, self.request(reqwest::Method::POST, &url), 202)
            .await?;
        let location = started
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        // Distribution's locations are absolute and already carry `?_state=` (§10.4).
        let mut location = url::Url::parse(&url)
            .and_then(|request_url| request_url.join(location))
            .map_err(|failure| HarnessError::Unexpected {
                what: what.clone(),
                status: 202,
                body: format!("Location {location:?}: {failure}"),
            })?;
        location
            .query_pairs_mut()
            .append_pair("digest", digest.as_str());
        let what = format!("PUT upload of {digest} to {repository}");
        self.send(
            &what,
            self.request(reqwest::Method::PUT, location.as_str())
                .header("Content-Type", "application/octet-stream")
                .body(bytes),
            201,
        )
        .await?;
        Ok(digest)
    }

    /// PUTs a manifest and checks the registry reports the digest of the bytes sent.
    pub(crate) async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), HarnessError> {
        let digest = sha256(&bytes);
        let what = format!("PUT /v2/{repository}/manifests/{reference}");
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base_url);
        let response = self
            .send(
                &what,
                self.request(reqwest::Method::PUT, &url)
                    .header("Content-Type", media_type)
                    .body(bytes),
                201,
            )
            .await?;
        let reported = response
            .headers()
            .get("docker-content-digest")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if reported != digest.as_str() {
            return Err(HarnessError::Unexpected {
                what,
                status: 201,
                body: format!("Docker-Content-Digest {reported:?}, expected {digest}"),
            });
        }
        Ok(())
    }
}

/// The description of an image manifest and its config.
fn pushed_image(
    media_type: &str,
    manifest_bytes: Vec<u8>,
    config_bytes: &[u8],
) -> Result<PushedManifest, HarnessError> {
    let manifest = parse(&manifest_bytes, "a pushed manifest")?;
    let config = parse(config_bytes, "a pushed config")?;
    let config_digest = string_at(&manifest, "/config/digest", "a pushed manifest")?;
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let text = |pointer: &str| config.pointer(pointer).and_then(Value::as_str);
    let platform = match (text("/os"), text("/architecture")) {
        (Some(os), Some(architecture)) => Some(platform(os, architecture, text("/variant"))),
        _ => None,
    };
    Ok(PushedManifest {
        manifest: Manifest {
            digest: sha256(&manifest_bytes),
            media_type: media_type.to_owned(),
            content: ManifestContent::Image {
                config: parse_digest(&config_digest)?,
                layers,
            },
        },
        bytes: manifest_bytes,
        platform,
        created: text("/created").and_then(|created| created.parse().ok()),
        version_label: config
            .pointer("/config/Labels")
            .and_then(|labels| labels.get(VERSION_LABEL))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn platform(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
    Platform {
        os: os.to_owned(),
        architecture: architecture.to_owned(),
        variant: variant.map(str::to_owned),
        os_version: None,
    }
}

fn platform_json(platform: &Platform) -> Value {
    let mut value = json!({"architecture": platform.architecture, "os": platform.os});
    if let (Some(variant), Some(object)) = (&platform.variant, value.as_object_mut()) {
        object.insert("variant".to_owned(), Value::from(variant.as_str()));
    }
    value
}

/// `sha256:` and the lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> Digest {
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
        .parse()
        .expect("a sha256 digest in canonical form parses")
}

fn parse_digest(text: &str) -> Result<Digest, HarnessError> {
    text.parse().map_err(|failure| HarnessError::Malformed {
        what: format!("digest {text:?}"),
        detail: format!("{failure}"),
    })
}

fn parse(bytes: &[u8], what: &str) -> Result<Value, HarnessError> {
    serde_json::from_slice(bytes).map_err(|failure| HarnessError::Malformed {
        what: what.to_owned(),
        detail: format!("not JSON: {failure}"),
    })
}

fn string_at(value: &Value, pointer: &str, what: &str) -> Result<String, HarnessError> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| HarnessError::Malformed {
            what: what.to_owned(),
            detail: format!("no string at {pointer}"),
        })
}

fn serialisation(what: &str, failure: &serde_json::Error) -> HarnessError {
    HarnessError::Malformed {
        what: what.to_owned(),
        detail: format!("cannot serialise: {failure}"),
    }
}
