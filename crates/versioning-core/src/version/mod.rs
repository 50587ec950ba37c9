//! Tags read as versions under a [`Scheme`], their total order, compatibility and the
//! classification of a move.
//!
//! # Syntax
//!
//! A [`Scheme`] says how a tag is read:
//!
//! - [`Scheme::Docker`] (the default) follows Renovate's docker versioning plus named
//!   pre-releases. An optional `v`/`V`; one or more numeric release parts (`3`, `18.04`,
//!   `1.2.3`, `1.2.3.4`, `2024.01.15`; leading zeros read as numbers, so `18.04` equals
//!   `18.4`); a suffix glued to the last number is a pre-release (`3.7.0b1`, `3.15.0rc1`,
//!   `19beta3`); the text after the first `-` is a variant (`-alpine`, `-alpine3.20`,
//!   `-bookworm-slim`), except that a leading pre-release word there (`alpha`, `beta`, `rc`,
//!   `pre`, `preview`, `dev`, `snapshot`, `nightly`, `canary`, `next`, `edge`, `ea`, `m1`, in
//!   forms such as `rc1`, `rc.1`, `RC-1`, `beta2`) is the pre-release and the rest the variant
//!   (`1.2.3-rc1-alpine`). A suffix glued with `_` (`8.1.2.4_1`) is a variant too, so a
//!   rebuild never silently replaces or is replaced by the plain tag. `+build` is kept and
//!   ignored for order. Revision suffixes such as `-ls123` or `-r1` are variants; declare them
//!   revisions with a [`Scheme::Regex`] pattern that captures them as `build`.
//! - [`Scheme::Semver`]: strict SemVer 2.0.0: exactly `MAJOR.MINOR.PATCH`, no `v`, no leading
//!   zeros, optional `-pre.release` and `+build`.
//! - [`Scheme::Loose`]: like node-semver's loose mode: leading `v`, `=` and spaces are
//!   allowed, leading zeros are read as numbers, the `-` before a pre-release may be left out
//!   (`1.2.3beta`), and partial versions read as `x.0.0` (`1.2` equals `1.2.0`).
//! - [`Scheme::Regex`]: a user pattern with the named groups `major`, `minor`, `patch`,
//!   `build` (numeric), `prerelease` and `compatibility` (the variant).
//!
//! Names are not versions under any built-in scheme: `latest`, `stable`, `alpine`, `main`,
//! `sha-1a2b3c4`, and anything that looks like a commit hash (7 to 40 lower-case hex
//! characters, not all digits).
//!
//! # Total ordering
//!
//! Versions of one scheme are totally ordered:
//!
//! 1. Release parts compare as numbers, part by part. Under `docker`, when one tag's parts
//!    are a prefix of the other's, the shorter one sorts after: a floating `10.1` covers
//!    `10.1.2`, so `10.1 > 10.1.2`. Under `semver` and `loose` there are always three parts;
//!    under `regex` missing parts read as zero and, when that makes them equal, the shorter
//!    sorts first.
//! 2. A pre-release sorts before its release. Under `semver` and `loose`, pre-releases
//!    compare by the SemVer 2.0.0 rules. Under `docker` and `regex` they compare naturally:
//!    development builds (`dev`, `snapshot`, `nightly`, ...) < `alpha` < `beta` <
//!    milestones and previews < `rc`, numbers as numbers, case and the separators `.`, `-`
//!    and `_` ignored, so `rc.1`, `rc1` and `RC-1` are equal and `rc2 < rc10`.
//! 3. For equal releases, a tag with a variant sorts before the plain one; two variants
//!    compare as text.
//! 4. `v`, leading zeros and `+build` are ignored: `v1.2.3+b7` equals `1.2.3`.
//!
//! Versions of different schemes are ordered by scheme first, only so that the order stays
//! total; comparing them is never meaningful.
//!
//! Two versions are **compatible** (one may replace the other) only when they come from the
//! same scheme, have the same variant and, under `docker` and `regex`, the same number of
//! release parts. So `1.20` never flips to `1.20.0`, and `1.12-alpine` never moves to
//! `1.15-alpine-perl`. A date-stamped release (a first part of eight digits or more, such as
//! `20260805`) is compatible only with another date-stamped one, so `alpine:3` never moves to
//! `alpine:20260805`.
//!
//! # Examples
//!
//! ```
//! use upkeep_versioning_core::{Scheme, UpdateKind, Version};
//!
//! let current = Version::parse("1.25.3-alpine", &Scheme::Docker)?;
//! let next = Version::parse("1.26.0-alpine", &Scheme::Docker)?;
//! assert!(next > current);
//! assert!(next.is_compatible_with(&current));
//! assert_eq!(current.classify(&next), UpdateKind::Minor);
//!
//! assert!(Version::parse("latest", &Scheme::Docker).is_err());
//! assert!("10.1".parse::<Version>()? > "10.1.2".parse::<Version>()?);
//! # Ok::<(), upkeep_versioning_core::version::VersionError>(())
//! ```

mod docker;
mod error;
mod kind;
mod order;
mod pattern;
mod semver;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use compact_str::CompactString;
use smallvec::SmallVec;

pub use error::VersionError;
pub use kind::{UnknownUpdateKind, UpdateKind};
pub use pattern::{PatternScheme, regex_problem};

use error::ErrorKind;

/// The smallest first release part read as a date stamp: eight digits, `YYYYMMDD`.
const DATE_STAMP_MINIMUM: u64 = 10_000_000;

/// The longest text read as a version; longer input is refused rather than scanned.
pub const MAX_VERSION_LEN: usize = 512;

/// How tags are read as versions. See the [module documentation](self) for each scheme's
/// syntax and order.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Scheme {
    /// Docker tags: partial versions, glued and named pre-releases, variant suffixes.
    #[default]
    Docker,
    /// Strict SemVer 2.0.0.
    Semver,
    /// node-semver's loose mode, with partial versions.
    Loose,
    /// A user pattern with named groups.
    Regex(PatternScheme),
}

impl Scheme {
    /// Reads `text` as a version under this scheme.
    pub fn parse(&self, text: &str) -> Result<Version, VersionError> {
        Version::parse(text, self)
    }

    /// The scheme's name as accepted by [`FromStr`]: `docker`, `semver`, `loose`, or
    /// `regex:` followed by the pattern.
    pub fn name(&self) -> String {
        match self {
            Self::Docker => "docker".to_owned(),
            Self::Semver => "semver".to_owned(),
            Self::Loose => "loose".to_owned(),
            Self::Regex(pattern) => format!("regex:{}", pattern.as_str()),
        }
    }

    fn family(&self) -> Family {
        match self {
            Self::Docker => Family::Docker,
            Self::Semver => Family::Semver,
            Self::Loose => Family::Loose,
            Self::Regex(_) => Family::Regex,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Scheme {
    type Err = VersionError;

    /// Accepts `docker`, `semver`, `loose` and `regex:PATTERN`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "docker" => Ok(Self::Docker),
            "semver" => Ok(Self::Semver),
            "loose" => Ok(Self::Loose),
            _ => match name.strip_prefix("regex:") {
                Some(pattern) => Ok(Self::Regex(PatternScheme::new(pattern)?)),
                None => Err(VersionError::new(
                    name,
                    ErrorKind::UnknownScheme(name.to_owned()),
                )),
            },
        }
    }
}

impl PartialEq for Scheme {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Regex(a), Self::Regex(b)) => a.as_str() == b.as_str(),
            _ => self.family() == other.family(),
        }
    }
}

impl Eq for Scheme {}

/// Which ordering and compatibility rules a version follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Family {
    Docker,
    Semver,
    Loose,
    Regex,
}

/// A byte range of a version's text; `start == end` means absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u16,
    end: u16,
}

impl Span {
    #[inline]
    fn new(start: usize, end: usize) -> Self {
        // Version::parse refuses text longer than MAX_VERSION_LEN, so both fit in u16.
        debug_assert!(end <= MAX_VERSION_LEN);
        Self {
            start: start as u16,
            end: end as u16,
        }
    }

    fn is_empty(self) -> bool {
        self.start == self.end
    }

    fn slice(self, text: &str) -> Option<&str> {
        if self.is_empty() {
            None
        } else {
            text.get(usize::from(self.start)..usize::from(self.end))
        }
    }
}

/// The release numbers of a version; four parts are stored inline.
type Release = SmallVec<[u64; 4]>;

/// What a parser found in a text, before it is wrapped with the text into a [`Version`].
#[derive(Debug, Clone, Default)]
struct Parts {
    release: Release,
    /// How many release parts were written (loose pads `1.2` to three parts).
    written_parts: u8,
    prerelease: Span,
    variant: Span,
    build: Span,
}

/// A tag read as a version under a [`Scheme`].
///
/// It keeps the text it was read from, so [`Display`](fmt::Display) gives the input back,
/// and the parts the scheme found in it. Equality and order follow the scheme's rules (see
/// the [module documentation](self)): `18.04` equals `18.4`, `v1.2.3` equals `1.2.3`.
#[derive(Clone)]
pub struct Version {
    text: CompactString,
    family: Family,
    parts: Parts,
}

impl Version {
    /// Reads `text` as a version under `scheme`.
    pub fn parse(text: &str, scheme: &Scheme) -> Result<Self, VersionError> {
        if text.len() > MAX_VERSION_LEN {
            return Err(VersionError::new(text, ErrorKind::TooLong(text.len())));
        }
        // Parsed in place: the parts are written once, not moved out of each parser.
        let mut version = Self {
            text: CompactString::const_new(""),
            family: scheme.family(),
            parts: Parts::default(),
        };
        let parts = &mut version.parts;
        match scheme {
            Scheme::Docker => docker::parse(text, parts)?,
            Scheme::Semver => semver::parse_strict(text, parts)?,
            Scheme::Loose => semver::parse_loose(text, parts)?,
            Scheme::Regex(pattern) => pattern.parse(text, parts)?,
        }
        version.text = CompactString::from(text);
        Ok(version)
    }

    /// The text the version was read from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The numeric release parts (`[1, 2, 3]` for `v1.2.3-alpine`). Under `loose` a partial
    /// version is padded to three parts.
    pub fn release(&self) -> &[u64] {
        &self.parts.release
    }

    /// The first release part.
    pub fn major(&self) -> u64 {
        self.release_part(0).unwrap_or(0)
    }

    /// The release part at `index`, when written.
    pub fn release_part(&self, index: usize) -> Option<u64> {
        self.parts.release.get(index).copied()
    }

    /// The pre-release text (`rc1` in `1.2.3rc1`, `beta.2` in `1.2.3-beta.2`), if any.
    pub fn prerelease(&self) -> Option<&str> {
        self.parts.prerelease.slice(&self.text)
    }

    /// The variant suffix (`alpine3.20` in `1.2.3-alpine3.20`), if any.
    pub fn variant(&self) -> Option<&str> {
        self.parts.variant.slice(&self.text)
    }

    /// The build metadata after `+`, if any; it plays no part in order or equality.
    pub fn build(&self) -> Option<&str> {
        self.parts.build.slice(&self.text)
    }

    /// True when the version has a pre-release.
    pub fn is_prerelease(&self) -> bool {
        !self.parts.prerelease.is_empty()
    }

    /// True for a release without pre-release and without variant: the plain tags that a
    /// non-version tag such as `latest` may resolve to.
    pub fn is_plain_release(&self) -> bool {
        self.parts.prerelease.is_empty() && self.parts.variant.is_empty()
    }

    /// True when the first release part is a date or a timestamp (eight digits or more, as
    /// in `alpine:20260805`): such tags are snapshots, not a major version twenty million.
    pub fn is_date_stamped(&self) -> bool {
        self.major() >= DATE_STAMP_MINIMUM
    }

    /// The shape of tags this one is compatible with, for listings: `x.y.z`, `x.y-alpine`,
    /// `date`, `date-slim`. Compatible versions have the same family.
    pub fn family(&self) -> String {
        let mut family = if self.is_date_stamped() {
            "date".to_owned()
        } else {
            const NAMES: [&str; 4] = ["x", "y", "z", "w"];
            let parts: Vec<&str> = (0..self.parts.release.len())
                .map(|i| NAMES.get(i).copied().unwrap_or("n"))
                .collect();
            parts.join(".")
        };
        if let Some(variant) = self.variant() {
            if !variant.starts_with('_') {
                family.push('-');
            }
            family.push_str(variant);
        }
        family
    }

    /// True when this version may replace `other` or be replaced by it: same scheme, same
    /// variant, both date-stamped or neither and, under `docker` and `regex`, the same number
    /// of release parts.
    pub fn is_compatible_with(&self, other: &Self) -> bool {
        self.family == other.family
            && self.variant() == other.variant()
            && self.is_date_stamped() == other.is_date_stamped()
            && match self.family {
                Family::Semver | Family::Loose => true,
                Family::Docker | Family::Regex => {
                    self.parts.release.len() == other.parts.release.len()
                }
            }
    }

    /// True when both versions have the same release numbers (pre-release, variant and
    /// build aside).
    pub fn same_release(&self, other: &Self) -> bool {
        self.family == other.family
            && order::compare_release(self.family, self.release(), other.release())
                == Ordering::Equal
    }

    /// What kind of move going from `self` to `to` is. Variants are not looked at: only
    /// release numbers and pre-releases. Versions of different schemes give
    /// [`UpdateKind::Unknown`].
    pub fn classify(&self, to: &Self) -> UpdateKind {
        order::classify(self, to)
    }
}

/// Reads two texts under `scheme` and classifies the move between them;
/// [`UpdateKind::Unknown`] when either is not a version.
pub fn classify(from: &str, to: &str, scheme: &Scheme) -> UpdateKind {
    match (scheme.parse(from), scheme.parse(to)) {
        (Ok(from), Ok(to)) => from.classify(&to),
        _ => UpdateKind::Unknown,
    }
}

/// True when `text` looks like a commit hash: 7 to 40 lower-case hex characters, not all
/// digits. Such tags are never versions, even when they start with a digit.
pub fn looks_like_commit_hash(text: &str) -> bool {
    (7..=40).contains(&text.len())
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && !text.bytes().all(|b| b.is_ascii_digit())
}

impl FromStr for Version {
    type Err = VersionError;

    /// Reads a tag under the default [`Scheme::Docker`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text, &Scheme::Docker)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Version");
        debug
            .field("text", &self.text.as_str())
            .field("release", &self.release());
        if let Some(prerelease) = self.prerelease() {
            debug.field("prerelease", &prerelease);
        }
        if let Some(variant) = self.variant() {
            debug.field("variant", &variant);
        }
        if let Some(build) = self.build() {
            debug.field("build", &build);
        }
        debug.finish()
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        order::compare(self, other)
    }
}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        order::hash(self, state);
    }
}

#[cfg(test)]
mod tests;
