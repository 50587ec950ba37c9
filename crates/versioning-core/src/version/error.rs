//! Why a text is not a version under a scheme.

use std::fmt;

/// Why a text could not be read as a version.
///
/// The message quotes the input, says where reading stopped and, where the fix is obvious,
/// suggests it.
#[derive(Clone, PartialEq, Eq)]
pub struct VersionError(Box<Inner>);

/// Boxed so that `Result<(), VersionError>` stays one word on the hot parsing path.
#[derive(Clone, PartialEq, Eq)]
struct Inner {
    input: String,
    kind: ErrorKind,
}

/// Where in a version the reader was when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    Release,
    Major,
    Minor,
    Patch,
    Prerelease,
    Variant,
    Build,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Release => "release",
            Self::Major => "major version",
            Self::Minor => "minor version",
            Self::Patch => "patch version",
            Self::Prerelease => "pre-release",
            Self::Variant => "variant",
            Self::Build => "build metadata",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    Empty,
    TooLong(usize),
    /// A name such as `latest`: the first character cannot start a version.
    Name,
    CommitHash,
    UnexpectedChar {
        found: char,
        offset: usize,
        position: Position,
    },
    UnexpectedEnd(Position),
    LeadingZero(Position),
    TooLarge(Position),
    EmptySegment(Position),
    VPrefix,
    UnknownScheme(String),
    InvalidPattern(String),
    PatternWithoutMajor,
    NoMatch,
    NotNumeric {
        group: &'static str,
    },
}

impl VersionError {
    #[cold]
    pub(crate) fn new(input: &str, kind: ErrorKind) -> Self {
        Self(Box::new(Inner {
            input: input.to_owned(),
            kind,
        }))
    }

    /// The text that was not a version.
    pub fn input(&self) -> &str {
        &self.0.input
    }

    /// True when the input is a name or a commit hash rather than a malformed version:
    /// `latest`, `stable`, `sha-1a2b3c4`, `5d41402`.
    pub fn is_name(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Name | ErrorKind::CommitHash)
    }
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = &self.0.input;
        match &self.0.kind {
            ErrorKind::Empty => f.write_str("empty version: expected a number such as '1.2.3'"),
            ErrorKind::TooLong(len) => write!(
                f,
                "version of {len} characters is too long: at most {} are read",
                super::MAX_VERSION_LEN
            ),
            ErrorKind::Name => write!(
                f,
                "'{input}' is not a version: a version starts with a digit, or 'v' and a digit"
            ),
            ErrorKind::CommitHash => {
                write!(f, "'{input}' is not a version: it looks like a commit hash")
            }
            ErrorKind::UnexpectedChar {
                found,
                offset,
                position,
            } => write!(
                f,
                "unexpected character '{found}' at offset {offset} of '{input}' while parsing {position}"
            ),
            ErrorKind::UnexpectedEnd(position) => {
                write!(f, "unexpected end of '{input}' while parsing {position}")
            }
            ErrorKind::LeadingZero(position) => write!(
                f,
                "invalid leading zero in {position} of '{input}'; strict semver forbids it, the \
                 'loose' and 'docker' schemes allow it"
            ),
            ErrorKind::TooLarge(position) => write!(
                f,
                "{position} of '{input}' is too large: numbers must fit in 64 bits"
            ),
            ErrorKind::EmptySegment(position) => {
                write!(f, "empty identifier in {position} of '{input}'")
            }
            ErrorKind::VPrefix => write!(
                f,
                "unexpected character 'v' at offset 0 of '{input}' while parsing major version; \
                 strict semver has no 'v' prefix: write '{}' or use the 'loose' scheme",
                input.get(1..).unwrap_or_default()
            ),
            ErrorKind::UnknownScheme(name) => write!(
                f,
                "unknown version scheme '{name}': expected 'docker', 'semver', 'loose' or \
                 'regex:PATTERN'"
            ),
            ErrorKind::InvalidPattern(reason) => {
                write!(f, "invalid regex scheme pattern '{input}': {reason}")
            }
            ErrorKind::PatternWithoutMajor => write!(
                f,
                "invalid regex scheme pattern '{input}': it has no named group 'major'; add one \
                 such as '(?<major>\\d+)'"
            ),
            ErrorKind::NoMatch => write!(f, "'{input}' does not match the regex scheme's pattern"),
            ErrorKind::NotNumeric { group } => write!(
                f,
                "group '{group}' of the regex scheme matched a non-number in '{input}'; capture \
                 only digits in it, such as '(?<{group}>\\d+)'"
            ),
        }
    }
}

impl fmt::Debug for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VersionError({self})")
    }
}

impl std::error::Error for VersionError {}
