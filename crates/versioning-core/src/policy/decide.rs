//! The pure decision of one cycle: [`decide`] and its rules, and what it returns
//! ([`Decision`], its [`Action`]s and [`Notice`]s).
//!
//! It performs none of the actions and reads no clock: the state, the latest check result and
//! `now` come in as arguments.

use std::fmt;

use super::{CheckResult, DeploymentState, DeploymentStatus, Policy, PolicyConfig};
use crate::{Timestamp, UpdateKind};

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
    if config.policy() == Policy::Disabled {
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
        .filter(|&checked| now.signed_duration_since(checked) < config.check_interval());
    let result = latest.filter(|result| result.current_tag == state.current_tag);
    let (Some(last_check), Some(result)) = (last_check, result) else {
        return Decision {
            actions: vec![Action::Check],
            next_check: Some(now),
        };
    };

    Decision {
        actions: update_action(state, config.policy(), result)
            .into_iter()
            .collect(),
        // `None` only if the due time is beyond the calendar, i.e. never.
        next_check: last_check.checked_add_signed(config.check_interval()),
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
    use proptest::prelude::*;

    use super::*;
    use crate::TimeDelta;
    use crate::policy::test_support::*;

    use DeploymentStatus::{Deploying, Failed, Running, Stopped};
    use UpdateKind::{Build, Downgrade, Major, Minor, Patch, Prerelease, Unknown};

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
            // A new image behind the tag it runs is judged by digest, not by the tag's skip.
            let new_image_of_same_tag =
                latest.as_ref().is_some_and(|result| result.kind == UpdateKind::Digest);
            for action in actions {
                match action {
                    Action::Apply { target, kind } => {
                        prop_assert!(config.policy().allows(*kind), "{action:?} under {}", config.policy());
                        prop_assert!(
                            new_image_of_same_tag || !state.skipped.contains(target),
                            "applied skipped {target}"
                        );
                        prop_assert!(!checks, "check and apply together");
                        prop_assert_eq!(latest.as_ref().map(|result| result.kind), Some(*kind));
                    }
                    Action::Notify(Notice::UpdateAvailable { target, .. }) => {
                        prop_assert!(
                            new_image_of_same_tag || !state.skipped.contains(target),
                            "notified skipped {target}"
                        );
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
