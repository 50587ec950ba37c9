//! The reference types and their accessors: [`Tag`], [`Digest`] with its
//! [`DigestAlgorithm`], and [`ImageRef`] with its canonical and familiar ([`ShortRef`]) forms;
//! their order, hashing and serde (as strings).
//!
//! Values are built only by the parser (`parse`), which checks them; fields are visible to the
//! sibling modules for that. This module does not parse, and Docker's defaults live in
//! `normalise`.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::DOCKER_HUB;
use super::error::{ErrorKind, Fault, ReferenceError, Subject};
use super::normalise::{OFFICIAL_PREFIX, is_host_like, is_image_id};
use super::parse::{check_digest, check_tag, parse_reference};

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
pub struct Tag(pub(super) CompactString);

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

    pub(super) fn from_name(name: &str) -> Option<Self> {
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
    pub(super) text: String,
    pub(super) algorithm: DigestAlgorithm,
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
    pub(super) name: String,
    /// Length of the registry at the start of `name`.
    pub(super) registry_len: usize,
    pub(super) tag: Option<Tag>,
    pub(super) digest: Option<Digest>,
    /// The tag is a `latest` that was not written. Only ever true with no digest.
    pub(super) tag_implied: bool,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::reference::ReferencePart;
    use crate::reference::test_support::*;

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
}
