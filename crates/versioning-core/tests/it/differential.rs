//! Our strict `semver` scheme against the `semver` crate: same verdict on validity, same
//! precedence. Build metadata is cleared before the crate compares, since SemVer 2.0.0 gives
//! it no precedence (the crate's `Ord` breaks ties on it).

use std::cmp::Ordering;

use proptest::prelude::*;
use upkeep_versioning_core::{Scheme, Version};

use crate::corpus;

fn theirs(text: &str) -> Option<semver::Version> {
    semver::Version::parse(text).ok().map(|mut version| {
        version.build = semver::BuildMetadata::EMPTY;
        version
    })
}

fn ours(text: &str) -> Option<Version> {
    Version::parse(text, &Scheme::Semver).ok()
}

#[test]
fn corpus_validity_agrees_with_the_semver_crate() {
    let mut agreed = 0;
    for (_, tag) in corpus() {
        assert_eq!(ours(tag).is_some(), theirs(tag).is_some(), "{tag}");
        agreed += 1;
    }
    assert_eq!(agreed, 9849);
}

fn identifier() -> impl Strategy<Value = String> {
    prop_oneof![
        "(0|[1-9][0-9]{0,3})",
        "[0-9A-Za-z-]{1,6}",
        Just("alpha".to_owned()),
        Just("beta".to_owned()),
        Just("rc".to_owned()),
    ]
}

fn semver_text() -> impl Strategy<Value = String> {
    (
        "(0|[1-9][0-9]{0,2})",
        "(0|[1-9][0-9]{0,2})",
        "(0|[1-9][0-9]{0,2})",
        prop::collection::vec(identifier(), 0..4),
        prop::collection::vec("[0-9A-Za-z-]{1,5}", 0..3),
    )
        .prop_map(|(major, minor, patch, pre, build)| {
            let mut text = format!("{major}.{minor}.{patch}");
            if !pre.is_empty() {
                text.push('-');
                text.push_str(&pre.join("."));
            }
            if !build.is_empty() {
                text.push('+');
                text.push_str(&build.join("."));
            }
            text
        })
}

proptest! {
    #[test]
    fn precedence_agrees_with_the_semver_crate(a in semver_text(), b in semver_text()) {
        let (Some(ours_a), Some(ours_b)) = (ours(&a), ours(&b)) else {
            // Generated identifiers can be invalid (a leading zero); then both must refuse.
            prop_assert_eq!(ours(&a).is_some(), theirs(&a).is_some(), "{}", a);
            prop_assert_eq!(ours(&b).is_some(), theirs(&b).is_some(), "{}", b);
            return Ok(());
        };
        let (theirs_a, theirs_b) = (theirs(&a).unwrap(), theirs(&b).unwrap());
        prop_assert_eq!(ours_a.cmp(&ours_b), theirs_a.cmp(&theirs_b), "{} vs {}", a, b);
    }

    #[test]
    fn validity_agrees_with_the_semver_crate(text in "[0-9v.+-][0-9A-Za-z.+-]{0,12}") {
        prop_assert_eq!(ours(&text).is_some(), theirs(&text).is_some(), "{}", text);
    }

    #[test]
    fn equal_precedence_means_equal_versions(a in semver_text()) {
        if let Some(version) = ours(&a) {
            let stripped = a.split('+').next().unwrap_or(&a);
            prop_assert_eq!(version.cmp(&ours(stripped).unwrap()), Ordering::Equal);
        }
    }
}
