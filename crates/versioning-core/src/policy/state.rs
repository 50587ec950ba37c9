//! What [`decide`](super::decide) reads about one deployment: its [`DeploymentStatus`], the
//! [`DeploymentState`] the caller keeps up to date, and the latest [`CheckResult`] of target
//! selection.
//!
//! Plain data: this module makes no decision, and the state changes only in the caller's hands
//! (see [the caller's loop](super::decide#the-callers-loop)).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Timestamp, UpdateKind};

/// What the platform reports about a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeploymentStatus {
    /// Up and healthy; the only status in which updates are checked for and applied.
    Running,
    /// Being deployed, for instance after an update; nothing is decided until it settles.
    Deploying,
    /// Failed to come up or crashed; rolled back if upkeep changed it.
    Failed,
    /// Stopped on purpose; left alone.
    Stopped,
}

impl DeploymentStatus {
    /// The word used in output and in serialized state, such as `running`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Deploying => "deploying",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`decide`] needs to know about one deployment; kept up to date by the caller.
///
/// [`decide`]: super::decide
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentState {
    /// What the platform last reported.
    pub status: DeploymentStatus,
    /// The tag the deployment runs (or is being deployed with).
    pub current_tag: String,
    /// The tag it ran before upkeep last changed it: set when an update is applied, cleared
    /// after a rollback. A failed deployment with a previous tag is rolled back to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_tag: Option<String>,
    /// When the registry was last asked about this deployment, whether or not that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<Timestamp>,
    /// Tags never to move to again: a tag that was rolled back from lands here, as may tags a
    /// user skipped by hand.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub skipped: BTreeSet<String>,
    /// The subject ([`Notice::subject`]) of the last notice sent, so the same notice is not
    /// sent on every cycle: the target tag of an [`Notice::UpdateAvailable`], or the current tag
    /// of a [`Notice::FailedWithoutRollback`].
    ///
    /// The caller sets it after sending a notice, and clears it whenever the current tag
    /// changes or the deployment stops being failed, so that a later failure of the same tag is
    /// reported again.
    ///
    /// [`Notice::subject`]: super::Notice::subject
    /// [`Notice::UpdateAvailable`]: super::Notice::UpdateAvailable
    /// [`Notice::FailedWithoutRollback`]: super::Notice::FailedWithoutRollback
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_notified: Option<String>,
}

impl DeploymentState {
    /// A deployment with `status` running `current_tag`, never checked, with nothing skipped or
    /// notified and no previous tag.
    pub fn new(status: DeploymentStatus, current_tag: impl Into<String>) -> Self {
        Self {
            status,
            current_tag: current_tag.into(),
            previous_tag: None,
            last_check: None,
            skipped: BTreeSet::new(),
            last_notified: None,
        }
    }
}

/// The outcome of the latest registry check of a deployment, made by target selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// When the check was made. Informational: whether a check is due is read from
    /// [`DeploymentState::last_check`].
    pub checked_at: Timestamp,
    /// The tag the deployment ran when the check was made. When it differs from the state's
    /// current tag the deployment has moved since, and [`decide`] ignores the result as stale.
    ///
    /// [`decide`]: super::decide
    pub current_tag: String,
    /// The tag to move to, if there is one. A failed check is recorded with `None`, so the
    /// registry is not asked again before the interval has passed.
    pub target: Option<String>,
    /// What kind of move `current_tag -> target` is.
    pub kind: UpdateKind,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::policy::test_support::*;

    use DeploymentStatus::{Failed, Running};

    #[test]
    fn state_serializes_with_snake_case_status_and_omits_empty_fields() {
        let state = DeploymentState::new(Running, "1.2.3");
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            r#"{"status":"running","current_tag":"1.2.3"}"#
        );
        let mut full = DeploymentState::new(Failed, "1.2.4");
        full.previous_tag = Some("1.2.3".to_owned());
        full.last_check = Some(base());
        full.skipped.insert("1.2.5".to_owned());
        full.last_notified = Some("2.0.0".to_owned());
        let yaml = yaml_serde::to_string(&full).unwrap();
        assert_eq!(
            yaml_serde::from_str::<DeploymentState>(&yaml).unwrap(),
            full
        );
        assert!(yaml.contains("status: failed"), "{yaml}");
    }
}
