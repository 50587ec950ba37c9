//! `upkeep version ...`: the scripting face of the versioning core.

use std::cmp::Ordering;
use std::io::{self, BufRead};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use upkeep_versioning_core::select::{Constraints, Selector};
use upkeep_versioning_core::{Scheme, Version, version};

use crate::args::{LatestArgs, VersionCommand};
use crate::output::{print_lines, warn};

pub(crate) fn run(command: VersionCommand) -> anyhow::Result<ExitCode> {
    match command {
        VersionCommand::Parse { scheme, json, tags } => parse(&scheme.scheme, json, &tags),
        VersionCommand::Compare { scheme, a, b } => compare(&scheme.scheme, &a, &b),
        VersionCommand::Classify { scheme, from, to } => {
            let kind = version::classify(&from, &to, &scheme.scheme);
            print_lines([kind])?;
            Ok(ExitCode::SUCCESS)
        }
        VersionCommand::Latest(args) => latest(args),
        VersionCommand::Sort { scheme } => sort(&scheme.scheme),
    }
}

/// One tag as `upkeep version parse --json` describes it.
#[derive(Serialize)]
struct ParsedTag<'a> {
    input: &'a str,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<&'a [u64]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prerelease: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    build: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn parse(scheme: &Scheme, json: bool, tags: &[String]) -> anyhow::Result<ExitCode> {
    let results: Vec<_> = tags.iter().map(|tag| (tag, scheme.parse(tag))).collect();
    let all_valid = results.iter().all(|(_, result)| result.is_ok());
    if json {
        let described: Vec<ParsedTag<'_>> = results
            .iter()
            .map(|(input, result)| match result {
                Ok(version) => ParsedTag {
                    input,
                    valid: true,
                    release: Some(version.release()),
                    prerelease: version.prerelease(),
                    variant: version.variant(),
                    build: version.build(),
                    stable: Some(!version.is_prerelease()),
                    error: None,
                },
                Err(error) => ParsedTag {
                    input,
                    valid: false,
                    release: None,
                    prerelease: None,
                    variant: None,
                    build: None,
                    stable: None,
                    error: Some(error.to_string()),
                },
            })
            .collect();
        print_lines([serde_json::to_string_pretty(&described)?])?;
    } else {
        let mut lines = Vec::new();
        for (input, result) in &results {
            match result {
                Ok(version) => lines.push(describe(version)),
                Err(error) => warn(format_args!("{input}: {error}")),
            }
        }
        print_lines(lines)?;
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::output::Exit::Failure)
    })
}

/// `1.2.3-rc1-alpine release=1.2.3 prerelease=rc1 variant=alpine`
fn describe(version: &Version) -> String {
    let release: Vec<String> = version.release().iter().map(u64::to_string).collect();
    let mut line = format!("{version} release={}", release.join("."));
    for (name, value) in [
        ("prerelease", version.prerelease()),
        ("variant", version.variant()),
        ("build", version.build()),
    ] {
        if let Some(value) = value {
            line.push_str(&format!(" {name}={value}"));
        }
    }
    line
}

fn compare(scheme: &Scheme, a: &str, b: &str) -> anyhow::Result<ExitCode> {
    let a = scheme.parse(a).context("invalid version A")?;
    let b = scheme.parse(b).context("invalid version B")?;
    let word = match a.cmp(&b) {
        Ordering::Less => "lt",
        Ordering::Equal => "eq",
        Ordering::Greater => "gt",
    };
    print_lines([word])?;
    Ok(ExitCode::SUCCESS)
}

fn latest(args: LatestArgs) -> anyhow::Result<ExitCode> {
    let constraints = Constraints {
        range: args.range,
        skip: args.skip.into_iter().collect(),
        ..args.selection.constraints()
    };
    let selector = Selector::new(args.scheme.scheme, &args.current, constraints);
    let tags = read_stdin_lines()?;
    let chosen = selector.select(tags.iter().map(String::as_str));
    print_lines(chosen.iter().map(|selected| selected.tag()))?;
    Ok(ExitCode::SUCCESS)
}

fn sort(scheme: &Scheme) -> anyhow::Result<ExitCode> {
    let mut versions: Vec<Version> = read_stdin_lines()?
        .iter()
        .filter_map(|line| scheme.parse(line).ok())
        .collect();
    // Stable: equal versions keep their input order.
    versions.sort();
    print_lines(&versions)?;
    Ok(ExitCode::SUCCESS)
}

/// Non-empty lines of stdin, trimmed.
fn read_stdin_lines() -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for line in io::stdin().lock().lines() {
        let line = line.context("cannot read tags from stdin")?;
        let trimmed = line.trim();
        if !trimmed.is_empty() {
            lines.push(trimmed.to_owned());
        }
    }
    Ok(lines)
}
