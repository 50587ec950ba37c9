//! Unit tests for the version schemes, their order and classification.
//!
//! The tables are our own data, drawn from public test suites: the SemVer 2.0.0
//! specification's examples, node-semver's comparison, equality and validity fixtures, and
//! Renovate's docker versioning cases.
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::*;

fn docker(text: &str) -> Version {
    Version::parse(text, &Scheme::Docker).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn under(scheme: &Scheme, text: &str) -> Version {
    Version::parse(text, scheme).unwrap_or_else(|e| panic!("{text} under {scheme}: {e}"))
}

#[track_caller]
fn assert_error(scheme: &Scheme, text: &str, message: &str) {
    match Version::parse(text, scheme) {
        Ok(version) => panic!("{text:?} parsed under {scheme} as {version:?}"),
        Err(error) => assert_eq!(error.to_string(), message, "input {text:?}"),
    }
}

#[track_caller]
fn assert_order(scheme: &Scheme, smaller: &str, larger: &str) {
    let a = under(scheme, smaller);
    let b = under(scheme, larger);
    assert_eq!(
        a.cmp(&b),
        Ordering::Less,
        "{smaller} < {larger} under {scheme}"
    );
    assert_eq!(
        b.cmp(&a),
        Ordering::Greater,
        "{larger} > {smaller} under {scheme}"
    );
}

#[track_caller]
fn assert_equal(scheme: &Scheme, a: &str, b: &str) {
    let x = under(scheme, a);
    let y = under(scheme, b);
    assert_eq!(x, y, "{a} == {b} under {scheme}");
    assert_eq!(hash_of(&x), hash_of(&y), "{a} and {b} hash alike");
}

fn hash_of(version: &Version) -> u64 {
    let mut hasher = DefaultHasher::new();
    version.hash(&mut hasher);
    hasher.finish()
}

struct Expected<'a> {
    release: &'a [u64],
    prerelease: Option<&'a str>,
    variant: Option<&'a str>,
    build: Option<&'a str>,
}

const fn plain(release: &[u64]) -> Expected<'_> {
    Expected {
        release,
        prerelease: None,
        variant: None,
        build: None,
    }
}

#[track_caller]
fn assert_parts(scheme: &Scheme, text: &str, expected: Expected<'_>) {
    let version = under(scheme, text);
    assert_eq!(version.release(), expected.release, "release of {text}");
    assert_eq!(
        version.prerelease(),
        expected.prerelease,
        "pre-release of {text}"
    );
    assert_eq!(version.variant(), expected.variant, "variant of {text}");
    assert_eq!(version.build(), expected.build, "build of {text}");
    assert_eq!(version.to_string(), text, "display gives the input back");
}

/// A tag and its release, pre-release, variant and build.
type PartsCase<'a> = (
    &'a str,
    &'a [u64],
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

#[test]
fn docker_reads_releases_prereleases_and_variants() {
    let s = &Scheme::Docker;
    assert_parts(s, "3", plain(&[3]));
    assert_parts(s, "18.04", plain(&[18, 4]));
    assert_parts(s, "1.2.3", plain(&[1, 2, 3]));
    assert_parts(s, "1.2.3.4", plain(&[1, 2, 3, 4]));
    assert_parts(s, "2024.01.15", plain(&[2024, 1, 15]));
    assert_parts(s, "v3.7.11", plain(&[3, 7, 11]));
    assert_parts(s, "V1.0", plain(&[1, 0]));
    assert_parts(s, "20260805", plain(&[20_260_805]));
    let cases: &[PartsCase<'_>] = &[
        ("3.7.0b1", &[3, 7, 0], Some("b1"), None, None),
        ("3.15.0rc1", &[3, 15, 0], Some("rc1"), None, None),
        ("19beta3", &[19], Some("beta3"), None, None),
        ("1.25-alpine", &[1, 25], None, Some("alpine"), None),
        ("3.12-alpine3.20", &[3, 12], None, Some("alpine3.20"), None),
        (
            "26.7.0-bookworm-slim",
            &[26, 7, 0],
            None,
            Some("bookworm-slim"),
            None,
        ),
        (
            "1.31.4-alpine3.24-perl",
            &[1, 31, 4],
            None,
            Some("alpine3.24-perl"),
            None,
        ),
        (
            "1.2.3-rc1-alpine",
            &[1, 2, 3],
            Some("rc1"),
            Some("alpine"),
            None,
        ),
        ("1.2.3-rc.1", &[1, 2, 3], Some("rc.1"), None, None),
        ("1.2.3-RC-1", &[1, 2, 3], Some("RC-1"), None, None),
        ("1.2.3-beta2", &[1, 2, 3], Some("beta2"), None, None),
        ("3.15-rc-alpine", &[3, 15], Some("rc"), Some("alpine"), None),
        ("2.0-alpha", &[2, 0], Some("alpha"), None, None),
        ("1.0-SNAPSHOT", &[1, 0], Some("SNAPSHOT"), None, None),
        ("22-ea-14-jdk", &[22], Some("ea-14"), Some("jdk"), None),
        ("5.0-m1", &[5, 0], Some("m1"), None, None),
        ("5.0-musl", &[5, 0], None, Some("musl"), None),
        ("1.0-preview.3", &[1, 0], Some("preview.3"), None, None),
        ("1.2-nightly", &[1, 2], Some("nightly"), None, None),
        ("1.2-betamax", &[1, 2], None, Some("betamax"), None),
        ("4.0.1-ls123", &[4, 0, 1], None, Some("ls123"), None),
        ("3.19.1-r1", &[3, 19, 1], None, Some("r1"), None),
        ("8.1.2.4_1", &[8, 1, 2, 4], None, Some("_1"), None),
        (
            "8.4.25RC1-alpine",
            &[8, 4, 25],
            Some("RC1"),
            Some("alpine"),
            None,
        ),
        ("8u502", &[8], None, Some("u502"), None),
        ("8u502-b07-jdk", &[8], None, Some("u502-b07-jdk"), None),
        ("8u502+b1", &[8], None, Some("u502"), Some("b1")),
        ("1.2.3+build.5", &[1, 2, 3], None, None, Some("build.5")),
        (
            "1.2.3-alpine+b7",
            &[1, 2, 3],
            None,
            Some("alpine"),
            Some("b7"),
        ),
        (
            "10-kitten-20260602",
            &[10],
            None,
            Some("kitten-20260602"),
            None,
        ),
    ];
    for (text, release, prerelease, variant, build) in cases {
        assert_parts(
            s,
            text,
            Expected {
                release,
                prerelease: *prerelease,
                variant: *variant,
                build: *build,
            },
        );
    }
}

#[test]
fn names_and_commit_hashes_are_not_versions() {
    let s = &Scheme::Docker;
    for name in [
        "latest",
        "stable",
        "alpine",
        "main",
        "sha-1a2b3c4",
        "mainline",
        "trixie",
    ] {
        assert_error(
            s,
            name,
            &format!(
                "'{name}' is not a version: a version starts with a digit, or 'v' and a digit"
            ),
        );
        assert!(Version::parse(name, s).unwrap_err().is_name());
    }
    for hash in [
        "1a2b3c4",
        "5d41402abc4b2a76b9719d911017c592",
        "0123abc",
        "1234567890abcdef1234567890abcdef12345678",
    ] {
        assert_error(
            s,
            hash,
            &format!("'{hash}' is not a version: it looks like a commit hash"),
        );
    }
    // Not hashes: too short, all digits, upper case, too long.
    for text in ["1a2b3c", "12345678", "1A2B3C4D"] {
        assert!(!looks_like_commit_hash(text), "{text}");
    }
    assert!(!looks_like_commit_hash(
        "1234567890abcdef1234567890abcdef123456789"
    ));
}

#[test]
fn docker_errors_say_where_and_what() {
    let s = &Scheme::Docker;
    assert_error(s, "", "empty version: expected a number such as '1.2.3'");
    assert_error(s, "1.", "unexpected end of '1.' while parsing release");
    assert_error(
        s,
        "1..2",
        "unexpected character '.' at offset 2 of '1..2' while parsing release",
    );
    assert_error(s, "1.2-", "unexpected end of '1.2-' while parsing variant");
    assert_error(
        s,
        "1.2+",
        "unexpected end of '1.2+' while parsing build metadata",
    );
    assert_error(
        s,
        "1.2-rc1-",
        "unexpected end of '1.2-rc1-' while parsing variant",
    );
    assert_error(
        s,
        "1.2~3",
        "unexpected character '~' at offset 3 of '1.2~3' while parsing release",
    );
    assert_error(
        s,
        "1.2-al pine",
        "unexpected character ' ' at offset 6 of '1.2-al pine' while parsing variant",
    );
    assert_error(
        s,
        "1.2rc.",
        "unexpected character '.' at offset 5 of '1.2rc.' while parsing pre-release",
    );
    assert_error(
        s,
        "99999999999999999999.1",
        "release of '99999999999999999999.1' is too large: numbers must fit in 64 bits",
    );
    let long = "1".repeat(600);
    assert_error(
        s,
        &long,
        "version of 600 characters is too long: at most 512 are read",
    );
}

#[test]
fn docker_order_follows_the_rules() {
    let s = &Scheme::Docker;
    // Numbers as numbers, part by part.
    assert_order(s, "1.1.1", "1.1.2");
    assert_order(s, "1.9", "1.10");
    assert_order(s, "0.99.0", "1.0.0");
    assert_order(s, "2024.01.15", "2024.2.1");
    // A floating tag covers the more specific ones.
    assert_order(s, "10.1.2", "10.1");
    assert_order(s, "10.1", "10");
    assert_order(s, "10", "11.0.0");
    // A pre-release sorts before its release, in natural order.
    assert_order(s, "3.15.0rc1", "3.15.0");
    assert_order(s, "3.15.0rc2", "3.15.0rc10");
    assert_order(s, "3.7.0a1", "3.7.0b1");
    assert_order(s, "3.7.0b1", "3.7.0rc1");
    assert_order(s, "1.0-alpha", "1.0-beta");
    assert_order(s, "1.0-beta", "1.0-rc");
    assert_order(s, "1.0-SNAPSHOT", "1.0-alpha");
    assert_order(s, "1.0-rc", "1.0-rc1");
    assert_order(s, "19beta3", "19");
    assert_order(s, "1.2.3-rc1-alpine", "1.2.3-alpine");
    // A variant sorts before the plain tag; variants as text.
    assert_order(s, "1.2.3-alpine", "1.2.3");
    assert_order(s, "1.2.3-alpine", "1.2.3-bookworm");
    assert_order(s, "1.2.3", "1.2.4-alpine");
    // Equal: leading zeros, v, build metadata, pre-release spelling.
    assert_equal(s, "18.04", "18.4");
    assert_equal(s, "v1.2.3", "1.2.3");
    assert_equal(s, "1.2.3+b1", "1.2.3+b2");
    assert_equal(s, "1.2.3-rc.1", "1.2.3-rc1");
    assert_equal(s, "1.2.3-RC-1", "1.2.3rc1");
}

#[test]
fn docker_compatibility() {
    let compatible = |a: &str, b: &str| docker(a).is_compatible_with(&docker(b));
    assert!(compatible("1.2.3", "1.2.4"));
    assert!(compatible("1.2.3-alpine", "1.3.0-alpine"));
    assert!(compatible("1.2.3-rc1-alpine", "1.2.3-alpine"));
    assert!(compatible("v1.2.3", "1.2.4"));
    assert!(!compatible("1.2.3-alpine", "1.2.4"));
    assert!(!compatible("1.20", "1.20.0"));
    assert!(!compatible("1.12-alpine", "1.15-alpine-perl"));
    assert!(!compatible("8.1.2.4", "8.1.2.4_1"));
    let semver = under(&Scheme::Semver, "1.2.3");
    assert!(!docker("1.2.3").is_compatible_with(&semver));
}

#[test]
fn semver_specification_precedence() {
    // SemVer 2.0.0 item 11, in order.
    let chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ];
    for pair in chain.windows(2) {
        assert_order(&Scheme::Semver, pair[0], pair[1]);
    }
}

#[test]
fn node_semver_comparisons() {
    // node-semver's comparison fixtures: each pair is greater, then smaller.
    let greater_first = [
        ("0.0.0", "0.0.0-foo"),
        ("0.0.1", "0.0.0"),
        ("1.0.0", "0.9.9"),
        ("0.10.0", "0.9.0"),
        ("0.99.0", "0.10.0"),
        ("2.0.0", "1.2.3"),
        ("1.2.3", "1.2.3-asdf"),
        ("1.2.3", "1.2.3-4"),
        ("1.2.3", "1.2.3-4-foo"),
        ("1.2.3-5-foo", "1.2.3-5"),
        ("1.2.3-5", "1.2.3-4"),
        ("1.2.3-5-foo", "1.2.3-5-Foo"),
        ("3.0.0", "2.7.2+asdf"),
        ("1.2.3-a.10", "1.2.3-a.5"),
        ("1.2.3-a.b", "1.2.3-a.5"),
        ("1.2.3-a.b", "1.2.3-a"),
        ("1.2.3-a.b.c.10.d.5", "1.2.3-a.b.c.5.d.100"),
        ("1.2.3-r2", "1.2.3-r100"),
        ("1.2.3-r100", "1.2.3-R2"),
    ];
    for (greater, smaller) in greater_first {
        assert_order(&Scheme::Semver, smaller, greater);
        assert_order(&Scheme::Loose, smaller, greater);
    }
    // Loose-only spellings from the same fixtures.
    assert_order(&Scheme::Loose, "0.0.0-foo", "v0.0.0");
    assert_order(&Scheme::Loose, "1.2.3-4", "v1.2.3");
}

#[test]
fn node_semver_loose_equality() {
    let equal = [
        ("1.2.3", "v1.2.3"),
        ("1.2.3", "=1.2.3"),
        ("1.2.3", "v 1.2.3"),
        ("1.2.3", "= 1.2.3"),
        ("1.2.3", " v1.2.3"),
        ("1.2.3", " =1.2.3"),
        ("1.2.3", " v 1.2.3"),
        ("1.2.3", " = 1.2.3"),
        ("1.2.3-0", "v1.2.3-0"),
        ("1.2.3-0", "=1.2.3-0"),
        ("1.2.3-0", "v 1.2.3-0"),
        ("1.2.3-1", "v1.2.3-1"),
        ("1.2.3-beta", "v1.2.3-beta"),
        ("1.2.3-beta", "=1.2.3beta"),
        ("1.2.3-beta", "1.2.3beta"),
        ("1.2.3+build", " = 1.2.3+otherbuild"),
        ("1.2.3-beta+build", "1.2.3-beta+otherbuild"),
        ("1.2.3+build", "1.2.3+otherbuild"),
        ("  v1.2.3+build", "1.2.3+otherbuild"),
        ("1.2", "1.2.0"),
        ("1", "1.0.0"),
        ("01.02.03", "1.2.3"),
    ];
    for (a, b) in equal {
        assert_equal(&Scheme::Loose, a, b);
    }
    assert_parts(&Scheme::Loose, "v1.2", plain(&[1, 2, 0]));
    assert!(under(&Scheme::Loose, "1.2").is_compatible_with(&under(&Scheme::Loose, "1.3.0")));
}

#[test]
fn semver_validity() {
    // The SemVer 2.0.0 project's list of valid and invalid strings.
    let valid = [
        "0.0.4",
        "1.2.3",
        "10.20.30",
        "1.1.2-prerelease+meta",
        "1.1.2+meta",
        "1.1.2+meta-valid",
        "1.0.0-alpha",
        "1.0.0-beta",
        "1.0.0-alpha.beta",
        "1.0.0-alpha.beta.1",
        "1.0.0-alpha.1",
        "1.0.0-alpha0.valid",
        "1.0.0-alpha.0valid",
        "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay",
        "1.0.0-rc.1+build.1",
        "2.0.0-rc.1+build.123",
        "1.2.3-beta",
        "10.2.3-DEV-SNAPSHOT",
        "1.2.3-SNAPSHOT-123",
        "2.0.0+build.1848",
        "2.0.1-alpha.1227",
        "1.0.0-alpha+beta",
        "1.2.3----RC-SNAPSHOT.12.9.1--.12+788",
        "1.2.3----R-S.12.9.1--.12+meta",
        "1.2.3----RC-SNAPSHOT.12.9.1--.12",
        "1.0.0+0.build.1-rc.10000aaa-kk-0.1",
        "18446744073709551615.0.0",
        "1.0.0-0A.is.legal",
    ];
    for text in valid {
        let version = under(&Scheme::Semver, text);
        assert_eq!(version.to_string(), text);
        // Everything strict accepts, loose accepts as the same version.
        assert_eq!(under(&Scheme::Loose, text), under(&Scheme::Loose, text));
    }
    let invalid = [
        "1",
        "1.2",
        "1.2.3-0123",
        "1.2.3-0123.0123",
        "1.1.2+.123",
        "+invalid",
        "-invalid",
        "-invalid+invalid",
        "-invalid.01",
        "alpha",
        "alpha.beta",
        "alpha.beta.1",
        "alpha.1",
        "alpha+beta",
        "alpha_beta",
        "alpha.",
        "alpha..",
        "beta",
        "1.0.0-alpha_beta",
        "-alpha.",
        "1.0.0-alpha..",
        "1.0.0-alpha..1",
        "1.0.0-alpha...1",
        "1.0.0-alpha....1",
        "1.0.0-alpha.....1",
        "1.0.0-alpha......1",
        "1.0.0-alpha.......1",
        "01.1.1",
        "1.01.1",
        "1.1.01",
        "1.2.3.DEV",
        "1.2-SNAPSHOT",
        "1.2.31.2.3----RC-SNAPSHOT.12.09.1--..12+788",
        "1.2-RC-SNAPSHOT",
        "-1.0.3-gamma+b7718",
        "+justmeta",
        "9.8.7+meta+meta",
        "9.8.7-whatever+meta+meta",
        "99999999999999999999999.999999999999999999.99999999999999999",
        "v1.2.3",
        "1.2.3-",
        "1.2.3+",
        "",
    ];
    for text in invalid {
        assert!(
            Version::parse(text, &Scheme::Semver).is_err(),
            "{text:?} is not strict semver"
        );
    }
}

#[test]
fn semver_errors_name_the_position() {
    let s = &Scheme::Semver;
    assert_error(
        s,
        "v1.2.3",
        "unexpected character 'v' at offset 0 of 'v1.2.3' while parsing major version; strict \
         semver has no 'v' prefix: write '1.2.3' or use the 'loose' scheme",
    );
    assert_error(
        s,
        "1.02.3",
        "invalid leading zero in minor version of '1.02.3'; strict semver forbids it, the 'loose' \
         and 'docker' schemes allow it",
    );
    assert_error(
        s,
        "1.2",
        "unexpected end of '1.2' while parsing patch version",
    );
    assert_error(
        s,
        "1.2.3.4",
        "unexpected character '.' at offset 5 of '1.2.3.4' while parsing patch version",
    );
    assert_error(
        s,
        "1.2.3-a..b",
        "empty identifier in pre-release of '1.2.3-a..b'",
    );
    assert_error(
        s,
        "1.2.3-01",
        "invalid leading zero in pre-release of '1.2.3-01'; strict semver forbids it, the 'loose' and 'docker' schemes allow it",
    );
    assert_error(
        s,
        "latest",
        "'latest' is not a version: a version starts with a digit, or 'v' and a digit",
    );
}

#[test]
fn loose_errors() {
    let s = &Scheme::Loose;
    assert_error(s, "   ", "empty version: expected a number such as '1.2.3'");
    assert_error(s, "v", "unexpected end of 'v' while parsing major version");
    assert_error(
        s,
        "1.2.3.4",
        "unexpected character '.' at offset 5 of '1.2.3.4' while parsing patch version",
    );
    assert_error(
        s,
        "deadbeef1",
        "'deadbeef1' is not a version: a version starts with a digit, or 'v' and a digit",
    );
    assert_error(
        s,
        "1a2b3c4",
        "'1a2b3c4' is not a version: it looks like a commit hash",
    );
}

#[test]
fn regex_scheme() {
    let scheme: Scheme = r"regex:(?<major>\d+)\.(?<minor>\d+)\.(?<patch>\d+)(?:-ls(?<build>\d+))?"
        .parse()
        .unwrap();
    assert_parts(&scheme, "4.0.1-ls123", plain(&[4, 0, 1, 123]));
    assert_parts(&scheme, "4.0.1", plain(&[4, 0, 1]));
    assert_order(&scheme, "4.0.1-ls99", "4.0.1-ls123");
    assert_order(&scheme, "4.0.1", "4.0.1-ls1");
    assert_order(&scheme, "4.0.1-ls130", "4.0.2-ls1");
    assert_eq!(
        classify("4.0.1-ls99", "4.0.1-ls123", &scheme),
        UpdateKind::Build
    );
    assert_error(
        &scheme,
        "4.0",
        "'4.0' does not match the regex scheme's pattern",
    );

    let with_variant: Scheme =
        r"regex:(?<major>\d+)\.(?<minor>\d+)(?:-(?<prerelease>rc\d+))?-(?<compatibility>\w+)"
            .parse()
            .unwrap();
    let a = under(&with_variant, "1.2-rc1-alpine");
    assert_eq!(a.prerelease(), Some("rc1"));
    assert_eq!(a.variant(), Some("alpine"));
    assert!(a < under(&with_variant, "1.2-alpine"));
    assert!(!a.is_compatible_with(&under(&with_variant, "1.2-debian")));
    assert_eq!(
        with_variant.name(),
        r"regex:(?<major>\d+)\.(?<minor>\d+)(?:-(?<prerelease>rc\d+))?-(?<compatibility>\w+)"
    );
}

#[test]
fn regex_scheme_errors() {
    assert_eq!(
        "regex:(?<minor>\\d+)"
            .parse::<Scheme>()
            .unwrap_err()
            .to_string(),
        "invalid regex scheme pattern '(?<minor>\\d+)': it has no named group 'major'; add one such \
         as '(?<major>\\d+)'"
    );
    assert_eq!(
        "regex:(?<major>\\d+"
            .parse::<Scheme>()
            .unwrap_err()
            .to_string(),
        "invalid regex scheme pattern '(?<major>\\d+': unclosed group"
    );
    let scheme: Scheme = "regex:(?<major>\\w+)".parse().unwrap();
    assert_error(
        &scheme,
        "abc",
        "group 'major' of the regex scheme matched a non-number in 'abc'; capture only digits in \
         it, such as '(?<major>\\d+)'",
    );
    assert_eq!(
        "cargo".parse::<Scheme>().unwrap_err().to_string(),
        "unknown version scheme 'cargo': expected 'docker', 'semver', 'loose' or 'regex:PATTERN'"
    );
}

#[test]
fn classification() {
    let s = &Scheme::Docker;
    let cases = [
        ("1.2.3", "2.0.0", UpdateKind::Major),
        ("1.2.3", "1.3.0", UpdateKind::Minor),
        ("1.2.3", "1.2.4", UpdateKind::Patch),
        ("1.2.3.4", "1.2.3.5", UpdateKind::Build),
        ("1.2.3-rc1", "1.2.3-rc2", UpdateKind::Prerelease),
        ("1.2.3-rc2", "1.2.3", UpdateKind::Prerelease),
        ("1.2.2", "1.2.3-rc1", UpdateKind::Patch),
        ("1.2.3", "1.2.3", UpdateKind::None),
        ("v1.2.3", "1.2.3+b7", UpdateKind::None),
        ("18.04", "18.4", UpdateKind::None),
        ("1.2.4", "1.2.3", UpdateKind::Downgrade),
        ("1.2.3", "1.2.3-rc1", UpdateKind::Downgrade),
        ("1.25-alpine", "1.26-alpine", UpdateKind::Minor),
        ("3", "4", UpdateKind::Major),
        ("10.1.2", "10.1", UpdateKind::Patch),
        ("10.1", "10.1.2", UpdateKind::Downgrade),
        ("1.2.3", "latest", UpdateKind::Unknown),
        ("latest", "1.2.3", UpdateKind::Unknown),
        ("5d41402abc", "1.2.3", UpdateKind::Unknown),
    ];
    for (from, to, kind) in cases {
        assert_eq!(classify(from, to, s), kind, "{from} -> {to}");
    }
    assert_eq!(
        classify("1.2.3", "1.2.4-beta.1", &Scheme::Semver),
        UpdateKind::Patch
    );
    assert_eq!(classify("1.2", "1.3", &Scheme::Loose), UpdateKind::Minor);
    assert_eq!(
        docker("1.2.3").classify(&under(&Scheme::Semver, "1.2.4")),
        UpdateKind::Unknown
    );
}

#[test]
fn update_kind_words_round_trip() {
    for kind in UpdateKind::ALL {
        assert_eq!(kind.as_str().parse::<UpdateKind>().unwrap(), kind);
    }
    assert_eq!(
        "huge".parse::<UpdateKind>().unwrap_err().to_string(),
        "unknown update kind 'huge': expected one of major, minor, patch, build, prerelease, none, \
         downgrade, unknown, digest"
    );
}

#[test]
fn scheme_names_round_trip() {
    for name in ["docker", "semver", "loose", "regex:(?<major>\\d+)"] {
        assert_eq!(name.parse::<Scheme>().unwrap().name(), name);
    }
}

#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Version>();
    assert_send_sync::<Scheme>();
    assert_send_sync::<VersionError>();
    assert_send_sync::<UpdateKind>();
}

#[test]
fn renovate_docker_versioning_cases() {
    // Cases from Renovate's docker versioning tests, as our own data. Where our rules add
    // named pre-releases after `-`, the expectation says so.
    let s = &Scheme::Docker;
    for valid in [
        "1.2.3",
        "18.04",
        "10.1",
        "3",
        "1.1.1-alpine",
        "v1.2.3",
        "3.7.0b1",
    ] {
        assert!(Version::parse(valid, s).is_ok(), "{valid}");
    }
    for invalid in [
        "foo", "latest", "alpine", "-1.2.3", ".1.2", "1.2.3.", "1..2",
    ] {
        assert!(Version::parse(invalid, s).is_err(), "{invalid}");
    }
    assert_order(s, "1.1.0", "1.1.1");
    assert_order(s, "1.2.3", "1.2");
    assert_order(s, "1.2.3-beta", "1.2.3");
    assert_order(s, "1.2.3-alpine", "1.2.3");
    assert_order(s, "2.0.0-alpine", "2.0.1-alpine");
    let stable = |text: &str| !docker(text).is_prerelease();
    assert!(stable("3.7.0"));
    assert!(!stable("3.7.0b1"));
    assert!(stable("3.7-alpine"));
    // Renovate reads `-beta1-alpine` as a variant; we read `beta1` as the pre-release.
    assert!(!stable("3.8.0-beta1-alpine"));
    let compatible = |a: &str, b: &str| docker(a).is_compatible_with(&docker(b));
    assert!(compatible("1.2.0", "1.3.0"));
    assert!(!compatible("1.2.0-alpine", "1.3.0"));
    assert!(!compatible("1", "1.2"));
    let version = docker("1.2.3-alpine");
    assert_eq!(
        (
            version.major(),
            version.release_part(1),
            version.release_part(2)
        ),
        (1, Some(2), Some(3))
    );
    assert_eq!(docker("1.2").release_part(2), None);
    let mut tags: Vec<Version> = ["1.2.3", "1.2", "1.2.3-beta", "1.2.3-alpine", "1.2.4"]
        .into_iter()
        .map(docker)
        .collect();
    tags.sort();
    let sorted: Vec<String> = tags.iter().map(ToString::to_string).collect();
    assert_eq!(
        sorted,
        ["1.2.3-beta", "1.2.3-alpine", "1.2.3", "1.2.4", "1.2"]
    );
}

#[test]
fn families_name_the_compatible_shape() {
    let cases = [
        ("1.2.3", "x.y.z"),
        ("1.25-alpine", "x.y-alpine"),
        ("3", "x"),
        ("1.2.3.4.5", "x.y.z.w.n"),
        ("20260805", "date"),
        ("8.1.2.4_1", "x.y.z.w_1"),
        ("1.2.3-rc1-alpine", "x.y.z-alpine"),
    ];
    for (tag, family) in cases {
        assert_eq!(docker(tag).family(), family, "{tag}");
    }
    assert_eq!(docker("1.2.3").family(), docker("4.5.6").family());
}
