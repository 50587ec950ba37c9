//! Why a manifest could not be read or changed: [`ManifestError`] and its messages, which name
//! the service or the field and say how to fix it, and the quoting they share with the
//! reader's messages.
//!
//! Which checks fail belongs to the model, the transitions and the reader; this module only
//! says how each failure reads.

use std::fmt;

use chrono::SecondsFormat;

use super::model::ServiceName;
use crate::Timestamp;

/// Why a manifest could not be read or a transition could not be made. The message names the
/// service or the field (as a path such as `services.outpost.image_digest`) and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ErrorKind {
    /// A transition argument (or a string parsed alone) is not valid.
    InvalidInput {
        what: &'static str,
        value: String,
        problem: String,
    },
    UnknownService {
        service: ServiceName,
        known: Vec<ServiceName>,
    },
    ImageRequired {
        service: ServiceName,
    },
    ImageMismatch {
        service: ServiceName,
        recorded: String,
        given: String,
    },
    NoEarlierVersion {
        service: ServiceName,
    },
    NoHistory {
        service: ServiceName,
    },
    DigestKnown {
        service: ServiceName,
        known: String,
        given: String,
    },
    ClockBehind {
        service: ServiceName,
        now: Timestamp,
        newest: Timestamp,
    },
    EnvKeyTaken {
        service: ServiceName,
        other: ServiceName,
        key: String,
    },
    Empty,
    /// The YAML parser's own message (syntax, or a value of the wrong shape).
    Yaml(String),
    /// A problem found in a read manifest; an empty path is the top level.
    Invalid {
        path: String,
        problem: String,
    },
}

impl From<ErrorKind> for ManifestError {
    fn from(kind: ErrorKind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::InvalidInput {
                what,
                value,
                problem,
            } => write!(f, "invalid {what} {}: {problem}", quoted(value)),
            ErrorKind::UnknownService { service, known } => {
                write!(f, "unknown service '{service}'; ")?;
                match known.as_slice() {
                    [] => f.write_str("the manifest has no services yet"),
                    [only] => write!(f, "the manifest has only '{only}'"),
                    [rest @ .., last] => {
                        let rest: Vec<String> =
                            rest.iter().map(|name| format!("'{name}'")).collect();
                        write!(f, "the manifest has {} and '{last}'", rest.join(", "))
                    }
                }
            }
            ErrorKind::ImageRequired { service } => write!(
                f,
                "service '{service}' is not in the manifest yet; give its image repository to add \
                 it"
            ),
            ErrorKind::ImageMismatch {
                service,
                recorded,
                given,
            } => write!(
                f,
                "service '{service}' is recorded with image {}, not {}; its history belongs to \
                 that image: remove the service from the manifest to start over with the new one",
                quoted(recorded),
                quoted(given)
            ),
            ErrorKind::NoEarlierVersion { service } => write!(
                f,
                "service '{service}' has no earlier version to roll back to; see its history \
                 with `upkeep history {service}`"
            ),
            ErrorKind::NoHistory { service } => write!(
                f,
                "service '{service}' has no history entry to annotate; deploy it first"
            ),
            ErrorKind::DigestKnown {
                service,
                known,
                given,
            } => write!(
                f,
                "service '{service}' already runs digest '{known}', not '{given}'; a different \
                 digest is a new image: deploy it"
            ),
            ErrorKind::ClockBehind {
                service,
                now,
                newest,
            } => write!(
                f,
                "cannot record a change of '{service}' at {}: its newest history entry is later \
                 ({}); check the system clock",
                format_time(now),
                format_time(newest)
            ),
            ErrorKind::EnvKeyTaken {
                service,
                other,
                key,
            } => write!(
                f,
                "service '{service}' would share the versions.env key '{key}' with service \
                 '{other}'; rename one of them"
            ),
            ErrorKind::Empty => f.write_str(
                "the manifest is empty; expected 'version: 1' and 'services:'; restore it from a \
                 backup or delete it to start over",
            ),
            ErrorKind::Yaml(message) => write!(f, "cannot read the manifest: {message}"),
            ErrorKind::Invalid { path, problem } if path.is_empty() => f.write_str(problem),
            ErrorKind::Invalid { path, problem } => write!(f, "{path}: {problem}"),
        }
    }
}

impl std::error::Error for ManifestError {}

pub(super) fn invalid_input(what: &'static str, value: &str, problem: String) -> ManifestError {
    ErrorKind::InvalidInput {
        what,
        value: value.to_owned(),
        problem,
    }
    .into()
}

/// Checks a transition argument with `problem_of`.
pub(super) fn validate(
    what: &'static str,
    value: &str,
    problem_of: fn(&str) -> Option<String>,
) -> Result<(), ManifestError> {
    match problem_of(value) {
        Some(problem) => Err(invalid_input(what, value, problem)),
        None => Ok(()),
    }
}

pub(super) fn invalid(path: &str, problem: String) -> ManifestError {
    ErrorKind::Invalid {
        path: path.to_owned(),
        problem,
    }
    .into()
}

// ---------------------------------------------------------------------------------------------
// Quoting in messages

/// `'text'`, with control characters escaped so a message stays on one line.
pub(super) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

pub(super) fn quoted_char(c: char) -> String {
    quoted(c.encode_utf8(&mut [0; 4]))
}

pub(super) fn format_time(time: &Timestamp) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
