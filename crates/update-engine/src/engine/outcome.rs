//! What the engine reports: plans, outcomes of changes, recoveries and resolutions.

use serde::Serialize;
use upkeep_versioning_core::UpdateKind;
use upkeep_versioning_core::journal::Step;
use upkeep_versioning_core::planner::{HoldReason, MoveReason, NothingReason};
use upkeep_versioning_core::policy::Policy;

use crate::hint::Hint;

/// What a plan says to do for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// Move to the target.
    Update,
    /// A newer version exists, but it is not applied; `why` says why.
    Hold,
    /// Nothing newer is eligible.
    UpToDate,
    /// The registry could not be asked; `why` says what failed.
    Unknown,
    /// The registry was not asked (an offline status).
    NotChecked,
}

/// The plan for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PlanEntry {
    /// The service.
    pub service: String,
    /// The image repository.
    pub image: String,
    /// The tag deployed now.
    pub current: String,
    /// The digest deployed now, when known.
    pub current_digest: Option<String>,
    /// Whether the current tag is a custom tag pinned by hand.
    pub custom: bool,
    /// The policy.
    pub policy: Policy,
    /// The newest eligible tag under the configured constraints, when one is newer.
    pub newest: Option<String>,
    /// The kind of move to `newest` ([`UpdateKind::None`] when there is none).
    pub newest_kind: UpdateKind,
    /// The tag `update` moves to (for `update`), or the one held back (for `hold`).
    pub target: Option<String>,
    /// The kind of move to `target`.
    pub kind: UpdateKind,
    /// The digest `target` named when planned, for an update: what `update` pulls, after
    /// checking that the tag still names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_digest: Option<String>,
    /// What `update` would do.
    pub action: PlanAction,
    /// Why, as data: the planner's reason.
    pub reason: PlanReason,
    /// Failed versions that would have been chosen but for their failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// Why, in words.
    pub why: String,
    /// What the user can do about it, as data (`why` words them already).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<Hint>,
}

/// Why a plan says what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanReason {
    /// It moves, for this reason.
    Move(MoveReason),
    /// A newer version is held back, for this reason.
    Hold(HoldReason),
    /// Nothing to do, for this reason.
    Nothing(NothingReason),
    /// The plan could not be made (`why` says what failed).
    Error,
    /// The registry was not asked.
    NotChecked,
}

/// What to plan for.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// The services; empty means all.
    pub services: Vec<String>,
    /// A tag to move to, whatever the policy says.
    pub to: Option<String>,
    /// Move to the newest eligible version in any line, whatever the policy says.
    pub latest: bool,
}

/// How a change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// The service runs the new version, which passed its health checks.
    Changed,
    /// Nothing to do, or a dry run.
    Unchanged,
    /// The new version failed its health checks; the previous one runs again.
    RolledBack,
    /// The change failed before anything was touched, or was put back by the runtime.
    Failed,
    /// The change failed and the service could not be restored: it needs a person.
    Stranded,
    /// The Docker Engine stopped answering in the middle of the change. The journal keeps
    /// it; [`Engine::recover`](super::Engine::recover) finishes or undoes it once the engine answers again. The new
    /// version is not blamed: nothing could be learnt about its health.
    Interrupted,
}

/// How one change went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The service.
    pub service: String,
    /// The tag before.
    pub from: String,
    /// The tag asked for.
    pub to: String,
    /// The digest now running, when known.
    pub digest: Option<String>,
    /// How it ended.
    pub result: OutcomeKind,
    /// What happened, in words.
    pub message: String,
    /// Things that went wrong without stopping the change (a post-hook, a note).
    pub warnings: Vec<String>,
    /// What the user can do about it, as data (`message` and `warnings` word them already).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<Hint>,
}

/// How an interrupted update was recovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Recovered {
    /// The service.
    pub service: String,
    /// The step the update had reached.
    pub step: Step,
    /// What recovery did.
    pub action: RecoveryAction,
    /// Why, in words.
    pub message: String,
}

/// What recovering an interrupted change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecoveryAction {
    /// The new version had proven healthy: recorded as running.
    Finished,
    /// The previous version was put back.
    Undone,
    /// Nothing had been changed: the journal was dropped.
    Forgotten,
}

impl RecoveryAction {
    /// The word for it: `finished`, `undone` or `forgotten`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::Undone => "undone",
            Self::Forgotten => "forgotten",
        }
    }
}

impl std::fmt::Display for RecoveryAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `upkeep resolve` found for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The service.
    pub service: String,
    /// The floating tag it runs, such as `latest`.
    pub tag: String,
    /// The digest looked for: what runs, as recorded, or what the tag points to now.
    pub digest: Option<String>,
    /// The version tag with the same digest, if one was found.
    pub resolved: Option<String>,
    /// Whether the manifest now records the version tag.
    pub recorded: bool,
    /// What happened, in words.
    pub message: String,
}
