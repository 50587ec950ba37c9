//! The deployments upkeep manages, as the user configures them in `upkeep.yaml`: for each
//! service, the image repository, where it runs (a Docker container or a compose service),
//! the policy, the constraints on targets, the health checks and the hooks.
//!
//! The version a service runs now is not here: that is `version-manifest.yaml`'s job
//! ([`crate::store`]). A deployment is the pair of the two.
//!
//! # File format
//!
//! ```yaml
//! deployments:
//!   web:
//!     image: registry.example/team/web   # the repository, without a tag
//!     container: web                     # or `compose: docker-compose.yml`, or `swarm_service: web`
//!     policy: auto_patch                 # disabled, notify_only, auto_patch, auto_minor, auto_major
//!     scheme: docker                     # docker, semver, loose or regex:PATTERN
//!     within: major                      # major, minor or patch
//!     include: '^\d+\.\d+\.\d+$'
//!     exclude: 'rc'
//!     allow_prerelease: false
//!     health:
//!       http: http://127.0.0.1:8080/health
//!       expected_status: 200
//!       tcp: 127.0.0.1:8080
//!       command: [sh, -c, 'test -f /tmp/ready']   # on this host
//!       exec: [pg_isready, -q]                     # inside the container
//!       image_healthcheck: true
//!       timeout: 5s
//!       retries: 5
//!       interval: 2s
//!     hooks:
//!       pre_update: { command: [./backup.sh], timeout: 2min }
//!   api:
//!     image: registry.example/team/api
//!     swarm_service: api                 # a Docker Swarm service, rolled out by Swarm
//!     swarm:                             # how Swarm rolls an update out (all optional)
//!       parallelism: 1                   # tasks replaced at once
//!       delay: 0s                        # pause between batches
//!       monitor: 5s                      # how long each new task is watched
//!       max_failure_ratio: 0             # share of tasks that may fail (0 to 1)
//!       order: stop-first                # or start-first (not with host-mode ports)
//! ```
//!
//! Only `image` is required. `container` defaults to the service's name, `policy` to
//! `notify_only`, `scheme` to `docker`, `within` to `major`. Durations are written `500ms`,
//! `5s`, `2min` or `1h`; a bare number is seconds. A container that runs and does not restart
//! is always checked; the probes listed under `health` must pass too.
//!
//! Every problem is reported at once, each naming the field, what is wrong and how to fix it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use upkeep_versioning_core::manifest::ServiceName;
use upkeep_versioning_core::policy::Policy;
use upkeep_versioning_core::select::{Constraints, Within};
use upkeep_versioning_core::{Scheme, regex_problem};

use crate::health::{Patience, Probe};
use crate::hooks::{DEFAULT_HOOK_TIMEOUT, Hook, Hooks};
use crate::runtime::{RolloutOrder, SwarmRollout};

/// The configuration's file name, next to the manifest.
pub const CONFIG_FILE: &str = "upkeep.yaml";

/// Every deployment upkeep manages, by service name.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The deployments, by service name.
    pub deployments: BTreeMap<ServiceName, Deployment>,
}

/// One service: what it runs, where, and how upkeep may change it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Deployment {
    /// The service's name, as in the manifest.
    pub service: ServiceName,
    /// The image repository, such as `registry.example/team/web`.
    pub image: String,
    /// Where the service runs.
    pub placement: Placement,
    /// How far upkeep may move it without asking.
    pub policy: Policy,
    /// How its tags are read as versions.
    pub scheme: Scheme,
    /// Which line a target must stay in.
    pub within: Within,
    /// Tags a target must match.
    pub include: Option<Regex>,
    /// Tags a target must not match.
    pub exclude: Option<Regex>,
    /// Whether pre-releases may be targets.
    pub allow_prerelease: bool,
    /// How to tell that it is well after a change.
    pub health: HealthConfig,
    /// Commands around its updates and rollbacks.
    pub hooks: Hooks,
}

/// Where a service runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A Docker container, by name.
    Container(String),
    /// A service of a compose file; the service has the deployment's name.
    Compose {
        /// The compose file, relative paths being relative to the configuration's directory.
        file: PathBuf,
    },
    /// A Docker Swarm service, by name, which Swarm rolls out as `rollout` says.
    Swarm {
        /// The service's name (`docker service ls`).
        service: String,
        /// How Swarm rolls an update out.
        rollout: SwarmRollout,
    },
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Container(name) => write!(f, "container {name}"),
            Self::Compose { file } => write!(f, "compose {}", file.display()),
            Self::Swarm { service, .. } => write!(f, "swarm service {service}"),
        }
    }
}

/// The health checks of a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthConfig {
    /// Probes from outside, all of which must pass.
    pub probes: Vec<Probe>,
    /// Whether the image's own `HEALTHCHECK` must report healthy.
    pub image_healthcheck: bool,
    /// How patiently each check is tried.
    pub patience: Patience,
}

impl Deployment {
    /// The constraints a target must meet; `skip` are tags never to choose (failed ones).
    pub fn constraints(&self, skip: impl IntoIterator<Item = String>) -> Constraints {
        Constraints {
            within: self.within,
            allow_prerelease: self.allow_prerelease,
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            skip: skip.into_iter().collect(),
            ..Constraints::default()
        }
    }

    /// A deployment with the defaults: a container of the service's name, `notify_only`.
    pub fn new(service: ServiceName, image: impl Into<String>) -> Self {
        Self {
            placement: Placement::Container(service.as_str().to_owned()),
            service,
            image: image.into(),
            policy: Policy::default(),
            scheme: Scheme::default(),
            within: Within::default(),
            include: None,
            exclude: None,
            allow_prerelease: false,
            health: HealthConfig::default(),
            hooks: Hooks::default(),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, such as `deployments.web.policy`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.field, self.problem, self.fix)
    }
}

/// The configuration cannot be used; every problem found is listed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} has {}:{}", file.display(), count(problems.len()), list(problems))]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// What is wrong, in file order.
    pub problems: Vec<Problem>,
}

fn count(problems: usize) -> String {
    if problems == 1 {
        "a problem".to_owned()
    } else {
        format!("{problems} problems")
    }
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("\n  {p}")).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    deployments: BTreeMap<String, RawDeployment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeployment {
    image: Option<String>,
    container: Option<String>,
    compose: Option<PathBuf>,
    swarm_service: Option<String>,
    swarm: Option<RawSwarm>,
    policy: Option<String>,
    scheme: Option<String>,
    within: Option<String>,
    include: Option<String>,
    exclude: Option<String>,
    #[serde(default)]
    allow_prerelease: bool,
    #[serde(default)]
    health: RawHealth,
    #[serde(default)]
    hooks: BTreeMap<String, RawHook>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    http: Option<String>,
    expected_status: Option<u16>,
    tcp: Option<String>,
    command: Option<Vec<String>>,
    exec: Option<Vec<String>>,
    #[serde(default)]
    image_healthcheck: bool,
    timeout: Option<RawDuration>,
    retries: Option<u32>,
    interval: Option<RawDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwarm {
    parallelism: Option<u32>,
    delay: Option<RawDuration>,
    monitor: Option<RawDuration>,
    max_failure_ratio: Option<f64>,
    order: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    command: Vec<String>,
    timeout: Option<RawDuration>,
}

/// A duration as written: a number of seconds or text such as `5s`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

const EDIT: &str = "edit upkeep.yaml";

impl Config {
    /// Reads and validates `path`; a missing file is `Ok(None)`.
    pub fn load(path: &Path) -> Result<Option<Self>, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(ConfigError {
                file: path.to_owned(),
                problems: vec![Problem {
                    field: "(file)".to_owned(),
                    problem: format!("cannot be read: {error}"),
                    fix: "check its permissions".to_owned(),
                }],
            }),
        }
    }

    /// Reads and validates configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let fail = |problems| ConfigError {
            file: file.to_owned(),
            problems,
        };
        let raw: Option<RawConfig> = yaml_serde::from_str(text).map_err(|error| {
            let at = error
                .location()
                .map(|at| format!("line {}, column {}", at.line(), at.column()))
                .unwrap_or_else(|| "(file)".to_owned());
            fail(vec![Problem {
                field: at,
                problem: error.to_string(),
                fix: format!("{EDIT}; the fields are described in `upkeep init --help`"),
            }])
        })?;
        let raw = raw.unwrap_or(RawConfig {
            deployments: BTreeMap::new(),
        });
        let mut problems = Vec::new();
        let mut config = Self::default();
        for (name, deployment) in raw.deployments {
            let field = format!("deployments.{name}");
            let service = match ServiceName::parse(&name) {
                Ok(service) => service,
                Err(error) => {
                    problems.push(Problem {
                        field,
                        problem: error.to_string(),
                        fix: format!("{EDIT}: rename the service"),
                    });
                    continue;
                }
            };
            if let Some(deployment) = build(service.clone(), deployment, &field, &mut problems) {
                config.deployments.insert(service, deployment);
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }

    /// The configuration as YAML, in the format [`parse`](Self::parse) reads; `upkeep init`
    /// writes it.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from(
            "# upkeep's deployments: what each service runs on, how far upkeep may move it,\n\
             # and how to tell it is well. The versions themselves are in version-manifest.yaml.\n\
             deployments:\n",
        );
        for deployment in self.deployments.values() {
            write_deployment(&mut out, deployment);
        }
        out
    }
}

fn write_deployment(out: &mut String, d: &Deployment) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "  {}:", d.service);
    let _ = writeln!(out, "    image: {}", quote(&d.image));
    match &d.placement {
        Placement::Container(name) => {
            let _ = writeln!(out, "    container: {}", quote(name));
        }
        Placement::Compose { file } => {
            let _ = writeln!(out, "    compose: {}", quote(&file.display().to_string()));
        }
        Placement::Swarm { service, rollout } => {
            let _ = writeln!(out, "    swarm_service: {}", quote(service));
            if *rollout != SwarmRollout::default() {
                out.push_str("    swarm:\n");
                let _ = writeln!(out, "      parallelism: {}", rollout.parallelism);
                let _ = writeln!(out, "      delay: {}", duration_text(rollout.delay));
                let _ = writeln!(out, "      monitor: {}", duration_text(rollout.monitor));
                let _ = writeln!(
                    out,
                    "      max_failure_ratio: {}",
                    rollout.max_failure_ratio
                );
                let _ = writeln!(out, "      order: {}", rollout.order.as_str());
            }
        }
    }
    let _ = writeln!(
        out,
        "    policy: {}  # disabled, notify_only, auto_patch, auto_minor or auto_major",
        d.policy.as_str()
    );
    if d.scheme != Scheme::Docker {
        let _ = writeln!(out, "    scheme: {}", quote(&d.scheme.name()));
    }
    let _ = writeln!(out, "    within: {}", d.within.as_str());
    for (key, pattern) in [("include", &d.include), ("exclude", &d.exclude)] {
        if let Some(pattern) = pattern {
            let _ = writeln!(out, "    {key}: {}", quote(pattern.as_str()));
        }
    }
    if d.allow_prerelease {
        out.push_str("    allow_prerelease: true\n");
    }
    let health = &d.health;
    let mut lines = Vec::new();
    for probe in &health.probes {
        match probe {
            Probe::Http {
                url,
                expected_status,
            } => {
                lines.push(format!("http: {}", quote(url)));
                if let Some(status) = expected_status {
                    lines.push(format!("expected_status: {status}"));
                }
            }
            Probe::Tcp { address } => lines.push(format!("tcp: {}", quote(address))),
            Probe::Command { program, args } => {
                let words: Vec<String> = std::iter::once(program)
                    .chain(args)
                    .map(|word| quote_always(word))
                    .collect();
                lines.push(format!("command: [{}]", words.join(", ")));
            }
            Probe::Exec { command } => {
                let words: Vec<String> = command.iter().map(|word| quote_always(word)).collect();
                lines.push(format!("exec: [{}]", words.join(", ")));
            }
        }
    }
    if health.image_healthcheck {
        lines.push("image_healthcheck: true".to_owned());
    }
    if health.patience != Patience::default() || !lines.is_empty() {
        lines.push(format!(
            "timeout: {}",
            duration_text(health.patience.timeout)
        ));
        lines.push(format!("retries: {}", health.patience.attempts));
        lines.push(format!(
            "interval: {}",
            duration_text(health.patience.interval)
        ));
    }
    if !lines.is_empty() {
        out.push_str("    health:\n");
        for line in lines {
            let _ = writeln!(out, "      {line}");
        }
    }
    let hooks = [
        ("pre_update", &d.hooks.pre_update),
        ("post_update", &d.hooks.post_update),
        ("pre_rollback", &d.hooks.pre_rollback),
        ("post_rollback", &d.hooks.post_rollback),
    ];
    if hooks.iter().any(|(_, hook)| hook.is_some()) {
        out.push_str("    hooks:\n");
        for (key, hook) in hooks {
            if let Some(hook) = hook {
                let words: Vec<String> = hook.command.iter().map(|w| quote_always(w)).collect();
                let _ = writeln!(
                    out,
                    "      {key}: {{ command: [{}], timeout: {} }}",
                    words.join(", "),
                    duration_text(hook.timeout)
                );
            }
        }
    }
}

/// Single-quotes YAML text unless it is plainly safe as it is.
fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-:".contains(c))
        && !text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == ':')
        && !text.ends_with(':')
        && !text.contains(": ");
    if plain {
        text.to_owned()
    } else {
        quote_always(text)
    }
}

fn quote_always(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn duration_text(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(60_000) && millis > 0 {
        format!("{}min", millis / 60_000)
    } else if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

/// Reads `5s`, `500ms`, `2min`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let problem =
        || format!("'{text}' is not a duration; write it like 500ms, 5s, 2min, 1h or 30d");
    let number: u64 = number.parse().map_err(|_| problem())?;
    let millis_per_unit = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(problem()),
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(problem)
}

fn duration(
    raw: Option<RawDuration>,
    default: Duration,
    field: String,
    problems: &mut Vec<Problem>,
) -> Duration {
    match raw {
        None => default,
        Some(RawDuration::Seconds(seconds)) => Duration::from_secs(seconds),
        Some(RawDuration::Text(text)) => parse_duration(&text).unwrap_or_else(|problem| {
            problems.push(Problem {
                field,
                problem,
                fix: EDIT.to_owned(),
            });
            default
        }),
    }
}

fn build(
    service: ServiceName,
    raw: RawDeployment,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Option<Deployment> {
    let before = problems.len();
    let mut problem = |field: &str, problem: String, fix: String| {
        problems.push(Problem {
            field: format!("{path}.{field}"),
            problem,
            fix,
        });
    };
    let image = match raw.image {
        Some(image) if is_repository(&image) => image,
        Some(image) => {
            let fix = format!(
                "{EDIT}: write the repository without tag or digest, such as `{}`; the tag lives in version-manifest.yaml",
                upkeep_versioning_core::reference::ImageRef::from_str(&image)
                    .map(|parsed| parsed.name().to_owned())
                    .unwrap_or_else(|_| "registry.example/team/web".to_owned())
            );
            problem(
                "image",
                format!("'{image}' is not an image repository"),
                fix,
            );
            String::new()
        }
        None => {
            problem(
                "image",
                "is missing".to_owned(),
                format!("{EDIT}: add `image: REPOSITORY`, or run `upkeep init --from-running`"),
            );
            String::new()
        }
    };
    let swarm_service = raw.swarm_service;
    if swarm_service.is_some() && (raw.container.is_some() || raw.compose.is_some()) {
        problem(
            "swarm_service",
            "is set together with `container` or `compose`".to_owned(),
            format!(
                "{EDIT}: keep `swarm_service` for a Swarm service, or remove it for a container"
            ),
        );
    }
    let rollout = match raw.swarm {
        Some(_) if swarm_service.is_none() => {
            problem(
                "swarm",
                "is set without `swarm_service`".to_owned(),
                format!("{EDIT}: name the Swarm service with `swarm_service`, or remove `swarm`"),
            );
            None
        }
        Some(swarm) => {
            let mut rollout = SwarmRollout::default();
            if let Some(parallelism) = swarm.parallelism {
                rollout.parallelism = parallelism;
            }
            let mut duration_problems = Vec::new();
            rollout.delay = duration(
                swarm.delay,
                rollout.delay,
                format!("{path}.swarm.delay"),
                &mut duration_problems,
            );
            rollout.monitor = duration(
                swarm.monitor,
                rollout.monitor,
                format!("{path}.swarm.monitor"),
                &mut duration_problems,
            );
            for found in duration_problems {
                problem(
                    found.field.trim_start_matches(&format!("{path}.")),
                    found.problem,
                    found.fix,
                );
            }
            if let Some(ratio) = swarm.max_failure_ratio {
                if (0.0..=1.0).contains(&ratio) {
                    rollout.max_failure_ratio = ratio;
                } else {
                    problem(
                        "swarm.max_failure_ratio",
                        format!("{ratio} is not between 0 and 1"),
                        format!("{EDIT}: write the share of tasks that may fail, such as 0 or 0.2"),
                    );
                }
            }
            match swarm.order.as_deref() {
                None | Some("stop-first") => {}
                Some("start-first") => rollout.order = RolloutOrder::StartFirst,
                Some(other) => problem(
                    "swarm.order",
                    format!("'{other}' is not an order"),
                    format!("{EDIT}: write stop-first or start-first"),
                ),
            }
            Some(rollout)
        }
        None => None,
    };
    let placement = match (raw.container, raw.compose) {
        _ if swarm_service.is_some() => match swarm_service {
            Some(name) if name.is_empty() => {
                problem(
                    "swarm_service",
                    "is empty".to_owned(),
                    format!("{EDIT}: name the service (`docker service ls` lists them)"),
                );
                Placement::Container(service.as_str().to_owned())
            }
            Some(name) => Placement::Swarm {
                service: name,
                rollout: rollout.unwrap_or_default(),
            },
            None => Placement::Container(service.as_str().to_owned()),
        },
        (Some(_), Some(_)) => {
            problem(
                "compose",
                "is set together with `container`".to_owned(),
                format!(
                    "{EDIT}: keep `container` for a plain container, or `compose` for a compose service"
                ),
            );
            Placement::Container(service.as_str().to_owned())
        }
        (Some(name), None) if name.is_empty() => {
            problem(
                "container",
                "is empty".to_owned(),
                format!("{EDIT}: name the container (`docker ps --all` lists them)"),
            );
            Placement::Container(service.as_str().to_owned())
        }
        (Some(name), None) => Placement::Container(name),
        (None, Some(file)) => Placement::Compose { file },
        (None, None) => Placement::Container(service.as_str().to_owned()),
    };
    let policy = match raw.policy {
        None => Policy::default(),
        Some(text) => text.parse().unwrap_or_else(|_| {
            problem(
                "policy",
                format!("'{text}' is not a policy"),
                format!(
                    "{EDIT}: write one of {}",
                    Policy::ALL.map(Policy::as_str).join(", ")
                ),
            );
            Policy::default()
        }),
    };
    let scheme = match raw.scheme {
        None => Scheme::default(),
        Some(text) => text.parse().unwrap_or_else(|error| {
            problem(
                "scheme",
                format!("{error}"),
                format!("{EDIT}: write docker, semver, loose or regex:PATTERN"),
            );
            Scheme::default()
        }),
    };
    let within = match raw.within {
        None => Within::default(),
        Some(text) => text.parse().unwrap_or_else(|_| {
            problem(
                "within",
                format!("'{text}' is not a line"),
                format!("{EDIT}: write major, minor or patch"),
            );
            Within::default()
        }),
    };
    let mut pattern = |field: &str, text: Option<String>| {
        let text = text?;
        Regex::new(&text)
            .map_err(|error| {
                problem(
                    field,
                    format!(
                        "'{text}' is not a regular expression: {}",
                        regex_problem(&error)
                    ),
                    format!("{EDIT}: fix the pattern (single quotes keep backslashes as written)"),
                );
            })
            .ok()
    };
    let include = pattern("include", raw.include);
    let exclude = pattern("exclude", raw.exclude);
    let health = health(raw.health, &format!("{path}.health"), problems);
    if matches!(placement, Placement::Swarm { .. }) {
        swarm_health_problems(&health, &format!("{path}.health"), problems);
    }
    let hooks = hooks(raw.hooks, &format!("{path}.hooks"), problems);
    if problems.len() > before {
        return None;
    }
    Some(Deployment {
        service,
        image,
        placement,
        policy,
        scheme,
        within,
        include,
        exclude,
        allow_prerelease: raw.allow_prerelease,
        health,
        hooks,
    })
}

/// The checks a Swarm service cannot have: its tasks may run on other nodes, and Swarm
/// watches the image's `HEALTHCHECK` itself while it rolls an update out.
fn swarm_health_problems(health: &HealthConfig, path: &str, problems: &mut Vec<Problem>) {
    if health
        .probes
        .iter()
        .any(|probe| matches!(probe, Probe::Exec { .. }))
    {
        problems.push(Problem {
            field: format!("{path}.exec"),
            problem: "cannot run in a Swarm service's tasks, which may be on other nodes"
                .to_owned(),
            fix: format!("{EDIT}: check the service from outside with `http` or `tcp` instead"),
        });
    }
    if health.image_healthcheck {
        problems.push(Problem {
            field: format!("{path}.image_healthcheck"),
            problem: "is Swarm's to watch: a task whose HEALTHCHECK fails fails the rollout"
                .to_owned(),
            fix: format!("{EDIT}: remove it; Swarm rolls back a version whose tasks are unhealthy"),
        });
    }
}

fn is_repository(image: &str) -> bool {
    upkeep_versioning_core::reference::ImageRef::from_str(image)
        .is_ok_and(|parsed| parsed.is_tag_implied() && parsed.digest().is_none())
}

fn health(raw: RawHealth, path: &str, problems: &mut Vec<Problem>) -> HealthConfig {
    let mut probes = Vec::new();
    if let Some(url) = raw.http {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems.push(Problem {
                field: format!("{path}.http"),
                problem: format!("'{url}' is not an http:// or https:// URL"),
                fix: format!("{EDIT}: write the full URL, such as http://127.0.0.1:8080/health"),
            });
        }
        probes.push(Probe::Http {
            url,
            expected_status: raw.expected_status,
        });
    } else if raw.expected_status.is_some() {
        problems.push(Problem {
            field: format!("{path}.expected_status"),
            problem: "is set without `http`".to_owned(),
            fix: format!("{EDIT}: add the `http` URL it is the status of"),
        });
    }
    if let Some(address) = raw.tcp {
        if address
            .rsplit_once(':')
            .is_none_or(|(_, port)| port.parse::<u16>().is_err())
        {
            problems.push(Problem {
                field: format!("{path}.tcp"),
                problem: format!("'{address}' is not HOST:PORT"),
                fix: format!("{EDIT}: write it like 127.0.0.1:5432"),
            });
        }
        probes.push(Probe::Tcp { address });
    }
    if let Some(mut command) = raw.command {
        if command.is_empty() {
            problems.push(Problem {
                field: format!("{path}.command"),
                problem: "is empty".to_owned(),
                fix: format!("{EDIT}: give the program and its arguments, such as [curl, -fsS, http://127.0.0.1/]"),
            });
        } else {
            let program = command.remove(0);
            probes.push(Probe::Command {
                program,
                args: command,
            });
        }
    }
    if let Some(command) = raw.exec {
        if command.is_empty() {
            problems.push(Problem {
                field: format!("{path}.exec"),
                problem: "is empty".to_owned(),
                fix: format!("{EDIT}: give the program to run inside the container and its arguments, such as [pg_isready, -q]"),
            });
        } else {
            probes.push(Probe::Exec { command });
        }
    }
    let defaults = Patience::default();
    let attempts = match raw.retries {
        Some(0) => {
            problems.push(Problem {
                field: format!("{path}.retries"),
                problem: "is 0, so no check would ever run".to_owned(),
                fix: format!("{EDIT}: write 1 or more"),
            });
            1
        }
        Some(retries) => retries,
        None => defaults.attempts,
    };
    HealthConfig {
        probes,
        image_healthcheck: raw.image_healthcheck,
        patience: Patience {
            timeout: duration(
                raw.timeout,
                defaults.timeout,
                format!("{path}.timeout"),
                problems,
            ),
            attempts,
            interval: duration(
                raw.interval,
                defaults.interval,
                format!("{path}.interval"),
                problems,
            ),
        },
    }
}

fn hooks(raw: BTreeMap<String, RawHook>, path: &str, problems: &mut Vec<Problem>) -> Hooks {
    let mut hooks = Hooks::default();
    for (event, raw) in raw {
        let field = format!("{path}.{event}");
        let slot = match event.as_str() {
            "pre_update" => &mut hooks.pre_update,
            "post_update" => &mut hooks.post_update,
            "pre_rollback" => &mut hooks.pre_rollback,
            "post_rollback" => &mut hooks.post_rollback,
            _ => {
                problems.push(Problem {
                    field,
                    problem: format!("'{event}' is not a hook"),
                    fix: format!(
                        "{EDIT}: use pre_update, post_update, pre_rollback or post_rollback"
                    ),
                });
                continue;
            }
        };
        if raw.command.is_empty() {
            problems.push(Problem {
                field: format!("{field}.command"),
                problem: "is empty".to_owned(),
                fix: format!("{EDIT}: give the program and its arguments"),
            });
            continue;
        }
        let timeout = duration(
            raw.timeout,
            DEFAULT_HOOK_TIMEOUT,
            format!("{field}.timeout"),
            problems,
        );
        *slot = Some(Hook {
            command: raw.command,
            timeout,
        });
    }
    hooks
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("upkeep.yaml"))
    }

    #[test]
    fn a_full_deployment_reads_and_writes_back_the_same() {
        let text = r"
deployments:
  web:
    image: 127.0.0.1:5000/test/web
    container: web-1
    policy: auto_patch
    within: minor
    include: '^\d+\.\d+\.\d+$'
    health:
      http: http://127.0.0.1:8080/cgi-bin/health
      expected_status: 200
      tcp: 127.0.0.1:8080
      command: [sh, -c, 'exit 0']
      image_healthcheck: true
      timeout: 500ms
      retries: 3
      interval: 1s
    hooks:
      pre_update: { command: [true], timeout: 2min }
  db:
    image: postgres
    compose: docker-compose.yml
";
        let config = parse(text).unwrap();
        let web = &config.deployments["web"];
        assert_eq!(web.placement, Placement::Container("web-1".to_owned()));
        assert_eq!(web.policy, Policy::AutoPatch);
        assert_eq!(web.within, Within::Minor);
        assert_eq!(web.health.probes.len(), 3);
        assert!(web.health.image_healthcheck);
        assert_eq!(web.health.patience.timeout, Duration::from_millis(500));
        assert_eq!(web.health.patience.attempts, 3);
        assert_eq!(
            web.hooks.pre_update.as_ref().unwrap().timeout,
            Duration::from_secs(120)
        );
        let db = &config.deployments["db"];
        assert_eq!(db.policy, Policy::NotifyOnly);
        assert_eq!(
            db.placement,
            Placement::Compose {
                file: PathBuf::from("docker-compose.yml")
            }
        );
        let again = parse(&config.to_yaml()).unwrap();
        assert_eq!(again.to_yaml(), config.to_yaml());
        assert_eq!(again.deployments["web"].health, web.health);
        assert_eq!(
            again.deployments["web"].include.as_ref().unwrap().as_str(),
            r"^\d+\.\d+\.\d+$"
        );
    }

    #[test]
    fn every_problem_names_its_field_and_fix() {
        let text = "
deployments:
  web:
    image: nginx:1.27
    policy: auto_pach
    within: major-ish
    include: '('
    health:
      http: localhost:8080
      retries: 0
      timeout: soon
    hooks:
      before: { command: [x] }
  api: {}
";
        let error = parse(text).unwrap_err();
        let fields: Vec<&str> = error.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "deployments.api.image",
                "deployments.web.image",
                "deployments.web.policy",
                "deployments.web.within",
                "deployments.web.include",
                "deployments.web.health.http",
                "deployments.web.health.retries",
                "deployments.web.health.timeout",
                "deployments.web.hooks.before",
            ]
        );
        let message = error.to_string();
        assert!(
            message.starts_with("upkeep.yaml has 9 problems:"),
            "{message}"
        );
        assert!(
            message.contains("deployments.web.image: 'nginx:1.27' is not an image repository; edit upkeep.yaml: write the repository without tag or digest, such as `docker.io/library/nginx`"),
            "{message}"
        );
        assert!(
            message.contains("'auto_pach' is not a policy; edit upkeep.yaml: write one of disabled, notify_only, auto_patch, auto_minor, auto_major"),
            "{message}"
        );
    }

    #[test]
    fn a_swarm_service_reads_its_rollout_and_writes_it_back() {
        let text = "
deployments:
  api:
    image: registry.example/team/api
    swarm_service: api_service
    swarm:
      parallelism: 2
      delay: 1s
      monitor: 30s
      max_failure_ratio: 0.5
      order: start-first
  plain:
    image: registry.example/team/plain
    swarm_service: plain
";
        let config = parse(text).unwrap();
        let Placement::Swarm { service, rollout } = &config.deployments["api"].placement else {
            panic!("{:?}", config.deployments["api"].placement);
        };
        assert_eq!(service, "api_service");
        assert_eq!(rollout.parallelism, 2);
        assert_eq!(rollout.delay, Duration::from_secs(1));
        assert_eq!(rollout.monitor, Duration::from_secs(30));
        assert!((rollout.max_failure_ratio - 0.5).abs() < f64::EPSILON);
        assert_eq!(rollout.order, RolloutOrder::StartFirst);
        assert_eq!(
            config.deployments["plain"].placement,
            Placement::Swarm {
                service: "plain".to_owned(),
                rollout: SwarmRollout::default()
            }
        );
        let yaml = config.to_yaml();
        assert!(!yaml.contains("swarm:\n      parallelism: 1"), "{yaml}");
        let again = parse(&yaml).unwrap();
        assert_eq!(
            again.deployments["api"].placement,
            config.deployments["api"].placement
        );
        assert_eq!(again.to_yaml(), yaml);
    }

    #[test]
    fn swarm_settings_name_their_field_and_fix() {
        let text = "
deployments:
  both:
    image: registry.example/both
    container: both
    swarm_service: both
  orphan:
    image: registry.example/orphan
    swarm: { parallelism: 1 }
  bad:
    image: registry.example/bad
    swarm_service: bad
    swarm: { max_failure_ratio: 2, order: sideways, monitor: soon }
    health:
      exec: [true]
      image_healthcheck: true
";
        let error = parse(text).unwrap_err();
        let fields: Vec<&str> = error.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "deployments.bad.swarm.monitor",
                "deployments.bad.swarm.max_failure_ratio",
                "deployments.bad.swarm.order",
                "deployments.bad.health.exec",
                "deployments.bad.health.image_healthcheck",
                "deployments.both.swarm_service",
                "deployments.orphan.swarm",
            ]
        );
        let message = error.to_string();
        assert!(
            message.contains("deployments.bad.swarm.order: 'sideways' is not an order; edit upkeep.yaml: write stop-first or start-first"),
            "{message}"
        );
        assert!(
            message.contains("deployments.orphan.swarm: is set without `swarm_service`"),
            "{message}"
        );
    }

    #[test]
    fn unknown_keys_and_broken_yaml_name_the_line() {
        let error =
            parse("deployments:\n  web:\n    image: x\n    polcy: auto_patch\n").unwrap_err();
        let problem = &error.problems[0];
        assert_eq!(problem.field, "line 4, column 5");
        assert!(
            problem.problem.contains("unknown field `polcy`"),
            "{problem}"
        );
        assert!(parse("").unwrap().deployments.is_empty());
    }

    #[test]
    fn durations_read_in_their_units() {
        for (text, millis) in [
            ("500ms", 500),
            ("5s", 5000),
            ("5", 5000),
            ("2min", 120_000),
            ("1h", 3_600_000),
            ("30d", 2_592_000_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
