//! `upkeep version ...`: the subcommands scripts depend on.

use insta::assert_snapshot;

use crate::upkeep;

#[test]
fn parse_prints_each_version_and_exits_one_for_a_name() {
    assert_snapshot!(upkeep(&["version", "parse", "1.2.3-rc1-alpine", "latest", "v3.7.11+b2"], ""), @r"
    exit: 1
    ----- stdout -----
    1.2.3-rc1-alpine release=1.2.3 prerelease=rc1 variant=alpine
    v3.7.11+b2 release=3.7.11 build=b2
    ----- stderr -----
    latest: 'latest' is not a version: a version starts with a digit, or 'v' and a digit
    ");
    assert_snapshot!(upkeep(&["version", "parse", "18.04", "3.7.0b1"], ""), @r"
    exit: 0
    ----- stdout -----
    18.04 release=18.4
    3.7.0b1 release=3.7.0 prerelease=b1
    ----- stderr -----
    ");
}

#[test]
fn parse_json_describes_every_tag() {
    assert_snapshot!(upkeep(&["version", "parse", "--json", "--scheme", "semver", "1.0.0-rc.1+b5", "v1.0.0"], ""), @r#"
    exit: 1
    ----- stdout -----
    [
      {
        "input": "1.0.0-rc.1+b5",
        "valid": true,
        "release": [
          1,
          0,
          0
        ],
        "prerelease": "rc.1",
        "build": "b5",
        "stable": false
      },
      {
        "input": "v1.0.0",
        "valid": false,
        "error": "unexpected character 'v' at offset 0 of 'v1.0.0' while parsing major version; strict semver has no 'v' prefix: write '1.0.0' or use the 'loose' scheme"
      }
    ]
    ----- stderr -----
    "#);
}

#[test]
fn compare_prints_one_word() {
    let word = |a: &str, b: &str| upkeep(&["version", "compare", a, b], "").stdout;
    assert_eq!(word("10.1", "10.1.2"), "gt\n");
    assert_eq!(word("1.9", "1.10"), "lt\n");
    assert_eq!(word("18.04", "18.4"), "eq\n");
    assert_eq!(word("1.2.3-alpine", "1.2.3"), "lt\n");
    let loose = upkeep(
        &["version", "compare", "--scheme", "loose", "=v1.2", "1.2.0"],
        "",
    );
    assert_eq!(loose.stdout, "eq\n");
}

#[test]
fn compare_refuses_a_name_with_exit_two() {
    assert_snapshot!(upkeep(&["version", "compare", "latest", "1.0"], ""), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    error: invalid version A: 'latest' is not a version: a version starts with a digit, or 'v' and a digit
    ");
}

#[test]
fn classify_prints_one_word() {
    let word = |from: &str, to: &str| upkeep(&["version", "classify", from, to], "").stdout;
    assert_eq!(word("1.2.3", "2.0.0"), "major\n");
    assert_eq!(word("1.2.3", "1.3.0"), "minor\n");
    assert_eq!(word("1.2.3", "1.2.4"), "patch\n");
    assert_eq!(word("1.2.3.4", "1.2.3.5"), "build\n");
    assert_eq!(word("1.2.3-rc1", "1.2.3"), "prerelease\n");
    assert_eq!(word("1.2.3", "v1.2.3"), "none\n");
    assert_eq!(word("1.2.4", "1.2.3"), "downgrade\n");
    assert_eq!(word("latest", "1.2.3"), "unknown\n");
}

const TAGS: &str = "1.25.3\n1.25.4\n1.26.0\n1.26\n1.26.0-alpine\n1.27.0-rc1\n2.0.0\nlatest\n\n";

#[test]
fn latest_chooses_from_stdin() {
    let latest = |args: &[&str]| {
        let mut all = vec!["version", "latest"];
        all.extend_from_slice(args);
        upkeep(&all, TAGS).stdout
    };
    assert_eq!(latest(&["--current", "1.25.3"]), "1.26.0\n");
    assert_eq!(
        latest(&["--current", "1.25.3", "--within", "minor"]),
        "1.25.4\n"
    );
    assert_eq!(
        latest(&["--current", "1.25.3", "--within", "any"]),
        "2.0.0\n"
    );
    assert_eq!(
        latest(&["--current", "1.25.3", "--allow-prerelease"]),
        "1.27.0-rc1\n"
    );
    assert_eq!(
        latest(&["--current", "1.25.3", "--range", "~1.25"]),
        "1.25.4\n"
    );
    assert_eq!(
        latest(&["--current", "1.25.3", "--exclude", "^1\\.26"]),
        "1.25.4\n"
    );
    assert_eq!(
        latest(&["--current", "1.25.3", "--include", "^1\\.25"]),
        "1.25.4\n"
    );
    assert_eq!(
        latest(&["--current", "1.25.3", "--skip", "1.26.0"]),
        "1.25.4\n"
    );
    assert_eq!(latest(&["--current", "1.25", "--within", "any"]), "1.26\n");
    assert_eq!(latest(&["--current", "latest"]), "2.0.0\n");
    // Nothing newer: nothing printed, still success.
    let none = upkeep(&["version", "latest", "--current", "2.0.0"], TAGS);
    assert_eq!((none.code, none.stdout.as_str()), (0, ""));
}

#[test]
fn latest_rejects_bad_arguments_in_one_line() {
    assert_snapshot!(upkeep(&["version", "latest", "--current", "1", "--within", "majr"], ""), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    error: invalid value 'majr' for '--within <LINE>': unknown line 'majr': expected 'patch', 'minor', 'major' or 'any'
    ");
    assert_snapshot!(upkeep(&["version", "latest", "--current", "1", "--include", "(["], ""), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    error: invalid value '([' for '--include <RE>': invalid regular expression '([': unclosed character class
    ");
    assert_snapshot!(upkeep(&["version", "latest", "--current", "1", "--range", ">=1 <"], ""), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    error: invalid value '>=1 <' for '--range <RANGE>': invalid range '>=1 <': expected a version after '<'
    ");
    assert_snapshot!(upkeep(&["version", "latest"], ""), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    error: the following required arguments were not provided: --current <TAG>
    ");
}

#[test]
fn sort_orders_versions_and_drops_names() {
    let input =
        "1.26.0\nlatest\n1.26\n10.1.2\n1.9\n10.1\n1.26.0-alpine\n1.26.0rc1\n5d41402abc\nv1.10\n";
    assert_snapshot!(upkeep(&["version", "sort"], input), @r"
    exit: 0
    ----- stdout -----
    1.9
    v1.10
    1.26.0rc1
    1.26.0-alpine
    1.26.0
    1.26
    10.1.2
    10.1
    ----- stderr -----
    ");
}

#[test]
fn unknown_scheme_is_named() {
    assert_snapshot!(upkeep(&["version", "sort", "--scheme", "cargo"], ""), @r"
    exit: 2
    ----- stdout -----
    ----- stderr -----
    error: invalid value 'cargo' for '--scheme <SCHEME>': unknown version scheme 'cargo': expected 'docker', 'semver', 'loose' or 'regex:PATTERN'
    ");
}
