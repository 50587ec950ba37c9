//! Every key of the agent's configuration file, with its default and purpose: printed by
//! `upkeep-agent config-reference`, and the list unknown keys are checked against (with the
//! nearest known key as the hint). It describes keys; it reads no values.

use upkeep_update_engine::config::Problem;
use upkeep_versioning_core::suggest::closest;

use super::{DEFAULT_LISTEN, EDIT};

/// Every key of the agent's configuration file: the name (`NAME` stands for any name), its
/// default, and what it is for. `upkeep-agent config-reference` prints it; unknown keys are
/// found by it.
pub const REFERENCE: &[(&str, &str, &str)] = &[
    ("interval", "1h", "how often each deployment is checked"),
    (
        "jitter",
        "0s",
        "how far checks are spread after their due time",
    ),
    (
        "keep_checks",
        "30d",
        "how long each check's record is kept (each tag's first sighting always)",
    ),
    (
        "listen",
        DEFAULT_LISTEN,
        "the HTTP API's address; beyond loopback it needs api_token_env",
    ),
    (
        "database",
        "upkeep-agent.db",
        "a SQLite file (relative to this file's directory) or a postgres:// URL",
    ),
    (
        "state",
        "upkeep-state",
        "the directory of the engine's manifest and journal",
    ),
    (
        "api_token_env",
        "(none: changes through the API are refused)",
        "the environment variable holding the API's bearer token",
    ),
    (
        "read_token",
        "false",
        "true: reading the API (all but /health) needs the token too",
    ),
    (
        "allowed_hosts",
        "[]",
        "Host names the loopback API answers to, beside localhost, 127.0.0.1 and [::1]",
    ),
    (
        "labels",
        "false",
        "also watch containers labelled upkeep.enable=true",
    ),
    (
        "webhooks.registries",
        "[]",
        "registries whose pushes are accepted (docker.io, ghcr.io, host:port)",
    ),
    (
        "webhooks.token_env",
        "(none)",
        "the variable holding the token of Docker Hub, Quay and Distribution webhooks",
    ),
    (
        "webhooks.docker_hub_token_env",
        "webhooks.token_env",
        "Docker Hub's own token",
    ),
    (
        "webhooks.quay_token_env",
        "webhooks.token_env",
        "Quay's own token",
    ),
    (
        "webhooks.distribution_token_env",
        "webhooks.token_env",
        "the Distribution registry's own token",
    ),
    (
        "webhooks.github_secret_env",
        "(none: GitHub webhooks are refused)",
        "the variable holding the secret GitHub signs deliveries with",
    ),
    (
        "notify",
        "[]",
        "notification URLs (https, slack, discord, ntfy, smtp, smtps)",
    ),
    (
        "notify_env",
        "[]",
        "environment variables that each hold one more notification URL",
    ),
    (
        "projects.NAME.directory",
        "(required)",
        "a directory the upkeep CLI manages (`upkeep init --compose`)",
    ),
    (
        "projects.NAME.window",
        "(any time)",
        "when its services may be updated: a cron expression of five fields",
    ),
    (
        "projects.NAME.timezone",
        "UTC",
        "the window's time zone, an IANA name such as Europe/Berlin",
    ),
    (
        "projects.NAME.min_age",
        "0s",
        "how long a tag must be known before an automatic update",
    ),
    (
        "projects.NAME.interval",
        "interval",
        "its services' own check interval",
    ),
    (
        "projects.NAME.release_notes",
        "(none)",
        "a URL linked in notices, with {tag} for the tag",
    ),
    (
        "deployments.NAME",
        "",
        "a deployment, with the keys of upkeep.yaml's deployments (image, container, policy, ...) and these:",
    ),
    (
        "deployments.NAME.window",
        "(any time)",
        "when it may be updated: a cron expression of five fields",
    ),
    (
        "deployments.NAME.timezone",
        "UTC",
        "the window's time zone, an IANA name such as Europe/Berlin",
    ),
    (
        "deployments.NAME.min_age",
        "0s",
        "how long a tag must be known before an automatic update",
    ),
    (
        "deployments.NAME.interval",
        "interval",
        "its own check interval",
    ),
    (
        "deployments.NAME.release_notes",
        "(none)",
        "a URL linked in notices, with {tag} for the tag",
    ),
];

/// Takes the keys [`REFERENCE`] does not know out of the file's top level and its `webhooks`,
/// and returns a problem for each, with the nearest known key.
pub(super) fn unknown_keys(value: &mut yaml_serde::Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut check = |mapping: &mut yaml_serde::Mapping, prefix: &str| {
        let known: Vec<&str> = REFERENCE
            .iter()
            .filter_map(|(key, _, _)| key.strip_prefix(prefix))
            .map(|key| key.split('.').next().unwrap_or(key))
            .collect();
        let unknown: Vec<yaml_serde::Value> = mapping
            .keys()
            .filter(|key| !key.as_str().is_some_and(|key| known.contains(&key)))
            .cloned()
            .collect();
        for key in unknown {
            mapping.remove(&key);
            let name = key.as_str().map_or_else(
                || {
                    yaml_serde::to_string(&key)
                        .unwrap_or_default()
                        .trim()
                        .to_owned()
                },
                str::to_owned,
            );
            let hint = closest(&name, known.iter().copied())
                .map(|near| format!("did you mean `{prefix}{near}`? "))
                .unwrap_or_default();
            problems.push(Problem {
                field: format!("{prefix}{name}"),
                problem: "is not a setting of the agent".to_owned(),
                fix: format!("{EDIT}: {hint}`upkeep-agent config-reference` lists every key"),
            });
        }
    };
    if let Some(top) = value.as_mapping_mut() {
        check(top, "");
        if let Some(webhooks) = top
            .get_mut("webhooks")
            .and_then(yaml_serde::Value::as_mapping_mut)
        {
            check(webhooks, "webhooks.");
        }
    }
    problems
}
