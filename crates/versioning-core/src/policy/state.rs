//! What the last registry check of a deployment found: the [`CheckResult`] the planner's
//! [`cycle`](crate::planner::cycle) reads.
//!
//! Plain data: this module makes no decision.

use crate::{Timestamp, UpdateKind};

/// The outcome of the latest registry check of a deployment, made by target selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// When the check was made. Informational: whether a check is due is read from
    /// [`CycleState::last_check`](crate::planner::CycleState::last_check).
    pub checked_at: Timestamp,
    /// The tag the deployment ran when the check was made. When it differs from the state's
    /// current tag the deployment has moved since, and [`cycle`](crate::planner::cycle)
    /// ignores the result as stale.
    pub current_tag: String,
    /// The tag to move to, if there is one. A failed check is recorded with `None`, so the
    /// registry is not asked again before the interval has passed.
    pub target: Option<String>,
    /// What kind of move `current_tag -> target` is.
    pub kind: UpdateKind,
}
