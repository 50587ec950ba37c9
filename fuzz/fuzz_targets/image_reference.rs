//! Image reference parsing: no panic; the canonical and the short form both parse back to
//! the same reference; a suggested fix is itself valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upkeep_versioning_core::reference::ImageRef;

fuzz_target!(|input: &str| {
    match input.parse::<ImageRef>() {
        Ok(reference) => {
            let canonical = reference.to_string();
            let again: ImageRef = canonical.parse().expect("canonical form parses");
            assert_eq!(again, reference, "{canonical}");
            assert_eq!(again.to_string(), canonical);
            let short = reference.short().to_string();
            let from_short: ImageRef = short.parse().expect("short form parses");
            assert_eq!(from_short, reference, "{short}");
        }
        Err(error) => {
            if let Some(suggestion) = error.suggestion() {
                let _ = suggestion.parse::<ImageRef>();
            }
            assert!(!error.to_string().is_empty());
        }
    }
});
