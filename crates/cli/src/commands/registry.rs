//! `upkeep tags` and `upkeep check`: what a registry holds, read through the registry
//! clients and the engine's check.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;
use upkeep_registry_clients::credentials::CredentialStore;
use upkeep_registry_clients::router::{RegistryRouter, RouterConfig};
use upkeep_registry_clients::transport::TransportConfig;
use upkeep_update_engine::check;
use upkeep_versioning_core::select::{names, newest_first};

use crate::args::{CheckArgs, RegistryArgs, TagsArgs};
use crate::output::print_lines;

pub(crate) fn router(args: &RegistryArgs) -> anyhow::Result<RegistryRouter> {
    let config = RouterConfig {
        transport: TransportConfig {
            insecure_hosts: args.insecure.iter().cloned().collect(),
            ..TransportConfig::default()
        },
        ..RouterConfig::default()
    };
    // Docker's config.json, its credential helpers and UPKEEP_AUTH_<HOST> overrides.
    let credentials = CredentialStore::from_process()?;
    Ok(RegistryRouter::new(config, Arc::new(credentials))?)
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// One line of `upkeep tags --json`.
#[derive(Serialize)]
struct TagLine<'a> {
    tag: &'a str,
    version: bool,
    family: Option<String>,
    prerelease: bool,
}

pub(crate) fn tags(args: TagsArgs) -> anyhow::Result<ExitCode> {
    let router = router(&args.registry)?;
    let tags = runtime()?.block_on(async {
        let registry = router.registry_for(&args.image).await?;
        registry.list_tags(args.image.repository()).await
    })?;
    let scheme = &args.scheme.scheme;
    let versions = newest_first(scheme, tags.iter().map(String::as_str));
    let names = if args.all {
        names(scheme, tags.iter().map(String::as_str))
    } else {
        Vec::new()
    };
    if args.json {
        let mut lines: Vec<TagLine<'_>> = versions
            .iter()
            .map(|version| TagLine {
                tag: version.as_str(),
                version: true,
                family: Some(version.family()),
                prerelease: version.is_prerelease(),
            })
            .collect();
        lines.extend(names.iter().map(|name| TagLine {
            tag: name,
            version: false,
            family: None,
            prerelease: false,
        }));
        print_lines([serde_json::to_string_pretty(&lines)?])?;
    } else {
        let width = versions.iter().map(|v| v.as_str().len()).max().unwrap_or(0);
        let mut lines: Vec<String> = versions
            .iter()
            .map(|version| {
                let stability = if version.is_prerelease() {
                    " (pre-release)"
                } else {
                    ""
                };
                format!(
                    "{:width$}  {}{stability}",
                    version.as_str(),
                    version.family()
                )
            })
            .collect();
        lines.extend(
            names
                .iter()
                .map(|name| format!("{name:width$}  (not a version)")),
        );
        print_lines(lines)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let Some(image) = args.image else {
        anyhow::bail!("no image given");
    };
    let router = router(&args.state.registry)?;
    let constraints = args.selection.constraints();
    let report = runtime()?.block_on(async {
        let registry = router.registry_for(&image).await?;
        check::check(registry.as_ref(), &image, &args.scheme.scheme, constraints).await
    })?;
    if args.state.json {
        print_lines([serde_json::to_string_pretty(&report)?])?;
    } else {
        let none = "-".to_owned();
        print_lines([
            format!("image       {}", report.image),
            format!(
                "current     {} {}",
                report.current,
                report.current_digest.as_ref().unwrap_or(&none)
            ),
            format!(
                "latest      {} {}",
                report.latest.as_ref().unwrap_or(&none),
                report.latest_digest.as_ref().unwrap_or(&none)
            ),
            format!("update      {}", report.update),
            format!(
                "newest any  {}",
                report.newest_any.as_ref().unwrap_or(&none)
            ),
        ])?;
    }
    Ok(ExitCode::SUCCESS)
}
