//! The agent's configuration file, and the deployments that container labels declare.
//!
//! ```yaml
//! interval: 1h                     # how often each deployment is checked (default 1h)
//! jitter: 5m                       # spread of checks, so they do not all fall at once
//! keep_checks: 30d                 # how long each check's record is kept (default 30d)
//! listen: 127.0.0.1:8686           # the HTTP API
//! database: upkeep-agent.db        # SQLite file next to this file, or postgres://…
//! state: upkeep-state              # the engine's manifest and journal
//! api_token_env: UPKEEP_AGENT_TOKEN  # the bearer token of mutating API routes; required
//!                                  # when `listen` is not a loopback address
//! read_token: false                # true: reading the API (but /health) needs the token too
//! allowed_hosts: [agent.internal]  # names the loopback API answers to, beside localhost,
//!                                  # 127.0.0.1 and [::1] (other Host headers get 421)
//! labels: true                     # also watch containers labelled upkeep.enable=true
//! webhooks:
//!   registries: [docker.io, ghcr.io]   # pushes from other registries are refused
//!   token_env: UPKEEP_WEBHOOK_TOKEN    # the token of Docker Hub, Quay and Distribution ...
//!   quay_token_env: UPKEEP_QUAY_TOKEN  # ... unless the source has its own: docker_hub_,
//!                                      # quay_ or distribution_token_env
//!   github_secret_env: UPKEEP_GITHUB_SECRET
//! notify:
//!   - slack://hooks.slack.com/services/T000/B000/XXXX?threshold=minor
//! notify_env: [UPKEEP_NTFY_URL]     # variables that each hold one more notification URL
//! projects:                        # directories the upkeep CLI manages (`upkeep init --compose`)
//!   shop:                          # its deployments are `shop:SERVICE` (`shop:web`)
//!     directory: /srv/shop         # its upkeep.yaml, version-manifest.yaml and versions.env
//!     window: '* 2-4 * * *'        # the schedule keys below, for all its services
//! deployments:                     # as in upkeep.yaml, plus the five keys below
//!   web:
//!     image: registry.example/web
//!     policy: auto_patch
//!     window: '* 2-4 * * *'        # apply only in the minutes this cron expression matches
//!     timezone: Europe/Berlin      # of the window (default UTC)
//!     min_age: 1h                  # a tag must be known this long before an auto update
//!     interval: 30m                # this deployment's own check interval
//!     release_notes: https://github.com/acme/web/releases/tag/v{tag}   # linked in notices
//! ```
//!
//! Secrets are never written in the file: the `*_env` keys name environment variables.
//! Every problem is reported at once, each with the field, the problem and the fix, in the
//! same form as `upkeep.yaml`'s ([`ConfigError`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use upkeep_update_engine::config::{Config, ConfigError, Problem, parse_duration};
use upkeep_versioning_core::manifest::ServiceName;
pub use upkeep_versioning_core::window::Window;

mod labels;
mod reference;
mod schedule;

pub use labels::{ENABLE_LABEL, LABELS, Labelled, OCI_SOURCE_LABEL, from_labels};
pub use reference::REFERENCE;
use reference::unknown_keys;
pub use schedule::{ReleaseNotes, Schedule};
use schedule::{SCHEDULE_KEYS, take_schedule};

/// The default check interval: once an hour, well inside anonymous Docker Hub limits.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// How long the record of a registry check is kept by default.
pub const DEFAULT_KEEP_CHECKS: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default address of the HTTP API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8686";

/// The agent's settings and deployments.
#[derive(Clone)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The file read.
    pub file: PathBuf,
    /// The default check interval.
    pub interval: Duration,
    /// How far checks are spread after their due time.
    pub jitter: Duration,
    /// How long the record of a registry check is kept; the newest of each deployment and
    /// the first that saw each tag (which `min_age` counts from) are kept regardless.
    pub keep_checks: Duration,
    /// The address of the HTTP API.
    pub listen: SocketAddr,
    /// The database: a SQLite path (relative to the file's directory) or a `postgres://` URL.
    pub database: String,
    /// The engine's state directory.
    pub state: PathBuf,
    /// The bearer token of the mutating API routes; `None` leaves them closed.
    pub api_token: Option<String>,
    /// Whether the reading routes (deployments, events, metrics) need the token too.
    pub read_token: bool,
    /// Host names the API answers to beside `localhost`, `127.0.0.1` and `[::1]`, lower-case
    /// and without port.
    pub allowed_hosts: Vec<String>,
    /// Whether to watch containers labelled `upkeep.enable=true`.
    pub labels: bool,
    /// Who may trigger checks by webhook.
    pub webhooks: WebhookSettings,
    /// Notification targets, as URLs: those of `notify`, then those of `notify_env`'s
    /// variables. They can hold secrets; show them only as parsed targets, which mask them.
    pub notify: Vec<String>,
    /// The deployments of the file, in the engine's terms.
    pub deployments: Config,
    /// When each deployment may be updated, by service.
    pub schedules: BTreeMap<ServiceName, Schedule>,
    /// Directories the upkeep CLI manages, by name: compose projects with their own
    /// `upkeep.yaml`, manifest and `versions.env`.
    pub projects: BTreeMap<String, Project>,
}

/// A directory the upkeep CLI manages, watched by the agent with the same files: the
/// project's `docker compose --env-file versions.env` sees what the agent applies.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Project {
    /// Where `upkeep.yaml`, `version-manifest.yaml` and `versions.env` are.
    pub directory: PathBuf,
    /// When its services may be checked and updated.
    pub schedule: Schedule,
}

/// Who may trigger checks by webhook.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct WebhookSettings {
    /// Registries whose pushes are accepted (`docker.io`, `ghcr.io`, `host:port`).
    pub registries: Vec<String>,
    /// The shared token of unsigned webhooks (Docker Hub, Quay, Distribution), for those
    /// without their own.
    pub token: Option<String>,
    /// Docker Hub's own token.
    pub docker_hub_token: Option<String>,
    /// Quay's own token.
    pub quay_token: Option<String>,
    /// The Distribution registry's own token.
    pub distribution_token: Option<String>,
    /// The secret GitHub signs its deliveries with.
    pub github_secret: Option<String>,
}

/// Shows a secret's presence, never its value.
fn redacted(secret: Option<&String>) -> Option<&'static str> {
    secret.map(|_| "[redacted]")
}

impl std::fmt::Debug for AgentConfig {
    /// Secrets are shown as `[redacted]`, so the configuration can be logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("file", &self.file)
            .field("interval", &self.interval)
            .field("jitter", &self.jitter)
            .field("keep_checks", &self.keep_checks)
            .field("listen", &self.listen)
            .field("database", &redact_url(&self.database))
            .field("state", &self.state)
            .field("api_token", &redacted(self.api_token.as_ref()))
            .field("read_token", &self.read_token)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("labels", &self.labels)
            .field("webhooks", &self.webhooks)
            .field("notify", &self.notify.len())
            .field("deployments", &self.deployments.deployments.len())
            .field("schedules", &self.schedules)
            .field("projects", &self.projects)
            .finish()
    }
}

impl std::fmt::Debug for WebhookSettings {
    /// Secrets are shown as `[redacted]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("registries", &self.registries)
            .field("token", &redacted(self.token.as_ref()))
            .field(
                "docker_hub_token",
                &redacted(self.docker_hub_token.as_ref()),
            )
            .field("quay_token", &redacted(self.quay_token.as_ref()))
            .field(
                "distribution_token",
                &redacted(self.distribution_token.as_ref()),
            )
            .field("github_secret", &redacted(self.github_secret.as_ref()))
            .finish()
    }
}

/// The database setting with a relative SQLite file path taken from `directory` (the
/// configuration file's), not from wherever the agent was started; URLs are kept as given.
fn database_next_to(directory: &Path, database: &str) -> String {
    let url = database.contains("://") || database.starts_with("sqlite:");
    if url || Path::new(database).is_absolute() {
        database.to_owned()
    } else {
        directory.join(database).display().to_string()
    }
}

/// A database URL without its password.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:[redacted]{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// When a deployment may be checked and updated, and where the release notes of a version
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    interval: Option<String>,
    jitter: Option<String>,
    keep_checks: Option<String>,
    listen: Option<String>,
    database: Option<String>,
    state: Option<PathBuf>,
    api_token_env: Option<String>,
    #[serde(default)]
    read_token: bool,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    #[serde(default)]
    labels: bool,
    #[serde(default)]
    webhooks: RawWebhooks,
    #[serde(default)]
    notify: Vec<String>,
    #[serde(default)]
    notify_env: Vec<String>,
    #[serde(default)]
    projects: BTreeMap<String, yaml_serde::Mapping>,
    #[serde(default)]
    deployments: BTreeMap<String, yaml_serde::Mapping>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWebhooks {
    #[serde(default)]
    registries: Vec<String>,
    token_env: Option<String>,
    docker_hub_token_env: Option<String>,
    quay_token_env: Option<String>,
    distribution_token_env: Option<String>,
    github_secret_env: Option<String>,
}

const EDIT: &str = "edit the agent's configuration file";

impl AgentConfig {
    /// Reads and checks `file`, reading the environment variables it names through `env`.
    pub fn load(file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|error| ConfigError {
            file: file.to_owned(),
            problems: vec![Problem {
                field: "(file)".to_owned(),
                problem: format!("cannot be read: {error}"),
                fix: "check the path given with --config and its permissions".to_owned(),
            }],
        })?;
        Self::parse(&text, file, env)
    }

    /// Reads and checks configuration text; `file` names it in errors and anchors relative
    /// paths.
    pub fn parse(
        text: &str,
        file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let fail = |problems| ConfigError {
            file: file.to_owned(),
            problems,
        };
        let syntax = |error: yaml_serde::Error| {
            let field = error.location().map_or_else(
                || "(file)".to_owned(),
                |at| format!("line {}, column {}", at.line(), at.column()),
            );
            fail(vec![Problem {
                field,
                problem: error.to_string(),
                fix: format!("{EDIT}; `upkeep-agent config-reference` lists every key"),
            }])
        };
        let mut value: yaml_serde::Value = yaml_serde::from_str(text).map_err(syntax)?;
        if value.is_null() {
            return Err(fail(vec![Problem {
                field: "(file)".to_owned(),
                problem: "is empty".to_owned(),
                fix: format!("{EDIT}: add at least `deployments:` or `labels: true`"),
            }]));
        }
        // Unknown keys are taken out and reported together, with the other problems, rather
        // than stopping at the first.
        let mut problems = unknown_keys(&mut value);
        let raw: RawAgent = match yaml_serde::from_value(value) {
            Ok(raw) => raw,
            Err(error) => {
                let mut error = syntax(error);
                problems.append(&mut error.problems);
                return Err(fail(problems));
            }
        };
        let directory = file.parent().unwrap_or(Path::new("."));
        let duration = |field: &str, text: Option<String>, default, problems: &mut Vec<Problem>| {
            text.map_or(default, |text| {
                parse_duration(&text).unwrap_or_else(|problem| {
                    problems.push(Problem {
                        field: field.to_owned(),
                        problem,
                        fix: EDIT.to_owned(),
                    });
                    default
                })
            })
        };
        let interval = duration("interval", raw.interval, DEFAULT_INTERVAL, &mut problems);
        let jitter = duration("jitter", raw.jitter, Duration::ZERO, &mut problems);
        let keep_checks = duration(
            "keep_checks",
            raw.keep_checks,
            DEFAULT_KEEP_CHECKS,
            &mut problems,
        );
        let listen_text = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().unwrap_or_else(|_| {
            problems.push(Problem {
                field: "listen".to_owned(),
                problem: format!("'{listen_text}' is not an address"),
                fix: format!("{EDIT}: write IP:PORT, such as {DEFAULT_LISTEN}"),
            });
            SocketAddr::from(([127, 0, 0, 1], 8686))
        });
        // Without a token, anyone who can reach a public address reads the deployments and
        // sends webhooks; refuse rather than expose it by a typo.
        if !listen.ip().is_loopback() && raw.api_token_env.is_none() {
            problems.push(Problem {
                field: "listen".to_owned(),
                problem: format!(
                    "{listen} is reachable from other machines, and `api_token_env` is not set"
                ),
                fix: format!(
                    "{EDIT}: set `api_token_env` to the environment variable that holds the API \
                     token (and `read_token: true` to protect reading too), or listen on \
                     {DEFAULT_LISTEN}"
                ),
            });
        }
        if raw.read_token && raw.api_token_env.is_none() {
            problems.push(Problem {
                field: "read_token".to_owned(),
                problem: "is true, but `api_token_env` is not set: there is no token to ask for"
                    .to_owned(),
                fix: format!("{EDIT}: set `api_token_env`, or remove `read_token`"),
            });
        }
        let allowed_hosts = raw
            .allowed_hosts
            .iter()
            .enumerate()
            .filter_map(|(index, host)| {
                let name = host.trim().to_ascii_lowercase();
                let plain = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
                if plain {
                    Some(name)
                } else {
                    problems.push(Problem {
                        field: format!("allowed_hosts[{index}]"),
                        problem: format!("'{host}' is not a host name"),
                        fix: format!(
                            "{EDIT}: write the name clients use, without scheme or port, such \
                             as agent.internal"
                        ),
                    });
                    None
                }
            })
            .collect();
        let mut secret = |field: &str, name: Option<String>| {
            let name = name?;
            let value = env(&name).filter(|value| !value.is_empty());
            if value.is_none() {
                problems.push(Problem {
                    field: field.to_owned(),
                    problem: format!("names the environment variable {name}, which is not set"),
                    fix: format!("set it (`export {name}=...`) before starting the agent, or remove `{field}`"),
                });
            }
            value
        };
        let api_token = secret("api_token_env", raw.api_token_env);
        let webhooks = WebhookSettings {
            token: secret("webhooks.token_env", raw.webhooks.token_env),
            docker_hub_token: secret(
                "webhooks.docker_hub_token_env",
                raw.webhooks.docker_hub_token_env,
            ),
            quay_token: secret("webhooks.quay_token_env", raw.webhooks.quay_token_env),
            distribution_token: secret(
                "webhooks.distribution_token_env",
                raw.webhooks.distribution_token_env,
            ),
            github_secret: secret("webhooks.github_secret_env", raw.webhooks.github_secret_env),
            registries: raw.webhooks.registries,
        };
        let mut notify = raw.notify;
        for (index, name) in raw.notify_env.iter().enumerate() {
            match env(name).map(|url| url.trim().to_owned()) {
                Some(url) if !url.is_empty() => notify.push(url),
                set => problems.push(Problem {
                    field: format!("notify_env[{index}]"),
                    problem: format!(
                        "names the environment variable {name}, which is {}",
                        if set.is_some() { "empty" } else { "not set" }
                    ),
                    fix: format!(
                        "set it to one notification URL (`export {name}=ntfy://ntfy.sh/my-topic`) \
                         before starting the agent, or remove it from `notify_env`"
                    ),
                }),
            }
        }
        let mut schedules = BTreeMap::new();
        let mut engine_deployments = yaml_serde::Mapping::new();
        for (name, mut body) in raw.deployments {
            let path = format!("deployments.{name}");
            let schedule = take_schedule(&mut body, &path, &mut problems);
            if let Ok(service) = ServiceName::parse(&name) {
                schedules.insert(service, schedule);
            }
            engine_deployments.insert(
                yaml_serde::Value::String(name),
                yaml_serde::Value::Mapping(body),
            );
        }
        let deployments = engine_config(engine_deployments, file, &mut problems);
        let projects = raw
            .projects
            .into_iter()
            .filter_map(|(name, body)| {
                let project = project(&name, body, directory, &mut problems)?;
                Some((name, project))
            })
            .collect();
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(Self {
            file: file.to_owned(),
            interval,
            jitter,
            keep_checks,
            listen,
            database: database_next_to(
                directory,
                raw.database.as_deref().unwrap_or("upkeep-agent.db"),
            ),
            state: directory.join(raw.state.unwrap_or_else(|| PathBuf::from("upkeep-state"))),
            api_token,
            read_token: raw.read_token,
            allowed_hosts,
            labels: raw.labels,
            webhooks,
            notify,
            deployments,
            schedules,
            projects,
        })
    }
}

/// Reads `projects.NAME`: a directory the CLI set up, and the schedule of its services.
fn project(
    name: &str,
    mut body: yaml_serde::Mapping,
    directory: &Path,
    problems: &mut Vec<Problem>,
) -> Option<Project> {
    let path = format!("projects.{name}");
    let before = problems.len();
    if let Err(error) = ServiceName::parse(name) {
        problems.push(Problem {
            field: path.clone(),
            problem: format!("is not a project name: {error}"),
            fix: format!("{EDIT}: name it with letters, digits, `_`, `.` or `-`"),
        });
    }
    let schedule = take_schedule(&mut body, &path, problems);
    let given = body.remove("directory");
    for (key, _) in body {
        problems.push(Problem {
            field: format!("{path}.{}", yaml_serde::to_string(&key).unwrap_or_default().trim()),
            problem: "is not a project setting".to_owned(),
            fix: format!(
                "{EDIT}: a project takes `directory` and {}; its deployments are set in its own upkeep.yaml",
                SCHEDULE_KEYS.map(|key| format!("`{key}`")).join(", ")
            ),
        });
    }
    let Some(yaml_serde::Value::String(given)) = given else {
        problems.push(Problem {
            field: format!("{path}.directory"),
            problem: "is missing, or not a path".to_owned(),
            fix: format!("{EDIT}: give the directory `upkeep init --compose FILE` was run in"),
        });
        return None;
    };
    let project_directory = directory.join(&given);
    let manifest = project_directory.join(upkeep_update_engine::store::MANIFEST_FILE);
    if !manifest.is_file() {
        problems.push(Problem {
            field: format!("{path}.directory"),
            problem: format!(
                "{} has no {}: upkeep does not manage it yet",
                project_directory.display(),
                upkeep_update_engine::store::MANIFEST_FILE
            ),
            fix: format!(
                "run `upkeep init --compose FILE` in {}, or correct the path",
                project_directory.display()
            ),
        });
    } else if let Err(error) =
        Config::load(&project_directory.join(upkeep_update_engine::config::CONFIG_FILE))
    {
        problems.extend(error.problems.into_iter().map(|mut problem| {
            problem.field = format!("{path}: {}: {}", error.file.display(), problem.field);
            problem
        }));
    }
    (problems.len() == before).then_some(Project {
        directory: project_directory,
        schedule,
    })
}

/// Runs the engine's validator on the deployments, keeping its field names.
fn engine_config(
    deployments: yaml_serde::Mapping,
    file: &Path,
    problems: &mut Vec<Problem>,
) -> Config {
    let mut document = yaml_serde::Mapping::new();
    document.insert(
        yaml_serde::Value::String("deployments".to_owned()),
        yaml_serde::Value::Mapping(deployments),
    );
    let text = yaml_serde::to_string(&document).unwrap_or_default();
    Config::parse(&text, file).unwrap_or_else(|error| {
        problems.extend(error.problems.into_iter().map(|mut problem| {
            problem.fix = problem.fix.replace("edit upkeep.yaml", EDIT);
            problem
        }));
        Config::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn a_full_file_reads_with_its_schedules() {
        let text = "
interval: 30m
jitter: 5m
keep_checks: 7d
listen: 0.0.0.0:9000
api_token_env: TOKEN
labels: true
webhooks:
  registries: [docker.io, '127.0.0.1:5000']
  token_env: TOKEN
notify: ['ntfy://ntfy.sh/updates']
deployments:
  web:
    image: 127.0.0.1:5000/test/web
    policy: auto_patch
    window: '* 2-4 * * *'
    timezone: Europe/Berlin
    min_age: 1h
";
        let config = AgentConfig::parse(text, Path::new("/etc/upkeep/agent.yaml"), &env).unwrap();
        assert_eq!(config.interval, Duration::from_secs(1800));
        assert_eq!(config.jitter, Duration::from_secs(300));
        assert_eq!(config.keep_checks, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(config.api_token.as_deref(), Some("s3cret"));
        assert_eq!(config.database, "/etc/upkeep/upkeep-agent.db");
        for (given, used) in [
            ("agent.db", "/etc/upkeep/agent.db"),
            ("db/agent.db", "/etc/upkeep/db/agent.db"),
            ("/var/lib/upkeep/agent.db", "/var/lib/upkeep/agent.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("sqlite:///var/lib/agent.db", "sqlite:///var/lib/agent.db"),
            ("postgres://db/upkeep", "postgres://db/upkeep"),
        ] {
            let text = format!("database: '{given}'\n");
            let config =
                AgentConfig::parse(&text, Path::new("/etc/upkeep/agent.yaml"), &env).unwrap();
            assert_eq!(config.database, used, "{given}");
            assert_eq!(config.keep_checks, DEFAULT_KEEP_CHECKS, "the default");
        }
        assert_eq!(config.state, PathBuf::from("/etc/upkeep/upkeep-state"));
        assert_eq!(config.webhooks.registries, ["docker.io", "127.0.0.1:5000"]);
        let web = &config.deployments.deployments["web"];
        assert_eq!(web.policy.as_str(), "auto_patch");
        let schedule = &config.schedules["web"];
        assert_eq!(schedule.min_age, Some(Duration::from_secs(3600)));
        let window = schedule.window.as_ref().unwrap();
        // 01:30 UTC is 02:30 in Berlin in winter: inside; 04:30 UTC is 05:30: outside.
        let at = |text: &str| text.parse::<upkeep_versioning_core::Timestamp>().unwrap();
        assert!(window.contains(at("2026-01-10T01:30:42Z")));
        assert!(!window.contains(at("2026-01-10T04:30:00Z")));
    }

    #[test]
    fn release_notes_are_a_url_with_the_tag_in_it() {
        let file = |template: &str| {
            let text = format!(
                "deployments:\n  web:\n    image: registry.example/web\n    release_notes: '{template}'\n"
            );
            AgentConfig::parse(&text, Path::new("agent.yaml"), &env)
        };
        let config = file("https://github.com/acme/web/releases/tag/v{tag}").unwrap();
        let notes = config.schedules["web"].release_notes.as_ref().unwrap();
        assert_eq!(
            notes.link("1.2.3"),
            "https://github.com/acme/web/releases/tag/v1.2.3"
        );
        let one_page = file("https://nginx.org/en/CHANGES").unwrap();
        assert_eq!(
            one_page.schedules["web"]
                .release_notes
                .as_ref()
                .unwrap()
                .link("1.2.3"),
            "https://nginx.org/en/CHANGES"
        );
        for (template, problem) in [
            (
                "ftp://acme.example/{tag}",
                "uses ftp:, which a person cannot open",
            ),
            (
                "https://acme.example/{version}",
                "has a placeholder other than {tag}",
            ),
            (
                "acme.example/notes",
                "is not a URL (relative URL without a base)",
            ),
        ] {
            let error = file(template).unwrap_err();
            assert_eq!(error.problems.len(), 1, "{error}");
            let found = &error.problems[0];
            assert_eq!(found.field, "deployments.web.release_notes");
            assert!(found.problem.contains(problem), "{template}: {found:?}");
            assert!(
                found
                    .problem
                    .contains("https://github.com/acme/web/releases/tag/v{tag}")
            );
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let text = "api_token_env: TOKEN\ndatabase: postgres://upkeep:hunter2@db:5432/upkeep\nwebhooks:\n  token_env: TOKEN\n";
        let config = AgentConfig::parse(text, Path::new("agent.yaml"), &env).unwrap();
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://upkeep:[redacted]@db:5432/upkeep"),
            "{shown}"
        );
        assert!(shown.contains("api_token: Some(\"[redacted]\")"), "{shown}");
    }

    #[test]
    fn every_problem_names_its_field_and_fix() {
        let text = "
interval: often
keep_checks: forever
listen: nowhere
api_token_env: MISSING
deployments:
  web:
    image: nginx:1.27
    policy: auto_pach
    window: 'every night'
    timezone: Mars/Olympus
";
        let error = AgentConfig::parse(text, Path::new("agent.yaml"), &env).unwrap_err();
        let fields: Vec<&str> = error.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "interval",
                "keep_checks",
                "listen",
                "api_token_env",
                "deployments.web.timezone",
                "deployments.web.window",
                "deployments.web.image",
                "deployments.web.policy",
            ]
        );
        let message = error.to_string();
        assert!(message.contains("names the environment variable MISSING, which is not set; set it (`export MISSING=...`)"), "{message}");
        assert!(
            message.contains(
                "'auto_pach' is not a policy; edit the agent's configuration file: write one of"
            ),
            "{message}"
        );
    }
}
