//! Why a text is not an image reference, a tag or a digest: [`ReferenceError`], with the part
//! and position to blame, its messages and, where the fix is obvious, a suggestion.
//!
//! The parser (`parse`) finds the fault and, where it can, the corrected input; this module
//! only says how each fault reads and which part it belongs to.

use std::fmt;

use super::types::DigestAlgorithm;
use super::{MAX_NAME_LEN, MAX_TAG_LEN};

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
pub(super) enum Subject {
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
pub(super) enum Slash {
    Leading,
    Trailing,
    Doubled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ErrorKind {
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
pub(super) struct Fault {
    kind: ErrorKind,
    offset: Option<usize>,
    suggestion: Option<String>,
}

impl Fault {
    pub(super) fn new(kind: ErrorKind, offset: Option<usize>) -> Self {
        Self {
            kind,
            offset,
            suggestion: None,
        }
    }

    pub(super) fn at(kind: ErrorKind, offset: usize) -> Self {
        Self::new(kind, Some(offset))
    }

    pub(super) fn unexpected(part: ReferencePart, found: char, offset: usize) -> Self {
        Self::at(ErrorKind::UnexpectedChar { part, found }, offset)
    }

    pub(super) fn suggesting(mut self, suggestion: String) -> Self {
        self.suggestion = Some(suggestion);
        self
    }

    pub(super) fn into_error(self, subject: Subject, input: &str) -> ReferenceError {
        ReferenceError {
            subject,
            input: input.to_owned(),
            kind: self.kind,
            offset: self.offset,
            suggestion: self.suggestion,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::reference::ImageRef;
    use crate::reference::test_support::*;

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
}
