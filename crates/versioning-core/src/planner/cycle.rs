//! One cycle of the agent for one deployment: whether the registry is due to be asked, and
//! whether what the last check found is applied or announced, by the policy.
//!
//! The agent keeps a [`CycleState`] per deployment and the last [`CheckResult`]; [`cycle`]
//! says what to do now ([`CycleAction`]) and when the next check falls due. What the target of
//! a check is (policy lines, constraints, failed versions) is the planner's [`plan`](super::plan)
//! and arrives here as the check's result; when an update may start (window, minimum age) is
//! [`gate`](super::gate)'s.
//!
//! It performs none of the actions and reads no clock: the state, the latest check result and
//! `now` come in as arguments. It does not roll back: the engine puts a sick version back
//! within the update itself, and records it as failed for later plans.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::policy::{CheckResult, Policy, PolicyConfig};
use crate::{Timestamp, UpdateKind};

/// What the agent keeps about one deployment between cycles.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CycleState {
    /// The tag it runs now.
    pub current_tag: String,
    /// When the registry was last asked about it; `None` before the first check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<Timestamp>,
    /// Tags never to apply or announce again (versions that failed).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub skipped: BTreeSet<String>,
    /// The target last announced, so that one target is announced once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_notified: Option<String>,
}

impl CycleState {
    /// A deployment running `current_tag`, never checked.
    pub fn new(current_tag: impl Into<String>) -> Self {
        Self {
            current_tag: current_tag.into(),
            ..Self::default()
        }
    }
}

/// What one cycle does for a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CycleAction {
    /// Ask the registry (through the planner's plan), then ask [`cycle`] again with the result
    /// and the same `now`.
    Check,
    /// Update to `target`, which the policy allows; the engine then notifies once it knows
    /// whether the update came up.
    Apply {
        /// The tag to move to.
        target: String,
        /// What kind of move it is.
        kind: UpdateKind,
    },
    /// Tell people that `target` is available; the policy does not apply it.
    Announce {
        /// The tag available.
        target: String,
        /// What kind of move it is.
        kind: UpdateKind,
    },
}

impl fmt::Display for CycleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Check => f.write_str("check for updates"),
            Self::Apply { target, kind } => write!(f, "apply {target} ({kind})"),
            Self::Announce { target, kind } => write!(
                f,
                "announce: update to {target} available ({kind}); not applied by the policy"
            ),
        }
    }
}

/// What [`cycle`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cycle {
    /// What to do now; `None` when there is nothing to do.
    pub action: Option<CycleAction>,
    /// When the next registry check falls due if nothing else changes, so the caller may sleep
    /// until then: `now` when [`CycleAction::Check`] is asked for, `None` when the policy is
    /// `disabled`.
    pub next_check: Option<Timestamp>,
}

/// What one cycle does for a deployment, and when its next check falls due.
///
/// The rules, in order:
/// 1. `disabled`: nothing, and no next check.
/// 2. The last check is absent, at least `check_interval` old, or `latest` is absent or stale
///    (made for another current tag): [`CycleAction::Check`].
/// 3. A fresh result whose target is a non-empty tag other than the current one, not skipped,
///    and an upgrade (or a new image behind the same tag, `digest`): [`CycleAction::Apply`] if
///    the policy allows its kind, otherwise [`CycleAction::Announce`] unless `last_notified`
///    already names the target. Anything else (no target, the current tag, a skipped tag,
///    `none`, `downgrade`, `unknown`): nothing.
///
/// A last check later than `now` means the clock went backwards; the check counts as fresh
/// (no panic, no extra registry traffic) and falls due again `check_interval` after it.
///
/// # The caller's loop
/// For each deployment and cycle: call `cycle`; if it asks for [`CycleAction::Check`], ask
/// the registry, set `last_check` to `now` and keep the result as `latest` (a failed check
/// becomes a result with no target, so the rate limit holds), then call `cycle` once more
/// with the same `now` and carry out what that returns. After an announcement, store its
/// target in `last_notified`.
///
/// ```
/// use upkeep_versioning_core::planner::{CycleAction, CycleState, cycle};
/// use upkeep_versioning_core::policy::{CheckResult, Policy, PolicyConfig};
/// use upkeep_versioning_core::{Timestamp, UpdateKind};
///
/// let now = Timestamp::from_timestamp(1_760_000_000, 0).ok_or("out of range")?;
/// let config = PolicyConfig::from(Policy::AutoPatch);
/// let mut state = CycleState::new("1.2.3");
///
/// let first = cycle(&state, &config, None, now);
/// assert_eq!(first.action, Some(CycleAction::Check));
///
/// // The caller asks the registry (the plan finds 1.2.4) and records the check.
/// state.last_check = Some(now);
/// let latest = CheckResult {
///     checked_at: now,
///     current_tag: "1.2.3".to_owned(),
///     target: Some("1.2.4".to_owned()),
///     kind: UpdateKind::Patch,
/// };
/// let second = cycle(&state, &config, Some(&latest), now);
/// assert_eq!(
///     second.action,
///     Some(CycleAction::Apply { target: "1.2.4".to_owned(), kind: UpdateKind::Patch })
/// );
/// assert_eq!(second.next_check, Some(now + config.check_interval()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn cycle(
    state: &CycleState,
    config: &PolicyConfig,
    latest: Option<&CheckResult>,
    now: Timestamp,
) -> Cycle {
    if config.policy() == Policy::Disabled {
        return Cycle {
            action: None,
            next_check: None,
        };
    }
    // Without a fresh check there is nothing safe to act on.
    let last_check = state
        .last_check
        // A negative age (the clock went backwards) is below any positive interval: fresh.
        .filter(|&checked| now.signed_duration_since(checked) < config.check_interval());
    let result = latest.filter(|result| result.current_tag == state.current_tag);
    let (Some(last_check), Some(result)) = (last_check, result) else {
        return Cycle {
            action: Some(CycleAction::Check),
            next_check: Some(now),
        };
    };
    Cycle {
        action: update_action(state, config.policy(), result),
        // `None` only if the due time is beyond the calendar, i.e. never.
        next_check: last_check.checked_add_signed(config.check_interval()),
    }
}

/// The tags a cycle passes by: every version that failed (`failed`: tag and the image that
/// failed, as the manifest records them), except a tag the check found at `target_digest`
/// when that is another image than the one that failed: pushed again, it is tried afresh.
pub fn skipped_tags(
    failed: &[(String, Option<String>)],
    target: Option<&str>,
    target_digest: Option<&str>,
) -> BTreeSet<String> {
    failed
        .iter()
        .filter(|(tag, failed_digest)| {
            let pushed_again = Some(tag.as_str()) == target
                && failed_digest.is_some()
                && target_digest.is_some()
                && failed_digest.as_deref() != target_digest;
            !pushed_again
        })
        .map(|(tag, _)| tag.clone())
        .collect()
}

/// Apply or announce what a fresh check found, or nothing.
fn update_action(state: &CycleState, policy: Policy, result: &CheckResult) -> Option<CycleAction> {
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
        return Some(CycleAction::Apply {
            target: target.clone(),
            kind: result.kind,
        });
    }
    if state.last_notified.as_ref() == Some(target) {
        return None;
    }
    Some(CycleAction::Announce {
        target: target.clone(),
        kind: result.kind,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::TimeDelta;
    use crate::policy::test_support::*;

    use UpdateKind::{Build, Downgrade, Major, Minor, Patch, Prerelease, Unknown};

    struct Case {
        name: &'static str,
        policy: Policy,
        current: &'static str,
        last_check: Option<i64>,
        skipped: &'static [&'static str],
        last_notified: Option<&'static str>,
        latest: Option<(&'static str, Option<&'static str>, UpdateKind)>,
        now: i64,
        expected: Option<CycleAction>,
        next_check: Option<i64>,
    }

    fn case(name: &'static str) -> Case {
        Case {
            name,
            policy: Policy::AutoPatch,
            current: "1.2.3",
            last_check: Some(0),
            skipped: &[],
            last_notified: None,
            latest: None,
            now: 0,
            expected: None,
            next_check: None,
        }
    }

    impl Case {
        fn run(&self) -> Cycle {
            let mut state = CycleState::new(self.current);
            state.last_check = self.last_check.map(at);
            state.skipped = self.skipped.iter().map(|tag| (*tag).to_owned()).collect();
            state.last_notified = self.last_notified.map(str::to_owned);
            let latest = self.latest.map(|(current, target, kind)| CheckResult {
                checked_at: at(self.last_check.unwrap_or(0)),
                current_tag: current.to_owned(),
                target: target.map(str::to_owned),
                kind,
            });
            cycle(
                &state,
                &PolicyConfig::from(self.policy),
                latest.as_ref(),
                at(self.now),
            )
        }
    }

    fn apply(target: &str, kind: UpdateKind) -> CycleAction {
        CycleAction::Apply {
            target: target.to_owned(),
            kind,
        }
    }

    fn available(target: &str, kind: UpdateKind) -> CycleAction {
        CycleAction::Announce {
            target: target.to_owned(),
            kind,
        }
    }

    #[test]
    fn cycle_follows_the_rules() {
        let cases = [
            // Checking.
            Case {
                last_check: None,
                expected: Some(CycleAction::Check),
                next_check: Some(0),
                ..case("check when never checked")
            },
            Case {
                last_check: None,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                expected: Some(CycleAction::Check),
                next_check: Some(0),
                ..case("check when never checked, even with a result")
            },
            Case {
                expected: Some(CycleAction::Check),
                next_check: Some(0),
                ..case("check when checked but no result is known")
            },
            Case {
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                now: 59,
                expected: Some(apply("1.2.4", Patch)),
                next_check: Some(60),
                ..case("no check within the hour")
            },
            Case {
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                now: 60,
                expected: Some(CycleAction::Check),
                next_check: Some(60),
                ..case("check exactly at one hour")
            },
            Case {
                latest: Some(("1.2.3", None, UpdateKind::None)),
                now: 61,
                expected: Some(CycleAction::Check),
                next_check: Some(61),
                ..case("check after the hour")
            },
            Case {
                current: "1.2.4",
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                now: 5,
                expected: Some(CycleAction::Check),
                next_check: Some(5),
                ..case("stale result after a move is a check, not a re-apply")
            },
            Case {
                last_check: Some(30),
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                now: 0,
                expected: Some(apply("1.2.4", Patch)),
                next_check: Some(90),
                ..case("clock backwards counts as fresh")
            },
            Case {
                last_check: Some(100_000),
                latest: Some(("1.2.3", None, UpdateKind::None)),
                now: 0,
                expected: None,
                next_check: Some(100_060),
                ..case("clock far backwards: no check, no panic")
            },
            // Applying and notifying.
            Case {
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                now: 10,
                expected: Some(apply("1.2.4", Patch)),
                next_check: Some(60),
                ..case("auto_patch applies a patch")
            },
            Case {
                latest: Some(("1.2.3.4", Some("1.2.3.5"), Build)),
                current: "1.2.3.4",
                expected: Some(apply("1.2.3.5", Build)),
                next_check: Some(60),
                ..case("auto_patch applies a build")
            },
            Case {
                latest: Some(("1.2.3-rc1", Some("1.2.3"), Prerelease)),
                current: "1.2.3-rc1",
                expected: Some(apply("1.2.3", Prerelease)),
                next_check: Some(60),
                ..case("auto_patch applies a pre-release step")
            },
            Case {
                latest: Some(("1.2.3", Some("1.3.0"), Minor)),
                expected: Some(available("1.3.0", Minor)),
                next_check: Some(60),
                ..case("auto_patch notifies a minor")
            },
            Case {
                policy: Policy::AutoMinor,
                latest: Some(("1.2.3", Some("1.3.0"), Minor)),
                expected: Some(apply("1.3.0", Minor)),
                next_check: Some(60),
                ..case("auto_minor applies a minor")
            },
            Case {
                policy: Policy::AutoMinor,
                latest: Some(("1.2.3", Some("2.0.0"), Major)),
                expected: Some(available("2.0.0", Major)),
                next_check: Some(60),
                ..case("auto_minor notifies a major")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some("2.0.0"), Major)),
                expected: Some(apply("2.0.0", Major)),
                next_check: Some(60),
                ..case("auto_major applies a major")
            },
            Case {
                policy: Policy::NotifyOnly,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                expected: Some(available("1.2.4", Patch)),
                next_check: Some(60),
                ..case("notify_only notifies even a patch")
            },
            Case {
                policy: Policy::NotifyOnly,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                last_notified: Some("1.2.4"),
                now: 30,
                expected: None,
                next_check: Some(60),
                ..case("notify_only does not notify the same target twice")
            },
            Case {
                policy: Policy::NotifyOnly,
                latest: Some(("1.2.3", Some("1.2.5"), Patch)),
                last_notified: Some("1.2.4"),
                expected: Some(available("1.2.5", Patch)),
                next_check: Some(60),
                ..case("notify_only notifies a newer target")
            },
            Case {
                policy: Policy::AutoMinor,
                latest: Some(("1.2.3", Some("1.3.0"), Minor)),
                last_notified: Some("1.3.0"),
                expected: Some(apply("1.3.0", Minor)),
                next_check: Some(60),
                ..case("a notified target is applied once the policy allows it")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                skipped: &["1.2.4"],
                expected: None,
                next_check: Some(60),
                ..case("skipped target is not applied")
            },
            Case {
                policy: Policy::NotifyOnly,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                skipped: &["1.2.4"],
                expected: None,
                next_check: Some(60),
                ..case("skipped target is not notified")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", None, UpdateKind::None)),
                expected: None,
                next_check: Some(60),
                ..case("no target, nothing")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some("1.2.3"), Patch)),
                expected: None,
                next_check: Some(60),
                ..case("target equal to the current tag, nothing")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some(""), Patch)),
                expected: None,
                next_check: Some(60),
                ..case("empty target, nothing")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some("v1.2.3"), UpdateKind::None)),
                expected: None,
                next_check: Some(60),
                ..case("same version under another tag, nothing")
            },
            Case {
                policy: Policy::NotifyOnly,
                latest: Some(("1.2.3", Some("1.2.2"), Downgrade)),
                expected: None,
                next_check: Some(60),
                ..case("downgrade is neither applied nor notified")
            },
            Case {
                policy: Policy::AutoMajor,
                latest: Some(("1.2.3", Some("latest"), Unknown)),
                expected: None,
                next_check: Some(60),
                ..case("unknown kind is neither applied nor notified")
            },
            // Disabled.
            Case {
                policy: Policy::Disabled,
                last_check: None,
                expected: None,
                next_check: None,
                ..case("disabled: no check")
            },
            Case {
                policy: Policy::Disabled,
                latest: Some(("1.2.3", Some("1.2.4"), Patch)),
                expected: None,
                next_check: None,
                ..case("disabled: no apply")
            },
        ];
        for case in cases {
            let decided = case.run();
            assert_eq!(decided.action, case.expected, "{}", case.name);
            assert_eq!(
                decided.next_check,
                case.next_check.map(at),
                "next check for {}",
                case.name
            );
        }
    }

    #[test]
    fn a_failed_tag_is_skipped_until_it_names_another_image() {
        let failed = [
            ("1.2.4".to_owned(), Some("sha256:bad".to_owned())),
            ("1.2.5".to_owned(), None),
        ];
        let skipped = |target, digest| {
            skipped_tags(&failed, target, digest)
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(skipped(None, None), ["1.2.4", "1.2.5"]);
        assert_eq!(
            skipped(Some("1.2.4"), Some("sha256:bad")),
            ["1.2.4", "1.2.5"]
        );
        // Pushed again: another image under the failed tag.
        assert_eq!(skipped(Some("1.2.4"), Some("sha256:new")), ["1.2.5"]);
        // Without a recorded digest, it cannot tell: still skipped.
        assert_eq!(
            skipped(Some("1.2.5"), Some("sha256:new")),
            ["1.2.4", "1.2.5"]
        );
        assert_eq!(skipped(Some("1.2.4"), None), ["1.2.4", "1.2.5"]);
    }

    #[test]
    fn check_then_decide_again_in_the_same_cycle() {
        let config = PolicyConfig::from(Policy::AutoMinor);
        let mut state = CycleState::new("1.2.3");
        let now = at(0);
        assert_eq!(
            cycle(&state, &config, None, now).action,
            Some(CycleAction::Check)
        );
        state.last_check = Some(now);
        // A failed check is recorded as a result without a target: no check again this hour.
        let failed = CheckResult {
            checked_at: now,
            current_tag: "1.2.3".to_owned(),
            target: None,
            kind: UpdateKind::None,
        };
        let again = cycle(&state, &config, Some(&failed), now);
        assert_eq!(again.action, None);
        assert_eq!(again.next_check, Some(at(60)));
    }

    #[test]
    fn custom_interval_is_respected() {
        let config = PolicyConfig::new(Policy::AutoPatch, TimeDelta::minutes(10)).unwrap();
        let mut state = CycleState::new("1.2.3");
        state.last_check = Some(at(0));
        let latest = CheckResult {
            checked_at: at(0),
            current_tag: "1.2.3".to_owned(),
            target: None,
            kind: UpdateKind::None,
        };
        let fresh = cycle(&state, &config, Some(&latest), at(9));
        assert_eq!((fresh.action, fresh.next_check), (None, Some(at(10))));
        let due = cycle(&state, &config, Some(&latest), at(10));
        assert_eq!(due.action, Some(CycleAction::Check));
    }

    #[test]
    fn actions_read_well() {
        let lines = [
            CycleAction::Check.to_string(),
            apply("1.2.4", Patch).to_string(),
            available("2.0.0", Major).to_string(),
        ];
        assert_eq!(
            lines,
            [
                "check for updates",
                "apply 1.2.4 (patch)",
                "announce: update to 2.0.0 available (major); not applied by the policy",
            ]
        );
    }

    #[test]
    fn state_serializes_omitting_empty_fields() {
        let state = CycleState::new("1.2.3");
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            r#"{"current_tag":"1.2.3"}"#
        );
        let mut full = CycleState::new("1.2.4");
        full.last_check = Some(base());
        full.skipped.insert("1.2.5".to_owned());
        full.last_notified = Some("2.0.0".to_owned());
        let yaml = yaml_serde::to_string(&full).unwrap();
        assert_eq!(yaml_serde::from_str::<CycleState>(&yaml).unwrap(), full);
    }

    // ---- properties ----

    const TAGS: [&str; 5] = ["1.2.3", "1.2.4", "1.3.0", "2.0.0", ""];

    fn tag() -> impl Strategy<Value = String> {
        prop::sample::select(TAGS.to_vec()).prop_map(str::to_owned)
    }

    fn minutes() -> impl Strategy<Value = Timestamp> {
        (-200i64..200).prop_map(at)
    }

    fn state() -> impl Strategy<Value = CycleState> {
        (
            tag(),
            prop::option::of(minutes()),
            prop::collection::btree_set(tag(), 0..3),
            prop::option::of(tag()),
        )
            .prop_map(
                |(current_tag, last_check, skipped, last_notified)| CycleState {
                    current_tag,
                    last_check,
                    skipped,
                    last_notified,
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
        fn cycle_keeps_its_promises(
            state in state(),
            config in config(),
            latest in prop::option::weighted(0.8, check_result()),
            result_is_for_current_tag in prop::bool::weighted(0.8),
            now in minutes(),
        ) {
            // Mostly fresh results, so the apply and announce rules are reached often.
            let mut latest = latest;
            if let Some(result) = latest.as_mut().filter(|_| result_is_for_current_tag) {
                result.current_tag.clone_from(&state.current_tag);
            }
            let decided = cycle(&state, &config, latest.as_ref(), now);
            // A new image behind the tag it runs is judged by digest, not by the tag's skip.
            let new_image_of_same_tag =
                latest.as_ref().is_some_and(|result| result.kind == UpdateKind::Digest);
            match &decided.action {
                Some(action @ CycleAction::Apply { target, kind }) => {
                    prop_assert!(config.policy().allows(*kind), "{action:?} under {}", config.policy());
                    prop_assert!(
                        new_image_of_same_tag || !state.skipped.contains(target),
                        "applied skipped {target}"
                    );
                    prop_assert_eq!(latest.as_ref().map(|result| result.kind), Some(*kind));
                }
                Some(CycleAction::Announce { target, .. }) => {
                    prop_assert!(
                        new_image_of_same_tag || !state.skipped.contains(target),
                        "announced skipped {target}"
                    );
                    prop_assert_ne!(state.last_notified.as_ref(), Some(target));
                }
                Some(CycleAction::Check) => {
                    prop_assert_eq!(decided.next_check, Some(now));
                }
                None => {}
            }
            if config.policy() == Policy::Disabled {
                prop_assert_eq!(decided.action, None);
                prop_assert_eq!(decided.next_check, None);
            }
        }
    }
}
