//! How upkeep learns which tags and digests exist in container registries.
//!
//! One async trait, [`Registry`], with the operations the engine needs: list every tag of a
//! repository, resolve a reference to its digest, read a manifest and its platforms, and read
//! tag metadata (push times) where the registry offers it. Clients implement it for any OCI
//! Distribution registry and for the hosted registries' own APIs; around them sit
//! credentials, politeness (rate limits, retries, budgets) and a cache that makes a hundred
//! deployments of one image cost one lookup. For components that are not images, a second
//! trait, [`releases::ReleaseSource`], lists a project's releases (GitHub releases today).
//!
//! Wall-clock decisions (`Retry-After` dates, rate-limit resets, token and cache expiry) read
//! one [`Clock`](core::Clock), the system's unless a `with_clock` gives another; only waits
//! and deadlines, which measure elapsed time, use tokio's timer.
//!
//! # What a registry cannot make it do
//! Registries are outside upkeep's trust, so answers are checked before they are used:
//! - a tag list's next page (`Link`) is followed only on the registry's own scheme, host and
//!   port ([`ErrorKind::CrossOriginLink`] otherwise), so the registry's credentials stay there;
//! - credentials never go over plain HTTP to a host that is not loopback or listed as
//!   insecure, whether a token realm or a redirect asks for it ([`ErrorKind::InsecureRefused`]),
//!   and a redirect to another host drops `Authorization`;
//! - bodies are read as they arrive and cut off at a cap for their kind
//!   ([`ErrorKind::BodyTooLarge`]): manifests 4 MiB, tag-list pages and hosted API listings
//!   16 MiB, tokens and error bodies 64 KiB (see [`body`]);
//! - a manifest must hash to the digest asked for and to its `Docker-Content-Digest`, in
//!   `sha256` or `sha512` ([`ErrorKind::DigestMismatch`]).
//!
//! # What this crate does not do
//! It does not choose versions or decide anything: tags go to
//! [`upkeep_versioning_core::select`] unsorted, as the registry gave them. It never pushes.

#![warn(missing_docs)]

pub mod body;
pub mod cache;
pub mod challenge;
pub mod credentials;
mod error;
pub mod hosted;
pub mod oci;
pub mod releases;
pub mod router;
pub mod transport;

use async_trait::async_trait;
pub use error::{ErrorKind, RegistryError};
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::reference::Digest;

pub use upkeep_versioning_core as core;

/// The media types upkeep reads, in the order it prefers them; sent as `Accept` on every
/// manifest request so that indexes are returned as indexes.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// An OCI image index (multi-platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker manifest list (multi-platform).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// A Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What a registry can tell about one repository's images.
///
/// Every operation names the repository as the registry knows it (`library/nginx`, not
/// `nginx`). Implementations return every page of a listing, verify digests of the bytes they
/// received, and map the registry's errors to [`ErrorKind`]s.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Registry: Send + Sync {
    /// The registry host this client talks to, as written in image references
    /// (`docker.io`, `ghcr.io`, `127.0.0.1:5000`).
    fn host(&self) -> &str;

    /// Every tag of the repository, from every page, in the registry's order (not sorted).
    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError>;

    /// The digest a tag (or digest) points to now: a HEAD request where the registry answers
    /// it, a GET otherwise. For a multi-platform image this is the index's digest, the one
    /// Docker records as the image's repo digest.
    async fn resolve_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Digest, RegistryError>;

    /// The manifest a tag or digest points to, with its verified digest and, for an index,
    /// its platforms.
    async fn manifest(&self, repository: &str, reference: &str) -> Result<Manifest, RegistryError>;

    /// Tags with their push or update times and digests, where the registry's API offers
    /// them; [`ErrorKind::Unsupported`] where it does not.
    async fn tag_metadata(&self, repository: &str) -> Result<Vec<TagMetadata>, RegistryError>;
}

/// A manifest as read from a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The digest of the bytes received (verified against `Docker-Content-Digest`).
    pub digest: Digest,
    /// The media type, from `Content-Type` or, when absent, from the body's shape.
    pub media_type: String,
    /// What the manifest is.
    pub content: ManifestContent,
}

/// The two shapes a manifest takes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestContent {
    /// A single-platform image.
    Image {
        /// The digest of the image's config blob.
        config: Digest,
        /// How many layers it has.
        layers: usize,
    },
    /// An index or manifest list over several platform images.
    Index {
        /// The images it lists, attestation manifests included (see [`Platform::is_attestation`]).
        manifests: Vec<PlatformManifest>,
    },
}

/// One entry of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformManifest {
    /// The entry's digest.
    pub digest: Digest,
    /// The entry's media type.
    pub media_type: String,
    /// Its platform, when the index says.
    pub platform: Option<Platform>,
}

/// An image platform: `linux/amd64`, `linux/arm64/v8`, `windows/amd64`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// The operating system (GOOS values: `linux`, `windows`).
    pub os: String,
    /// The CPU architecture (GOARCH values: `amd64`, `arm64`, `arm`).
    pub architecture: String,
    /// The CPU variant (`v7`, `v8`), if any.
    pub variant: Option<String>,
    /// The OS version (Windows images), if any.
    pub os_version: Option<String>,
}

impl Platform {
    /// True for BuildKit's `unknown/unknown` attestation entries, which are no image to run.
    pub fn is_attestation(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl Manifest {
    /// The platforms of an index (attestations left out); empty for a single image.
    pub fn platforms(&self) -> Vec<&Platform> {
        match &self.content {
            ManifestContent::Image { .. } => Vec::new(),
            ManifestContent::Index { manifests } => manifests
                .iter()
                .filter_map(|entry| entry.platform.as_ref())
                .filter(|platform| !platform.is_attestation())
                .collect(),
        }
    }
}

/// A tag with what the registry's API says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMetadata {
    /// The tag.
    pub tag: String,
    /// When it was pushed or last updated, if known.
    pub pushed_at: Option<Timestamp>,
    /// The digest it points to, if known.
    pub digest: Option<Digest>,
}
