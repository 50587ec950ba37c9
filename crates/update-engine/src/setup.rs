//! `upkeep init`: the first manifest and configuration, read from what runs already (the
//! running containers or Swarm services) or from a compose file.
//!
//! New deployments get the policy `auto_patch` (upkeep applies patch updates by itself and
//! reports larger ones) and only the built-in health check (the container keeps running);
//! the written `upkeep.yaml` says where to add more.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::manifest::{DeployReason, Manifest, ServiceName};
use upkeep_versioning_core::policy::Policy;

use crate::config::{CONFIG_FILE, Config, Deployment, Placement};
use crate::engine::EngineError;
use crate::lock::StateLock;
use crate::runtime::{Runtime, RuntimeError, SwarmRollout, repository, tag_of};
use crate::store::{StateDir, StoreError, write_atomically};

/// What `init` found: the manifest and configuration to write, and notes for the user.
#[derive(Debug, Clone, Default)]
pub struct Initial {
    /// The services and the versions they run.
    pub manifest: Manifest,
    /// Their deployments.
    pub config: Config,
    /// What the user should know or do (a compose image not using upkeep's variable, a
    /// container skipped).
    pub notes: Vec<String>,
}

/// The policy `init` writes.
pub const INITIAL_POLICY: Policy = Policy::AutoPatch;

/// Reads `containers` (their names) from `runtime`: each becomes a service of that name
/// running the image and tag its container was created from.
pub async fn from_running(
    runtime: &dyn Runtime,
    containers: &[String],
    now: Timestamp,
) -> Result<Initial, EngineError> {
    from_runtime(runtime, containers, now, "container", |name| {
        Placement::Container(name.to_owned())
    })
    .await
}

/// Reads the Swarm `services` (their names) from `runtime`, a [`crate::runtime::SwarmRuntime`]:
/// each becomes a deployment of that name running the image and tag of its spec, rolled out
/// by Swarm with the default [`SwarmRollout`].
pub async fn from_swarm(
    runtime: &dyn Runtime,
    services: &[String],
    now: Timestamp,
) -> Result<Initial, EngineError> {
    from_runtime(runtime, services, now, "Swarm service", |name| {
        Placement::Swarm {
            service: name.to_owned(),
            rollout: SwarmRollout::default(),
        }
    })
    .await
}

/// What `from_running` and `from_swarm` share: `what` names the kind of thing in notes,
/// `place` says where a deployment of that name runs.
async fn from_runtime(
    runtime: &dyn Runtime,
    containers: &[String],
    now: Timestamp,
    what: &str,
    place: impl Fn(&str) -> Placement,
) -> Result<Initial, EngineError> {
    let mut initial = Initial::default();
    for container in containers {
        let state = runtime.inspect(container).await?;
        if state.auto_remove {
            let refusal = RuntimeError::AutoRemove {
                container: container.clone(),
            };
            initial.notes.push(format!("refused: {refusal}"));
            continue;
        }
        if state.image.starts_with("sha256:") {
            initial.notes.push(format!(
                "skipped {what} {container}: it runs an image by id, not from a repository"
            ));
            continue;
        }
        let repository = repository(&state.image).to_owned();
        let tag = tag_of(&state.image).to_owned();
        let Ok(service) = ServiceName::parse(&service_name(container)) else {
            initial.notes.push(format!(
                "skipped {what} {container}: its name cannot be a service name"
            ));
            continue;
        };
        initial.manifest.deploy(
            &service,
            Some(&repository),
            &tag,
            state.repo_digest.as_deref(),
            DeployReason::Update,
            now,
        )?;
        let mut deployment = Deployment::new(service.clone(), repository);
        deployment.placement = place(container);
        deployment.policy = INITIAL_POLICY;
        initial.config.deployments.insert(service, deployment);
    }
    Ok(initial)
}

/// Records, for each service of `initial` that has no digest yet (read from a compose
/// file, say), the digest of the image its container runs, when that container runs the
/// manifest's tag: so that `status` shows it from the start. A service without a running
/// container keeps none; asking the engine failing is a note, not an error.
pub async fn record_running_digests(initial: &mut Initial, runtime: &dyn Runtime) {
    let missing: Vec<(ServiceName, String)> = initial
        .manifest
        .services()
        .iter()
        .filter(|(_, version)| version.image_digest().is_none())
        .map(|(name, version)| (name.clone(), version.image_reference()))
        .collect();
    for (service, reference) in missing {
        match runtime.inspect(service.as_str()).await {
            Ok(state) if state.image == reference => {
                if let Some(digest) = state.repo_digest {
                    // A digest the engine reports is well formed; a bad one is only left out.
                    let _ = initial.manifest.record_digest(&service, &digest);
                }
            }
            Ok(_) | Err(RuntimeError::ServiceNotFound { .. }) => {}
            Err(error) => initial.notes.push(format!(
                "the digest of {service} is not recorded yet ({}); `upkeep pull` records it",
                crate::error_chain(&error)
            )),
        }
    }
}

/// A service name for a container name: lower case, other characters as `-`.
fn service_name(container: &str) -> String {
    container
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Reads the services of `compose_file` whose image is known: from upkeep's variable
/// (`image: ${WEB_IMAGE}`, valued by the environment, `versions.env` or the variable's
/// default) or written out (`image: nginx:1.27`, with a note to switch to the variable).
pub fn from_compose(
    compose_file: &Path,
    directory: &Path,
    now: Timestamp,
) -> Result<Initial, EngineError> {
    let text = std::fs::read_to_string(compose_file).map_err(|error| EngineError::Setup {
        file: compose_file.to_owned(),
        problem: format!("cannot read the compose file: {error}"),
    })?;
    let document: yaml_serde::Value =
        yaml_serde::from_str(&text).map_err(|error| EngineError::Setup {
            file: compose_file.to_owned(),
            problem: format!("not valid YAML: {error}"),
        })?;
    let env = read_env_file(&directory.join(crate::store::ENV_FILE));
    let mut initial = Initial::default();
    let Some(services) = document.get("services").and_then(|s| s.as_mapping()) else {
        return Err(EngineError::Setup {
            file: compose_file.to_owned(),
            problem: "it has no `services`; is it a compose file?".to_owned(),
        });
    };
    let file_name = compose_file.display();
    for (name, body) in services {
        let Some(name) = name.as_str() else { continue };
        let Some(image) = body.get("image").and_then(|image| image.as_str()) else {
            initial.notes.push(format!(
                "skipped service {name}: it has no `image` (built locally?)"
            ));
            continue;
        };
        let Ok(service) = ServiceName::parse(name) else {
            initial
                .notes
                .push(format!("skipped service {name}: not a valid service name"));
            continue;
        };
        let key = service.env_key();
        let value = match variable(image) {
            Some((variable, default)) => {
                if variable != key {
                    initial.notes.push(format!(
                        "service {name}: `image: {image}` uses ${{{variable}}}, but upkeep writes {key}; change it to `image: ${{{key}}}` in {file_name}"
                    ));
                }
                std::env::var(&variable)
                    .ok()
                    .or_else(|| env.get(&variable).cloned())
                    .or(default)
            }
            None => {
                initial.notes.push(format!(
                    "service {name}: change `image: {image}` to `image: ${{{key}}}` in {file_name}, so that upkeep's versions.env decides its version (`upkeep init --compose FILE --rewrite` does it, keeping a backup)"
                ));
                Some(image.to_owned())
            }
        };
        let Some(value) = value.filter(|value| !value.is_empty()) else {
            initial.notes.push(format!(
                "skipped service {name}: ${{{key}}} has no value; add it with `upkeep pin {name} TAG` after setting `{key}=REPOSITORY:TAG` in versions.env"
            ));
            continue;
        };
        let repository = repository(&value).to_owned();
        let tag = tag_of(&value).to_owned();
        initial.manifest.deploy(
            &service,
            Some(&repository),
            &tag,
            None,
            DeployReason::Update,
            now,
        )?;
        let mut deployment = Deployment::new(service.clone(), repository);
        deployment.placement = Placement::Compose {
            file: relative_to(compose_file, directory),
        };
        deployment.policy = INITIAL_POLICY;
        initial.config.deployments.insert(service, deployment);
    }
    Ok(initial)
}

/// What [`rewrite_compose_images`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The copy of the file as it was.
    pub backup: PathBuf,
    /// The changed lines, as a diff: `@@ line N @@`, then `-old` and `+new`.
    pub diff: Vec<String>,
}

/// Points each service of `compose_file` that `initial` took over at upkeep's variable:
/// `image: nginx:1.27` (or another variable) becomes `image: ${WEB_IMAGE}`, so that
/// `versions.env` decides its version. Only those lines change; comments, order and layout
/// stay. The file is copied first (`FILE.TIMESTAMP.bak`) and replaced atomically; `None` when
/// every image already uses its variable. The notes of `initial` that asked for these edits
/// are dropped.
///
/// The edit is checked before it is written: the file read back must be the same document
/// with only those images changed, or nothing is written and the error says to edit by hand.
pub fn rewrite_compose_images(
    compose_file: &Path,
    initial: &mut Initial,
    now: Timestamp,
) -> Result<Option<Rewritten>, EngineError> {
    let cannot = |why: String| EngineError::Setup {
        file: compose_file.to_owned(),
        problem: format!(
            "cannot rewrite it: {why}; change the image lines by hand as the notes say"
        ),
    };
    let text = std::fs::read_to_string(compose_file).map_err(|error| cannot(error.to_string()))?;
    let document: yaml_serde::Value =
        yaml_serde::from_str(&text).map_err(|error| cannot(error.to_string()))?;
    // The services to point at their variable, with the variable.
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    if let Some(services) = document.get("services").and_then(|s| s.as_mapping()) {
        for (name, body) in services {
            let (Some(name), Some(image)) = (
                name.as_str(),
                body.get("image").and_then(|image| image.as_str()),
            ) else {
                continue;
            };
            let Ok(service) = ServiceName::parse(name) else {
                continue;
            };
            if initial.manifest.service(service.as_str()).is_none() {
                continue;
            }
            let key = service.env_key();
            if variable(image).is_none_or(|(variable, _)| variable != key) {
                wanted.insert(name.to_owned(), format!("${{{key}}}"));
            }
        }
    }
    if wanted.is_empty() {
        return Ok(None);
    }
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut diff = Vec::new();
    let mut in_services = false;
    let mut service_indent: Option<usize> = None;
    let mut current: Option<String> = None;
    let mut key_indent: Option<usize> = None;
    for (number, line) in lines.iter_mut().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent == 0 {
            in_services = trimmed.starts_with("services:");
            service_indent = None;
            current = None;
            continue;
        }
        if !in_services {
            continue;
        }
        let indent_of_services = *service_indent.get_or_insert(indent);
        if indent == indent_of_services {
            current = trimmed
                .strip_suffix(':')
                .or_else(|| trimmed.split_once(':').map(|(name, _)| name))
                .map(|name| name.trim().trim_matches(['"', '\'']).to_owned());
            key_indent = None;
            continue;
        }
        let Some(service) = &current else { continue };
        if indent < indent_of_services {
            continue;
        }
        let own = *key_indent.get_or_insert(indent);
        if indent != own {
            continue;
        }
        let Some(rest) = trimmed.strip_prefix("image:") else {
            continue;
        };
        let Some(new_value) = wanted.get(service) else {
            continue;
        };
        // Keep a trailing comment; the value is whatever precedes it.
        let comment = rest.find(" #").map(|at| &rest[at..]).unwrap_or("");
        let new_line = format!("{}image: {new_value}{comment}", &line[..indent]);
        diff.push(format!("@@ line {} @@", number + 1));
        diff.push(format!("-{line}"));
        diff.push(format!("+{new_line}"));
        *line = new_line;
    }
    let mut new_text = lines.join("\n");
    if text.ends_with('\n') {
        new_text.push('\n');
    }
    // Read back: the same document, with only the images of `wanted` changed.
    let mut expected = document.clone();
    if let Some(services) = expected
        .get_mut("services")
        .and_then(|services| services.as_mapping_mut())
    {
        for (name, value) in &wanted {
            if let Some(body) = services
                .get_mut(name.as_str())
                .and_then(|body| body.as_mapping_mut())
            {
                body.insert(
                    yaml_serde::Value::String("image".to_owned()),
                    yaml_serde::Value::String(value.clone()),
                );
            }
        }
    }
    let written: yaml_serde::Value =
        yaml_serde::from_str(&new_text).map_err(|error| cannot(error.to_string()))?;
    if written != expected {
        return Err(cannot(
            "its layout is one this edit cannot follow (flow style, anchors, or several `image:` lines)"
                .to_owned(),
        ));
    }
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let backup = compose_file.with_file_name(format!(
        "{}.{stamp}.bak",
        compose_file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::copy(compose_file, &backup).map_err(|source| StoreError::Io {
        action: "back up",
        path: compose_file.to_owned(),
        source,
    })?;
    write_atomically(compose_file, new_text.as_bytes())?;
    // The advice to edit these lines by hand is done.
    initial.notes.retain(|note| {
        !wanted.keys().any(|service| {
            note.starts_with(&format!("service {service}: ")) && note.contains("`image: ${")
        })
    });
    Ok(Some(Rewritten { backup, diff }))
}

fn relative_to(file: &Path, directory: &Path) -> PathBuf {
    file.strip_prefix(directory)
        .map_or_else(|_| file.to_owned(), Path::to_path_buf)
}

/// `${NAME}`, `${NAME:-default}`, `${NAME-default}` or `$NAME` → the name and default.
pub fn variable(image: &str) -> Option<(String, Option<String>)> {
    let image = image.trim();
    if let Some(inner) = image.strip_prefix("${").and_then(|s| s.strip_suffix('}')) {
        for separator in [":-", "-"] {
            if let Some((name, default)) = inner.split_once(separator) {
                return Some((name.to_owned(), Some(default.to_owned())));
            }
        }
        return Some((inner.to_owned(), None));
    }
    let name = image.strip_prefix('$')?;
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then(|| (name.to_owned(), None))
}

/// `KEY=VALUE` lines of an env file; a missing file is empty.
fn read_env_file(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// Writes the manifest, `versions.env` and `upkeep.yaml` of `initial`, and returns the
/// services added.
///
/// Without `force`, services already tracked keep their manifest entry (and history) and
/// their configuration; only new ones are added, and their configuration is appended to
/// `upkeep.yaml`, so the user's comments stay. With `force`, both files are replaced (the
/// manifest after a backup).
pub fn write(
    state: &StateDir,
    initial: &Initial,
    force: bool,
    now: Timestamp,
) -> Result<Vec<ServiceName>, EngineError> {
    std::fs::create_dir_all(state.directory()).map_err(|source| StoreError::Io {
        action: "create",
        path: state.directory().to_owned(),
        source,
    })?;
    // One writer at a time; `init` does not wait, it is run by hand.
    let _lock = StateLock::try_acquire(state.directory(), "upkeep init")?
        .map_err(|holder| EngineError::Busy { holder })?;
    let config_path = state.manifest_path().with_file_name(CONFIG_FILE);
    let (mut manifest, existing_config) = if force {
        (Manifest::new(), None)
    } else {
        let manifest = state
            .load()?
            .map(|(manifest, _)| manifest)
            .unwrap_or_default();
        (manifest, Config::load(&config_path)?)
    };
    let mut added = Vec::new();
    let mut new_config = Config::default();
    for (name, version) in initial.manifest.services() {
        if manifest.service(name.as_str()).is_some() {
            continue;
        }
        manifest.deploy(
            name,
            Some(version.image()),
            version.current_tag(),
            version.image_digest(),
            DeployReason::Update,
            now,
        )?;
        let configured = existing_config
            .as_ref()
            .is_some_and(|config| config.deployments.contains_key(name));
        if let Some(deployment) = initial.config.deployments.get(name).filter(|_| !configured) {
            new_config
                .deployments
                .insert(name.clone(), deployment.clone());
        }
        added.push(name.clone());
    }
    state.save(&manifest, now)?;
    let text = match std::fs::read_to_string(&config_path) {
        Ok(text) if !force && existing_config.is_some() => {
            if new_config.deployments.is_empty() {
                return Ok(added);
            }
            // Append below the existing deployments; the header of the new text is dropped.
            let generated = new_config.to_yaml();
            let entries = generated
                .split_once("deployments:\n")
                .map_or(generated.as_str(), |(_, entries)| entries);
            let appended = format!("{}\n{entries}", text.trim_end());
            if Config::parse(&appended, &config_path).is_err() {
                return Err(EngineError::Setup {
                    file: config_path.clone(),
                    problem: format!(
                        "cannot add to it without rewriting it; add these deployments under `deployments:` by hand:\n{entries}"
                    ),
                });
            }
            appended
        }
        _ => new_config_or_all(initial, &new_config, force),
    };
    write_atomically(&config_path, text.as_bytes())?;
    Ok(added)
}

fn new_config_or_all(initial: &Initial, new_config: &Config, force: bool) -> String {
    if force {
        initial.config.to_yaml()
    } else {
        new_config.to_yaml()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn compose_images_are_read_from_upkeeps_variable_or_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let compose = dir.path().join("docker-compose.yml");
        std::fs::write(
            &compose,
            "services:\n  web:\n    image: ${WEB_IMAGE}\n  db:\n    image: postgres:16.4\n  cache:\n    image: ${REDIS:-redis:7.2}\n  built:\n    build: .\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("versions.env"),
            "# generated\nWEB_IMAGE=registry.example/web:1.0.0\n",
        )
        .unwrap();
        let now = Timestamp::from_timestamp(1_764_000_000, 0).unwrap();
        let initial = from_compose(&compose, dir.path(), now).unwrap();
        let manifest = &initial.manifest;
        assert_eq!(manifest.service("web").unwrap().current_tag(), "1.0.0");
        assert_eq!(
            manifest.service("web").unwrap().image(),
            "registry.example/web"
        );
        assert_eq!(manifest.service("db").unwrap().current_tag(), "16.4");
        assert_eq!(manifest.service("cache").unwrap().current_tag(), "7.2");
        assert!(manifest.service("built").is_none());
        let notes = initial.notes.join("\n");
        assert!(
            notes.contains("change `image: postgres:16.4` to `image: ${DB_IMAGE}`"),
            "{notes}"
        );
        assert!(
            notes.contains("uses ${REDIS}, but upkeep writes CACHE_IMAGE"),
            "{notes}"
        );
        assert_eq!(
            initial.config.deployments["web"].placement,
            Placement::Compose {
                file: PathBuf::from("docker-compose.yml")
            }
        );
    }

    #[test]
    fn init_again_adds_new_services_and_keeps_tracked_ones_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let now = Timestamp::from_timestamp(1_764_000_000, 0).unwrap();
        let later = Timestamp::from_timestamp(1_764_000_600, 0).unwrap();
        let initial = |services: &[(&str, &str)]| {
            let mut initial = Initial::default();
            for (name, tag) in services {
                let service = ServiceName::parse(name).unwrap();
                initial
                    .manifest
                    .deploy(
                        &service,
                        Some("registry.example/app"),
                        tag,
                        None,
                        DeployReason::Update,
                        now,
                    )
                    .unwrap();
                let mut deployment = Deployment::new(service.clone(), "registry.example/app");
                deployment.policy = INITIAL_POLICY;
                initial.config.deployments.insert(service, deployment);
            }
            initial
        };
        let added = write(&state, &initial(&[("web", "1.0.0")]), false, now).unwrap();
        assert_eq!(added.len(), 1);
        let config_path = dir.path().join(CONFIG_FILE);
        let edited = std::fs::read_to_string(&config_path)
            .unwrap()
            .replace("policy: auto_patch", "policy: auto_minor  # mine");
        std::fs::write(&config_path, &edited).unwrap();
        // Again, with web at another tag (ignored) and a new db.
        let added = write(
            &state,
            &initial(&[("web", "2.0.0"), ("db", "16")]),
            false,
            later,
        )
        .unwrap();
        assert_eq!(
            added.iter().map(ServiceName::as_str).collect::<Vec<_>>(),
            ["db"]
        );
        let (manifest, _) = state.load().unwrap().unwrap();
        assert_eq!(manifest.service("web").unwrap().current_tag(), "1.0.0");
        assert_eq!(manifest.service("db").unwrap().current_tag(), "16");
        let text = std::fs::read_to_string(&config_path).unwrap();
        assert!(text.starts_with(&edited.trim_end().to_owned()), "{text}");
        let config = Config::parse(&text, &config_path).unwrap();
        assert_eq!(config.deployments["web"].policy, Policy::AutoMinor);
        assert_eq!(config.deployments["db"].policy, INITIAL_POLICY);
        // --force starts over.
        let added = write(&state, &initial(&[("web", "2.0.0")]), true, later).unwrap();
        assert_eq!(added.len(), 1);
        let (manifest, _) = state.load().unwrap().unwrap();
        assert_eq!(manifest.service("web").unwrap().current_tag(), "2.0.0");
        assert!(manifest.service("db").is_none());
    }

    #[test]
    fn variables_are_recognised_in_their_forms() {
        assert_eq!(variable("${A}"), Some(("A".to_owned(), None)));
        assert_eq!(
            variable("${A:-x:1}"),
            Some(("A".to_owned(), Some("x:1".to_owned())))
        );
        assert_eq!(variable("$A_B"), Some(("A_B".to_owned(), None)));
        assert_eq!(variable("nginx:1"), None);
    }
}
