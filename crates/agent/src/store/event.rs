//! The kinds of events the agent logs: one word each in the database and the API.
//!
//! It names what happened; the sentence for people is the event's message.

use std::fmt;
use std::str::FromStr;

/// What an [`Event`](super::Event) records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// The cycle applied an update and it proved healthy.
    Applied,
    /// The cycle's update was sick and rolled back.
    RolledBack,
    /// The cycle's update was sick and putting the old version back failed too.
    RollbackFailed,
    /// The cycle's update was cut short (the engine went away); recovery finishes it.
    Interrupted,
    /// The cycle's update failed before anything changed.
    Failed,
    /// An update waits (for its window, for its minimum age, for a tag pushed again).
    Waiting,
    /// A change cut short was finished or undone at start.
    Recovered,
    /// A deployment's policy was changed through the API.
    PolicyChanged,
    /// An update asked through the API was applied.
    AppliedByApi,
    /// An update asked through the API failed.
    ApplyFailedByApi,
    /// A rollback asked through the API was made.
    RolledBackByApi,
    /// A rollback asked through the API failed.
    RollbackFailedByApi,
}

impl EventKind {
    /// Every kind, in the order above.
    pub const ALL: [Self; 12] = [
        Self::Applied,
        Self::RolledBack,
        Self::RollbackFailed,
        Self::Interrupted,
        Self::Failed,
        Self::Waiting,
        Self::Recovered,
        Self::PolicyChanged,
        Self::AppliedByApi,
        Self::ApplyFailedByApi,
        Self::RolledBackByApi,
        Self::RollbackFailedByApi,
    ];

    /// The kind's word, as stored and served: `rolled_back`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::RolledBack => "rolled_back",
            Self::RollbackFailed => "rollback_failed",
            Self::Interrupted => "interrupted",
            Self::Failed => "failed",
            Self::Waiting => "waiting",
            Self::Recovered => "recovered",
            Self::PolicyChanged => "policy_changed",
            Self::AppliedByApi => "applied_by_api",
            Self::ApplyFailedByApi => "apply_failed_by_api",
            Self::RolledBackByApi => "rolled_back_by_api",
            Self::RollbackFailedByApi => "rollback_failed_by_api",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that names no event kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an event kind; the kinds are {kinds}", kinds = kinds())]
pub struct UnknownEventKind(pub String);

fn kinds() -> String {
    EventKind::ALL
        .iter()
        .map(|kind| kind.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == word)
            .ok_or_else(|| UnknownEventKind(word.to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_word_and_others_are_refused() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
        }
        let error = "update_applied".parse::<EventKind>().unwrap_err();
        assert!(error.to_string().contains("rolled_back_by_api"), "{error}");
    }
}
