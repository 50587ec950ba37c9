//! Where versions of components that are not images come from: the releases a project
//! publishes (GitHub releases today, [`github`]).
//!
//! [`ReleaseSource`] is the one operation such a source offers: every release of a project,
//! named as the source names projects. It is what a future updater of systemd units and
//! tarball installs will use to find newer versions, the way image updates use
//! [`Registry`](crate::Registry) to find newer tags.
//!
//! # What this module does not do
//! It does not pick a release: drafts and prereleases come back flagged, in the source's
//! order, for the version logic ([`upkeep_versioning_core::select`]) to choose from. It does
//! not download assets or check their checksums, and it does not install anything.

pub mod github;

use async_trait::async_trait;
use serde::Deserialize;
use upkeep_versioning_core::Timestamp;

use crate::error::RegistryError;

/// A place that publishes a project's releases.
#[async_trait]
pub trait ReleaseSource: Send + Sync {
    /// Every release of `project`, from every page, in the source's order (not sorted).
    /// `project` is the project as the source names it: `owner/repo` on GitHub. A name the
    /// source cannot read is [`ErrorKind::InvalidProject`](crate::ErrorKind::InvalidProject).
    async fn releases(&self, project: &str) -> Result<Vec<Release>, RegistryError>;
}

/// One release. The field names are GitHub's, whose list endpoint it is read from; other
/// sources fill what they have.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Release {
    /// The git tag the release is for (`v1.2.3`).
    pub tag_name: String,
    /// The release's title, if it has one.
    pub name: Option<String>,
    /// True for an unpublished draft (listed only to users with push access).
    #[serde(default)]
    pub draft: bool,
    /// True when the release is marked as a prerelease.
    #[serde(default)]
    pub prerelease: bool,
    /// When it was published; `None` for drafts.
    pub published_at: Option<Timestamp>,
    /// The release notes (Markdown), if any.
    pub body: Option<String>,
    /// The release's web page.
    pub html_url: String,
    /// The files attached to it.
    #[serde(default)]
    pub assets: Vec<ReleaseAsset>,
}

/// A file attached to a release.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReleaseAsset {
    /// The file name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Where a browser (or curl) downloads it.
    pub browser_download_url: String,
    /// Its media type as uploaded.
    pub content_type: String,
}
