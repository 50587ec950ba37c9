//! The classification of a move from one tag to another.

use std::fmt;
use std::str::FromStr;

/// What kind of move `from -> to` is, read from the two tags as versions.
///
/// The size order used by policies is `None < Build < Prerelease < Patch < Minor < Major`;
/// `Downgrade` and `Unknown` are never sizes of an upgrade. See [`UpdateKind::is_upgrade`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum UpdateKind {
    /// Both tags are the same version (they may differ in `v`, leading zeros or `+build`).
    None,
    /// Only the fourth or a later release part grew (`1.2.3.4 -> 1.2.3.5`).
    Build,
    /// Same release, another pre-release, or from a pre-release to its release
    /// (`1.2.3-rc1 -> 1.2.3-rc2`, `1.2.3-rc2 -> 1.2.3`).
    Prerelease,
    /// The third release part grew (`1.2.3 -> 1.2.4`).
    Patch,
    /// The second release part grew (`1.2.3 -> 1.3.0`).
    Minor,
    /// The first release part grew (`1.2.3 -> 2.0.0`).
    Major,
    /// The target is older than the current version.
    Downgrade,
    /// At least one of the two tags is not a version (`latest`, a commit hash).
    Unknown,
    /// The same tag, pointing at a new image for this platform (`latest` or `stable`
    /// rebuilt): not read from the tags but from the registry. The auto policies apply it by
    /// pulling the tag again.
    Digest,
}

impl UpdateKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 9] = [
        Self::None,
        Self::Build,
        Self::Prerelease,
        Self::Patch,
        Self::Minor,
        Self::Major,
        Self::Downgrade,
        Self::Unknown,
        Self::Digest,
    ];

    /// True for the kinds that move to a newer version.
    pub fn is_upgrade(self) -> bool {
        matches!(
            self,
            Self::Build | Self::Prerelease | Self::Patch | Self::Minor | Self::Major
        )
    }

    /// The word used in output and in configuration: `major`, `minor`, `patch`, `build`,
    /// `prerelease`, `none`, `downgrade`, `unknown` or `digest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Build => "build",
            Self::Prerelease => "prerelease",
            Self::Patch => "patch",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Downgrade => "downgrade",
            Self::Unknown => "unknown",
            Self::Digest => "digest",
        }
    }
}

impl serde::Serialize for UpdateKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for UpdateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a word that names no [`UpdateKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownUpdateKind(pub String);

impl fmt::Display for UnknownUpdateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown update kind '{}': expected one of major, minor, patch, build, prerelease, none, downgrade, unknown, digest",
            self.0
        )
    }
}

impl std::error::Error for UnknownUpdateKind {}

impl FromStr for UpdateKind {
    type Err = UnknownUpdateKind;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == word)
            .ok_or_else(|| UnknownUpdateKind(word.to_owned()))
    }
}
