//! Image references: `[host[:port]/]path[:tag][@digest]`, parsed and normalised the way Docker
//! does, with validated [`Tag`]s and [`Digest`]s.
//!
//! # Grammar
//!
//! This follows the grammar of Docker's `distribution/reference`:
//!
//! - **Registry**: the first `/`-separated component is a host when it contains `.` or `:` or
//!   is exactly `localhost`; otherwise the reference is on Docker Hub (`foo/bar` is the Hub user
//!   repository `foo/bar`, not the host `foo`). Recent Docker versions also read an upper-case
//!   first component (`Foo/bar`) as a host; here it is a repository with an upper-case error,
//!   since a registry without `.`, `:` or `localhost` is almost always a typo. A host is
//!   domain labels `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?` joined by `.`, or an IPv6 address
//!   in brackets (`[::1]`), with an optional `:port` from 1 to 65535.
//! - **Repository**: path components `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*` joined by `/`.
//!   Upper-case letters are an error that suggests the lower-case spelling.
//! - **Tag**: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, after the first `:` that follows the last `/`
//!   (so `localhost:5000` alone is the Hub image `localhost` at tag `5000`, as in Docker).
//! - **Digest**: `sha256:` and 64, or `sha512:` and 128, lower-case hex characters, after `@`.
//!
//! # Normalisation
//!
//! - No registry means Docker Hub, written `docker.io`; `index.docker.io` and
//!   `registry-1.docker.io` are Docker Hub too.
//! - A Docker Hub repository with one component gets `library/` (`nginx` is
//!   `docker.io/library/nginx`).
//! - Hosts are lower-cased (DNS and IPv6 are case-insensitive; Docker keeps them as written) and
//!   a port loses its leading zeros, so that one registry has one spelling. `docker.io:443` is
//!   not normalised: only the bare names above are Docker Hub.
//! - Without a tag and a digest the tag is `latest`; [`ImageRef::is_tag_implied`] remembers that
//!   it was not written. That flag is presentation only: it is ignored by equality, ordering
//!   and hashing (`nginx` equals `nginx:latest`), and the canonical form always writes the tag.
//! - A reference that is exactly 64 hex characters is refused as an image id, as Docker does.
//! - The name with its registry (`docker.io/library/nginx`) may be at most 255 characters.
//!
//! [`ImageRef`]'s `Display` gives the canonical form, `docker.io/library/nginx:latest` (with
//! `@digest` when there is one, and both as `name:tag@digest`). [`ImageRef::short`] gives the
//! familiar form the `docker` CLI shows: without `docker.io/`, without `library/` and without
//! an implied `:latest`. Both parse back to an equal reference.
//!
//! ```
//! use upkeep_versioning_core::reference::ImageRef;
//!
//! let nginx: ImageRef = "nginx".parse()?;
//! assert_eq!(nginx.to_string(), "docker.io/library/nginx:latest");
//! assert_eq!(nginx.short().to_string(), "nginx");
//! assert_eq!(nginx, "index.docker.io/library/nginx:latest".parse()?);
//!
//! let app: ImageRef = "ghcr.io/owner/app:v1.2.3".parse()?;
//! assert_eq!((app.registry(), app.repository()), ("ghcr.io", "owner/app"));
//!
//! let err = "Nginx".parse::<ImageRef>().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid image reference 'Nginx': repository names must be lower-case; did you mean 'nginx'?"
//! );
//! # Ok::<(), upkeep_versioning_core::reference::ReferenceError>(())
//! ```
//!
//! # What this module does not do
//!
//! It does not talk to registries: it neither resolves tags to digests nor knows registry API
//! endpoints (Docker Hub's API host `registry-1.docker.io` is the registry clients' business).
//! It does not read Docker's configuration (mirrors, insecure registries, credentials), and it
//! accepts only the `sha256` and `sha512` digest algorithms, not the open-ended algorithm
//! grammar of the OCI spec.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::Ipv6Addr;
use std::str::FromStr;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The registry name of Docker Hub in the canonical form.
pub const DOCKER_HUB: &str = "docker.io";

/// The most characters a name with its registry (`docker.io/library/nginx`) may have.
pub const MAX_NAME_LEN: usize = 255;

/// The most characters a tag may have.
pub const MAX_TAG_LEN: usize = 128;

/// Other spellings of Docker Hub that normalise to [`DOCKER_HUB`].
const HUB_ALIASES: [&str; 2] = ["index.docker.io", "registry-1.docker.io"];

/// The namespace of Docker Hub's official images.
const OFFICIAL_PREFIX: &str = "library/";

/// The text of the implied tag.
const LATEST: &str = "latest";

/// A static `latest`, so that [`ImageRef::tag_or_latest`] can hand out a reference.
static LATEST_TAG: Tag = Tag(CompactString::const_new(LATEST));

// ---------------------------------------------------------------------------------------------
// Tag
// ---------------------------------------------------------------------------------------------

/// An image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, such as `latest`, `1.25.3-alpine` or
/// `v2`.
///
/// Tags are case-sensitive and kept as written. They order and compare as their text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(CompactString);

impl Tag {
    /// The tag `latest`, which a reference without tag and digest implies.
    pub fn latest() -> &'static Self {
        &LATEST_TAG
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the tag `latest`.
    pub fn is_latest(&self) -> bool {
        self.0 == LATEST
    }
}

impl FromStr for Tag {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(Fault::new(ErrorKind::Empty, None).into_error(Subject::Tag, text));
        }
        check_tag(text, 0, text.len()).map_err(|fault| fault.into_error(Subject::Tag, text))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({:?})", self.as_str())
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// Equality, order and hash are those of the text, so a `BTreeMap<Tag, _>` can be searched
// with a `&str`.
impl Borrow<str> for Tag {
    fn borrow(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Digest
// ---------------------------------------------------------------------------------------------

/// The hash function of a [`Digest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-256, 64 hex characters; what registries use.
    Sha256,
    /// SHA-512, 128 hex characters.
    Sha512,
}

impl DigestAlgorithm {
    /// The name as written before the `:` of a digest: `sha256` or `sha512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// How many hex characters a digest of this algorithm has.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A content digest: `sha256:` and 64, or `sha512:` and 128, lower-case hex characters.
///
/// Upper-case hex is refused (with the lower-case spelling as a hint) rather than folded, so
/// that the text is exactly what registries return and compare. Digests compare and order as
/// their text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    /// The whole digest, `algorithm:hex`.
    text: String,
    algorithm: DigestAlgorithm,
}

impl Digest {
    /// The hash function.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lower-case hex characters after the `:`.
    pub fn hex(&self) -> &str {
        self.text
            .get(self.algorithm.as_str().len() + 1..)
            .unwrap_or_default()
    }

    /// The whole digest as text, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(Fault::new(ErrorKind::Empty, None).into_error(Subject::Digest, text));
        }
        check_digest(text, 0).map_err(|fault| fault.into_error(Subject::Digest, text))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({:?})", self.text)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

// ---------------------------------------------------------------------------------------------
// ImageRef
// ---------------------------------------------------------------------------------------------

/// A normalised image reference: registry, repository, and a tag, a digest or both.
///
/// Parse one with [`FromStr`]; `Display` gives the canonical form
/// (`docker.io/library/nginx:latest`) and [`ImageRef::short`] the familiar one (`nginx`). Every
/// value has a tag or a digest: without both, the tag is an implied `latest`.
///
/// Equality, ordering and hashing use the registry, repository, tag and digest, not whether
/// the tag was implied. References order by their name (`registry/repository`), then tag, then
/// digest.
#[derive(Clone)]
pub struct ImageRef {
    /// `registry/repository`, normalised.
    name: String,
    /// Length of the registry at the start of `name`.
    registry_len: usize,
    tag: Option<Tag>,
    digest: Option<Digest>,
    /// The tag is a `latest` that was not written. Only ever true with no digest.
    tag_implied: bool,
}

impl ImageRef {
    /// The registry host with its port, lower-case; [`DOCKER_HUB`] (`docker.io`) for Docker
    /// Hub.
    pub fn registry(&self) -> &str {
        self.name.get(..self.registry_len).unwrap_or_default()
    }

    /// The repository path, such as `owner/app`; `library/nginx` for Docker Hub's official
    /// images.
    pub fn repository(&self) -> &str {
        self.name.get(self.registry_len + 1..).unwrap_or_default()
    }

    /// The full name without tag and digest, `registry/repository`: `docker.io/library/nginx`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name as the `docker` CLI shows it: without `docker.io/` and without `library/`
    /// (`nginx`, `bitnami/redis`, `ghcr.io/owner/app`).
    ///
    /// `docker.io/` stays when the repository's first component would otherwise read as a host
    /// (`docker.io/foo.bar/app`), and `library/` stays when the rest would read as an image id,
    /// so that the short name always parses back to the same name.
    pub fn short_name(&self) -> &str {
        if !self.is_docker_hub() {
            return &self.name;
        }
        let repository = self.repository();
        if let Some(official) = repository.strip_prefix(OFFICIAL_PREFIX)
            && !official.contains('/')
            && !is_image_id(official)
        {
            return official;
        }
        let first = repository.split('/').next().unwrap_or_default();
        if is_host_like(first) {
            &self.name
        } else {
            repository
        }
    }

    /// The tag: written, or an implied `latest`. `None` only for a reference by digest alone.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// The digest, when the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// True when the reference was written without tag and digest, so its tag `latest` is
    /// implied. Not part of equality, and lost in the canonical form, which writes the tag.
    pub fn is_tag_implied(&self) -> bool {
        self.tag_implied
    }

    /// True for an image on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.registry() == DOCKER_HUB
    }

    /// The tag to follow: the tag, or `latest` for a reference by digest alone, which is what
    /// `docker pull` of the bare name would fetch.
    pub fn tag_or_latest(&self) -> &Tag {
        self.tag.as_ref().unwrap_or(Tag::latest())
    }

    /// The same image at another tag, written explicitly.
    ///
    /// Any digest is dropped: it pinned the content of the old tag, and Docker pulls by the
    /// digest when both are present, so keeping it would silently keep the old image.
    #[must_use]
    pub fn with_tag(&self, tag: Tag) -> Self {
        Self {
            name: self.name.clone(),
            registry_len: self.registry_len,
            tag: Some(tag),
            digest: None,
            tag_implied: false,
        }
    }

    /// The same reference pinned to `digest`.
    ///
    /// A written tag is kept (`nginx:1.25@sha256:...`); an implied `latest` is dropped, as in
    /// `nginx@sha256:...`.
    #[must_use]
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            name: self.name.clone(),
            registry_len: self.registry_len,
            tag: if self.tag_implied {
                None
            } else {
                self.tag.clone()
            },
            digest: Some(digest),
            tag_implied: false,
        }
    }

    /// The same reference without its digest; a reference by digest alone becomes one with an
    /// implied `latest`, as the bare name would be.
    #[must_use]
    pub fn without_digest(&self) -> Self {
        let tag_implied = self.tag.is_none() || self.tag_implied;
        Self {
            name: self.name.clone(),
            registry_len: self.registry_len,
            tag: Some(self.tag_or_latest().clone()),
            digest: None,
            tag_implied,
        }
    }

    /// The familiar form as the `docker` CLI shows it: the [`short_name`](Self::short_name),
    /// the tag unless it is an implied `latest`, and the digest. A written `:latest` is kept.
    pub fn short(&self) -> ShortRef<'_> {
        ShortRef(self)
    }

    /// The fields that equality, order and hash use.
    fn key(&self) -> (&str, Option<&Tag>, Option<&Digest>) {
        (&self.name, self.tag.as_ref(), self.digest.as_ref())
    }
}

impl PartialEq for ImageRef {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ImageRef {}

impl PartialOrd for ImageRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ImageRef {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl Hash for ImageRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse_reference(input).map_err(|fault| fault.into_error(Subject::Reference, input))
    }
}

/// The canonical form: `registry/repository[:tag][@digest]`.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        write_tag_and_digest(f, self.tag.as_ref(), self.digest.as_ref())
    }
}

impl fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageRef({:?})", self.to_string())
    }
}

/// The familiar form of an [`ImageRef`], from [`ImageRef::short`]: `nginx`,
/// `bitnami/redis:7.2`, `ghcr.io/owner/app@sha256:...`.
#[derive(Debug, Clone, Copy)]
pub struct ShortRef<'a>(&'a ImageRef);

impl fmt::Display for ShortRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reference = self.0;
        f.write_str(reference.short_name())?;
        let tag = reference.tag.as_ref().filter(|_| !reference.tag_implied);
        write_tag_and_digest(f, tag, reference.digest.as_ref())
    }
}

fn write_tag_and_digest(
    f: &mut fmt::Formatter<'_>,
    tag: Option<&Tag>,
    digest: Option<&Digest>,
) -> fmt::Result {
    if let Some(tag) = tag {
        write!(f, ":{tag}")?;
    }
    if let Some(digest) = digest {
        write!(f, "@{digest}")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Serde: as strings, through FromStr and Display
// ---------------------------------------------------------------------------------------------

impl Serialize for Tag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer)
    }
}

/// As the canonical form, which is unambiguous without knowing Docker's defaults.
impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From any form [`FromStr`] accepts, short or canonical.
impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer)
    }
}

fn deserialize_parsed<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = ReferenceError>,
{
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The part of a reference that was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ReferencePart {
    /// The registry host and port.
    Registry,
    /// The repository path, or the name as a whole.
    Repository,
    /// The tag after `:`.
    Tag,
    /// The digest after `@`.
    Digest,
}

impl ReferencePart {
    fn rule(self) -> &'static str {
        match self {
            Self::Registry => "registry hosts may contain only letters, digits, '-' and '.'",
            Self::Repository => {
                "repository names may contain only lower-case letters, digits, '.', '_', '-' \
                 and '/'"
            }
            Self::Tag => "tags may contain only letters, digits, '_', '.' and '-'",
            Self::Digest => "the hex part of a digest may contain only '0'-'9' and 'a'-'f'",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Registry => "registry",
            Self::Repository => "repository",
            Self::Tag => "tag",
            Self::Digest => "digest",
        }
    }
}

/// Why a text is not an image reference, a tag or a digest.
///
/// The message quotes the input, names the part and position that failed and, where the fix
/// is obvious, suggests it: "invalid image reference 'nginx:': empty tag after ':'; remove the
/// ':' or add a tag".
#[derive(Clone, PartialEq, Eq)]
pub struct ReferenceError {
    subject: Subject,
    input: String,
    kind: ErrorKind,
    /// Byte offset into `input` of the offending character, where there is one.
    offset: Option<usize>,
    /// The input corrected, where the correction is obvious.
    suggestion: Option<String>,
}

impl ReferenceError {
    /// The text that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The part that was wrong; `None` when the input as a whole was (empty, or an image id).
    pub fn part(&self) -> Option<ReferencePart> {
        match &self.kind {
            ErrorKind::Empty => match self.subject {
                Subject::Reference => None,
                Subject::Tag => Some(ReferencePart::Tag),
                Subject::Digest => Some(ReferencePart::Digest),
            },
            ErrorKind::ImageId => None,
            ErrorKind::UnexpectedChar { part, .. } => Some(*part),
            ErrorKind::EmptyHost
            | ErrorKind::EmptyHostLabel
            | ErrorKind::HostLabelEdge { .. }
            | ErrorKind::UnclosedBracket
            | ErrorKind::InvalidIpv6 { .. }
            | ErrorKind::EmptyPort
            | ErrorKind::InvalidPort { .. } => Some(ReferencePart::Registry),
            ErrorKind::MissingName { .. }
            | ErrorKind::MissingRepository { .. }
            | ErrorKind::EmptyPathComponent(_)
            | ErrorKind::SeparatorAtEdge { .. }
            | ErrorKind::InvalidSeparator { .. }
            | ErrorKind::UppercasePath
            | ErrorKind::NameTooLong { .. } => Some(ReferencePart::Repository),
            ErrorKind::EmptyTag | ErrorKind::TagStart { .. } | ErrorKind::TagTooLong { .. } => {
                Some(ReferencePart::Tag)
            }
            ErrorKind::EmptyDigest
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm { .. }
            | ErrorKind::DigestLength { .. }
            | ErrorKind::UppercaseDigest => Some(ReferencePart::Digest),
        }
    }

    /// The position (0-based, in characters) of the offending character in the input, where
    /// one character is to blame.
    pub fn position(&self) -> Option<usize> {
        self.offset.map(|offset| {
            self.input
                .get(..offset)
                .map_or(offset, |before| before.chars().count())
        })
    }

    /// The input corrected, where the correction is obvious: the lower-case spelling of a
    /// repository or digest, or a digest with its missing `sha256:`.
    pub fn suggestion(&self) -> Option<&str> {
        self.suggestion.as_deref()
    }
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ErrorKind::Empty {
            return f.write_str(match self.subject {
                Subject::Reference => {
                    "empty image reference; expected a name such as 'nginx' or \
                     'ghcr.io/owner/app:1.2.3'"
                }
                Subject::Tag => "empty tag; expected a tag such as 'latest' or '1.25.3'",
                Subject::Digest => "empty digest; expected 'sha256:' followed by 64 hex characters",
            });
        }
        write!(f, "invalid {} '{}': ", self.subject.noun(), self.input)?;
        let position = self.position().unwrap_or_default();
        let suggestion = self.suggestion().unwrap_or_default();
        match &self.kind {
            ErrorKind::Empty => Ok(()),
            ErrorKind::ImageId => f.write_str(
                "64 hex characters are an image id, not a reference; name the image, such as \
                 'nginx', and pin a digest with '@sha256:...'",
            ),
            ErrorKind::UnexpectedChar { part, found } => {
                write!(
                    f,
                    "unexpected character '{}' at position {position}",
                    found.escape_debug()
                )?;
                if self.subject == Subject::Reference {
                    write!(f, " in the {}", part.noun())?;
                }
                write!(f, "; {}", part.rule())
            }
            ErrorKind::MissingName { before } => {
                write!(f, "missing repository name before '{before}'")
            }
            ErrorKind::MissingRepository { registry } => write!(
                f,
                "missing repository after '{registry}/'; add a name such as '{registry}/owner/app'"
            ),
            ErrorKind::EmptyHost => f.write_str("missing registry host before ':'"),
            ErrorKind::EmptyHostLabel => write!(
                f,
                "empty label at position {position} in the registry host; remove the extra '.'"
            ),
            ErrorKind::HostLabelEdge { label } => write!(
                f,
                "registry host label '{label}' must start and end with a letter or digit"
            ),
            ErrorKind::UnclosedBracket => f.write_str("missing ']' after the IPv6 address"),
            ErrorKind::InvalidIpv6 { address } => {
                write!(f, "'{address}' is not an IPv6 address")
            }
            ErrorKind::EmptyPort => f.write_str(
                "empty port after ':' in the registry; remove the ':' or add a port number",
            ),
            ErrorKind::InvalidPort { port } => write!(
                f,
                "invalid port '{port}' in the registry; a port is a number from 1 to 65535"
            ),
            ErrorKind::EmptyPathComponent(Slash::Leading) => {
                f.write_str("leading '/' in the repository; remove it")
            }
            ErrorKind::EmptyPathComponent(Slash::Trailing) => {
                write!(f, "trailing '/' at position {position}; remove it")
            }
            ErrorKind::EmptyPathComponent(Slash::Doubled) => {
                write!(f, "doubled '/' at position {position}; remove one")
            }
            ErrorKind::SeparatorAtEdge { component } => write!(
                f,
                "path component '{component}' must start and end with a lower-case letter or \
                 digit"
            ),
            ErrorKind::InvalidSeparator { separator } => write!(
                f,
                "invalid separator '{separator}' at position {position} in the repository; \
                 separators are '.', '_', '__' or a run of '-'"
            ),
            ErrorKind::UppercasePath => write!(
                f,
                "repository names must be lower-case; did you mean '{suggestion}'?"
            ),
            ErrorKind::NameTooLong { len } => write!(
                f,
                "the name with its registry is {len} characters long; at most {MAX_NAME_LEN} \
                 are allowed"
            ),
            ErrorKind::EmptyTag => f.write_str("empty tag after ':'; remove the ':' or add a tag"),
            ErrorKind::TagStart { found } => write!(
                f,
                "a tag must start with a letter, digit or '_', not '{found}'"
            ),
            ErrorKind::TagTooLong { len } => write!(
                f,
                "tag is {len} characters long; at most {MAX_TAG_LEN} are allowed"
            ),
            ErrorKind::EmptyDigest => f.write_str(
                "empty digest after '@'; remove the '@' or add a digest such as 'sha256:' \
                 followed by 64 hex characters",
            ),
            ErrorKind::MissingAlgorithm => {
                if suggestion.is_empty() {
                    f.write_str("expected a digest such as 'sha256:' followed by 64 hex characters")
                } else {
                    write!(
                        f,
                        "missing digest algorithm before the hex; did you mean '{suggestion}'?"
                    )
                }
            }
            ErrorKind::UnsupportedAlgorithm { algorithm } if algorithm.is_empty() => {
                f.write_str("missing digest algorithm before ':'; expected 'sha256' or 'sha512'")
            }
            ErrorKind::UnsupportedAlgorithm { algorithm } => write!(
                f,
                "unsupported digest algorithm '{algorithm}'; expected 'sha256' or 'sha512'"
            ),
            ErrorKind::DigestLength { algorithm, found } => write!(
                f,
                "expected {} hex characters after '{algorithm}:', found {found}",
                algorithm.hex_len()
            ),
            ErrorKind::UppercaseDigest => {
                write!(
                    f,
                    "digests must be lower-case; did you mean '{suggestion}'?"
                )
            }
        }
    }
}

impl fmt::Debug for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReferenceError({self})")
    }
}

impl std::error::Error for ReferenceError {}

/// What was being parsed, for the start of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Reference,
    Tag,
    Digest,
}

impl Subject {
    fn noun(self) -> &'static str {
        match self {
            Self::Reference => "image reference",
            Self::Tag => "tag",
            Self::Digest => "digest",
        }
    }
}

/// Which empty path component: `/a`, `a/` or `a//b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slash {
    Leading,
    Trailing,
    Doubled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ErrorKind {
    Empty,
    ImageId,
    UnexpectedChar {
        part: ReferencePart,
        found: char,
    },
    // Registry.
    EmptyHost,
    EmptyHostLabel,
    HostLabelEdge {
        label: String,
    },
    UnclosedBracket,
    InvalidIpv6 {
        address: String,
    },
    EmptyPort,
    InvalidPort {
        port: String,
    },
    // Repository.
    MissingName {
        before: char,
    },
    MissingRepository {
        registry: String,
    },
    EmptyPathComponent(Slash),
    SeparatorAtEdge {
        component: String,
    },
    InvalidSeparator {
        separator: String,
    },
    UppercasePath,
    NameTooLong {
        len: usize,
    },
    // Tag.
    EmptyTag,
    TagStart {
        found: char,
    },
    TagTooLong {
        len: usize,
    },
    // Digest.
    EmptyDigest,
    MissingAlgorithm,
    UnsupportedAlgorithm {
        algorithm: String,
    },
    DigestLength {
        algorithm: DigestAlgorithm,
        found: usize,
    },
    UppercaseDigest,
}

/// An error before it knows what was being parsed.
struct Fault {
    kind: ErrorKind,
    offset: Option<usize>,
    suggestion: Option<String>,
}

impl Fault {
    fn new(kind: ErrorKind, offset: Option<usize>) -> Self {
        Self {
            kind,
            offset,
            suggestion: None,
        }
    }

    fn at(kind: ErrorKind, offset: usize) -> Self {
        Self::new(kind, Some(offset))
    }

    fn unexpected(part: ReferencePart, found: char, offset: usize) -> Self {
        Self::at(ErrorKind::UnexpectedChar { part, found }, offset)
    }

    fn suggesting(mut self, suggestion: String) -> Self {
        self.suggestion = Some(suggestion);
        self
    }

    fn into_error(self, subject: Subject, input: &str) -> ReferenceError {
        ReferenceError {
            subject,
            input: input.to_owned(),
            kind: self.kind,
            offset: self.offset,
            suggestion: self.suggestion,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

fn parse_reference(input: &str) -> Result<ImageRef, Fault> {
    if input.is_empty() {
        return Err(Fault::new(ErrorKind::Empty, None));
    }
    if is_image_id(input) {
        return Err(Fault::new(ErrorKind::ImageId, None));
    }

    // Split off `@digest`, then `:tag` after the last `/` (a `:` before it is a port).
    let (before_digest, digest_start) = match input.find('@') {
        Some(at) => (&input[..at], Some(at + 1)),
        None => (input, None),
    };
    let last_component = before_digest.rfind('/').map_or(0, |slash| slash + 1);
    let (name, tag_start) = match before_digest[last_component..].find(':') {
        Some(colon) => {
            let colon = last_component + colon;
            (&before_digest[..colon], Some(colon + 1))
        }
        None => (before_digest, None),
    };
    if name.is_empty() {
        let before = input.chars().next().unwrap_or('@');
        return Err(Fault::at(ErrorKind::MissingName { before }, 0));
    }

    let (host, path_start) = match name.find('/') {
        Some(slash) if is_host_like(&name[..slash]) => (Some(&name[..slash]), slash + 1),
        _ => (None, 0),
    };
    let registry = match host {
        Some(host) => normalise_host(host)?,
        None => DOCKER_HUB.to_owned(),
    };
    let path = &name[path_start..];
    if path.is_empty() {
        let registry = host.unwrap_or_default().to_owned();
        return Err(Fault::at(
            ErrorKind::MissingRepository { registry },
            path_start,
        ));
    }
    let first_uppercase = check_path(input, path_start, name.len())?;

    let tag = match tag_start {
        Some(start) if start == before_digest.len() => {
            return Err(Fault::at(ErrorKind::EmptyTag, start - 1));
        }
        Some(start) => Some(check_tag(input, start, before_digest.len())?),
        None => None,
    };
    let digest = match digest_start {
        Some(start) if start == input.len() => {
            return Err(Fault::at(ErrorKind::EmptyDigest, start - 1));
        }
        Some(start) => Some(check_digest(input, start)?),
        None => None,
    };

    // Reported after the structural checks, so that the suggestion is a valid reference.
    if let Some(offset) = first_uppercase {
        let suggestion = lowercase_range(input, path_start, name.len());
        return Err(Fault::at(ErrorKind::UppercasePath, offset).suggesting(suggestion));
    }

    let official = registry == DOCKER_HUB && !path.contains('/');
    let mut full = registry;
    let registry_len = full.len();
    full.push('/');
    if official {
        full.push_str(OFFICIAL_PREFIX);
    }
    full.push_str(path);
    let len = full.chars().count();
    if len > MAX_NAME_LEN {
        return Err(Fault::new(ErrorKind::NameTooLong { len }, None));
    }

    let tag_implied = tag.is_none() && digest.is_none();
    Ok(ImageRef {
        name: full,
        registry_len,
        tag: if tag_implied {
            Some(Tag::latest().clone())
        } else {
            tag
        },
        digest,
        tag_implied,
    })
}

/// Docker's rule for telling a registry from a Hub namespace in the first component.
fn is_host_like(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// Exactly 64 lower-case hex characters: what Docker refuses as a reference.
fn is_image_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks the host (which starts the input) and returns it lower-cased, with the port's
/// leading zeros removed and the Hub aliases replaced by [`DOCKER_HUB`].
fn normalise_host(host: &str) -> Result<String, Fault> {
    let (address, port_start) = if let Some(bracketed) = host.strip_prefix('[') {
        let close = bracketed
            .find(']')
            .ok_or_else(|| Fault::at(ErrorKind::UnclosedBracket, 0))?;
        let inner = &bracketed[..close];
        if let Some((i, found)) = inner
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_hexdigit() || c == ':'))
        {
            return Err(Fault::unexpected(ReferencePart::Registry, found, 1 + i));
        }
        if inner.parse::<Ipv6Addr>().is_err() {
            let address = inner.to_owned();
            return Err(Fault::at(ErrorKind::InvalidIpv6 { address }, 1));
        }
        let after = close + 2;
        match host[after..].chars().next() {
            None => (&host[..after], None),
            Some(':') => (&host[..after], Some(after + 1)),
            Some(found) => return Err(Fault::unexpected(ReferencePart::Registry, found, after)),
        }
    } else {
        let (address, port_start) = match host.find(':') {
            Some(colon) => (&host[..colon], Some(colon + 1)),
            None => (host, None),
        };
        check_domain(address)?;
        (address, port_start)
    };

    let mut normalised = address.to_ascii_lowercase();
    if let Some(start) = port_start {
        normalised.push(':');
        normalised.push_str(&check_port(&host[start..], start)?.to_string());
    }
    if HUB_ALIASES.contains(&normalised.as_str()) {
        normalised = DOCKER_HUB.to_owned();
    }
    Ok(normalised)
}

/// Domain labels `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?` joined by `.`; `address` starts the
/// input.
fn check_domain(address: &str) -> Result<(), Fault> {
    if address.is_empty() {
        return Err(Fault::at(ErrorKind::EmptyHost, 0));
    }
    if let Some((i, found)) = address
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    {
        return Err(Fault::unexpected(ReferencePart::Registry, found, i));
    }
    let mut start = 0;
    for label in address.split('.') {
        if label.is_empty() {
            return Err(Fault::at(ErrorKind::EmptyHostLabel, start));
        }
        if label.starts_with('-') || label.ends_with('-') {
            let label = label.to_owned();
            return Err(Fault::at(ErrorKind::HostLabelEdge { label }, start));
        }
        start += label.len() + 1;
    }
    Ok(())
}

/// A port from 1 to 65535; leading zeros are allowed and dropped.
fn check_port(port: &str, start: usize) -> Result<u16, Fault> {
    if port.is_empty() {
        return Err(Fault::at(ErrorKind::EmptyPort, start - 1));
    }
    let invalid = || {
        let port = port.to_owned();
        Fault::at(ErrorKind::InvalidPort { port }, start)
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let significant = port.trim_start_matches('0');
    if significant.len() > 5 {
        return Err(invalid());
    }
    match significant.parse::<u16>() {
        Ok(number) if number > 0 => Ok(number),
        _ => Err(invalid()),
    }
}

/// Checks the path `input[start..end]` (not empty); returns the offset of its first
/// upper-case letter, which the caller reports once everything else is known to be valid.
fn check_path(input: &str, start: usize, end: usize) -> Result<Option<usize>, Fault> {
    let path = &input[start..end];
    let mut first_uppercase = None;
    let mut component_start = start;
    let components = path.split('/').count();
    for (index, component) in path.split('/').enumerate() {
        if component.is_empty() {
            let slash = if index + 1 == components {
                Slash::Trailing
            } else if index == 0 && start == 0 {
                Slash::Leading
            } else {
                Slash::Doubled
            };
            // Point at the slash that is one too many.
            let offset = if slash == Slash::Trailing {
                component_start - 1
            } else {
                component_start
            };
            return Err(Fault::at(ErrorKind::EmptyPathComponent(slash), offset));
        }
        if let Some(offset) = check_path_component(component, component_start)? {
            first_uppercase = first_uppercase.or(Some(offset));
        }
        component_start += component.len() + 1;
    }
    Ok(first_uppercase)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`, with upper-case letters accepted for now and the
/// first one's offset returned.
fn check_path_component(component: &str, start: usize) -> Result<Option<usize>, Fault> {
    let is_separator = |c: char| matches!(c, '.' | '_' | '-');
    if let Some((i, found)) = component
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || is_separator(c)))
    {
        return Err(Fault::unexpected(
            ReferencePart::Repository,
            found,
            start + i,
        ));
    }
    // Only ASCII from here on, so bytes are characters.
    let bytes = component.as_bytes();
    if bytes
        .first()
        .copied()
        .is_some_and(|b| is_separator(char::from(b)))
        || bytes
            .last()
            .copied()
            .is_some_and(|b| is_separator(char::from(b)))
    {
        let component = component.to_owned();
        return Err(Fault::at(ErrorKind::SeparatorAtEdge { component }, start));
    }
    let mut i = 0;
    while i < bytes.len() {
        let run_start = i;
        while i < bytes.len() && is_separator(char::from(bytes[i])) {
            i += 1;
        }
        if i > run_start {
            let separator = &component[run_start..i];
            let valid =
                matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
            if !valid {
                let separator = separator.to_owned();
                return Err(Fault::at(
                    ErrorKind::InvalidSeparator { separator },
                    start + run_start,
                ));
            }
        }
        i += 1;
    }
    Ok(component
        .bytes()
        .position(|b| b.is_ascii_uppercase())
        .map(|i| start + i))
}

/// Checks the tag `input[start..end]` (not empty).
fn check_tag(input: &str, start: usize, end: usize) -> Result<Tag, Fault> {
    let tag = &input[start..end];
    for (i, found) in tag.char_indices() {
        if i == 0 && matches!(found, '.' | '-') {
            return Err(Fault::at(ErrorKind::TagStart { found }, start));
        }
        if !(found.is_ascii_alphanumeric() || matches!(found, '_' | '.' | '-')) {
            return Err(Fault::unexpected(ReferencePart::Tag, found, start + i));
        }
    }
    if tag.len() > MAX_TAG_LEN {
        let len = tag.len();
        return Err(Fault::at(
            ErrorKind::TagTooLong { len },
            start + MAX_TAG_LEN,
        ));
    }
    Ok(Tag(CompactString::from(tag)))
}

/// Checks the digest that ends the input, from `start` (not empty).
fn check_digest(input: &str, start: usize) -> Result<Digest, Fault> {
    let text = &input[start..];
    let Some((name, hex)) = text.split_once(':') else {
        let fault = Fault::new(ErrorKind::MissingAlgorithm, None);
        let lower = text.to_ascii_lowercase();
        let algorithm = [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512]
            .into_iter()
            .find(|algorithm| algorithm.hex_len() == lower.len());
        return Err(match algorithm {
            Some(algorithm) if lower.bytes().all(|b| b.is_ascii_hexdigit()) => {
                fault.suggesting(format!("{}{algorithm}:{lower}", &input[..start]))
            }
            _ => fault,
        });
    };
    let Some(algorithm) = DigestAlgorithm::from_name(&name.to_ascii_lowercase()) else {
        let algorithm = name.to_owned();
        return Err(Fault::at(
            ErrorKind::UnsupportedAlgorithm { algorithm },
            start,
        ));
    };
    let hex_start = start + name.len() + 1;
    if let Some((i, found)) = hex.char_indices().find(|&(_, c)| !c.is_ascii_hexdigit()) {
        return Err(Fault::unexpected(
            ReferencePart::Digest,
            found,
            hex_start + i,
        ));
    }
    if hex.len() != algorithm.hex_len() {
        let found = hex.len();
        return Err(Fault::new(
            ErrorKind::DigestLength { algorithm, found },
            None,
        ));
    }
    if let Some(i) = text.bytes().position(|b| b.is_ascii_uppercase()) {
        let suggestion = lowercase_range(input, start, input.len());
        return Err(Fault::at(ErrorKind::UppercaseDigest, start + i).suggesting(suggestion));
    }
    Ok(Digest {
        text: text.to_owned(),
        algorithm,
    })
}

/// `input` with `input[start..end]` in ASCII lower case.
fn lowercase_range(input: &str, start: usize, end: usize) -> String {
    let mut text = String::with_capacity(input.len());
    text.push_str(&input[..start]);
    text.push_str(&input[start..end].to_ascii_lowercase());
    text.push_str(&input[end..]);
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    const HEX64: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HEX128: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
                          47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

    /// Replaces `{D}` with a sha256 digest and `{E}` with a sha512 one.
    fn fill(text: &str) -> String {
        text.replace("{D}", &format!("sha256:{HEX64}"))
            .replace("{E}", &format!("sha512:{HEX128}"))
    }

    #[track_caller]
    fn parse(input: &str) -> ImageRef {
        match input.parse::<ImageRef>() {
            Ok(reference) => reference,
            Err(err) => panic!("'{input}' should parse: {err}"),
        }
    }

    #[track_caller]
    fn parse_err(input: &str) -> ReferenceError {
        match input.parse::<ImageRef>() {
            Ok(reference) => panic!("'{input}' should not parse, got {reference}"),
            Err(err) => err,
        }
    }

    /// Parses `input` and checks the canonical and short forms and that both parse back.
    #[track_caller]
    fn assert_forms(input: &str, canonical: &str, short: &str) {
        let (input, canonical, short) = (fill(input), fill(canonical), fill(short));
        let reference = parse(&input);
        assert_eq!(
            reference.to_string(),
            canonical,
            "canonical form of '{input}'"
        );
        assert_eq!(
            reference.short().to_string(),
            short,
            "short form of '{input}'"
        );
        assert_eq!(
            parse(&canonical),
            reference,
            "canonical form of '{input}' parsed"
        );
        assert_eq!(parse(&short), reference, "short form of '{input}' parsed");
    }

    #[track_caller]
    fn assert_err(input: &str, message: &str) {
        let (input, message) = (fill(input), fill(message));
        assert_eq!(parse_err(&input).to_string(), message);
    }

    #[test]
    fn canonical_and_short_forms() {
        let cases = [
            // Docker Hub official images.
            ("nginx", "docker.io/library/nginx:latest", "nginx"),
            (
                "nginx:latest",
                "docker.io/library/nginx:latest",
                "nginx:latest",
            ),
            ("nginx:1.25", "docker.io/library/nginx:1.25", "nginx:1.25"),
            ("library/nginx", "docker.io/library/nginx:latest", "nginx"),
            ("docker.io/nginx", "docker.io/library/nginx:latest", "nginx"),
            (
                "docker.io/library/nginx:1.25",
                "docker.io/library/nginx:1.25",
                "nginx:1.25",
            ),
            (
                "index.docker.io/library/nginx:1.25",
                "docker.io/library/nginx:1.25",
                "nginx:1.25",
            ),
            (
                "index.docker.io/nginx",
                "docker.io/library/nginx:latest",
                "nginx",
            ),
            (
                "registry-1.docker.io/library/redis:7",
                "docker.io/library/redis:7",
                "redis:7",
            ),
            ("Docker.IO/nginx", "docker.io/library/nginx:latest", "nginx"),
            ("nginx@{D}", "docker.io/library/nginx@{D}", "nginx@{D}"),
            (
                "nginx:1.25@{D}",
                "docker.io/library/nginx:1.25@{D}",
                "nginx:1.25@{D}",
            ),
            ("nginx@{E}", "docker.io/library/nginx@{E}", "nginx@{E}"),
            // Docker Hub user repositories.
            ("foo/bar", "docker.io/foo/bar:latest", "foo/bar"),
            (
                "bitnami/redis:7.2",
                "docker.io/bitnami/redis:7.2",
                "bitnami/redis:7.2",
            ),
            (
                "library/foo/bar",
                "docker.io/library/foo/bar:latest",
                "library/foo/bar",
            ),
            ("a/b/c/d", "docker.io/a/b/c/d:latest", "a/b/c/d"),
            // A Hub namespace that looks like a host keeps `docker.io/` in the short form.
            (
                "docker.io/foo.bar/app",
                "docker.io/foo.bar/app:latest",
                "docker.io/foo.bar/app",
            ),
            (
                "docker.io/localhost/app",
                "docker.io/localhost/app:latest",
                "docker.io/localhost/app",
            ),
            // A repository that is all hex keeps `library/`, so the short form is no image id.
            ("library/{H}", "docker.io/library/{H}:latest", "library/{H}"),
            // Separators.
            ("my_app", "docker.io/library/my_app:latest", "my_app"),
            ("my__app", "docker.io/library/my__app:latest", "my__app"),
            ("a--b", "docker.io/library/a--b:latest", "a--b"),
            ("a.b-c_d", "docker.io/library/a.b-c_d:latest", "a.b-c_d"),
            ("foo.bar", "docker.io/library/foo.bar:latest", "foo.bar"),
            // Other registries.
            ("localhost/foo", "localhost/foo:latest", "localhost/foo"),
            (
                "localhost:5000/foo/bar:tag",
                "localhost:5000/foo/bar:tag",
                "localhost:5000/foo/bar:tag",
            ),
            (
                "127.0.0.1:5000/x",
                "127.0.0.1:5000/x:latest",
                "127.0.0.1:5000/x",
            ),
            (
                "ghcr.io/owner/repo:v1.2.3",
                "ghcr.io/owner/repo:v1.2.3",
                "ghcr.io/owner/repo:v1.2.3",
            ),
            (
                "quay.io/org/app@{D}",
                "quay.io/org/app@{D}",
                "quay.io/org/app@{D}",
            ),
            (
                "public.ecr.aws/x/y",
                "public.ecr.aws/x/y:latest",
                "public.ecr.aws/x/y",
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0",
            ),
            ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x"),
            ("[::1]/x:1", "[::1]/x:1", "[::1]/x:1"),
            (
                "[FE80::1]:443/x",
                "[fe80::1]:443/x:latest",
                "[fe80::1]:443/x",
            ),
            (
                "GHCR.io/owner/app",
                "ghcr.io/owner/app:latest",
                "ghcr.io/owner/app",
            ),
            (
                "localhost:05000/x",
                "localhost:5000/x:latest",
                "localhost:5000/x",
            ),
            ("ghcr.io/app", "ghcr.io/app:latest", "ghcr.io/app"),
            (
                "docker.io:443/nginx",
                "docker.io:443/nginx:latest",
                "docker.io:443/nginx",
            ),
            (
                "my-registry.example.com:8443/team/app:2024.01.15",
                "my-registry.example.com:8443/team/app:2024.01.15",
                "my-registry.example.com:8443/team/app:2024.01.15",
            ),
            // Without a `/`, a `:` starts the tag, as in Docker.
            (
                "localhost:5000",
                "docker.io/library/localhost:5000",
                "localhost:5000",
            ),
            ("ghcr.io", "docker.io/library/ghcr.io:latest", "ghcr.io"),
            // Tags.
            ("nginx:_x", "docker.io/library/nginx:_x", "nginx:_x"),
            (
                "nginx:1.25.3-Alpine_3.19",
                "docker.io/library/nginx:1.25.3-Alpine_3.19",
                "nginx:1.25.3-Alpine_3.19",
            ),
        ];
        let hex_name = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for (input, canonical, short) in cases {
            let with_hex = |text: &str| text.replace("{H}", hex_name);
            assert_forms(&with_hex(input), &with_hex(canonical), &with_hex(short));
        }
    }

    #[test]
    fn parts() {
        // (input, registry, repository, tag, digest, tag implied, docker hub)
        let cases = [
            (
                "nginx",
                "docker.io",
                "library/nginx",
                Some("latest"),
                None,
                true,
                true,
            ),
            (
                "nginx:latest",
                "docker.io",
                "library/nginx",
                Some("latest"),
                None,
                false,
                true,
            ),
            (
                "foo/bar:1",
                "docker.io",
                "foo/bar",
                Some("1"),
                None,
                false,
                true,
            ),
            (
                "nginx@{D}",
                "docker.io",
                "library/nginx",
                None,
                Some("{D}"),
                false,
                true,
            ),
            (
                "a.io/b:c@{E}",
                "a.io",
                "b",
                Some("c"),
                Some("{E}"),
                false,
                false,
            ),
            (
                "localhost:5000/foo/bar",
                "localhost:5000",
                "foo/bar",
                Some("latest"),
                None,
                true,
                false,
            ),
            (
                "[::1]:5000/x",
                "[::1]:5000",
                "x",
                Some("latest"),
                None,
                true,
                false,
            ),
        ];
        for (input, registry, repository, tag, digest, implied, hub) in cases {
            let reference = parse(&fill(input));
            assert_eq!(reference.registry(), registry, "{input}");
            assert_eq!(reference.repository(), repository, "{input}");
            assert_eq!(
                reference.name(),
                format!("{registry}/{repository}"),
                "{input}"
            );
            assert_eq!(reference.tag().map(Tag::as_str), tag, "{input}");
            assert_eq!(
                reference.digest().map(ToString::to_string),
                digest.map(fill),
                "{input}"
            );
            assert_eq!(reference.is_tag_implied(), implied, "{input}");
            assert_eq!(reference.is_docker_hub(), hub, "{input}");
        }
    }

    #[test]
    fn reference_errors() {
        let long_tag = "a".repeat(129);
        let cases = [
            (
                "",
                "empty image reference; expected a name such as 'nginx' or 'ghcr.io/owner/app:1.2.3'",
            ),
            (
                "Nginx",
                "invalid image reference 'Nginx': repository names must be lower-case; did you mean 'nginx'?",
            ),
            (
                "library/Nginx",
                "invalid image reference 'library/Nginx': repository names must be lower-case; did you mean 'library/nginx'?",
            ),
            (
                "ghcr.io/Owner/App:Tag",
                "invalid image reference 'ghcr.io/Owner/App:Tag': repository names must be lower-case; did you mean 'ghcr.io/owner/app:Tag'?",
            ),
            (
                "Foo/bar",
                "invalid image reference 'Foo/bar': repository names must be lower-case; did you mean 'foo/bar'?",
            ),
            (
                "nginx:",
                "invalid image reference 'nginx:': empty tag after ':'; remove the ':' or add a tag",
            ),
            (
                "nginx:@{D}",
                "invalid image reference 'nginx:@{D}': empty tag after ':'; remove the ':' or add a tag",
            ),
            (
                "nginx@",
                "invalid image reference 'nginx@': empty digest after '@'; remove the '@' or add a digest such as 'sha256:' followed by 64 hex characters",
            ),
            (
                "nginx@sha256:abc",
                "invalid image reference 'nginx@sha256:abc': expected 64 hex characters after 'sha256:', found 3",
            ),
            (
                "nginx@sha512:{H}",
                "invalid image reference 'nginx@sha512:{H}': expected 128 hex characters after 'sha512:', found 64",
            ),
            (
                "nginx@md5:abc",
                "invalid image reference 'nginx@md5:abc': unsupported digest algorithm 'md5'; expected 'sha256' or 'sha512'",
            ),
            (
                "nginx@:{H}",
                "invalid image reference 'nginx@:{H}': missing digest algorithm before ':'; expected 'sha256' or 'sha512'",
            ),
            (
                "nginx@{H}",
                "invalid image reference 'nginx@{H}': missing digest algorithm before the hex; did you mean 'nginx@sha256:{H}'?",
            ),
            (
                "nginx@sha256:{U}",
                "invalid image reference 'nginx@sha256:{U}': digests must be lower-case; did you mean 'nginx@{D}'?",
            ),
            (
                "nginx@sha256:{H}x",
                "invalid image reference 'nginx@sha256:{H}x': unexpected character 'x' at position 77 in the digest; the hex part of a digest may contain only '0'-'9' and 'a'-'f'",
            ),
            (
                "foo:bar/baz",
                "invalid image reference 'foo:bar/baz': invalid port 'bar' in the registry; a port is a number from 1 to 65535",
            ),
            (
                "localhost:0/x",
                "invalid image reference 'localhost:0/x': invalid port '0' in the registry; a port is a number from 1 to 65535",
            ),
            (
                "localhost:65536/x",
                "invalid image reference 'localhost:65536/x': invalid port '65536' in the registry; a port is a number from 1 to 65535",
            ),
            (
                "localhost:/x",
                "invalid image reference 'localhost:/x': empty port after ':' in the registry; remove the ':' or add a port number",
            ),
            (
                ":5000/x",
                "invalid image reference ':5000/x': missing registry host before ':'",
            ),
            (
                "my_registry.io/x",
                "invalid image reference 'my_registry.io/x': unexpected character '_' at position 2 in the registry; registry hosts may contain only letters, digits, '-' and '.'",
            ),
            (
                "-bad.io/x",
                "invalid image reference '-bad.io/x': registry host label '-bad' must start and end with a letter or digit",
            ),
            (
                "bad..io/x",
                "invalid image reference 'bad..io/x': empty label at position 4 in the registry host; remove the extra '.'",
            ),
            (
                "[::1/x",
                "invalid image reference '[::1/x': missing ']' after the IPv6 address",
            ),
            (
                "[::g]:5000/x",
                "invalid image reference '[::g]:5000/x': unexpected character 'g' at position 3 in the registry; registry hosts may contain only letters, digits, '-' and '.'",
            ),
            (
                "[1::2::3]/x",
                "invalid image reference '[1::2::3]/x': '1::2::3' is not an IPv6 address",
            ),
            (
                "nginx/",
                "invalid image reference 'nginx/': trailing '/' at position 5; remove it",
            ),
            (
                "library//nginx",
                "invalid image reference 'library//nginx': doubled '/' at position 8; remove one",
            ),
            (
                "ghcr.io//x",
                "invalid image reference 'ghcr.io//x': doubled '/' at position 8; remove one",
            ),
            (
                "/nginx",
                "invalid image reference '/nginx': leading '/' in the repository; remove it",
            ),
            (
                "ghcr.io/",
                "invalid image reference 'ghcr.io/': missing repository after 'ghcr.io/'; add a name such as 'ghcr.io/owner/app'",
            ),
            (
                ":latest",
                "invalid image reference ':latest': missing repository name before ':'",
            ),
            (
                "@{D}",
                "invalid image reference '@{D}': missing repository name before '@'",
            ),
            (
                "a..b",
                "invalid image reference 'a..b': invalid separator '..' at position 1 in the repository; separators are '.', '_', '__' or a run of '-'",
            ),
            (
                "a___b",
                "invalid image reference 'a___b': invalid separator '___' at position 1 in the repository; separators are '.', '_', '__' or a run of '-'",
            ),
            (
                "a._b",
                "invalid image reference 'a._b': invalid separator '._' at position 1 in the repository; separators are '.', '_', '__' or a run of '-'",
            ),
            (
                "foo/-bar",
                "invalid image reference 'foo/-bar': path component '-bar' must start and end with a lower-case letter or digit",
            ),
            (
                "foo_/bar",
                "invalid image reference 'foo_/bar': path component 'foo_' must start and end with a lower-case letter or digit",
            ),
            (
                "nginx latest",
                "invalid image reference 'nginx latest': unexpected character ' ' at position 5 in the repository; repository names may contain only lower-case letters, digits, '.', '_', '-' and '/'",
            ),
            (
                "nginx:1.25:x",
                "invalid image reference 'nginx:1.25:x': unexpected character ':' at position 10 in the tag; tags may contain only letters, digits, '_', '.' and '-'",
            ),
            (
                "ngïnx",
                "invalid image reference 'ngïnx': unexpected character 'ï' at position 2 in the repository; repository names may contain only lower-case letters, digits, '.', '_', '-' and '/'",
            ),
            (
                "nginx:.x",
                "invalid image reference 'nginx:.x': a tag must start with a letter, digit or '_', not '.'",
            ),
            (
                "nginx:-x",
                "invalid image reference 'nginx:-x': a tag must start with a letter, digit or '_', not '-'",
            ),
            (
                "nginx:a+b",
                "invalid image reference 'nginx:a+b': unexpected character '+' at position 7 in the tag; tags may contain only letters, digits, '_', '.' and '-'",
            ),
            (
                "{H}",
                "invalid image reference '{H}': 64 hex characters are an image id, not a reference; name the image, such as 'nginx', and pin a digest with '@sha256:...'",
            ),
        ];
        let with = |text: &str| {
            text.replace("{H}", HEX64)
                .replace("{U}", &HEX64.to_ascii_uppercase())
        };
        for (input, message) in cases {
            assert_err(&with(input), &with(message));
        }
        assert_err(
            &format!("nginx:{long_tag}"),
            &format!(
                "invalid image reference 'nginx:{long_tag}': tag is 129 characters long; at most \
                 128 are allowed"
            ),
        );
    }

    #[test]
    fn name_length_limit_counts_the_normalised_name() {
        // `ghcr.io/` + 247 = 255 characters: the limit.
        let longest = format!("ghcr.io/{}", "a".repeat(247));
        assert_eq!(parse(&longest).name().len(), MAX_NAME_LEN);
        let too_long = format!("ghcr.io/{}", "a".repeat(248));
        assert_err(
            &too_long,
            &format!(
                "invalid image reference '{too_long}': the name with its registry is 256 \
                 characters long; at most 255 are allowed"
            ),
        );
        // 240 characters as written, 258 once `docker.io/library/` is added.
        let hub = "a".repeat(240);
        assert_eq!(
            parse_err(&hub).to_string(),
            format!(
                "invalid image reference '{hub}': the name with its registry is 258 characters \
                 long; at most 255 are allowed"
            )
        );
    }

    #[test]
    fn error_accessors() {
        // (input, part, position, suggestion)
        let cases = [
            ("", None, None, None),
            (
                "Nginx",
                Some(ReferencePart::Repository),
                Some(0),
                Some("nginx"),
            ),
            (
                "ghcr.io/a/B:1",
                Some(ReferencePart::Repository),
                Some(10),
                Some("ghcr.io/a/b:1"),
            ),
            ("foo:bar/baz", Some(ReferencePart::Registry), Some(4), None),
            ("my_reg.io/x", Some(ReferencePart::Registry), Some(2), None),
            ("nginx:", Some(ReferencePart::Tag), Some(5), None),
            ("nginx:a!", Some(ReferencePart::Tag), Some(7), None),
            ("nginx@", Some(ReferencePart::Digest), Some(5), None),
            ("nginx@sha256:abc", Some(ReferencePart::Digest), None, None),
            ("ngïnx!", Some(ReferencePart::Repository), Some(2), None),
            ("a//b", Some(ReferencePart::Repository), Some(2), None),
        ];
        for (input, part, position, suggestion) in cases {
            let err = parse_err(input);
            assert_eq!(err.input(), input);
            assert_eq!(err.part(), part, "part of the error for '{input}'");
            assert_eq!(
                err.position(),
                position,
                "position of the error for '{input}'"
            );
            assert_eq!(err.suggestion(), suggestion, "suggestion for '{input}'");
        }
        let upper = format!("nginx@SHA256:{HEX64}");
        let err = parse_err(&upper);
        assert_eq!(err.suggestion(), Some(fill("nginx@{D}").as_str()));
        assert_eq!(err.position(), Some(6));
        assert_eq!(
            err.suggestion()
                .map(|text| text.parse::<ImageRef>().is_ok()),
            Some(true)
        );
    }

    #[test]
    fn tags() {
        for text in [
            "latest",
            "1.25.3-alpine",
            "_x",
            "A",
            "v1.2.3_build.7",
            &"a".repeat(128),
        ] {
            let tag: Tag = text.parse().unwrap();
            assert_eq!(tag.to_string(), text);
            assert_eq!(tag.as_str(), text);
            assert_eq!(AsRef::<str>::as_ref(&tag), text);
        }
        let cases = [
            ("", "empty tag; expected a tag such as 'latest' or '1.25.3'"),
            (
                "Foo!",
                "invalid tag 'Foo!': unexpected character '!' at position 3; tags may contain only letters, digits, '_', '.' and '-'",
            ),
            (
                ".x",
                "invalid tag '.x': a tag must start with a letter, digit or '_', not '.'",
            ),
            (
                "-x",
                "invalid tag '-x': a tag must start with a letter, digit or '_', not '-'",
            ),
            (
                "a:b",
                "invalid tag 'a:b': unexpected character ':' at position 1; tags may contain only letters, digits, '_', '.' and '-'",
            ),
            (
                "a b",
                "invalid tag 'a b': unexpected character ' ' at position 1; tags may contain only letters, digits, '_', '.' and '-'",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(
                text.parse::<Tag>().unwrap_err().to_string(),
                message,
                "{text}"
            );
        }
        let long = "a".repeat(129);
        let err = long.parse::<Tag>().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid tag '{long}': tag is 129 characters long; at most 128 are allowed")
        );
        assert_eq!(err.part(), Some(ReferencePart::Tag));
        assert_eq!(err.position(), Some(128));

        assert!(Tag::latest().is_latest());
        assert!(!"1.0".parse::<Tag>().unwrap().is_latest());
        assert!(!"Latest".parse::<Tag>().unwrap().is_latest());
    }

    #[test]
    fn tags_order_by_text_and_are_found_by_str() {
        let tags: BTreeSet<Tag> = ["b", "a", "B", "10", "9"]
            .into_iter()
            .map(|text| text.parse().unwrap())
            .collect();
        let ordered: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        assert_eq!(ordered, ["10", "9", "B", "a", "b"]);
        assert!(tags.contains("B"));
        assert!(!tags.contains("c"));
    }

    #[test]
    fn digests() {
        let sha256: Digest = format!("sha256:{HEX64}").parse().unwrap();
        assert_eq!(sha256.algorithm(), DigestAlgorithm::Sha256);
        assert_eq!(sha256.hex(), HEX64);
        assert_eq!(sha256.to_string(), format!("sha256:{HEX64}"));
        let sha512: Digest = format!("sha512:{HEX128}").parse().unwrap();
        assert_eq!(sha512.algorithm(), DigestAlgorithm::Sha512);
        assert_eq!(sha512.algorithm().hex_len(), 128);
        assert_eq!(sha512.hex(), HEX128);
        assert!(sha256 < sha512);

        let upper = HEX64.to_ascii_uppercase();
        let cases = [
            ("".to_owned(), "empty digest; expected 'sha256:' followed by 64 hex characters".to_owned()),
            ("sha256:abc".to_owned(), "invalid digest 'sha256:abc': expected 64 hex characters after 'sha256:', found 3".to_owned()),
            ("sha256:".to_owned(), "invalid digest 'sha256:': expected 64 hex characters after 'sha256:', found 0".to_owned()),
            (format!("sha512:{HEX64}"), format!("invalid digest 'sha512:{HEX64}': expected 128 hex characters after 'sha512:', found 64")),
            (format!("sha256:{upper}"), format!("invalid digest 'sha256:{upper}': digests must be lower-case; did you mean 'sha256:{HEX64}'?")),
            (format!("SHA256:{HEX64}"), format!("invalid digest 'SHA256:{HEX64}': digests must be lower-case; did you mean 'sha256:{HEX64}'?")),
            (HEX64.to_owned(), format!("invalid digest '{HEX64}': missing digest algorithm before the hex; did you mean 'sha256:{HEX64}'?")),
            (HEX128.to_owned(), format!("invalid digest '{HEX128}': missing digest algorithm before the hex; did you mean 'sha512:{HEX128}'?")),
            ("abc".to_owned(), "invalid digest 'abc': expected a digest such as 'sha256:' followed by 64 hex characters".to_owned()),
            ("sha1:abc".to_owned(), "invalid digest 'sha1:abc': unsupported digest algorithm 'sha1'; expected 'sha256' or 'sha512'".to_owned()),
            ("sha256:xyz".to_owned(), "invalid digest 'sha256:xyz': unexpected character 'x' at position 7; the hex part of a digest may contain only '0'-'9' and 'a'-'f'".to_owned()),
        ];
        for (text, message) in cases {
            assert_eq!(
                text.parse::<Digest>().unwrap_err().to_string(),
                message,
                "{text}"
            );
        }
    }

    #[test]
    fn implied_tag_is_presentation_only() {
        let implied = parse("nginx");
        let written = parse("nginx:latest");
        assert_eq!(implied, written);
        assert_eq!(implied.cmp(&written), Ordering::Equal);
        let set: std::collections::HashSet<ImageRef> = [implied.clone(), written.clone()].into();
        assert_eq!(set.len(), 1);
        assert_eq!(implied.short().to_string(), "nginx");
        assert_eq!(written.short().to_string(), "nginx:latest");
        assert_eq!(implied.to_string(), written.to_string());
    }

    #[test]
    fn references_order_by_name_then_tag_then_digest() {
        let refs: BTreeSet<ImageRef> = [
            "redis",
            "nginx:1.25",
            &fill("nginx@{D}"),
            &fill("nginx:1.25@{D}"),
            "nginx:1.24",
            "ghcr.io/a/b",
        ]
        .into_iter()
        .map(parse)
        .collect();
        let ordered: Vec<String> = refs.iter().map(|r| r.short().to_string()).collect();
        assert_eq!(
            ordered,
            [
                "nginx@{D}",
                "nginx:1.24",
                "nginx:1.25",
                "nginx:1.25@{D}",
                "redis",
                "ghcr.io/a/b",
            ]
            .map(fill)
        );
    }

    #[test]
    fn with_tag_with_digest_and_without_digest() {
        let digest: Digest = format!("sha256:{HEX64}").parse().unwrap();
        let tag: Tag = "1.26".parse().unwrap();
        let cases = [
            // (input, with_tag 1.26, with_digest, without_digest), as short forms
            ("nginx", "nginx:1.26", "nginx@{D}", "nginx"),
            (
                "nginx:latest",
                "nginx:1.26",
                "nginx:latest@{D}",
                "nginx:latest",
            ),
            ("nginx:1.25", "nginx:1.26", "nginx:1.25@{D}", "nginx:1.25"),
            (
                "nginx:1.25@{E}",
                "nginx:1.26",
                "nginx:1.25@{D}",
                "nginx:1.25",
            ),
            ("nginx@{E}", "nginx:1.26", "nginx@{D}", "nginx"),
        ];
        for (input, retagged, pinned, unpinned) in cases {
            let reference = parse(&fill(input));
            for (changed, expected) in [
                (reference.with_tag(tag.clone()), retagged),
                (reference.with_digest(digest.clone()), pinned),
                (reference.without_digest(), unpinned),
            ] {
                assert_eq!(changed.short().to_string(), fill(expected), "{input}");
                // The result is what parsing its short form gives, implied tag included.
                let reparsed = parse(&changed.short().to_string());
                assert_eq!(reparsed, changed, "{input}");
                assert_eq!(
                    reparsed.is_tag_implied(),
                    changed.is_tag_implied(),
                    "{input}"
                );
            }
        }
    }

    #[test]
    fn tag_or_latest() {
        let cases = [
            ("nginx", "latest"),
            ("nginx:1.25", "1.25"),
            ("nginx:1.25@{D}", "1.25"),
            ("nginx@{D}", "latest"),
        ];
        for (input, tag) in cases {
            assert_eq!(parse(&fill(input)).tag_or_latest().as_str(), tag, "{input}");
        }
    }

    #[test]
    fn serde_as_strings() {
        let reference = parse("nginx:1.25");
        assert_eq!(
            serde_json::to_string(&reference).unwrap(),
            "\"docker.io/library/nginx:1.25\""
        );
        let from_short: ImageRef = serde_json::from_str("\"nginx:1.25\"").unwrap();
        assert_eq!(from_short, reference);
        let err = serde_json::from_str::<ImageRef>("\"Nginx\"").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid image reference 'Nginx': repository names must be lower-case; did you \
                 mean 'nginx'?"
            ),
            "{err}"
        );

        let tag: Tag = serde_json::from_str("\"1.25\"").unwrap();
        assert_eq!(serde_json::to_string(&tag).unwrap(), "\"1.25\"");
        assert!(serde_json::from_str::<Tag>("\".x\"").is_err());
        let digest_json = format!("\"sha256:{HEX64}\"");
        let digest: Digest = serde_json::from_str(&digest_json).unwrap();
        assert_eq!(serde_json::to_string(&digest).unwrap(), digest_json);
        assert!(serde_json::from_str::<Digest>("\"sha256:abc\"").is_err());

        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Entry {
            image: ImageRef,
            tag: Tag,
            digest: Option<Digest>,
        }
        let entry = Entry {
            image: parse("ghcr.io/owner/app"),
            tag: "v2".parse().unwrap(),
            digest: Some(digest),
        };
        let yaml = yaml_serde::to_string(&entry).unwrap();
        assert_eq!(
            yaml,
            format!("image: ghcr.io/owner/app:latest\ntag: v2\ndigest: sha256:{HEX64}\n")
        );
        assert_eq!(yaml_serde::from_str::<Entry>(&yaml).unwrap(), entry);
    }

    #[test]
    fn debug_shows_the_text() {
        assert_eq!(
            format!("{:?}", parse("nginx")),
            "ImageRef(\"docker.io/library/nginx:latest\")"
        );
        assert_eq!(format!("{:?}", Tag::latest()), "Tag(\"latest\")");
        assert_eq!(
            format!("{:?}", parse_err("nginx:")),
            "ReferenceError(invalid image reference 'nginx:': empty tag after ':'; remove the \
             ':' or add a tag)"
        );
    }

    // -----------------------------------------------------------------------------------------
    // Properties
    // -----------------------------------------------------------------------------------------

    fn path_component() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[a-z0-9]{1,6}(([._]|__|-{1,3})[a-z0-9]{1,6}){0,2}",
            1 => Just("library".to_owned()),
            1 => Just("localhost".to_owned()),
        ]
    }

    fn domain() -> impl Strategy<Value = String> {
        let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?";
        prop_oneof![
            proptest::collection::vec(label, 1..4).prop_map(|labels| {
                // At least one `.`, so the host is told from a Hub namespace without a port.
                format!("{}.io", labels.join("."))
            }),
            Just("localhost".to_owned()),
            Just("LocalHost.Example.COM".to_owned()),
            "(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}",
            any::<[u16; 8]>().prop_map(|parts| format!("[{}]", Ipv6Addr::from(parts))),
            Just("[::1]".to_owned()),
        ]
    }

    /// A registry as it may be written, and how it is normalised.
    fn registry() -> impl Strategy<Value = (Option<String>, String)> {
        let port = proptest::option::of(1u16..);
        prop_oneof![
            1 => Just((None, DOCKER_HUB.to_owned())),
            1 => prop_oneof![
                Just("docker.io"),
                Just("index.docker.io"),
                Just("registry-1.docker.io"),
                Just("Docker.io"),
            ]
            .prop_map(|host| (Some(host.to_owned()), DOCKER_HUB.to_owned())),
            3 => (domain(), port, "0{0,2}").prop_map(|(host, port, zeros)| match port {
                Some(port) => (
                    Some(format!("{host}:{zeros}{port}")),
                    format!("{}:{port}", host.to_ascii_lowercase()),
                ),
                None => (Some(host.clone()), host.to_ascii_lowercase()),
            }),
        ]
    }

    fn tag_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
            Just("latest".to_owned()),
            "[A-Za-z0-9_][A-Za-z0-9_.-]{127}",
        ]
    }

    fn digest_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9a-f]{64}".prop_map(|hex| format!("sha256:{hex}")),
            "[0-9a-f]{128}".prop_map(|hex| format!("sha512:{hex}")),
        ]
    }

    proptest! {
        #[test]
        fn valid_references_round_trip(
            (written_registry, registry) in registry(),
            components in proptest::collection::vec(path_component(), 1..4),
            tag in proptest::option::of(tag_text()),
            digest in proptest::option::of(digest_text()),
        ) {
            let path = components.join("/");
            let mut input = String::new();
            if let Some(host) = &written_registry {
                input.push_str(host);
                input.push('/');
            }
            input.push_str(&path);
            if let Some(tag) = &tag {
                input.push(':');
                input.push_str(tag);
            }
            if let Some(digest) = &digest {
                input.push('@');
                input.push_str(digest);
            }
            let reference: ImageRef = match input.parse() {
                Ok(reference) => reference,
                // A Hub path whose first component looks like a host is not a Hub path.
                Err(err) => {
                    prop_assert!(written_registry.is_none() && is_host_like(&components[0]),
                        "{input}: {err}");
                    return Ok(());
                }
            };
            if written_registry.is_some() || !is_host_like(&components[0]) || components.len() == 1 {
                prop_assert_eq!(reference.registry(), registry.as_str());
                let expected_repository = if registry == DOCKER_HUB && components.len() == 1 {
                    format!("library/{path}")
                } else {
                    path.clone()
                };
                prop_assert_eq!(reference.repository(), expected_repository.as_str());
            }
            let expected_tag = match (&tag, &digest) {
                (None, None) => Some("latest"),
                (tag, _) => tag.as_deref(),
            };
            prop_assert_eq!(reference.tag().map(Tag::as_str), expected_tag);
            prop_assert_eq!(reference.digest().map(Digest::as_str), digest.as_deref());
            prop_assert_eq!(reference.is_tag_implied(), tag.is_none() && digest.is_none());

            let canonical = reference.to_string();
            let from_canonical: ImageRef = canonical.parse().map_err(|err| {
                TestCaseError::fail(format!("{canonical}: {err}"))
            })?;
            prop_assert_eq!(&from_canonical, &reference);
            prop_assert_eq!(from_canonical.to_string(), canonical.clone());

            let short = reference.short().to_string();
            let from_short: ImageRef = short.parse().map_err(|err| {
                TestCaseError::fail(format!("{short}: {err}"))
            })?;
            prop_assert_eq!(&from_short, &reference);
            prop_assert_eq!(from_short.short().to_string(), short.clone());
            prop_assert_eq!(from_short.is_tag_implied(), reference.is_tag_implied());
            prop_assert!(short.len() <= canonical.len());
        }

        #[test]
        fn any_text_parses_to_a_value_that_round_trips_or_errs_cleanly(
            input in "[a-zA-Z0-9:/@._\\-\\[\\] ]{0,40}",
        ) {
            match input.parse::<ImageRef>() {
                Ok(reference) => {
                    prop_assert_eq!(reference.to_string().parse::<ImageRef>().ok(), Some(reference.clone()));
                    prop_assert_eq!(reference.short().to_string().parse::<ImageRef>().ok(), Some(reference));
                }
                Err(err) => {
                    prop_assert_eq!(err.input(), input.as_str());
                    prop_assert!(err.to_string().len() > input.len());
                    if let Some(position) = err.position() {
                        prop_assert!(position <= input.chars().count());
                    }
                    if let Some(suggestion) = err.suggestion() {
                        prop_assert!(suggestion.parse::<ImageRef>().is_ok(), "{}", suggestion);
                    }
                }
            }
        }

        #[test]
        fn arbitrary_unicode_never_panics(input in any::<String>()) {
            let _ = input.parse::<ImageRef>();
            let _ = input.parse::<Tag>();
            let _ = input.parse::<Digest>();
        }

        #[test]
        fn tags_round_trip(text in tag_text()) {
            let tag: Tag = text.parse().map_err(|err: ReferenceError| TestCaseError::fail(err.to_string()))?;
            prop_assert_eq!(tag.to_string(), text);
        }
    }
}
