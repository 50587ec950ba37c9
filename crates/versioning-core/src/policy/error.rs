//! Why a policy word or configuration was refused: [`PolicyError`] and its messages.
//!
//! The checks live with what they check (`config`); this module only says how each failure
//! reads.

use std::fmt;

use super::Policy;
use crate::TimeDelta;

/// An unknown policy word or an invalid policy configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub(super) kind: PolicyErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PolicyErrorKind {
    UnknownPolicy {
        word: String,
        suggestion: Option<Policy>,
    },
    NonPositiveInterval(TimeDelta),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PolicyErrorKind::UnknownPolicy { word, suggestion } => {
                write!(f, "unknown policy '{word}': ")?;
                if let Some(policy) = suggestion {
                    write!(f, "did you mean '{policy}'? ")?;
                }
                f.write_str("expected one of ")?;
                for (index, policy) in Policy::ALL.into_iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(policy.as_str())?;
                }
                Ok(())
            }
            PolicyErrorKind::NonPositiveInterval(interval) => {
                f.write_str("invalid check_interval '")?;
                // Whole seconds read best; chrono's ISO 8601 form covers the rest.
                if interval.subsec_nanos() == 0 {
                    write!(f, "{}s", interval.num_seconds())?;
                } else {
                    write!(f, "{interval}")?;
                }
                f.write_str("': it must be greater than zero, for example 1h")
            }
        }
    }
}

impl std::error::Error for PolicyError {}
