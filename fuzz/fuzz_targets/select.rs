//! Target selection: the chosen tag is eligible, and no eligible tag is newer.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use upkeep_versioning_core::Scheme;
use upkeep_versioning_core::select::{Constraints, Selector, Within};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    current: &'a str,
    tags: Vec<&'a str>,
    within: u8,
    allow_prerelease: bool,
    skip: Option<&'a str>,
}

fuzz_target!(|input: Input<'_>| {
    let within = match input.within % 4 {
        0 => Within::Patch,
        1 => Within::Minor,
        2 => Within::Major,
        _ => Within::Any,
    };
    let constraints = Constraints {
        within,
        allow_prerelease: input.allow_prerelease,
        skip: input.skip.map(str::to_owned).into_iter().collect(),
        ..Constraints::default()
    };
    let selector = Selector::new(Scheme::Docker, input.current, constraints);
    let selected = selector.select(input.tags.iter().copied());
    if let Some(selected) = &selected {
        assert!(selector.eligibility(selected.tag()).is_ok());
        if let Some(current) = selector.current() {
            assert!(selected.version > *current);
            assert!(selected.version.is_compatible_with(current));
        }
    }
    for tag in &input.tags {
        if let Ok(version) = selector.eligibility(*tag) {
            let best = selected.as_ref().map(|s| &s.version);
            assert!(
                best.is_some_and(|best| version <= *best),
                "{tag} eligible, not chosen"
            );
        }
    }
});
