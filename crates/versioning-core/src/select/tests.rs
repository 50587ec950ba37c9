//! Tests for target selection, including the traps peers fell into.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::DateTime;

use super::*;

fn pick(current: &str, tags: &[&str], constraints: Constraints) -> Option<String> {
    select(Scheme::Docker, current, tags.iter().copied(), constraints)
        .map(|selected| selected.tag().to_owned())
}

fn pick_default(current: &str, tags: &[&str]) -> Option<String> {
    pick(current, tags, Constraints::default())
}

fn within(within: Within) -> Constraints {
    Constraints {
        within,
        ..Constraints::default()
    }
}

const NGINX: &[&str] = &[
    "1.24.0",
    "1.25.3",
    "1.25.4",
    "1.25",
    "1.26.0",
    "1.26",
    "1",
    "1.25.3-alpine",
    "1.25.4-alpine",
    "1.26.0-alpine",
    "1.26.0-alpine-perl",
    "1.27.0-alpine3.20",
    "2.0.0",
    "2.0.0-alpine",
    "latest",
    "mainline",
    "stable-alpine",
];

#[test]
fn newest_compatible_within_the_major_line_by_default() {
    assert_eq!(pick_default("1.25.3", NGINX).as_deref(), Some("1.26.0"));
    assert_eq!(
        pick_default("1.25.3-alpine", NGINX).as_deref(),
        Some("1.26.0-alpine")
    );
    assert_eq!(pick_default("1.25", NGINX).as_deref(), Some("1.26"));
    assert_eq!(pick_default("2.0.0", NGINX), None);
}

#[test]
fn within_limits_the_line() {
    assert_eq!(
        pick("1.25.3", NGINX, within(Within::Minor)).as_deref(),
        Some("1.25.4")
    );
    assert_eq!(
        pick("1.25.3", NGINX, within(Within::Any)).as_deref(),
        Some("2.0.0")
    );
    assert_eq!(pick("1.25.3", NGINX, within(Within::Patch)), None);
    let tags = ["1.2.3.4", "1.2.3.9", "1.2.4.0"];
    assert_eq!(
        pick("1.2.3.4", &tags, within(Within::Patch)).as_deref(),
        Some("1.2.3.9")
    );
    assert_eq!(
        pick("1.2.3.4", &tags, within(Within::Minor)).as_deref(),
        Some("1.2.4.0")
    );
}

#[test]
fn no_flip_flop_between_floating_and_full_tags() {
    // The floating `1.20` sorts after `1.20.0`, but they are not compatible, so neither is
    // ever offered for the other.
    let tags = ["1.20", "1.20.0", "1.20.1"];
    assert_eq!(pick_default("1.20", &tags), None);
    assert_eq!(pick_default("1.20.0", &tags).as_deref(), Some("1.20.1"));
    assert_eq!(pick_default("1.20.1", &tags), None);
}

#[test]
fn no_move_to_a_longer_variant() {
    let tags = ["1.12-alpine", "1.15-alpine-perl", "1.13-alpine"];
    assert_eq!(
        pick_default("1.12-alpine", &tags).as_deref(),
        Some("1.13-alpine")
    );
    assert_eq!(pick_default("1.12-alpine", &["1.15-alpine-perl"]), None);
}

#[test]
fn no_older_beta_offered_as_an_upgrade() {
    let tags = ["2.0.0-beta1", "2.0.0-beta2", "2.0.0-beta3", "1.9.0"];
    assert_eq!(
        pick_default("2.0.0-beta2", &tags).as_deref(),
        Some("2.0.0-beta3")
    );
    assert_eq!(pick_default("2.0.0-beta3", &tags), None);
    // And never from the release back to its pre-release.
    assert_eq!(pick_default("2.0.0", &["2.0.0-rc1", "2.0.0-beta9"]), None);
}

#[test]
fn stable_only_unless_asked() {
    let tags = ["1.2.4", "1.3.0-rc1", "1.3.0rc2"];
    assert_eq!(pick_default("1.2.3", &tags).as_deref(), Some("1.2.4"));
    let allowed = Constraints {
        allow_prerelease: true,
        ..Constraints::default()
    };
    // `rc2` glued and `-rc1` after a dash are both pre-releases without a variant, so they
    // compare, and the newer one wins.
    assert_eq!(pick("1.2.3", &tags, allowed).as_deref(), Some("1.3.0rc2"));
}

#[test]
fn a_current_prerelease_moves_to_its_release_or_a_newer_prerelease() {
    let tags = ["3.15.0rc1", "3.15.0rc2", "3.15.0", "3.16.0rc1"];
    assert_eq!(pick_default("3.15.0rc1", &tags).as_deref(), Some("3.15.0"));
    assert_eq!(
        pick_default("3.15.0rc1", &["3.15.0rc2", "3.16.0rc1"]).as_deref(),
        Some("3.15.0rc2")
    );
}

#[test]
fn names_resolve_to_the_newest_plain_release() {
    let tags = [
        "1.25.3",
        "1.26.0",
        "1.26.0-alpine",
        "2.0.0-rc1",
        "latest",
        "1a2b3c4d",
    ];
    assert_eq!(pick_default("latest", &tags).as_deref(), Some("1.26.0"));
    let selected = select(Scheme::Docker, "stable", tags, Constraints::default()).unwrap();
    assert_eq!(selected.kind, UpdateKind::Unknown);
    // Date stamps are snapshots, not major versions.
    assert_eq!(
        pick_default("latest", &["3.24.1", "20260805"]).as_deref(),
        Some("3.24.1")
    );
    let any = within(Within::Any);
    assert_eq!(
        pick("3", &["3", "4", "20260805"], any.clone()).as_deref(),
        Some("4")
    );
    assert_eq!(
        pick("20260701", &["3", "20260805"], any).as_deref(),
        Some("20260805")
    );
    // A floating tag covers the specific one, so it is the newest.
    assert_eq!(
        pick_default("latest", &["1.26.0", "1.26", "1"]).as_deref(),
        Some("1")
    );
}

#[test]
fn include_exclude_and_ranges() {
    let tags = ["1.2.4", "1.3.0", "1.4.0", "1.5.0"];
    let exclude = Constraints {
        exclude: Some(Regex::new(r"^1\.5\.").unwrap()),
        ..Constraints::default()
    };
    assert_eq!(pick("1.2.3", &tags, exclude).as_deref(), Some("1.4.0"));
    let include = Constraints {
        include: Some(Regex::new(r"^1\.[23]\.").unwrap()),
        ..Constraints::default()
    };
    assert_eq!(pick("1.2.3", &tags, include).as_deref(), Some("1.3.0"));
    let range = Constraints {
        range: Some(Range::parse("~1.2").unwrap()),
        ..Constraints::default()
    };
    assert_eq!(pick("1.2.3", &tags, range).as_deref(), Some("1.2.4"));
    let range = Constraints {
        range: Some(Range::parse(">=1.2 <1.5").unwrap()),
        ..Constraints::default()
    };
    assert_eq!(pick("1.2.3", &tags, range).as_deref(), Some("1.4.0"));
}

#[test]
fn skipped_versions_are_never_chosen() {
    let tags = ["1.2.4", "v1.3.0", "1.2.5"];
    let skip = Constraints {
        skip: BTreeSet::from(["1.3.0".to_owned()]),
        ..Constraints::default()
    };
    // `v1.3.0` is the same version as the skipped `1.3.0`.
    assert_eq!(pick("1.2.3", &tags, skip).as_deref(), Some("1.2.5"));
}

#[test]
fn minimum_age_uses_push_times_and_now() {
    let now = DateTime::from_timestamp(1_760_000_000, 0).unwrap();
    let hours_ago = |hours: i64| now - TimeDelta::hours(hours);
    let candidates = [
        Candidate::from(("1.2.4", hours_ago(72))),
        Candidate::from(("1.2.5", hours_ago(2))),
        Candidate::from("1.2.6"),
    ];
    let constraints = Constraints {
        minimum_age: Some(MinimumAge {
            age: TimeDelta::days(1),
            now,
        }),
        ..Constraints::default()
    };
    let selector = Selector::new(Scheme::Docker, "1.2.3", constraints);
    let selected = selector.select(candidates).unwrap();
    assert_eq!(selected.tag(), "1.2.4");
    assert_eq!(selected.pushed_at, Some(hours_ago(72)));
    assert_eq!(
        selector.eligibility(candidates[1]).unwrap_err(),
        Rejection::TooNew {
            age: TimeDelta::hours(2)
        }
    );
    assert_eq!(
        selector.eligibility(candidates[2]).unwrap_err(),
        Rejection::UnknownAge
    );
}

#[test]
fn eligibility_names_the_first_failed_rule() {
    let selector = Selector::new(Scheme::Docker, "1.25.3-alpine", Constraints::default());
    let rejection = |tag: &str| selector.eligibility(tag).unwrap_err().to_string();
    assert_eq!(
        rejection("latest"),
        "not a version: 'latest' is not a version: a version starts with a digit, or 'v' and a digit"
    );
    assert_eq!(
        rejection("1.26.0"),
        "another variant or number of release parts than the current tag"
    );
    assert_eq!(
        rejection("1.25.2-alpine"),
        "not newer than the current version"
    );
    assert_eq!(rejection("2.0.0-alpine"), "outside the current major line");
    assert_eq!(
        rejection("1.26.0-rc1-alpine"),
        "a pre-release, and pre-releases are not allowed"
    );
    assert_eq!(
        selector.eligibility("1.26.0-alpine").unwrap().to_string(),
        "1.26.0-alpine"
    );
    assert_eq!(
        selector.current().map(ToString::to_string).as_deref(),
        Some("1.25.3-alpine")
    );
}

#[test]
fn selection_reports_the_kind() {
    let selected = select(
        Scheme::Docker,
        "1.25.3",
        NGINX.iter().copied(),
        within(Within::Any),
    )
    .unwrap();
    assert_eq!(
        (selected.tag(), selected.kind),
        ("2.0.0", UpdateKind::Major)
    );
}

#[test]
fn equal_versions_keep_the_first_offered() {
    assert_eq!(
        pick_default("1.0.0", &["v1.1.0", "1.1.0"]).as_deref(),
        Some("v1.1.0")
    );
    assert_eq!(
        pick_default("1.0.0", &["1.1.0", "v1.1.0"]).as_deref(),
        Some("1.1.0")
    );
}

#[test]
fn within_words_round_trip() {
    for within in [Within::Patch, Within::Minor, Within::Major, Within::Any] {
        assert_eq!(within.as_str().parse::<Within>().unwrap(), within);
    }
    assert_eq!(
        "majr".parse::<Within>().unwrap_err().to_string(),
        "unknown line 'majr': expected 'patch', 'minor', 'major' or 'any'"
    );
}

#[test]
fn newest_of_any_kind_and_listings() {
    let tags = [
        "1.2.3",
        "1.3.0-rc1",
        "1.2.4-alpine",
        "latest",
        "1.2.4",
        "v1.2.4",
    ];
    let newest = newest(&Scheme::Docker, tags).unwrap();
    assert_eq!(newest.as_str(), "1.3.0-rc1");
    let ordered: Vec<String> = newest_first(&Scheme::Docker, tags)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ordered,
        ["1.3.0-rc1", "1.2.4", "v1.2.4", "1.2.4-alpine", "1.2.3"]
    );
    assert_eq!(names(&Scheme::Docker, tags), ["latest"]);
    assert_eq!(super::newest(&Scheme::Docker, ["latest"]), None);
}
