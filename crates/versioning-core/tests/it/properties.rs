//! The laws: the order is total, antisymmetric and transitive and agrees with hashing; parse
//! then display gives the input back; `select` returns an eligible tag and no eligible tag is
//! newer.

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use proptest::prelude::*;
use upkeep_versioning_core::select::{Constraints, Selector, Within};
use upkeep_versioning_core::{Scheme, Version, version};

/// Docker-style tags built from the pieces real tags are made of.
fn docker_tag() -> impl Strategy<Value = String> {
    let number = prop_oneof![4 => 0u64..12, 1 => Just(2024u64), 1 => Just(20_260_805u64)];
    let release = prop::collection::vec((number, prop::bool::weighted(0.1)), 1..5);
    let prerelease = prop_oneof![
        6 => Just(String::new()),
        1 => "(rc|b|a|beta)[0-9]{1,2}",
        1 => "-(rc|beta|alpha|RC|dev)([.-]?[0-9]{1,2})?",
    ];
    let variant = prop_oneof![
        5 => Just(String::new()),
        1 => Just("-alpine".to_owned()),
        1 => Just("-alpine3.20".to_owned()),
        1 => Just("-bookworm-slim".to_owned()),
        1 => Just("-alpine-perl".to_owned()),
    ];
    let build = prop_oneof![6 => Just(String::new()), 1 => "\\+b[0-9]"];
    (
        prop::bool::weighted(0.1),
        release,
        prerelease,
        variant,
        build,
    )
        .prop_map(|(v, release, prerelease, variant, build)| {
            let numbers: Vec<String> = release
                .iter()
                .map(|(n, zero)| {
                    if *zero {
                        format!("0{n}")
                    } else {
                        n.to_string()
                    }
                })
                .collect();
            let prefix = if v { "v" } else { "" };
            format!("{prefix}{}{prerelease}{variant}{build}", numbers.join("."))
        })
}

fn any_scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Docker),
        Just(Scheme::Loose),
        Just(Scheme::Semver)
    ]
}

fn parsed(scheme: &Scheme, text: &str) -> Option<Version> {
    Version::parse(text, scheme).ok()
}

fn hash_of(version: &Version) -> u64 {
    let mut hasher = DefaultHasher::new();
    version.hash(&mut hasher);
    hasher.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn docker_tags_always_read(text in docker_tag()) {
        // `02024b0` is made of version pieces but reads as a commit hash, by design.
        prop_assume!(!version::looks_like_commit_hash(&text));
        let version = Version::parse(&text, &Scheme::Docker);
        prop_assert!(version.is_ok(), "{}: {:?}", text, version);
    }

    #[test]
    fn parse_then_display_gives_the_input_back(scheme in any_scheme(), text in docker_tag()) {
        if let Some(version) = parsed(&scheme, &text) {
            prop_assert_eq!(version.to_string(), text.clone());
            let again = parsed(&scheme, &version.to_string()).unwrap();
            prop_assert_eq!(again.cmp(&version), Ordering::Equal);
            prop_assert_eq!(again.release(), version.release());
            prop_assert_eq!(again.prerelease(), version.prerelease());
            prop_assert_eq!(again.variant(), version.variant());
        }
    }

    #[test]
    fn order_is_total_antisymmetric_and_transitive(
        scheme in any_scheme(),
        a in docker_tag(),
        b in docker_tag(),
        c in docker_tag(),
    ) {
        let (Some(a), Some(b), Some(c)) = (parsed(&scheme, &a), parsed(&scheme, &b), parsed(&scheme, &c)) else {
            return Ok(());
        };
        // Antisymmetric and total: exactly one of <, ==, > holds, mirrored.
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a.cmp(&a), Ordering::Equal);
        // Transitive, in every arrangement of the three.
        let mut sorted = [&a, &b, &c];
        sorted.sort();
        prop_assert!(sorted[0] <= sorted[1] && sorted[1] <= sorted[2]);
        prop_assert!(sorted[0] <= sorted[2]);
        if a < b && b < c {
            prop_assert!(a < c);
        }
        if a == b && b == c {
            prop_assert!(a == c);
        }
        // Equal versions hash alike.
        if a == b {
            prop_assert_eq!(hash_of(&a), hash_of(&b));
        }
    }

    #[test]
    fn select_returns_an_eligible_tag_and_none_eligible_is_newer(
        current in prop_oneof![3 => docker_tag(), 1 => Just("latest".to_owned())],
        tags in prop::collection::vec(docker_tag(), 0..40),
        within in prop_oneof![Just(Within::Patch), Just(Within::Minor), Just(Within::Major), Just(Within::Any)],
        allow_prerelease in any::<bool>(),
    ) {
        let constraints = Constraints { within, allow_prerelease, ..Constraints::default() };
        let selector = Selector::new(Scheme::Docker, &current, constraints);
        let selected = selector.select(tags.iter());
        if let Some(selected) = &selected {
            prop_assert!(selector.eligibility(selected.tag()).is_ok());
            prop_assert!(tags.iter().any(|tag| tag == selected.tag()));
            if let Some(current) = selector.current() {
                prop_assert!(selected.version > *current);
                prop_assert!(selected.version.is_compatible_with(current));
                prop_assert!(selected.kind.is_upgrade());
            }
        }
        for tag in &tags {
            if let Ok(version) = selector.eligibility(tag.as_str()) {
                let best = selected.as_ref().map(|s| &s.version);
                prop_assert!(best.is_some_and(|best| version <= *best), "{} is eligible but not chosen", tag);
            }
        }
    }
}
