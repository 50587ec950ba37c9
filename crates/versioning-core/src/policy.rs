//! Per-deployment update policies and the pure decision of what one cycle should do.
//!
//! A [`Policy`] says how far upkeep may move a deployment on its own (`disabled`,
//! `notify_only`, `auto_patch`, `auto_minor`, `auto_major`); a [`PolicyConfig`] adds how often
//! the registry may be asked. [`decide`] takes a deployment's [`DeploymentState`], its
//! configuration, the latest [`CheckResult`] and the current time, and returns a [`Decision`]:
//! the [`Action`]s of one cycle (check, apply, notify, roll back) and when the next check falls
//! due, so the caller knows how long it may sleep.
//!
//! # What this module does not do
//! It performs none of its actions: it does not query registries, deploy, send notices or
//! read the clock, and it does not choose the update target (that is target selection, whose
//! result arrives here as a [`CheckResult`]). It does not notify after an update either: the
//! engine does that once it knows whether the update came up (see [`Action::Apply`]). The
//! caller keeps the [`DeploymentState`] up to date after carrying out each action, as
//! described on [`decide`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{TimeDelta, Timestamp, UpdateKind};

/// How far upkeep may move a deployment without asking.
///
/// Written in configuration as `disabled`, `notify_only`, `auto_patch`, `auto_minor` or
/// `auto_major`. The default is `notify_only`: a deployment without an explicit policy is
/// watched but never changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum Policy {
    /// Never check for updates and never act, not even to roll back.
    Disabled,
    /// Check for updates and report them, but never apply one.
    #[default]
    NotifyOnly,
    /// Apply build, pre-release and patch updates; report larger ones.
    AutoPatch,
    /// Apply everything up to minor updates; report major ones.
    AutoMinor,
    /// Apply every upgrade, major ones included.
    AutoMajor,
}

impl Policy {
    /// Every policy, from the most to the least cautious.
    pub const ALL: [Self; 5] = [
        Self::Disabled,
        Self::NotifyOnly,
        Self::AutoPatch,
        Self::AutoMinor,
        Self::AutoMajor,
    ];

    /// The word used in configuration and output, such as `auto_patch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::NotifyOnly => "notify_only",
            Self::AutoPatch => "auto_patch",
            Self::AutoMinor => "auto_minor",
            Self::AutoMajor => "auto_major",
        }
    }

    /// Whether this policy applies an update of `kind` without asking.
    ///
    /// Sizes are ordered `Build < Prerelease < Patch < Minor < Major`; `auto_patch` allows up to
    /// `Patch`, `auto_minor` up to `Minor`, `auto_major` everything. `disabled` and
    /// `notify_only` allow nothing, and `None`, `Downgrade` and `Unknown` are never allowed
    /// because they are not upgrades.
    pub fn allows(self, kind: UpdateKind) -> bool {
        let patch_or_smaller = matches!(
            kind,
            UpdateKind::Build | UpdateKind::Prerelease | UpdateKind::Patch
        );
        // A new image behind the same tag is no move between versions: every policy that
        // applies updates by itself pulls it, as the tag's publisher meant.
        let same_tag = kind == UpdateKind::Digest;
        match self {
            Self::Disabled | Self::NotifyOnly => false,
            _ if same_tag => true,
            Self::AutoPatch => patch_or_smaller,
            Self::AutoMinor => patch_or_smaller || kind == UpdateKind::Minor,
            Self::AutoMajor => {
                patch_or_smaller || matches!(kind, UpdateKind::Minor | UpdateKind::Major)
            }
        }
    }

    /// The widest line within which this policy applies updates by itself: `auto_patch`
    /// stays in the same x.y ([`Within::Minor`](crate::select::Within::Minor)), `auto_minor` in the same major, `auto_major`
    /// anywhere; `None` for policies that apply nothing. A plan narrows its target search to
    /// this line, so that a held minor release does not hide an applicable patch.
    pub fn line(self) -> Option<crate::select::Within> {
        use crate::select::Within;
        match self {
            Self::Disabled | Self::NotifyOnly => None,
            Self::AutoPatch => Some(Within::Minor),
            Self::AutoMinor => Some(Within::Major),
            Self::AutoMajor => Some(Within::Any),
        }
    }

    /// The policy a mistyped word most likely meant: the same letters with other separators
    /// or case (`auto-patch`, `AutoPatch`), a common shorthand (`patch`, `notify`), or a word
    /// at most two edits away (`auto_ptach`).
    fn closest_to(word: &str) -> Option<Self> {
        const SHORTHANDS: [(&str, Policy); 5] = [
            ("notify", Policy::NotifyOnly),
            ("patch", Policy::AutoPatch),
            ("minor", Policy::AutoMinor),
            ("major", Policy::AutoMajor),
            ("disable", Policy::Disabled),
        ];
        let squashed: Vec<char> = word
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        // Very short words are too far from everything for a suggestion to be more than a guess.
        if squashed.len() < 3 {
            return None;
        }
        let candidates = Self::ALL
            .into_iter()
            .map(|policy| (policy.as_str(), policy))
            .chain(SHORTHANDS);
        let mut best: Option<(usize, Self)> = None;
        for (name, policy) in candidates {
            let name: Vec<char> = name.chars().filter(|c| c.is_alphanumeric()).collect();
            let distance = edit_distance(&squashed, &name);
            if distance <= 2 && best.is_none_or(|(best_distance, _)| distance < best_distance) {
                best = Some((distance, policy));
            }
        }
        best.map(|(_, policy)| policy)
    }
}

/// The Levenshtein distance between two short words.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, a_char) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Policy {
    type Err = PolicyError;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|policy| policy.as_str() == word)
            .ok_or_else(|| PolicyError {
                kind: PolicyErrorKind::UnknownPolicy {
                    word: word.to_owned(),
                    suggestion: Self::closest_to(word),
                },
            })
    }
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Policy {
    // Through `FromStr`, so a configuration file gets the same suggestion as the command line.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = String::deserialize(deserializer)?;
        word.parse().map_err(serde::de::Error::custom)
    }
}

/// A deployment's policy together with how often its registry may be checked.
///
/// Built with [`PolicyConfig::new`], which rejects an interval that is not positive, or from a
/// [`Policy`] alone with the default interval of one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyConfig {
    policy: Policy,
    check_interval: TimeDelta,
}

impl PolicyConfig {
    /// The interval used when none is configured: one hour, which keeps anonymous Docker Hub
    /// use well inside its rate limit.
    pub const DEFAULT_CHECK_INTERVAL: TimeDelta = TimeDelta::hours(1);

    /// A configuration with `policy` and a check at most every `check_interval`.
    ///
    /// # Errors
    /// When `check_interval` is zero or negative, because a deployment would then be checked
    /// on every cycle.
    pub fn new(policy: Policy, check_interval: TimeDelta) -> Result<Self, PolicyError> {
        if check_interval <= TimeDelta::zero() {
            return Err(PolicyError {
                kind: PolicyErrorKind::NonPositiveInterval(check_interval),
            });
        }
        Ok(Self {
            policy,
            check_interval,
        })
    }

    /// The deployment's policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The shortest time between two registry checks of the deployment; always positive.
    pub fn check_interval(&self) -> TimeDelta {
        self.check_interval
    }
}

impl Default for PolicyConfig {
    /// `notify_only`, checked at most once an hour.
    fn default() -> Self {
        Policy::default().into()
    }
}

impl From<Policy> for PolicyConfig {
    /// `policy` with the default check interval of one hour.
    fn from(policy: Policy) -> Self {
        Self {
            policy,
            check_interval: Self::DEFAULT_CHECK_INTERVAL,
        }
    }
}

/// An unknown policy word or an invalid policy configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    kind: PolicyErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PolicyErrorKind {
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
    pub current_tag: String,
    /// The tag to move to, if there is one. A failed check is recorded with `None`, so the
    /// registry is not asked again before the interval has passed.
    pub target: Option<String>,
    /// What kind of move `current_tag -> target` is.
    pub kind: UpdateKind,
}

/// Something the caller should do for a deployment in this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Ask the registry for updates now, record the result and the time in the state, and call
    /// [`decide`] again (see there).
    Check,
    /// Deploy `target` in place of the current tag, which becomes the previous tag.
    ///
    /// `decide` does not ask for a notice about the update: the engine sends one after the
    /// deployment has come up or failed, when it knows which to report.
    Apply {
        /// The tag to deploy.
        target: String,
        /// What kind of move it is; always one the policy allows.
        kind: UpdateKind,
    },
    /// Send a notice to the deployment's owner, then record its subject in
    /// [`DeploymentState::last_notified`].
    Notify(Notice),
    /// Deploy `to` in place of the failed `from`.
    ///
    /// The caller then adds `from` to [`DeploymentState::skipped`], so it is never chosen again,
    /// and clears the previous tag, so a failure of `to` is not rolled back in a loop.
    RollBack {
        /// The tag that ran before the failed update.
        to: String,
        /// The failed tag.
        from: String,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Check => f.write_str("check for updates"),
            Self::Apply { target, kind } => write!(f, "apply {target} ({kind})"),
            Self::Notify(notice) => write!(f, "notify: {notice}"),
            Self::RollBack { to, from } => write!(f, "roll back from {from} to {to}"),
        }
    }
}

/// A message for a deployment's owner about something upkeep will not do by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// An upgrade is available that the policy does not apply (`notify_only`, or a larger
    /// move than the policy allows).
    UpdateAvailable {
        /// The tag that could be deployed.
        target: String,
        /// What kind of move it would be.
        kind: UpdateKind,
    },
    /// The deployment failed and there is no previous tag to roll back to.
    FailedWithoutRollback {
        /// The failed tag.
        current: String,
    },
}

impl Notice {
    /// The tag the notice is about, which the caller stores in
    /// [`DeploymentState::last_notified`] once the notice is sent.
    pub fn subject(&self) -> &str {
        match self {
            Self::UpdateAvailable { target, .. } => target,
            Self::FailedWithoutRollback { current } => current,
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UpdateAvailable { target, kind } => {
                write!(
                    f,
                    "update to {target} available ({kind}); not applied by the policy"
                )
            }
            Self::FailedWithoutRollback { current } => {
                write!(
                    f,
                    "{current} failed and there is no previous tag to roll back to"
                )
            }
        }
    }
}

/// What [`decide`] asks for in one cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// What to do now, in order; empty when there is nothing to do. Never holds both
    /// [`Action::Check`] and [`Action::Apply`].
    pub actions: Vec<Action>,
    /// When the next registry check falls due if nothing else changes, so the caller may sleep
    /// until then: `now` when [`Action::Check`] is asked for, `None` when the policy is
    /// `disabled` or the deployment is not running (decide again when its status changes).
    pub next_check: Option<Timestamp>,
}

impl Decision {
    /// True when there is nothing to do this cycle.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// The actions of one cycle for one deployment, and when the next check falls due.
///
/// The rules, in order:
/// 1. `disabled`: nothing, and no next check.
/// 2. Failed with a previous tag: [`Action::RollBack`] to it, whatever the state of the
///    checks. A previous tag that is empty, equal to the current one or skipped is no rollback
///    target, so the deployment counts as failed without one.
/// 3. Failed without a previous tag: one [`Notice::FailedWithoutRollback`], unless
///    `last_notified` already names the current tag.
/// 4. Deploying or stopped: nothing.
/// 5. Running, and the last check is absent, at least `check_interval` old, or `latest` is
///    absent or stale (made for another current tag): [`Action::Check`] only.
/// 6. Running with a fresh result whose target is a non-empty tag other than the current one,
///    not skipped, and an upgrade: [`Action::Apply`] if the policy allows its kind, otherwise
///    [`Notice::UpdateAvailable`] unless `last_notified` already names the target. Anything
///    else (no target, the current tag, a skipped tag, `none`, `downgrade`, `unknown`):
///    nothing.
///
/// A last check later than `now` means the clock went backwards; the check counts as fresh
/// (no panic, no extra registry traffic) and falls due again `check_interval` after it.
///
/// # The caller's loop
/// For each deployment and cycle: call `decide`; if it asks for [`Action::Check`], ask the
/// registry, set `last_check` to `now` and keep the result as `latest` — a failed check
/// becomes a result with no target, so the rate limit holds — then call `decide` once more with
/// the same `now` and carry out what that returns. Afterwards update the state: for
/// [`Action::Apply`] the current tag becomes the previous one; for [`Action::RollBack`] add
/// `from` to `skipped` and clear the previous tag; for [`Action::Notify`] store
/// [`Notice::subject`] in `last_notified`.
///
/// ```
/// use upkeep_versioning_core::policy::{
///     Action, CheckResult, DeploymentState, DeploymentStatus, Policy, PolicyConfig, decide,
/// };
/// use upkeep_versioning_core::{Timestamp, UpdateKind};
///
/// let now = Timestamp::from_timestamp(1_760_000_000, 0).ok_or("out of range")?;
/// let config = PolicyConfig::from(Policy::AutoPatch);
/// let mut state = DeploymentState::new(DeploymentStatus::Running, "1.2.3");
///
/// let first = decide(&state, &config, None, now);
/// assert_eq!(first.actions, [Action::Check]);
///
/// // The caller asks the registry (target selection finds 1.2.4) and records the check.
/// state.last_check = Some(now);
/// let latest = CheckResult {
///     checked_at: now,
///     current_tag: "1.2.3".to_owned(),
///     target: Some("1.2.4".to_owned()),
///     kind: UpdateKind::Patch,
/// };
/// let second = decide(&state, &config, Some(&latest), now);
/// assert_eq!(
///     second.actions,
///     [Action::Apply { target: "1.2.4".to_owned(), kind: UpdateKind::Patch }]
/// );
/// assert_eq!(second.next_check, Some(now + config.check_interval()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn decide(
    state: &DeploymentState,
    config: &PolicyConfig,
    latest: Option<&CheckResult>,
    now: Timestamp,
) -> Decision {
    if config.policy == Policy::Disabled {
        return Decision {
            actions: Vec::new(),
            next_check: None,
        };
    }
    match state.status {
        DeploymentStatus::Failed => {
            return Decision {
                actions: failure_actions(state).into_iter().collect(),
                next_check: None,
            };
        }
        DeploymentStatus::Deploying | DeploymentStatus::Stopped => {
            return Decision {
                actions: Vec::new(),
                next_check: None,
            };
        }
        DeploymentStatus::Running => {}
    }

    // Rule 5: without a fresh check there is nothing safe to act on.
    let last_check = state
        .last_check
        // A negative age (the clock went backwards) is below any positive interval: fresh.
        .filter(|&checked| now.signed_duration_since(checked) < config.check_interval);
    let result = latest.filter(|result| result.current_tag == state.current_tag);
    let (Some(last_check), Some(result)) = (last_check, result) else {
        return Decision {
            actions: vec![Action::Check],
            next_check: Some(now),
        };
    };

    Decision {
        actions: update_action(state, config.policy, result)
            .into_iter()
            .collect(),
        // `None` only if the due time is beyond the calendar, i.e. never.
        next_check: last_check.checked_add_signed(config.check_interval),
    }
}

/// Rules 2 and 3: roll a failed deployment back, or report it once.
fn failure_actions(state: &DeploymentState) -> Option<Action> {
    let current = &state.current_tag;
    let rollback_target = state.previous_tag.as_ref().filter(|previous| {
        !previous.is_empty() && *previous != current && !state.skipped.contains(*previous)
    });
    if let Some(previous) = rollback_target {
        return Some(Action::RollBack {
            to: previous.clone(),
            from: current.clone(),
        });
    }
    if state.last_notified.as_ref() == Some(current) {
        return None;
    }
    Some(Action::Notify(Notice::FailedWithoutRollback {
        current: current.clone(),
    }))
}

/// Rule 6: apply or report the target of a fresh check result.
fn update_action(state: &DeploymentState, policy: Policy, result: &CheckResult) -> Option<Action> {
    // A new image behind the tag it runs (`latest` rebuilt) targets that same tag; whether
    // that image failed before was judged by digest when the check was made, so a tag
    // skipped for an older image does not stop it.
    let same_tag = result.kind == UpdateKind::Digest;
    let target = result.target.as_ref().filter(|target| {
        !target.is_empty()
            && (same_tag || (**target != state.current_tag && !state.skipped.contains(*target)))
    })?;
    if !result.kind.is_upgrade() && !same_tag {
        return None;
    }
    if policy.allows(result.kind) {
        return Some(Action::Apply {
            target: target.clone(),
            kind: result.kind,
        });
    }
    if state.last_notified.as_ref() == Some(target) {
        return None;
    }
    Some(Action::Notify(Notice::UpdateAvailable {
        target: target.clone(),
        kind: result.kind,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use DeploymentStatus::{Deploying, Failed, Running, Stopped};
    use UpdateKind::{Build, Downgrade, Major, Minor, Patch, Prerelease, Unknown};

    fn base() -> Timestamp {
        Timestamp::from_timestamp(1_760_000_000, 0).unwrap()
    }

    /// `base()` moved by `minutes`.
    fn at(minutes: i64) -> Timestamp {
        base() + TimeDelta::minutes(minutes)
    }

    // ---- Policy words ----

    #[test]
    fn policy_words_round_trip() {
        for policy in Policy::ALL {
            assert_eq!(policy.to_string().parse::<Policy>(), Ok(policy));
        }
        let words: Vec<&str> = Policy::ALL.iter().map(|policy| policy.as_str()).collect();
        assert_eq!(
            words,
            [
                "disabled",
                "notify_only",
                "auto_patch",
                "auto_minor",
                "auto_major"
            ]
        );
    }

    #[track_caller]
    fn assert_policy_error(word: &str, expected: &str) {
        let error = word.parse::<Policy>().unwrap_err();
        assert_eq!(error.to_string(), expected, "for {word:?}");
    }

    #[test]
    fn unknown_policy_words_are_rejected_with_a_suggestion_when_close() {
        const VALID: &str =
            "expected one of disabled, notify_only, auto_patch, auto_minor, auto_major";
        let cases = [
            ("auto-patch", Some("auto_patch")),
            ("autopatch", Some("auto_patch")),
            ("AUTO_MINOR", Some("auto_minor")),
            ("AutoMajor", Some("auto_major")),
            ("auto_ptach", Some("auto_patch")),
            ("notify-only", Some("notify_only")),
            ("notify", Some("notify_only")),
            ("minor", Some("auto_minor")),
            ("disable", Some("disabled")),
            (" disabled", Some("disabled")),
            ("enabled", None),
            ("yes", None),
            ("", None),
            ("au", None),
        ];
        for (word, suggestion) in cases {
            let expected = match suggestion {
                Some(policy) => {
                    format!("unknown policy '{word}': did you mean '{policy}'? {VALID}")
                }
                None => format!("unknown policy '{word}': {VALID}"),
            };
            assert_policy_error(word, &expected);
        }
    }

    #[test]
    fn policy_serde_uses_the_words_and_the_same_errors() {
        assert_eq!(
            serde_json::to_string(&Policy::NotifyOnly).unwrap(),
            "\"notify_only\""
        );
        assert_eq!(
            yaml_serde::from_str::<Policy>("auto_minor").unwrap(),
            Policy::AutoMinor
        );
        let error = yaml_serde::from_str::<Policy>("auto-minor").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("unknown policy 'auto-minor': did you mean 'auto_minor'?"),
            "{error}"
        );
    }

    #[test]
    fn policy_allows_exactly_its_sizes() {
        // Columns: Build, Prerelease, Patch, Minor, Major.
        let table = [
            (Policy::Disabled, [false, false, false, false, false]),
            (Policy::NotifyOnly, [false, false, false, false, false]),
            (Policy::AutoPatch, [true, true, true, false, false]),
            (Policy::AutoMinor, [true, true, true, true, false]),
            (Policy::AutoMajor, [true, true, true, true, true]),
        ];
        for (policy, allowed) in table {
            for (kind, expected) in [Build, Prerelease, Patch, Minor, Major]
                .into_iter()
                .zip(allowed)
            {
                assert_eq!(policy.allows(kind), expected, "{policy} allows {kind}");
            }
            for kind in [UpdateKind::None, Downgrade, Unknown] {
                assert!(!policy.allows(kind), "{policy} must not allow {kind}");
            }
            // A new image behind the same tag: every policy that applies anything pulls it.
            assert_eq!(
                policy.allows(UpdateKind::Digest),
                policy.line().is_some(),
                "{policy} and a new image behind its tag"
            );
        }
    }

    // ---- PolicyConfig ----

    #[test]
    fn config_defaults_to_notify_only_every_hour() {
        let config = PolicyConfig::default();
        assert_eq!(config.policy(), Policy::NotifyOnly);
        assert_eq!(config.check_interval(), TimeDelta::hours(1));
        let config = PolicyConfig::from(Policy::AutoMajor);
        assert_eq!(config.policy(), Policy::AutoMajor);
        assert_eq!(config.check_interval(), TimeDelta::hours(1));
    }

    #[track_caller]
    fn assert_interval_error(interval: TimeDelta, expected: &str) {
        let error = PolicyConfig::new(Policy::AutoPatch, interval).unwrap_err();
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn config_rejects_intervals_that_are_not_positive() {
        assert_interval_error(
            TimeDelta::zero(),
            "invalid check_interval '0s': it must be greater than zero, for example 1h",
        );
        assert_interval_error(
            TimeDelta::seconds(-30),
            "invalid check_interval '-30s': it must be greater than zero, for example 1h",
        );
        assert_interval_error(
            TimeDelta::milliseconds(-500),
            "invalid check_interval '-PT0.5S': it must be greater than zero, for example 1h",
        );
        let config = PolicyConfig::new(Policy::AutoPatch, TimeDelta::nanoseconds(1)).unwrap();
        assert_eq!(config.check_interval(), TimeDelta::nanoseconds(1));
    }

    // ---- DeploymentState ----

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

    // ---- decide ----

    /// One row of the decision table. Times are minutes from `base()`.
    struct Case {
        name: &'static str,
        policy: Policy,
        status: DeploymentStatus,
        current: &'static str,
        previous: Option<&'static str>,
        last_check: Option<i64>,
        skipped: &'static [&'static str],
        last_notified: Option<&'static str>,
        /// `(current tag at check time, target, kind)`, checked at `last_check` (or base).
        latest: Option<(&'static str, Option<&'static str>, UpdateKind)>,
        now: i64,
        expected: Vec<Action>,
        next_check: Option<i64>,
    }

    /// A running `auto_patch` deployment of 1.2.3, checked at base, with no result, at base.
    fn case(name: &'static str) -> Case {
        Case {
            name,
            policy: Policy::AutoPatch,
            status: Running,
            current: "1.2.3",
            previous: None,
            last_check: Some(0),
            skipped: &[],
            last_notified: None,
            latest: None,
            now: 0,
            expected: Vec::new(),
            next_check: None,
        }
    }

    impl Case {
        fn run(&self) -> Decision {
            let mut state = DeploymentState::new(self.status, self.current);
            state.previous_tag = self.previous.map(str::to_owned);
            state.last_check = self.last_check.map(at);
            state.skipped = self.skipped.iter().map(|tag| (*tag).to_owned()).collect();
            state.last_notified = self.last_notified.map(str::to_owned);
            let latest = self.latest.map(|(current, target, kind)| CheckResult {
                checked_at: at(self.last_check.unwrap_or(0)),
                current_tag: current.to_owned(),
                target: target.map(str::to_owned),
                kind,
            });
            decide(
                &state,
                &PolicyConfig::from(self.policy),
                latest.as_ref(),
                at(self.now),
            )
        }
    }

    fn apply(target: &str, kind: UpdateKind) -> Action {
        Action::Apply {
            target: target.to_owned(),
            kind,
        }
    }

    fn available(target: &str, kind: UpdateKind) -> Action {
        Action::Notify(Notice::UpdateAvailable {
            target: target.to_owned(),
            kind,
        })
    }

    fn failed_without_rollback(current: &str) -> Action {
        Action::Notify(Notice::FailedWithoutRollback {
            current: current.to_owned(),
        })
    }

    fn roll_back(from: &str, to: &str) -> Action {
        Action::RollBack {
            to: to.to_owned(),
            from: from.to_owned(),
        }
    }

    #[test]
    fn decide_follows_the_rules() {
        let cases = [
            // Checking.
            Case {
                last_check: None,
                expected: vec![Action::Check],
                next_check: Some(0),
                ..case("check when never checked")
            },
            Case {
                last_check: None,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                expected: vec![Action::Check],
                next_check: Some(0),
                ..case("check when never checked, even with a result")
            },
            Case {
                expected: vec![Action::Check],
                next_check: Some(0),
                ..case("check when checked but no result is known")
            },
            Case {
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                now: 59,
                expected: vec![apply("1.2.4", Patch)],
                next_check: Some(60),
                ..case("no check within the hour")
            },
            Case {
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                now: 60,
                expected: vec![Action::Check],
                next_check: Some(60),
                ..case("check exactly at one hour")
            },
            Case {
                latest: Some(("1.2.3", None, UpdateKind::None)),
                now: 61,
                expected: vec![Action::Check],
                next_check: Some(61),
                ..case("check after the hour")
            },
            Case {
                current: "1.2.4",
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                now: 5,
                expected: vec![Action::Check],
                next_check: Some(5),
                ..case("stale result after a move is a check, not a re-apply")
            },
            Case {
                last_check: Some(30),
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                now: 0,
                expected: vec![apply("1.2.4", Patch)],
                next_check: Some(90),
                ..case("clock backwards counts as fresh")
            },
            Case {
                last_check: Some(100_000),
                latest: Some(("1.2.3", None, UpdateKind::None)),
                now: 0,
                expected: vec![],
                next_check: Some(100_060),
                ..case("clock far backwards: no check, no panic")
            },
            // Applying and notifying.
            Case {
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                now: 10,
                expected: vec![apply("1.2.4", Patch)],
                next_check: Some(60),
                ..case("auto_patch applies a patch")
            },
            Case {
                latest: Some(("1.2.3.4", Some("1.2.3.5"), Build)),
                current: "1.2.3.4",
                expected: vec![apply("1.2.3.5", Build)],
                next_check: Some(60),
                ..case("auto_patch applies a build")
            },
            Case {
                latest: Some(("1.2.3-rc1", Some("1.2.3"), Prerelease)),
                current: "1.2.3-rc1",
                expected: vec![apply("1.2.3", Prerelease)],
                next_check: Some(60),
                ..case("auto_patch applies a pre-release step")
            },
            Case {
                latest: Some(("1.2.3", Some("1.3.0"), Minor)),
                expected: vec![available("1.3.0", Minor)],
                next_check: Some(60),
                ..case("auto_patch notifies a minor")
            },
            Case {
                policy: Policy::AutoMinor,
                latest: Some(("1.2.3", Some("1.3.0"), Minor)),
                expected: vec![apply("1.3.0", Minor)],
                next_check: Some(60),
                ..case("auto_minor applies a minor")
            },
            Case {
                policy: Policy::AutoMinor,
                latest: Some(("1.2.3", Some("2.0.0"), Major)),
                expected: vec![available("2.0.0", Major)],
                next_check: Some(60),
                ..case("auto_minor notifies a major")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some("2.0.0"), Major)),
                expected: vec![apply("2.0.0", Major)],
                next_check: Some(60),
                ..case("auto_major applies a major")
            },
            Case {
                policy: Policy::NotifyOnly,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                expected: vec![available("1.2.4", Patch)],
                next_check: Some(60),
                ..case("notify_only notifies even a patch")
            },
            Case {
                policy: Policy::NotifyOnly,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                last_notified: Some("1.2.4"),
                now: 30,
                expected: vec![],
                next_check: Some(60),
                ..case("notify_only does not notify the same target twice")
            },
            Case {
                policy: Policy::NotifyOnly,
                latest: Some(("1.2.3", Some("1.2.5"), Patch)),
                last_notified: Some("1.2.4"),
                expected: vec![available("1.2.5", Patch)],
                next_check: Some(60),
                ..case("notify_only notifies a newer target")
            },
            Case {
                policy: Policy::AutoMinor,
                latest: Some(("1.2.3", Some("1.3.0"), Minor)),
                last_notified: Some("1.3.0"),
                expected: vec![apply("1.3.0", Minor)],
                next_check: Some(60),
                ..case("a notified target is applied once the policy allows it")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                skipped: &["1.2.4"],
                expected: vec![],
                next_check: Some(60),
                ..case("skipped target is not applied")
            },
            Case {
                policy: Policy::NotifyOnly,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                skipped: &["1.2.4"],
                expected: vec![],
                next_check: Some(60),
                ..case("skipped target is not notified")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", None, UpdateKind::None)),
                expected: vec![],
                next_check: Some(60),
                ..case("no target, nothing")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some("1.2.3"), Patch)),
                expected: vec![],
                next_check: Some(60),
                ..case("target equal to the current tag, nothing")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some(""), Patch)),
                expected: vec![],
                next_check: Some(60),
                ..case("empty target, nothing")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some("v1.2.3"), UpdateKind::None)),
                expected: vec![],
                next_check: Some(60),
                ..case("same version under another tag, nothing")
            },
            Case {
                policy: Policy::NotifyOnly,
                latest: Some(("1.2.3", Some("1.2.2"), Downgrade)),
                expected: vec![],
                next_check: Some(60),
                ..case("downgrade is neither applied nor notified")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some("latest"), Unknown)),
                expected: vec![],
                next_check: Some(60),
                ..case("unknown kind is neither applied nor notified")
            },
            // Failures.
            Case {
                status: Failed,
                current: "1.2.4",
                previous: Some("1.2.3"),
                last_check: None,
                expected: vec![roll_back("1.2.4", "1.2.3")],
                next_check: None,
                ..case("failed with previous rolls back, even when a check is due")
            },
            Case {
                policy: Policy::NotifyOnly,
                status: Failed,
                current: "1.2.4",
                previous: Some("1.2.3"),
                latest: Some(("1.2.4", Some("1.2.5"), Patch)),
                expected: vec![roll_back("1.2.4", "1.2.3")],
                next_check: None,
                ..case("failed with previous rolls back under notify_only, no apply")
            },
            Case {
                status: Failed,
                expected: vec![failed_without_rollback("1.2.3")],
                next_check: None,
                ..case("failed without previous sends one notice")
            },
            Case {
                status: Failed,
                last_notified: Some("1.2.3"),
                expected: vec![],
                next_check: None,
                ..case("failed without previous, already notified: nothing")
            },
            Case {
                status: Failed,
                last_notified: Some("1.3.0"),
                expected: vec![failed_without_rollback("1.2.3")],
                next_check: None,
                ..case("an update notice does not silence a failure notice")
            },
            Case {
                status: Failed,
                current: "1.2.4",
                previous: Some("1.2.3"),
                skipped: &["1.2.3"],
                expected: vec![failed_without_rollback("1.2.4")],
                next_check: None,
                ..case("never roll back onto a skipped tag")
            },
            Case {
                status: Failed,
                previous: Some("1.2.3"),
                expected: vec![failed_without_rollback("1.2.3")],
                next_check: None,
                ..case("previous equal to current is no rollback target")
            },
            Case {
                status: Failed,
                previous: Some(""),
                expected: vec![failed_without_rollback("1.2.3")],
                next_check: None,
                ..case("empty previous is no rollback target")
            },
            // Statuses and disabled.
            Case {
                status: Deploying,
                last_check: None,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                expected: vec![],
                next_check: None,
                ..case("deploying: nothing")
            },
            Case {
                status: Stopped,
                last_check: None,
                expected: vec![],
                next_check: None,
                ..case("stopped: nothing")
            },
            Case {
                policy: Policy::Disabled,
                status: Failed,
                current: "1.2.4",
                previous: Some("1.2.3"),
                expected: vec![],
                next_check: None,
                ..case("disabled: nothing even when failed")
            },
            Case {
                policy: Policy::Disabled,
                last_check: None,
                expected: vec![],
                next_check: None,
                ..case("disabled: no check")
            },
            Case {
                policy: Policy::Disabled,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                expected: vec![],
                next_check: None,
                ..case("disabled: no apply")
            },
        ];
        for case in cases {
            let decision = case.run();
            assert_eq!(decision.actions, case.expected, "{}", case.name);
            assert_eq!(
                decision.next_check,
                case.next_check.map(at),
                "next check for {}",
                case.name
            );
        }
    }

    #[test]
    fn check_then_decide_again_in_the_same_cycle() {
        let config = PolicyConfig::from(Policy::AutoMinor);
        let mut state = DeploymentState::new(Running, "1.2.3");
        let now = at(0);
        assert_eq!(decide(&state, &config, None, now).actions, [Action::Check]);
        state.last_check = Some(now);
        // A failed check is recorded as a result without a target: no check again this hour.
        let failed = CheckResult {
            checked_at: now,
            current_tag: "1.2.3".to_owned(),
            target: None,
            kind: UpdateKind::None,
        };
        let again = decide(&state, &config, Some(&failed), now);
        assert!(again.is_empty());
        assert_eq!(again.next_check, Some(at(60)));
    }

    #[test]
    fn custom_interval_is_respected() {
        let config = PolicyConfig::new(Policy::AutoPatch, TimeDelta::minutes(10)).unwrap();
        let mut state = DeploymentState::new(Running, "1.2.3");
        state.last_check = Some(at(0));
        let latest = CheckResult {
            checked_at: at(0),
            current_tag: "1.2.3".to_owned(),
            target: None,
            kind: UpdateKind::None,
        };
        let fresh = decide(&state, &config, Some(&latest), at(9));
        assert_eq!((fresh.actions, fresh.next_check), (vec![], Some(at(10))));
        let due = decide(&state, &config, Some(&latest), at(10));
        assert_eq!(due.actions, [Action::Check]);
    }

    #[test]
    fn actions_and_notices_read_well() {
        let lines = [
            Action::Check.to_string(),
            apply("1.2.4", Patch).to_string(),
            available("2.0.0", Major).to_string(),
            failed_without_rollback("1.2.3").to_string(),
            roll_back("1.2.4", "1.2.3").to_string(),
        ];
        assert_eq!(
            lines,
            [
                "check for updates",
                "apply 1.2.4 (patch)",
                "notify: update to 2.0.0 available (major); not applied by the policy",
                "notify: 1.2.3 failed and there is no previous tag to roll back to",
                "roll back from 1.2.4 to 1.2.3",
            ]
        );
        assert_eq!(
            Notice::UpdateAvailable {
                target: "2.0.0".to_owned(),
                kind: Major
            }
            .subject(),
            "2.0.0"
        );
        assert_eq!(
            Notice::FailedWithoutRollback {
                current: "1.2.3".to_owned()
            }
            .subject(),
            "1.2.3"
        );
    }

    // ---- properties ----

    const TAGS: [&str; 5] = ["1.2.3", "1.2.4", "1.3.0", "2.0.0", ""];

    fn tag() -> impl Strategy<Value = String> {
        prop::sample::select(TAGS.to_vec()).prop_map(str::to_owned)
    }

    // Running and Failed are where the rules branch, so they come up most often.
    fn status() -> impl Strategy<Value = DeploymentStatus> {
        prop_oneof![
            4 => Just(Running),
            2 => Just(Failed),
            1 => Just(Deploying),
            1 => Just(Stopped),
        ]
    }

    fn minutes() -> impl Strategy<Value = Timestamp> {
        (-200i64..200).prop_map(at)
    }

    fn state() -> impl Strategy<Value = DeploymentState> {
        (
            status(),
            tag(),
            prop::option::of(tag()),
            prop::option::of(minutes()),
            prop::collection::btree_set(tag(), 0..3),
            prop::option::of(tag()),
        )
            .prop_map(
                |(status, current_tag, previous_tag, last_check, skipped, last_notified)| {
                    DeploymentState {
                        status,
                        current_tag,
                        previous_tag,
                        last_check,
                        skipped,
                        last_notified,
                    }
                },
            )
    }

    fn check_result() -> impl Strategy<Value = CheckResult> {
        (
            minutes(),
            tag(),
            prop::option::of(tag()),
            prop::sample::select(UpdateKind::ALL.to_vec()),
        )
            .prop_map(|(checked_at, current_tag, target, kind)| CheckResult {
                checked_at,
                current_tag,
                target,
                kind,
            })
    }

    fn config() -> impl Strategy<Value = PolicyConfig> {
        (prop::sample::select(Policy::ALL.to_vec()), 1i64..300).prop_map(|(policy, minutes)| {
            PolicyConfig::new(policy, TimeDelta::minutes(minutes)).unwrap()
        })
    }

    proptest! {
        #[test]
        fn decide_keeps_its_promises(
            state in state(),
            config in config(),
            latest in prop::option::weighted(0.8, check_result()),
            result_is_for_current_tag in prop::bool::weighted(0.8),
            now in minutes(),
        ) {
            // Mostly fresh results, so the apply and notify rules are reached often.
            let mut latest = latest;
            if let Some(result) = latest.as_mut().filter(|_| result_is_for_current_tag) {
                result.current_tag.clone_from(&state.current_tag);
            }
            let decision = decide(&state, &config, latest.as_ref(), now);
            let actions = &decision.actions;
            prop_assert!(actions.len() <= 1, "one action per decision: {actions:?}");
            let checks = actions.contains(&Action::Check);
            for action in actions {
                match action {
                    Action::Apply { target, kind } => {
                        prop_assert!(config.policy().allows(*kind), "{action:?} under {}", config.policy());
                        prop_assert!(!state.skipped.contains(target), "applied skipped {target}");
                        prop_assert!(!checks, "check and apply together");
                        prop_assert_eq!(latest.as_ref().map(|result| result.kind), Some(*kind));
                    }
                    Action::Notify(Notice::UpdateAvailable { target, .. }) => {
                        prop_assert!(!state.skipped.contains(target), "notified skipped {target}");
                        prop_assert_ne!(state.last_notified.as_ref(), Some(target));
                    }
                    Action::Notify(Notice::FailedWithoutRollback { current }) => {
                        prop_assert_eq!(state.status, Failed);
                        prop_assert_ne!(state.last_notified.as_ref(), Some(current));
                    }
                    Action::RollBack { to, from } => {
                        prop_assert_eq!(state.status, Failed);
                        prop_assert_ne!(to, from);
                        prop_assert!(!state.skipped.contains(to), "rolled back onto skipped {to}");
                    }
                    Action::Check => {
                        prop_assert_eq!(state.status, Running);
                        prop_assert_eq!(decision.next_check, Some(now));
                    }
                }
            }
            if config.policy() == Policy::Disabled {
                prop_assert!(decision.is_empty());
                prop_assert_eq!(decision.next_check, None);
            }
        }
    }
}
