//! The real tags of the Docker Official Images: all of them read without panic, a sample is
//! snapshotted, and the common families read and move as a person would.

use std::fmt::Write;

use upkeep_versioning_core::select::{Constraints, Within, select};
use upkeep_versioning_core::{Scheme, UpdateKind, Version, version};

use crate::{corpus, tags_of};

#[test]
fn every_corpus_tag_is_read_under_every_scheme_without_panic() {
    let schemes = [Scheme::Docker, Scheme::Semver, Scheme::Loose];
    let mut versions = [0usize; 3];
    let mut total = 0;
    for (_, tag) in corpus() {
        total += 1;
        for (count, scheme) in versions.iter_mut().zip(&schemes) {
            if let Ok(version) = Version::parse(tag, scheme) {
                assert_eq!(version.to_string(), tag, "display gives the tag back");
                *count += 1;
            }
        }
    }
    assert_eq!(total, 9849);
    // Most official tags are docker versions; strict semver reads far fewer.
    insta::assert_snapshot!(
        format!("docker: {}\nsemver: {}\nloose: {}", versions[0], versions[1], versions[2]),
        @r"
    docker: 8042
    semver: 2395
    loose: 7560
    "
    );
}

#[test]
fn a_sample_of_the_corpus_reads_as_snapshotted() {
    let mut report = String::new();
    for (index, (image, tag)) in corpus().enumerate() {
        if index % 40 != 0 {
            continue;
        }
        let line = match Version::parse(tag, &Scheme::Docker) {
            Ok(version) => {
                let release: Vec<String> = version.release().iter().map(u64::to_string).collect();
                let mut line = format!("{image}:{tag} -> release {}", release.join("."));
                if let Some(prerelease) = version.prerelease() {
                    write!(line, ", pre-release {prerelease}").unwrap();
                }
                if let Some(variant) = version.variant() {
                    write!(line, ", variant {variant}").unwrap();
                }
                line
            }
            Err(error) => format!("{image}:{tag} -> {error}"),
        };
        report.push_str(&line);
        report.push('\n');
    }
    insta::assert_snapshot!("corpus_sample", report);
}

/// Chooses within the image's real tag list.
fn target(image: &str, current: &str, within: Within) -> Option<String> {
    let constraints = Constraints {
        within,
        ..Constraints::default()
    };
    select(Scheme::Docker, current, tags_of(image), constraints).map(|s| s.tag().to_owned())
}

#[test]
fn common_families_move_as_a_person_would() {
    let cases = [
        ("node", "22.23.2-alpine", Within::Any, Some("26.7.0-alpine")),
        (
            "node",
            "22-bookworm-slim",
            Within::Any,
            Some("26-bookworm-slim"),
        ),
        ("node", "22.23.2", Within::Major, None),
        (
            "python",
            "3.12.14-slim-bookworm",
            Within::Major,
            Some("3.14.7-slim-bookworm"),
        ),
        ("python", "3.12-alpine", Within::Major, Some("3.14-alpine")),
        ("python", "3.12-alpine", Within::Minor, None),
        ("postgres", "17.11", Within::Any, Some("18.6")),
        ("postgres", "16-alpine", Within::Any, Some("18-alpine")),
        // `19beta3` is a pre-release: not offered to a stable deployment.
        ("postgres", "18", Within::Any, None),
        (
            "nginx",
            "1.30.4-alpine-perl",
            Within::Major,
            Some("1.31.4-alpine-perl"),
        ),
        ("nginx", "1.30-trixie", Within::Major, Some("1.31-trixie")),
        (
            "golang",
            "1.26.7-alpine",
            Within::Major,
            Some("1.27.0-alpine"),
        ),
        ("golang", "1.26", Within::Major, Some("1.27")),
        (
            "redis",
            "7.2.16-alpine",
            Within::Major,
            Some("7.4.11-alpine"),
        ),
        // 8.10 is newer than 8.8: numbers, not text.
        ("redis", "8.8", Within::Major, Some("8.10")),
        ("redis", "7.2.16", Within::Any, Some("8.10.1")),
        ("alpine", "3.21.7", Within::Major, Some("3.24.1")),
        ("alpine", "3.21", Within::Major, Some("3.24")),
        // The date-stamped snapshot is not major version twenty million.
        ("alpine", "3", Within::Any, None),
        ("alpine", "latest", Within::Major, Some("3")),
    ];
    for (image, current, within, expected) in cases {
        assert_eq!(
            target(image, current, within).as_deref(),
            expected,
            "{image}:{current} within {within}"
        );
    }
}

#[test]
fn common_families_classify_as_a_person_would() {
    let cases = [
        ("22.23.2-alpine", "24.19.0-alpine", UpdateKind::Major),
        ("3.12.14", "3.12.15", UpdateKind::Patch),
        ("3.12", "3.14", UpdateKind::Minor),
        ("3.14.7", "3.15.0rc1", UpdateKind::Minor),
        ("3.15.0rc1", "3.15.0", UpdateKind::Prerelease),
        ("18.6", "19beta3", UpdateKind::Major),
        ("19beta3", "19", UpdateKind::Prerelease),
        ("1.30.4", "1.31.4", UpdateKind::Minor),
        ("1.26.7", "1.27.0", UpdateKind::Minor),
        ("8.8.2", "8.10.1", UpdateKind::Minor),
        ("8.10.1", "8.8.2", UpdateKind::Downgrade),
        ("3.21.7", "3.21.8", UpdateKind::Patch),
        ("latest", "3.24.1", UpdateKind::Unknown),
        ("tip-20260815", "1.27.0", UpdateKind::Unknown),
    ];
    for (from, to, kind) in cases {
        assert_eq!(
            version::classify(from, to, &Scheme::Docker),
            kind,
            "{from} -> {to}"
        );
    }
}

#[test]
fn names_in_the_corpus_are_not_versions() {
    for name in [
        "latest",
        "alpine",
        "trixie",
        "mainline",
        "tip",
        "bookworm",
        "stable-alpine",
    ] {
        assert!(
            Version::parse(name, &Scheme::Docker).unwrap_err().is_name(),
            "{name}"
        );
    }
}
