//! The planner: what to do for one deployment, decided from values alone.
//!
//! Every caller that plans an update (the CLI's `plan` and `update`, the agent's cycle, the
//! API's apply, next the fleet controller) gathers the facts and asks [`plan`]; none decides
//! anything on its own. The planner is asked in two steps, because some facts cost registry
//! calls: [`needs`] says which facts a decision needs (the tag list, whether the tag a
//! deployment runs now names another image), the caller gathers those, and [`plan`] returns
//! one typed [`Plan`]: move to a target, hold it (with a [`HoldReason`]), or nothing (with a
//! [`NothingReason`]). Reasons are data; each frontend puts them in its own words.
//!
//! Around a plan: [`gate`] says whether a planned update may start now (its window, its
//! minimum age), and [`cycle`] what the agent's cycle does for a deployment (check the
//! registry when it is due; apply what the check found, or announce it, by the policy).
//!
//! # What this module does not do
//! No IO and no clock: the tag list, the registry's answers about digests and `now` come in
//! as values. It does not carry a decision out, and it does not word messages.

mod cycle;

use std::collections::BTreeSet;

use serde::Serialize;

pub use cycle::{Cycle, CycleAction, CycleState, cycle, skipped_tags};

use crate::policy::Policy;
use crate::select::{Constraints, Selected, Selector, Within};
use crate::version::Scheme;
use crate::window::Window;
use crate::{TimeDelta, Timestamp, UpdateKind};

/// What is known about a deployment before the registry is asked.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The tag it runs now.
    pub current_tag: &'a str,
    /// Whether the digest it runs is recorded (a floating tag can only be compared by it).
    pub current_digest_known: bool,
    /// Whether the tag was pinned by hand as a custom tag (a hotfix): never left by itself.
    pub custom: bool,
    /// How far it may move by itself.
    pub policy: Policy,
    /// How its tags read as versions.
    pub scheme: &'a Scheme,
    /// The rules a target must pass; its `skip` is filled from `failed`.
    pub constraints: &'a Constraints,
    /// The versions that failed and were rolled back.
    pub failed: &'a [FailedVersion],
}

/// A version that failed and was rolled back, with what the registry says of it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedVersion {
    /// The tag.
    pub tag: String,
    /// The image (manifest digest) that failed, when recorded.
    pub digest: Option<String>,
    /// Whether the tag now names another image than the one that failed: pushed again, it is
    /// another image and is tried afresh.
    pub pushed_again: bool,
}

/// What the user asked for beyond the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// A tag to move to, whatever the policy says (`--to`).
    pub to: Option<String>,
    /// The newest eligible version in any line, whatever the policy says (`--latest`).
    pub latest: bool,
}

/// The facts a decision needs from the registry, from [`needs`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The repository's tags.
    pub tags: bool,
    /// Whether the tag the deployment runs now names another image for this platform than
    /// the recorded one (and which version has that image).
    pub current_tag_image: bool,
    /// Whether each failed version's tag still names the image that failed
    /// ([`FailedVersion::pushed_again`]).
    pub failed_images: bool,
}

/// What the registry said, as [`needs`] asked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed<'a> {
    /// The repository's tags; empty when not asked.
    pub tags: &'a [String],
    /// The image the current tag names now, when it is another one than the recorded image.
    pub current_tag_moved: Option<&'a MovedTag>,
}

/// The current tag names another image now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedTag {
    /// The manifest digest the tag names now.
    pub digest: String,
    /// A version tag with the same image for this platform, when one was found.
    pub names_version: Option<String>,
}

/// The decision for one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The newest eligible version under the deployment's constraints (any line with
    /// `--latest`), whatever the policy allows.
    pub newest: Option<(String, UpdateKind)>,
    /// What to do.
    pub decision: Decision,
    /// Failed versions that would have been chosen but for their failure, to say so.
    pub skipped: Vec<String>,
}

/// What to do for one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Move to `target`.
    Move {
        /// The tag to run.
        target: String,
        /// The kind of move.
        kind: UpdateKind,
        /// The image to run, when decided here (a tag that names a new image).
        digest: Option<String>,
        /// Why.
        reason: MoveReason,
    },
    /// A newer version exists and is not applied.
    Hold {
        /// The version held back, when there is one to name.
        target: Option<String>,
        /// The kind of move it would be.
        kind: UpdateKind,
        /// The image held back, when decided here.
        digest: Option<String>,
        /// Why.
        reason: HoldReason,
    },
    /// Nothing to do.
    Nothing {
        /// Why.
        reason: NothingReason,
    },
}

/// Why a move is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MoveReason {
    /// The tag was asked for (`--to`).
    Asked,
    /// The newest eligible version was asked for (`--latest`).
    Latest,
    /// The policy applies a move of this kind; `waiting` is a newer version it does not.
    Policy {
        /// A newer version held back, and its kind.
        waiting: Option<(String, UpdateKind)>,
    },
    /// The tag it runs names a new image, which the policy (or `--to` the same tag) pulls.
    TagMoved {
        /// The version with the same image, when known.
        names_version: Option<String>,
        /// True when asked for with `--to`, false when the policy applies it.
        asked: bool,
    },
}

/// Why a newer version is held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HoldReason {
    /// The policy is `disabled`: upkeep leaves the deployment alone.
    Disabled,
    /// It runs a custom tag pinned by hand.
    CustomTag,
    /// The policy does not apply a move of this kind by itself.
    Policy,
    /// The tag it runs names a new image the policy does not apply by itself.
    TagMovedPolicy {
        /// The version with the same image, when known.
        names_version: Option<String>,
    },
    /// The move waits for the deployment's update window.
    OutsideWindow {
        /// When the window opens next; `None` when it does not within four years.
        opens: Option<Timestamp>,
    },
    /// The target is younger than the deployment's minimum age.
    TooNew {
        /// When this image was first seen under the tag.
        seen: Timestamp,
        /// When it is old enough.
        until: Timestamp,
    },
}

/// Why there is nothing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NothingReason {
    /// It runs the version asked for, and the tag still names that image.
    AlreadyRuns,
    /// No newer version is eligible.
    NoNewer,
    /// It follows a floating tag whose digest is not recorded: whether the tag moved cannot
    /// be told.
    NoDigestRecorded,
    /// It follows a floating tag that still names the image it runs.
    TagUnchanged,
    /// The floating tag's new image is the one that failed and was rolled back.
    TagMovedFailed {
        /// The version with the same image, when known.
        names_version: Option<String>,
    },
}

/// Whether the deployment follows a floating tag (`latest`, `stable`): a name that is no
/// version under its scheme, followed rather than left unless asked.
fn follows_floating_tag(facts: &Facts<'_>, overrides: &Overrides) -> bool {
    facts.scheme.parse(facts.current_tag).is_err() && !overrides.latest && !facts.custom
}

/// Which registry facts [`plan`] needs for this deployment and request.
pub fn needs(facts: &Facts<'_>, overrides: &Overrides) -> Needs {
    match &overrides.to {
        Some(to) if to == facts.current_tag => Needs {
            current_tag_image: true,
            ..Needs::default()
        },
        Some(_) => Needs::default(),
        None if facts.policy == Policy::Disabled => Needs::default(),
        // A floating tag's failed image is told by its digest alone.
        None if follows_floating_tag(facts, overrides) => Needs {
            tags: facts.current_digest_known,
            current_tag_image: facts.current_digest_known,
            failed_images: false,
        },
        None => Needs {
            tags: true,
            current_tag_image: false,
            failed_images: !facts.failed.is_empty(),
        },
    }
}

/// Decides what to do for one deployment from its facts, the user's overrides and what the
/// registry said (as [`needs`] asked).
pub fn plan(facts: &Facts<'_>, overrides: &Overrides, observed: &Observed<'_>) -> Plan {
    let nothing = |reason| Plan {
        newest: None,
        decision: Decision::Nothing { reason },
        skipped: Vec::new(),
    };
    if let Some(to) = &overrides.to {
        if to == facts.current_tag {
            return match observed.current_tag_moved {
                Some(moved) => Plan {
                    newest: None,
                    decision: Decision::Move {
                        target: to.clone(),
                        kind: UpdateKind::Digest,
                        digest: Some(moved.digest.clone()),
                        reason: MoveReason::TagMoved {
                            names_version: moved.names_version.clone(),
                            asked: true,
                        },
                    },
                    skipped: Vec::new(),
                },
                None => nothing(NothingReason::AlreadyRuns),
            };
        }
        return Plan {
            newest: None,
            decision: Decision::Move {
                target: to.clone(),
                kind: crate::version::classify(facts.current_tag, to, facts.scheme),
                digest: None,
                reason: MoveReason::Asked,
            },
            skipped: Vec::new(),
        };
    }
    if facts.policy == Policy::Disabled {
        return Plan {
            newest: None,
            decision: Decision::Hold {
                target: None,
                kind: UpdateKind::None,
                digest: None,
                reason: HoldReason::Disabled,
            },
            skipped: Vec::new(),
        };
    }
    if follows_floating_tag(facts, overrides) {
        return plan_floating(facts, observed);
    }
    plan_versions(facts, overrides, observed.tags)
}

/// A floating tag is followed: its news is a new image behind it for this platform.
fn plan_floating(facts: &Facts<'_>, observed: &Observed<'_>) -> Plan {
    let nothing = |reason| Plan {
        newest: None,
        decision: Decision::Nothing { reason },
        skipped: Vec::new(),
    };
    if !facts.current_digest_known {
        return nothing(NothingReason::NoDigestRecorded);
    }
    let Some(moved) = observed.current_tag_moved else {
        return nothing(NothingReason::TagUnchanged);
    };
    let failed_before = facts.failed.iter().any(|failed| {
        failed.tag == facts.current_tag && failed.digest.as_deref() == Some(moved.digest.as_str())
    });
    if failed_before {
        return nothing(NothingReason::TagMovedFailed {
            names_version: moved.names_version.clone(),
        });
    }
    let newest = Some((facts.current_tag.to_owned(), UpdateKind::Digest));
    let decision = if facts.policy.allows(UpdateKind::Digest) {
        Decision::Move {
            target: facts.current_tag.to_owned(),
            kind: UpdateKind::Digest,
            digest: Some(moved.digest.clone()),
            reason: MoveReason::TagMoved {
                names_version: moved.names_version.clone(),
                asked: false,
            },
        }
    } else {
        Decision::Hold {
            target: Some(facts.current_tag.to_owned()),
            kind: UpdateKind::Digest,
            digest: Some(moved.digest.clone()),
            reason: HoldReason::TagMovedPolicy {
                names_version: moved.names_version.clone(),
            },
        }
    };
    Plan {
        newest,
        decision,
        skipped: Vec::new(),
    }
}

/// A deployment on a version tag: the newest eligible version, and what the policy makes of
/// it.
fn plan_versions(facts: &Facts<'_>, overrides: &Overrides, tags: &[String]) -> Plan {
    // A failed version stays skipped while its tag still names the image that failed.
    let failed: BTreeSet<String> = facts
        .failed
        .iter()
        .filter(|failed| !failed.pushed_again)
        .map(|failed| failed.tag.clone())
        .collect();
    let mut constraints = facts.constraints.clone();
    constraints.skip.extend(failed.iter().cloned());
    if overrides.latest {
        constraints.within = Within::Any;
    }
    let pick = |constraints: &Constraints| {
        Selector::new(facts.scheme.clone(), facts.current_tag, constraints.clone())
            .select(tags.iter().map(String::as_str))
    };
    let without_skips = |mut constraints: Constraints| {
        constraints.skip.clone_from(&facts.constraints.skip);
        constraints
    };
    let newest = pick(&constraints);
    let mut skipped = Vec::new();
    // Which failed version would have been chosen, to say why it was not.
    let unskipped = pick(&without_skips(constraints.clone())).map(|s| s.tag().to_owned());
    if let Some(tag) = &unskipped
        && failed.contains(tag)
        && newest.as_ref().map(Selected::tag) != Some(tag.as_str())
    {
        skipped.push(tag.clone());
    }
    let Some(newest) = newest else {
        return Plan {
            newest: None,
            decision: Decision::Nothing {
                reason: NothingReason::NoNewer,
            },
            skipped,
        };
    };
    let newest_pair = Some((newest.tag().to_owned(), newest.kind));
    let hold = |target: &Selected, reason, skipped| Plan {
        newest: newest_pair.clone(),
        decision: Decision::Hold {
            target: Some(target.tag().to_owned()),
            kind: target.kind,
            digest: None,
            reason,
        },
        skipped,
    };
    if facts.custom && !overrides.latest {
        return hold(&newest, HoldReason::CustomTag, skipped);
    }
    if overrides.latest {
        return Plan {
            newest: newest_pair.clone(),
            decision: Decision::Move {
                target: newest.tag().to_owned(),
                kind: newest.kind,
                digest: None,
                reason: MoveReason::Latest,
            },
            skipped,
        };
    }
    // The newest version the policy applies by itself, which may be older than the newest
    // eligible one (a patch while a minor release waits).
    let in_line = |skips: bool| {
        let line = facts.policy.line()?;
        let mut narrowed = if skips {
            constraints.clone()
        } else {
            without_skips(constraints.clone())
        };
        narrowed.within = narrowed.within.min(line);
        pick(&narrowed).filter(|selected| facts.policy.allows(selected.kind))
    };
    let allowed = in_line(true);
    // A failed version the policy would have applied by itself is skipped too.
    if let Some(tag) = in_line(false).map(|selected| selected.tag().to_owned())
        && failed.contains(&tag)
        && unskipped.as_ref() != Some(&tag)
    {
        skipped.push(tag);
    }
    match allowed {
        Some(allowed) => Plan {
            newest: newest_pair.clone(),
            decision: Decision::Move {
                target: allowed.tag().to_owned(),
                kind: allowed.kind,
                digest: None,
                reason: MoveReason::Policy {
                    waiting: (allowed.tag() != newest.tag())
                        .then(|| (newest.tag().to_owned(), newest.kind)),
                },
            },
            skipped,
        },
        None => hold(&newest, HoldReason::Policy, skipped),
    }
}

/// When a deployment's moves may be made by themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Schedule<'a> {
    /// Moves are made only inside this window.
    pub window: Option<&'a Window>,
    /// A target must have been known this long (its image, under its tag).
    pub min_age: Option<TimeDelta>,
}

/// Holds a move the policy would make by itself (not one the user asked for) while the
/// schedule does not allow it: outside the window, or while the target is younger than the
/// minimum age. `first_seen` is when the target's image was first seen under its tag
/// (`None`: never before, so now).
pub fn gate(
    plan: Plan,
    schedule: &Schedule<'_>,
    first_seen: Option<Timestamp>,
    now: Timestamp,
) -> Plan {
    let Decision::Move {
        target,
        kind,
        digest,
        reason,
    } = &plan.decision
    else {
        return plan;
    };
    let by_itself = matches!(
        reason,
        MoveReason::Policy { .. } | MoveReason::TagMoved { asked: false, .. }
    );
    if !by_itself {
        return plan;
    }
    let hold = |reason| Decision::Hold {
        target: Some(target.clone()),
        kind: *kind,
        digest: digest.clone(),
        reason,
    };
    let decision = if let Some(window) = schedule.window.filter(|window| !window.contains(now)) {
        hold(HoldReason::OutsideWindow {
            opens: window.next_opening(now),
        })
    } else if let Some(min_age) = schedule.min_age {
        let seen = first_seen.unwrap_or(now).min(now);
        let until = seen
            .checked_add_signed(min_age)
            .unwrap_or(Timestamp::MAX_UTC);
        if now < until {
            hold(HoldReason::TooNew { seen, until })
        } else {
            return plan;
        }
    } else {
        return plan;
    };
    Plan { decision, ..plan }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|tag| (*tag).to_owned()).collect()
    }

    struct Case {
        current: &'static str,
        policy: Policy,
        custom: bool,
        failed: Vec<FailedVersion>,
        constraints: Constraints,
        digest_known: bool,
    }

    impl Case {
        fn new(current: &'static str, policy: Policy) -> Self {
            Self {
                current,
                policy,
                custom: false,
                failed: Vec::new(),
                constraints: Constraints::default(),
                digest_known: true,
            }
        }

        fn plan(&self, overrides: &Overrides, observed: &Observed<'_>) -> Plan {
            let facts = Facts {
                current_tag: self.current,
                current_digest_known: self.digest_known,
                custom: self.custom,
                policy: self.policy,
                scheme: &Scheme::Docker,
                constraints: &self.constraints,
                failed: &self.failed,
            };
            plan(&facts, overrides, observed)
        }

        fn needs(&self, overrides: &Overrides) -> Needs {
            let facts = Facts {
                current_tag: self.current,
                current_digest_known: self.digest_known,
                custom: self.custom,
                policy: self.policy,
                scheme: &Scheme::Docker,
                constraints: &self.constraints,
                failed: &self.failed,
            };
            needs(&facts, overrides)
        }
    }

    fn failed(tag: &str, pushed_again: bool) -> FailedVersion {
        FailedVersion {
            tag: tag.to_owned(),
            digest: Some("sha256:old".to_owned()),
            pushed_again,
        }
    }

    const TAGS: [&str; 5] = ["1.0.0", "1.0.1", "1.0.2", "1.1.0", "2.0.0"];

    #[test]
    fn a_policy_moves_as_far_as_it_allows_and_names_what_waits() {
        let tags = tags(&TAGS);
        let observed = Observed {
            tags: &tags,
            current_tag_moved: None,
        };
        let plan = Case::new("1.0.0", Policy::AutoPatch).plan(&Overrides::default(), &observed);
        // The default line is the major one: 2.0.0 is never a target without `--latest`.
        assert_eq!(plan.newest, Some(("1.1.0".to_owned(), UpdateKind::Minor)));
        assert_eq!(
            plan.decision,
            Decision::Move {
                target: "1.0.2".to_owned(),
                kind: UpdateKind::Patch,
                digest: None,
                reason: MoveReason::Policy {
                    waiting: Some(("1.1.0".to_owned(), UpdateKind::Minor))
                },
            }
        );
        let plan = Case::new("1.0.2", Policy::AutoPatch).plan(&Overrides::default(), &observed);
        assert!(
            matches!(&plan.decision, Decision::Hold { target: Some(target), reason: HoldReason::Policy, .. } if target == "1.1.0"),
            "{plan:?}"
        );
        let plan = Case::new("1.0.2", Policy::NotifyOnly).plan(&Overrides::default(), &observed);
        assert!(
            matches!(
                &plan.decision,
                Decision::Hold {
                    reason: HoldReason::Policy,
                    ..
                }
            ),
            "{plan:?}"
        );
        let plan = Case::new("2.0.0", Policy::AutoMajor).plan(&Overrides::default(), &observed);
        assert_eq!(
            plan.decision,
            Decision::Nothing {
                reason: NothingReason::NoNewer
            }
        );
    }

    #[test]
    fn failed_versions_are_skipped_until_pushed_again_and_named() {
        let tags = tags(&TAGS);
        let observed = Observed {
            tags: &tags,
            current_tag_moved: None,
        };
        let mut case = Case::new("1.0.1", Policy::AutoPatch);
        assert!(!case.needs(&Overrides::default()).failed_images);
        case.failed = vec![failed("1.0.2", false)];
        // Whether a failed tag was pushed again is asked only when a version failed.
        assert!(case.needs(&Overrides::default()).failed_images);
        let plan = case.plan(&Overrides::default(), &observed);
        assert!(
            matches!(
                &plan.decision,
                Decision::Hold {
                    reason: HoldReason::Policy,
                    ..
                }
            ),
            "{plan:?}"
        );
        assert_eq!(plan.skipped, ["1.0.2"]);
        case.failed = vec![failed("1.0.2", true)];
        let plan = case.plan(&Overrides::default(), &observed);
        assert!(
            matches!(&plan.decision, Decision::Move { target, .. } if target == "1.0.2"),
            "{plan:?}"
        );
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn overrides_custom_tags_and_disabled() {
        let tags = tags(&TAGS);
        let observed = Observed {
            tags: &tags,
            current_tag_moved: None,
        };
        let to = Overrides {
            to: Some("1.1.0".to_owned()),
            latest: false,
        };
        let case = Case::new("1.0.0", Policy::Disabled);
        assert_eq!(case.needs(&to), Needs::default());
        assert_eq!(
            case.plan(&to, &Observed::default()).decision,
            Decision::Move {
                target: "1.1.0".to_owned(),
                kind: UpdateKind::Minor,
                digest: None,
                reason: MoveReason::Asked
            }
        );
        assert_eq!(case.needs(&Overrides::default()), Needs::default());
        assert!(matches!(
            case.plan(&Overrides::default(), &Observed::default())
                .decision,
            Decision::Hold {
                reason: HoldReason::Disabled,
                ..
            }
        ));
        let mut custom = Case::new("1.0.0", Policy::AutoMajor);
        custom.custom = true;
        assert!(matches!(
            custom.plan(&Overrides::default(), &observed).decision,
            Decision::Hold {
                reason: HoldReason::CustomTag,
                ..
            }
        ));
        let latest = Overrides {
            to: None,
            latest: true,
        };
        assert!(matches!(
            &custom.plan(&latest, &observed).decision,
            Decision::Move { target, reason: MoveReason::Latest, .. } if target == "2.0.0"
        ));
    }

    #[test]
    fn a_floating_tag_is_followed_by_its_image() {
        let case = Case::new("latest", Policy::AutoPatch);
        assert_eq!(
            case.needs(&Overrides::default()),
            Needs {
                tags: true,
                current_tag_image: true,
                failed_images: false,
            }
        );
        assert_eq!(
            case.plan(&Overrides::default(), &Observed::default())
                .decision,
            Decision::Nothing {
                reason: NothingReason::TagUnchanged
            }
        );
        let moved = MovedTag {
            digest: "sha256:new".to_owned(),
            names_version: Some("1.0.1".to_owned()),
        };
        let observed = Observed {
            tags: &[],
            current_tag_moved: Some(&moved),
        };
        assert!(matches!(
            &case.plan(&Overrides::default(), &observed).decision,
            Decision::Move { kind: UpdateKind::Digest, digest: Some(digest), reason: MoveReason::TagMoved { asked: false, .. }, .. } if digest == "sha256:new"
        ));
        let notify = Case::new("latest", Policy::NotifyOnly);
        assert!(matches!(
            notify.plan(&Overrides::default(), &observed).decision,
            Decision::Hold {
                reason: HoldReason::TagMovedPolicy { .. },
                ..
            }
        ));
        let mut failed_case = Case::new("latest", Policy::AutoPatch);
        failed_case.failed = vec![FailedVersion {
            tag: "latest".to_owned(),
            digest: Some("sha256:new".to_owned()),
            pushed_again: false,
        }];
        assert!(matches!(
            failed_case.plan(&Overrides::default(), &observed).decision,
            Decision::Nothing {
                reason: NothingReason::TagMovedFailed { .. }
            }
        ));
        let mut unknown = Case::new("latest", Policy::AutoPatch);
        unknown.digest_known = false;
        assert_eq!(unknown.needs(&Overrides::default()), Needs::default());
        assert_eq!(
            unknown.plan(&Overrides::default(), &observed).decision,
            Decision::Nothing {
                reason: NothingReason::NoDigestRecorded
            }
        );
        // `--to` the same tag pulls its new image whatever the policy.
        let same = Overrides {
            to: Some("latest".to_owned()),
            latest: false,
        };
        assert!(matches!(
            notify.plan(&same, &observed).decision,
            Decision::Move {
                reason: MoveReason::TagMoved { asked: true, .. },
                ..
            }
        ));
        assert_eq!(
            notify.plan(&same, &Observed::default()).decision,
            Decision::Nothing {
                reason: NothingReason::AlreadyRuns
            }
        );
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_schedule_holds_moves_made_by_themselves_and_says_until_when() {
        let tags = tags(&TAGS);
        let observed = Observed {
            tags: &tags,
            current_tag_moved: None,
        };
        let case = Case::new("1.0.0", Policy::AutoPatch);
        let plan = case.plan(&Overrides::default(), &observed);
        assert!(matches!(&plan.decision, Decision::Move { .. }), "{plan:?}");
        let window = Window::new("* 2-4 * * *", "UTC").unwrap();
        let in_window = Schedule {
            window: Some(&window),
            min_age: Some(TimeDelta::hours(1)),
        };
        // Outside the window: held until it opens.
        let held = gate(plan.clone(), &in_window, None, at("2026-11-25T12:00:00Z"));
        assert!(
            matches!(&held.decision, Decision::Hold { reason: HoldReason::OutsideWindow { opens: Some(opens) }, .. } if *opens == at("2026-11-26T02:00:00Z")),
            "{held:?}"
        );
        // Inside, but seen ten minutes ago: held until it is an hour old.
        let seen = at("2026-11-26T02:00:00Z");
        let held = gate(
            plan.clone(),
            &in_window,
            Some(seen),
            at("2026-11-26T02:10:00Z"),
        );
        assert!(
            matches!(&held.decision, Decision::Hold { reason: HoldReason::TooNew { until, .. }, .. } if *until == at("2026-11-26T03:00:00Z")),
            "{held:?}"
        );
        // Never seen before counts from now.
        let held = gate(plan.clone(), &in_window, None, at("2026-11-26T03:10:00Z"));
        assert!(
            matches!(
                &held.decision,
                Decision::Hold {
                    reason: HoldReason::TooNew { .. },
                    ..
                }
            ),
            "{held:?}"
        );
        // Old enough inside the window: the move stands.
        let moved = gate(
            plan.clone(),
            &in_window,
            Some(seen),
            at("2026-11-26T03:10:00Z"),
        );
        assert_eq!(moved, plan);
        // A move asked for is never held by the schedule.
        let asked = case.plan(
            &Overrides {
                to: Some("1.1.0".to_owned()),
                latest: false,
            },
            &observed,
        );
        assert_eq!(
            gate(asked.clone(), &in_window, None, at("2026-11-25T12:00:00Z")),
            asked
        );
    }
}
