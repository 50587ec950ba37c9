//! Choosing the update target from a tag list and the current tag.
//!
//! The target is the newest *eligible* tag. A tag is eligible when it is a version under the
//! scheme and, against the current tag:
//!
//! - it is compatible (same variant, same number of release parts: see
//!   [`Version::is_compatible_with`]) and newer;
//! - it stays [`Within`] the current line (by default the same major version);
//! - it is a stable release, unless pre-releases are allowed; a current pre-release may
//!   always move to a newer pre-release of the same release, or to that release;
//! - it passes the include and exclude patterns and the [`Range`];
//! - it was pushed at least the minimum age ago (push times come in as data, with `now`);
//! - it is not in the set of versions to skip (the agent adds a version it rolled back from).
//!
//! When the current tag is not a version (`latest`, `stable`), every stable version tag
//! without a variant (and not a date stamp such as `20260805`) is eligible, so the newest
//! plain release is chosen; `within` does not
//! apply because there is no line to stay in.
//!
//! # What this module does not do
//! It does not fetch tags or push times, nor read the clock: both come in as arguments.
//! Digests are not looked at; the engine compares them.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use regex::Regex;

use crate::range::Range;
use crate::version::{Scheme, UpdateKind, Version, VersionError};
use crate::{TimeDelta, Timestamp};

/// How far from the current version a target may be: which leading release parts must stay
/// the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum Within {
    /// Same major, minor and patch: only a fourth part or a pre-release may move.
    Patch,
    /// Same major and minor: patch updates.
    Minor,
    /// Same major: minor and patch updates. The default, for safety.
    #[default]
    Major,
    /// No limit: major updates too.
    Any,
}

impl Within {
    /// How many leading release parts must stay equal.
    fn kept_parts(self) -> usize {
        match self {
            Self::Patch => 3,
            Self::Minor => 2,
            Self::Major => 1,
            Self::Any => 0,
        }
    }

    /// The word used on the command line and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patch => "patch",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Any => "any",
        }
    }
}

impl fmt::Display for Within {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a word that names no [`Within`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWithin(String);

impl fmt::Display for UnknownWithin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown line '{}': expected 'patch', 'minor', 'major' or 'any'",
            self.0
        )
    }
}

impl std::error::Error for UnknownWithin {}

impl FromStr for Within {
    type Err = UnknownWithin;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word {
            "patch" => Ok(Self::Patch),
            "minor" => Ok(Self::Minor),
            "major" => Ok(Self::Major),
            "any" => Ok(Self::Any),
            _ => Err(UnknownWithin(word.to_owned())),
        }
    }
}

/// A minimum age for targets: a tag pushed less than `age` before `now` is not chosen yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinimumAge {
    /// How old a tag must be.
    pub age: TimeDelta,
    /// The current time, passed in by the caller.
    pub now: Timestamp,
}

/// The rules a target must pass besides being a newer compatible version.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    /// Which leading release parts must stay the same.
    pub within: Within,
    /// Whether pre-releases may be chosen beyond the current release.
    pub allow_prerelease: bool,
    /// When set, a tag must match it.
    pub include: Option<Regex>,
    /// When set, a tag must not match it.
    pub exclude: Option<Regex>,
    /// When set, a version's release must fall in it.
    pub range: Option<Range>,
    /// When set, a tag must be at least this old; a tag whose push time is unknown is not
    /// chosen, since its age cannot be shown.
    pub minimum_age: Option<MinimumAge>,
    /// Tags (or versions equal to them) that are never chosen.
    pub skip: BTreeSet<String>,
}

/// A tag offered for selection, with its push time when the registry tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The tag.
    pub tag: &'a str,
    /// When the tag was pushed or last updated, if known.
    pub pushed_at: Option<Timestamp>,
}

impl<'a> From<&'a str> for Candidate<'a> {
    fn from(tag: &'a str) -> Self {
        Self {
            tag,
            pushed_at: None,
        }
    }
}

impl<'a> From<&'a String> for Candidate<'a> {
    fn from(tag: &'a String) -> Self {
        Self::from(tag.as_str())
    }
}

impl<'a> From<(&'a str, Timestamp)> for Candidate<'a> {
    fn from((tag, pushed_at): (&'a str, Timestamp)) -> Self {
        Self {
            tag,
            pushed_at: Some(pushed_at),
        }
    }
}

/// Why a tag is not eligible as a target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The tag is not a version under the scheme.
    NotAVersion(VersionError),
    /// Another variant or another number of release parts than the current tag.
    Incompatible,
    /// Not newer than the current version.
    NotNewer,
    /// Leaves the current line.
    OutsideLine(Within),
    /// A pre-release, and pre-releases are not allowed here.
    Prerelease,
    /// A variant, and the current tag is a name, which resolves only to plain releases.
    Variant,
    /// A date stamp (`20260805`), and the current tag is a name, which resolves only to
    /// release numbers.
    DateStamp,
    /// Does not match the include pattern.
    NotIncluded,
    /// Matches the exclude pattern.
    Excluded,
    /// Outside the range.
    OutOfRange,
    /// Pushed less than the minimum age ago.
    TooNew {
        /// How old the tag is.
        age: TimeDelta,
    },
    /// The minimum age cannot be checked: the push time is unknown.
    UnknownAge,
    /// In the set of versions to skip.
    Skipped,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAVersion(error) => write!(f, "not a version: {error}"),
            Self::Incompatible => {
                f.write_str("another variant or number of release parts than the current tag")
            }
            Self::NotNewer => f.write_str("not newer than the current version"),
            Self::OutsideLine(within) => write!(f, "outside the current {within} line"),
            Self::Prerelease => f.write_str("a pre-release, and pre-releases are not allowed"),
            Self::Variant => f.write_str("a variant, and a named tag resolves to plain releases"),
            Self::DateStamp => {
                f.write_str("a date stamp, and a named tag resolves to release numbers")
            }
            Self::NotIncluded => f.write_str("does not match the include pattern"),
            Self::Excluded => f.write_str("matches the exclude pattern"),
            Self::OutOfRange => f.write_str("outside the version range"),
            Self::TooNew { age } => write!(
                f,
                "pushed {} minutes ago, younger than the minimum age",
                age.num_minutes()
            ),
            Self::UnknownAge => f.write_str("push time unknown, so the minimum age cannot be met"),
            Self::Skipped => f.write_str("in the set of versions to skip"),
        }
    }
}

/// The chosen target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The target tag read as a version.
    pub version: Version,
    /// The kind of move from the current tag; [`UpdateKind::Unknown`] from a name.
    pub kind: UpdateKind,
    /// The target's push time, when known.
    pub pushed_at: Option<Timestamp>,
}

impl Selected {
    /// The target tag.
    pub fn tag(&self) -> &str {
        self.version.as_str()
    }
}

/// Chooses targets for one current tag under a scheme and constraints.
///
/// Build it once, then call [`Selector::select`] on a tag list, or
/// [`Selector::eligibility`] on one tag to learn why it is or is not eligible.
///
/// ```
/// use upkeep_versioning_core::Scheme;
/// use upkeep_versioning_core::select::{Constraints, Selector};
///
/// let selector = Selector::new(Scheme::Docker, "1.25.3-alpine", Constraints::default());
/// let tags = ["1.25.4-alpine", "1.26.0-alpine", "1.27.0", "2.0.0-alpine", "1.26.1-alpine-perl"];
/// let target = selector.select(tags).map(|selected| selected.tag().to_owned());
/// assert_eq!(target.as_deref(), Some("1.26.0-alpine"));
/// ```
#[derive(Debug, Clone)]
pub struct Selector {
    scheme: Scheme,
    current: Current,
    constraints: Constraints,
    skipped_versions: Vec<Version>,
}

#[derive(Debug, Clone)]
enum Current {
    Version(Version),
    /// `latest`, `stable` or anything else that is not a version.
    Name,
}

impl Selector {
    /// A selector for `current_tag`, which may be a name such as `latest`.
    pub fn new(scheme: Scheme, current_tag: &str, constraints: Constraints) -> Self {
        let current = match scheme.parse(current_tag) {
            Ok(version) => Current::Version(version),
            Err(_) => Current::Name,
        };
        let skipped_versions = constraints
            .skip
            .iter()
            .filter_map(|tag| scheme.parse(tag).ok())
            .collect();
        Self {
            scheme,
            current,
            constraints,
            skipped_versions,
        }
    }

    /// The current tag read as a version, or `None` when it is a name.
    pub fn current(&self) -> Option<&Version> {
        match &self.current {
            Current::Version(version) => Some(version),
            Current::Name => None,
        }
    }

    /// The newest eligible tag, or `None` when no tag is eligible. Among equal versions
    /// (`1.2.3` and `v1.2.3`) the first one offered wins.
    pub fn select<'a, I, C>(&self, tags: I) -> Option<Selected>
    where
        I: IntoIterator<Item = C>,
        C: Into<Candidate<'a>>,
    {
        let mut best: Option<(Version, Option<Timestamp>)> = None;
        for candidate in tags {
            let candidate = candidate.into();
            let Ok(version) = self.scheme.parse(candidate.tag) else {
                continue;
            };
            if best.as_ref().is_some_and(|(best, _)| version <= *best) {
                continue;
            }
            if self.check(&version, &candidate).is_ok() {
                best = Some((version, candidate.pushed_at));
            }
        }
        best.map(|(version, pushed_at)| Selected {
            kind: self.kind_of(&version),
            version,
            pushed_at,
        })
    }

    /// Whether one tag is eligible, and if not, the first rule it fails.
    pub fn eligibility<'a>(
        &self,
        candidate: impl Into<Candidate<'a>>,
    ) -> Result<Version, Rejection> {
        let candidate = candidate.into();
        let version = self
            .scheme
            .parse(candidate.tag)
            .map_err(Rejection::NotAVersion)?;
        self.check(&version, &candidate)?;
        Ok(version)
    }

    fn kind_of(&self, target: &Version) -> UpdateKind {
        match &self.current {
            Current::Version(current) => current.classify(target),
            Current::Name => UpdateKind::Unknown,
        }
    }

    fn check(&self, version: &Version, candidate: &Candidate<'_>) -> Result<(), Rejection> {
        match &self.current {
            Current::Version(current) => {
                if !version.is_compatible_with(current) {
                    return Err(Rejection::Incompatible);
                }
                if version <= current {
                    return Err(Rejection::NotNewer);
                }
                let kept = self.constraints.within.kept_parts();
                let line = |v: &Version| v.release().iter().take(kept).copied().collect::<Vec<_>>();
                if kept > 0 && line(version) != line(current) {
                    return Err(Rejection::OutsideLine(self.constraints.within));
                }
                if version.is_prerelease()
                    && !self.constraints.allow_prerelease
                    && !(current.is_prerelease() && version.same_release(current))
                {
                    return Err(Rejection::Prerelease);
                }
            }
            Current::Name => {
                if version.is_prerelease() && !self.constraints.allow_prerelease {
                    return Err(Rejection::Prerelease);
                }
                if version.variant().is_some() {
                    return Err(Rejection::Variant);
                }
                if version.is_date_stamped() {
                    return Err(Rejection::DateStamp);
                }
            }
        }
        let constraints = &self.constraints;
        if let Some(include) = &constraints.include
            && !include.is_match(candidate.tag)
        {
            return Err(Rejection::NotIncluded);
        }
        if let Some(exclude) = &constraints.exclude
            && exclude.is_match(candidate.tag)
        {
            return Err(Rejection::Excluded);
        }
        if let Some(range) = &constraints.range
            && !range.matches(version)
        {
            return Err(Rejection::OutOfRange);
        }
        if constraints.skip.contains(candidate.tag) || self.skipped_versions.contains(version) {
            return Err(Rejection::Skipped);
        }
        if let Some(minimum) = constraints.minimum_age {
            let pushed_at = candidate.pushed_at.ok_or(Rejection::UnknownAge)?;
            let age = minimum.now.signed_duration_since(pushed_at);
            if age < minimum.age {
                return Err(Rejection::TooNew { age });
            }
        }
        Ok(())
    }
}

/// Chooses the newest eligible tag among `tags` for `current_tag`; a shorthand for
/// [`Selector::new`] and [`Selector::select`].
pub fn select<'a, I, C>(
    scheme: Scheme,
    current_tag: &str,
    tags: I,
    constraints: Constraints,
) -> Option<Selected>
where
    I: IntoIterator<Item = C>,
    C: Into<Candidate<'a>>,
{
    Selector::new(scheme, current_tag, constraints).select(tags)
}

/// The newest version among `tags` under `scheme`, whatever its variant, line or stability:
/// what a person scanning the list would call "the newest tag". Names are skipped.
pub fn newest<'a>(scheme: &Scheme, tags: impl IntoIterator<Item = &'a str>) -> Option<Version> {
    tags.into_iter()
        .filter_map(|tag| scheme.parse(tag).ok())
        .fold(None, |best: Option<Version>, version| match best {
            Some(best) if best >= version => Some(best),
            _ => Some(version),
        })
}

/// `tags` read as versions, newest first; equal versions keep their order. Names are left
/// out; [`names`] gives them.
pub fn newest_first<'a>(scheme: &Scheme, tags: impl IntoIterator<Item = &'a str>) -> Vec<Version> {
    let mut versions: Vec<Version> = tags
        .into_iter()
        .filter_map(|tag| scheme.parse(tag).ok())
        .collect();
    versions.sort_by(|a, b| b.cmp(a));
    versions
}

/// The tags that are not versions under `scheme`, in their given order.
pub fn names<'a>(scheme: &Scheme, tags: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    tags.into_iter()
        .filter(|tag| scheme.parse(tag).is_err())
        .collect()
}

#[cfg(test)]
mod tests;
