//! What a deployment is configured with: its [`Policy`] (the words, which kinds of update it
//! applies, the line a plan searches, a suggestion for a mistyped word) and its
//! [`PolicyConfig`], which adds how often the registry may be asked.
//!
//! Values only: what a cycle does with them is the planner's business.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{PolicyError, PolicyErrorKind};
use crate::{TimeDelta, UpdateKind};

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

    /// Whether deployments under this policy are checked at all: all but `disabled`.
    pub fn is_checked(self) -> bool {
        self != Self::Disabled
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
        let squashed: String = word
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        // Very short words are too far from everything for a suggestion to be more than a guess.
        if squashed.chars().count() < 3 {
            return None;
        }
        let candidates = Self::ALL
            .into_iter()
            .map(|policy| (policy.as_str(), policy))
            .chain(SHORTHANDS);
        let mut best: Option<(usize, Self)> = None;
        for (name, policy) in candidates {
            let name: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
            let distance = crate::suggest::edit_distance(&squashed, &name);
            if distance <= 2 && best.is_none_or(|(best_distance, _)| distance < best_distance) {
                best = Some((distance, policy));
            }
        }
        best.map(|(_, policy)| policy)
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use UpdateKind::{Build, Downgrade, Major, Minor, Patch, Prerelease, Unknown};

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
}
