//! The journal of an update in progress, and the pure decision of how to recover when an
//! update was cut short (the process killed, the host rebooted).
//!
//! Before each step of an update acts, the engine records the step it is about to take.
//! When upkeep starts again and finds an entry, it looks at what is running and asks
//! [`recover`] whether to finish the update or undo it. The rule is to keep service: an
//! update is finished only when its new version was already proven healthy; in every other
//! case the previous version is put back, and the update can simply run again.
//!
//! # What this module does not do
//! It does not write files or look at containers: the engine stores the entry (atomically)
//! and reports what it observes.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// A step of an update, in the order they happen. The journal holds the last step begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The update is decided; nothing has been touched.
    Intent,
    /// Pulling the new image.
    Pull,
    /// Tagging the running image so it stays reachable for a rollback.
    KeepPrevious,
    /// Stopping the running container.
    Stop,
    /// Creating the new container.
    Create,
    /// Starting the new container.
    Start,
    /// Checking the new container's health.
    HealthCheck,
    /// The new version was healthy; recording it in the manifest.
    Record,
}

impl Step {
    /// The step as the journal file names it, such as `health_check`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intent => "intent",
            Self::Pull => "pull",
            Self::KeepPrevious => "keep_previous",
            Self::Stop => "stop",
            Self::Create => "create",
            Self::Start => "start",
            Self::HealthCheck => "health_check",
            Self::Record => "record",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of change the journal records, so that finishing it records the right thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// An update to a newer (or named) version.
    #[default]
    Update,
    /// A version set by hand.
    Set,
    /// A custom tag pinned by hand.
    SetCustom,
    /// A rollback to the previous version.
    Rollback,
    /// A rollback to a named version.
    RollbackTo,
}

/// A version as the journal names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalVersion {
    /// The tag.
    pub tag: String,
    /// The manifest digest, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The journal of one update in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The service being updated.
    pub service: String,
    /// The version running before.
    pub from: JournalVersion,
    /// The version being installed.
    pub to: JournalVersion,
    /// The last step begun.
    pub step: Step,
    /// When the update began.
    pub started_at: Timestamp,
    /// The runtime's id of the image that ran before (`sha256:…`), once it is kept for a
    /// rollback: undoing recreates the service from exactly that image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_image: Option<String>,
    /// What kind of change it is; journals written before this field are updates.
    #[serde(default)]
    pub change: ChangeKind,
    /// The process making the change; journals written before this field have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// The process that makes a change, as its journal records it: enough to tell whether it
/// still runs, so that a change under way is never taken for an interrupted one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Its process id.
    pub pid: u32,
    /// The machine's boot id when it ran: a pid means nothing after a reboot.
    pub boot_id: String,
    /// When it started, in clock ticks since boot: tells it apart from a later process that
    /// was given the same pid.
    pub started: u64,
}

impl JournalEntry {
    /// A new entry at [`Step::Intent`].
    pub fn begin(service: &str, from: JournalVersion, to: JournalVersion, now: Timestamp) -> Self {
        Self {
            service: service.to_owned(),
            from,
            to,
            step: Step::Intent,
            started_at: now,
            previous_image: None,
            change: ChangeKind::Update,
            owner: None,
        }
    }

    /// Records that `step` is about to begin. Steps only move forward; going back is a bug
    /// in the caller and leaves the entry unchanged.
    pub fn advance(&mut self, step: Step) {
        if step > self.step {
            self.step = step;
        }
    }
}

/// What the engine sees of the service when it recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A container of the new version is running.
    NewRunning,
    /// A container of the previous version is running.
    PreviousRunning,
    /// No container of the service is running.
    NothingRunning,
}

/// How to recover an interrupted update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The new version was proven healthy and runs: record it in the manifest and clear the
    /// journal.
    Finish,
    /// Put the previous version back (recreate its container if needed), then clear the
    /// journal; the manifest still names the previous version.
    Undo {
        /// Why undoing is the safe choice.
        reason: &'static str,
    },
    /// Nothing was changed yet and the previous version still runs: clear the journal.
    Forget,
}

/// Decides how to recover `entry` given what is running now.
pub fn recover(entry: &JournalEntry, observed: Observed) -> Recovery {
    match (entry.step, observed) {
        // Proven healthy and still up: only the record is missing.
        (Step::Record, Observed::NewRunning) => Recovery::Finish,
        (Step::Record, _) => Recovery::Undo {
            reason: "the new version was healthy but is no longer running",
        },
        // Nothing was touched before the container was stopped.
        (Step::Intent | Step::Pull | Step::KeepPrevious, Observed::PreviousRunning) => {
            Recovery::Forget
        }
        (Step::Intent | Step::Pull | Step::KeepPrevious, _) => Recovery::Undo {
            reason: "the previous version is not running",
        },
        (Step::Stop, _) => Recovery::Undo {
            reason: "the update stopped the previous version and was cut short",
        },
        (Step::Create | Step::Start | Step::HealthCheck, _) => Recovery::Undo {
            reason: "the new version was never proven healthy",
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(step: Step) -> JournalEntry {
        let mut entry = JournalEntry::begin(
            "web",
            JournalVersion {
                tag: "1.0.0".to_owned(),
                digest: None,
            },
            JournalVersion {
                tag: "1.0.1".to_owned(),
                digest: None,
            },
            Timestamp::from_timestamp(1_764_000_000, 0).unwrap(),
        );
        entry.advance(step);
        entry
    }

    #[test]
    fn recovery_keeps_service() {
        use Observed::*;
        let undo = |reason| Recovery::Undo { reason };
        let cases = [
            (Step::Intent, PreviousRunning, Recovery::Forget),
            (Step::Pull, PreviousRunning, Recovery::Forget),
            (Step::KeepPrevious, PreviousRunning, Recovery::Forget),
            (
                Step::Pull,
                NothingRunning,
                undo("the previous version is not running"),
            ),
            (
                Step::Stop,
                NothingRunning,
                undo("the update stopped the previous version and was cut short"),
            ),
            (
                Step::Stop,
                PreviousRunning,
                undo("the update stopped the previous version and was cut short"),
            ),
            (
                Step::Create,
                NothingRunning,
                undo("the new version was never proven healthy"),
            ),
            (
                Step::Start,
                NewRunning,
                undo("the new version was never proven healthy"),
            ),
            (
                Step::HealthCheck,
                NewRunning,
                undo("the new version was never proven healthy"),
            ),
            (Step::Record, NewRunning, Recovery::Finish),
            (
                Step::Record,
                NothingRunning,
                undo("the new version was healthy but is no longer running"),
            ),
        ];
        for (step, observed, expected) in cases {
            assert_eq!(
                recover(&entry(step), observed),
                expected,
                "{step:?} {observed:?}"
            );
        }
    }

    #[test]
    fn steps_only_move_forward() {
        let mut entry = entry(Step::Start);
        entry.advance(Step::Pull);
        assert_eq!(entry.step, Step::Start);
        entry.advance(Step::Record);
        assert_eq!(entry.step, Step::Record);
    }

    #[test]
    fn entries_round_trip_through_json() {
        let entry = entry(Step::HealthCheck);
        let text = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            text,
            r#"{"service":"web","from":{"tag":"1.0.0"},"to":{"tag":"1.0.1"},"step":"health_check","started_at":"2025-11-24T16:00:00Z","change":"update"}"#
        );
        assert_eq!(serde_json::from_str::<JournalEntry>(&text).unwrap(), entry);
        // A journal written before `change` existed is an update.
        let old = text.replace(r#","change":"update""#, "");
        assert_eq!(serde_json::from_str::<JournalEntry>(&old).unwrap(), entry);
    }
}
