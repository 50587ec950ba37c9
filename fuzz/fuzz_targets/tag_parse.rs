//! Tag parsing under every built-in scheme: no panic, display gives the input back, and the
//! order has no cycle among three versions (after semver's `sort_version` target).
#![no_main]

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use upkeep_versioning_core::{Scheme, Version};

fuzz_target!(|input: &str| {
    // Three tags separated by newlines; one alone is fine too.
    let texts: Vec<&str> = input.splitn(3, '\n').collect();
    for scheme in [Scheme::Docker, Scheme::Semver, Scheme::Loose] {
        let versions: Vec<Version> = texts
            .iter()
            .filter_map(|text| Version::parse(text, &scheme).ok())
            .collect();
        for version in &versions {
            let text = version.to_string();
            let again = Version::parse(&text, &scheme).expect("display of a version parses");
            assert_eq!(again.to_string(), text);
            assert_eq!(again.cmp(version), Ordering::Equal);
            assert!(!version.release().is_empty());
        }
        for a in &versions {
            for b in &versions {
                assert_eq!(a.cmp(b), b.cmp(a).reverse(), "{a} vs {b}");
                for c in &versions {
                    if a < b && b < c {
                        assert!(a < c, "{a} < {b} < {c} but not {a} < {c}");
                    }
                }
            }
        }
    }
});
