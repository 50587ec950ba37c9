//! The `regex` scheme: a user pattern with named groups, for tags no built-in scheme reads.

use std::fmt;

use regex::Regex;

use super::docker::read_number;
use super::error::{ErrorKind, Position};
use super::{Parts, Span, VersionError};

/// The numeric groups, in release order.
const RELEASE_GROUPS: [(&str, Position); 4] = [
    ("major", Position::Major),
    ("minor", Position::Minor),
    ("patch", Position::Patch),
    ("build", Position::Release),
];

/// A compiled user pattern for [`Scheme::Regex`](super::Scheme::Regex).
///
/// The named groups `major` (required), `minor`, `patch` and `build` capture numbers;
/// `prerelease` captures a pre-release and `compatibility` a variant: only versions with the
/// same `compatibility` text replace each other. The pattern must match the whole tag; it is
/// anchored for you. For linuxserver-style tags such as `4.0.1-ls123`, where `-ls123` is a
/// revision rather than a variant:
///
/// ```
/// use upkeep_versioning_core::version::{PatternScheme, Version};
/// use upkeep_versioning_core::{Scheme, UpdateKind};
///
/// let scheme = Scheme::Regex(PatternScheme::new(
///     r"(?<major>\d+)\.(?<minor>\d+)\.(?<patch>\d+)-ls(?<build>\d+)",
/// )?);
/// let from = Version::parse("4.0.1-ls123", &scheme)?;
/// let to = Version::parse("4.0.1-ls130", &scheme)?;
/// assert_eq!(from.classify(&to), UpdateKind::Build);
/// # Ok::<(), upkeep_versioning_core::version::VersionError>(())
/// ```
#[derive(Clone)]
pub struct PatternScheme {
    source: String,
    anchored: Regex,
}

impl PatternScheme {
    /// Compiles `pattern`; it must have a named group `major`.
    pub fn new(pattern: &str) -> Result<Self, VersionError> {
        let anchored = Regex::new(&format!("^(?:{pattern})$")).map_err(|error| {
            VersionError::new(pattern, ErrorKind::InvalidPattern(regex_problem(&error)))
        })?;
        if !anchored.capture_names().any(|name| name == Some("major")) {
            return Err(VersionError::new(pattern, ErrorKind::PatternWithoutMajor));
        }
        Ok(Self {
            source: pattern.to_owned(),
            anchored,
        })
    }

    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub(super) fn parse(&self, text: &str, parts: &mut Parts) -> Result<(), VersionError> {
        if text.is_empty() {
            return Err(VersionError::new(text, ErrorKind::Empty));
        }
        let captures = self
            .anchored
            .captures(text)
            .ok_or_else(|| VersionError::new(text, ErrorKind::NoMatch))?;
        // Groups up to the last one present are release parts; a missing one between reads 0.
        let mut values = [None; 4];
        for (slot, (group, position)) in values.iter_mut().zip(RELEASE_GROUPS) {
            if let Some(found) = captures.name(group) {
                let (value, end) = read_number(text, found.start(), position)
                    .map_err(|_| VersionError::new(text, ErrorKind::NotNumeric { group }))?;
                if end != found.end() {
                    return Err(VersionError::new(text, ErrorKind::NotNumeric { group }));
                }
                *slot = Some(value);
            }
        }
        let written = values
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1);
        if values[0].is_none() {
            // `major` sits in an optional branch that did not take part.
            return Err(VersionError::new(text, ErrorKind::NoMatch));
        }
        parts
            .release
            .extend(values[..written].iter().map(|v| v.unwrap_or(0)));
        parts.written_parts = u8::try_from(written).unwrap_or(4);
        if let Some(found) = captures.name("prerelease").filter(|m| !m.is_empty()) {
            parts.prerelease = Span::new(found.start(), found.end());
        }
        if let Some(found) = captures.name("compatibility").filter(|m| !m.is_empty()) {
            parts.variant = Span::new(found.start(), found.end());
        }
        Ok(())
    }
}

impl fmt::Debug for PatternScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PatternScheme").field(&self.source).finish()
    }
}

/// What is wrong with a regular expression, in one line: the regex crate's message spans
/// several lines (the pattern, a caret, the error), and its last line says what is wrong.
pub fn regex_problem(error: &regex::Error) -> String {
    let message = error.to_string();
    let reason = message.lines().last().unwrap_or("invalid syntax").trim();
    reason.strip_prefix("error: ").unwrap_or(reason).to_owned()
}
