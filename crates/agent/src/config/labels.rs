//! Deployments declared by container labels (`upkeep.enable=true` and the `upkeep.*` keys):
//! read into the same engine configuration and schedule as the file's, with each problem
//! naming the container and the label. Labels are the image publisher's word as much as the
//! operator's, so nothing here runs or trusts them beyond building a deployment.

use std::collections::BTreeMap;
use std::path::Path;

use upkeep_update_engine::config::{Config, Problem};

use super::schedule::{ReleaseNotes, Schedule, ScheduleText, schedule_from};
use super::{EDIT, engine_config};

/// The label that asks the agent to watch a container.
pub const ENABLE_LABEL: &str = "upkeep.enable";

/// The labels a container may carry, and the deployment key each sets.
pub const LABELS: [(&str, &str); 16] = [
    ("upkeep.enable", ""),
    ("upkeep.policy", "policy"),
    ("upkeep.within", "within"),
    ("upkeep.scheme", "scheme"),
    ("upkeep.tag.include", "include"),
    ("upkeep.tag.exclude", "exclude"),
    ("upkeep.tag.prerelease", "allow_prerelease"),
    ("upkeep.health.http", "http"),
    ("upkeep.health.expected_status", "expected_status"),
    ("upkeep.health.tcp", "tcp"),
    ("upkeep.health.command", "exec"),
    ("upkeep.health.image_healthcheck", "image_healthcheck"),
    ("upkeep.health.timeout", "timeout"),
    ("upkeep.health.retries", "retries"),
    ("upkeep.health.interval", "interval"),
    ("upkeep.window", "window"),
];

/// The OCI image label naming the image's source repository; Docker copies an image's labels
/// to its containers.
pub const OCI_SOURCE_LABEL: &str = "org.opencontainers.image.source";

/// A deployment declared by a container's labels.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Labelled {
    /// The deployment, named after the container.
    pub config: Config,
    /// Its schedule (`upkeep.window`, `upkeep.timezone`, `upkeep.min_age`, `upkeep.interval`,
    /// `upkeep.release_notes` or else the image's `org.opencontainers.image.source`).
    pub schedule: Schedule,
}

/// The deployment that `container`'s `labels` declare, when `upkeep.enable` is `true`;
/// `image` is the repository it runs. Problems name the container and the label.
pub fn from_labels(
    container: &str,
    image: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Option<Labelled>, Vec<Problem>> {
    if labels.get(ENABLE_LABEL).map(String::as_str) != Some("true") {
        return Ok(None);
    }
    let label_field = |label: &str| format!("container {container}: label {label}");
    let mut problems = Vec::new();
    let mut deployment = yaml_serde::Mapping::new();
    let mut health = yaml_serde::Mapping::new();
    let key = |name: &str| yaml_serde::Value::String(name.to_owned());
    deployment.insert(key("image"), key(image));
    deployment.insert(key("container"), key(container));
    for (label, value) in labels {
        if !label.starts_with("upkeep.") || label == ENABLE_LABEL {
            continue;
        }
        if matches!(
            label.as_str(),
            "upkeep.timezone"
                | "upkeep.min_age"
                | "upkeep.interval"
                | "upkeep.window"
                | "upkeep.release_notes"
        ) {
            continue;
        }
        let Some((_, field)) = LABELS.iter().find(|(name, _)| name == label) else {
            problems.push(Problem {
                field: label_field(label),
                problem: "is not a label upkeep reads".to_owned(),
                fix: format!(
                    "rename or remove it; the labels are {}, upkeep.timezone, upkeep.min_age, upkeep.interval and upkeep.release_notes",
                    LABELS.map(|(name, _)| name).join(", ")
                ),
            });
            continue;
        };
        let typed = match *field {
            "allow_prerelease" | "image_healthcheck" => value
                .parse::<bool>()
                .map(yaml_serde::Value::Bool)
                .unwrap_or_else(|_| key(value)),
            "expected_status" | "retries" => value
                .parse::<u64>()
                .map(|number| yaml_serde::Value::Number(number.into()))
                .unwrap_or_else(|_| key(value)),
            // A command label is one shell line, run inside the container: a label may be
            // the image publisher's word, which must never run anything on this host.
            "exec" => yaml_serde::Value::Sequence(vec![key("sh"), key("-c"), key(value)]),
            _ => key(value),
        };
        if label.starts_with("upkeep.health.") {
            health.insert(key(field), typed);
        } else {
            deployment.insert(key(field), typed);
        }
    }
    if !health.is_empty() {
        deployment.insert(key("health"), yaml_serde::Value::Mapping(health));
    }
    let label = |name: &str| labels.get(&format!("upkeep.{name}")).cloned();
    let given = ScheduleText {
        window: label("window"),
        timezone: label("timezone"),
        min_age: label("min_age"),
        interval: label("interval"),
        release_notes: label("release_notes"),
    };
    let mut schedule = schedule_from(
        given,
        &format!("container {container}: label upkeep"),
        &mut problems,
    );
    // Images built with the usual tooling name their source repository; its releases page
    // is where the notes are when the labels name no other place.
    if schedule.release_notes.is_none() {
        schedule.release_notes = labels
            .get(OCI_SOURCE_LABEL)
            .and_then(|source| ReleaseNotes::from_source(source));
    }
    let mut deployments = yaml_serde::Mapping::new();
    deployments.insert(key(container), yaml_serde::Value::Mapping(deployment));
    let mut engine_problems = Vec::new();
    let config = engine_config(deployments, Path::new("(labels)"), &mut engine_problems);
    // The engine names fields `deployments.NAME.KEY`; the user wrote labels.
    let prefix = format!("deployments.{container}.");
    problems.extend(engine_problems.into_iter().map(|mut problem| {
        if let Some(rest) = problem.field.strip_prefix(&prefix) {
            let label = LABELS
                .iter()
                .find(|(_, field)| rest.ends_with(field) && !field.is_empty())
                .map_or_else(|| format!("upkeep.{rest}"), |(name, _)| (*name).to_owned());
            problem.field = label_field(&label);
        }
        problem.fix = problem
            .fix
            .replace(&format!("{EDIT}: "), "change the label: ")
            .replace(EDIT, "change the label");
        problem
    }));
    if problems.is_empty() {
        Ok(Some(Labelled { config, schedule }))
    } else {
        Err(problems)
    }
}
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn labels_declare_a_deployment_and_their_mistakes_name_the_label() {
        let labels: BTreeMap<String, String> = [
            ("upkeep.enable", "true"),
            ("upkeep.policy", "auto_minor"),
            ("upkeep.tag.include", r"^\d+\.\d+\.\d+$"),
            ("upkeep.health.http", "http://127.0.0.1:8080/health"),
            ("upkeep.health.retries", "3"),
            ("upkeep.min_age", "2h"),
            ("com.example.other", "ignored"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let labelled = from_labels("web", "registry.example/web", &labels)
            .unwrap()
            .unwrap();
        let web = &labelled.config.deployments["web"];
        assert_eq!(web.policy.as_str(), "auto_minor");
        assert_eq!(web.health.patience.attempts, 3);
        assert_eq!(labelled.schedule.min_age, Some(Duration::from_secs(7200)));
        assert_eq!(labelled.schedule.release_notes, None);

        // Release notes: the label, else the GitHub repository the image names as its source.
        let notes = |extra: &[(&str, &str)]| {
            let mut with = labels.clone();
            with.extend(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            from_labels("web", "registry.example/web", &with)
                .unwrap()
                .unwrap()
                .schedule
                .release_notes
                .map(|notes| notes.link("2.0.0"))
        };
        let source = (OCI_SOURCE_LABEL, "https://github.com/acme/web");
        assert_eq!(
            notes(&[source]).as_deref(),
            Some("https://github.com/acme/web/releases")
        );
        assert_eq!(
            notes(&[
                source,
                (
                    "upkeep.release_notes",
                    "https://acme.example/web/{tag}.html"
                )
            ])
            .as_deref(),
            Some("https://acme.example/web/2.0.0.html")
        );

        let mut off = labels.clone();
        off.insert("upkeep.enable".to_owned(), "false".to_owned());
        assert!(
            from_labels("web", "registry.example/web", &off)
                .unwrap()
                .is_none()
        );

        let mut bad = labels;
        bad.insert("upkeep.policy".to_owned(), "sometimes".to_owned());
        bad.insert("upkeep.polcy".to_owned(), "auto_patch".to_owned());
        let problems = from_labels("web", "registry.example/web", &bad).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "container web: label upkeep.polcy",
                "container web: label upkeep.policy"
            ]
        );
        assert!(
            problems[1]
                .fix
                .starts_with("change the label: write one of"),
            "{problems:?}"
        );
    }
}
