//! Parses the strictly valid subset of the corpus 200 times with one parser, for counting
//! instructions under `valgrind --tool=callgrind`, which stay the same from run to run where
//! wall-clock time does not:
//!
//! `valgrind --tool=callgrind target/release/examples/parse_instructions semver_crate`
//! (or `upkeep-semver`, `upkeep-docker`, `upkeep-loose`).

use std::hint::black_box;

use upkeep_benches::corpus_tags;
use upkeep_versioning_core::{Scheme, Version};

#[allow(clippy::print_stderr)]
fn main() {
    let parser = std::env::args().nth(1).unwrap_or_default();
    let strict: Vec<&str> = corpus_tags()
        .into_iter()
        .filter(|tag| semver::Version::parse(tag).is_ok())
        .collect();
    let scheme = match parser.as_str() {
        "semver_crate" => None,
        "upkeep-semver" => Some(Scheme::Semver),
        "upkeep-docker" => Some(Scheme::Docker),
        "upkeep-loose" => Some(Scheme::Loose),
        _ => {
            eprintln!(
                "usage: parse_instructions semver_crate|upkeep-semver|upkeep-docker|upkeep-loose"
            );
            std::process::exit(2);
        }
    };
    for _ in 0..200 {
        for tag in &strict {
            match &scheme {
                None => drop(black_box(semver::Version::parse(black_box(tag)))),
                Some(scheme) => drop(black_box(Version::parse(black_box(tag), scheme))),
            }
        }
    }
}
