//! A deployment's schedule: the agent's own keys of a deployment, project or labelled
//! container (`window`, `timezone`, `min_age`, `interval`, `release_notes`), read from their
//! texts with each problem naming its field. It reads text only; where the text comes from
//! (the file or labels) is the caller's.

use std::time::Duration;

use upkeep_update_engine::config::{Problem, parse_duration};
use upkeep_versioning_core::suggest::closest;
use upkeep_versioning_core::window::Window;

use super::EDIT;

/// When a deployment may be checked and updated, and where the release notes of a version
/// it could move to are: the agent's own keys of a deployment.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Schedule {
    /// Updates are applied only inside this window; outside it they are noted.
    pub window: Option<Window>,
    /// How long a tag must have been known before it is applied by itself.
    pub min_age: Option<Duration>,
    /// This deployment's check interval, instead of the agent's.
    pub interval: Option<Duration>,
    /// Where a version's release notes are, for the notices.
    pub release_notes: Option<ReleaseNotes>,
}

/// Where a version's release notes are: a URL in which `{tag}` stands for the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseNotes {
    template: String,
}

impl ReleaseNotes {
    /// The placeholder the tag replaces.
    pub const TAG: &'static str = "{tag}";

    /// Reads `template`: an `http` or `https` URL, with `{tag}` where the tag goes (or
    /// without, for one page of all the notes).
    pub fn new(template: &str) -> Result<Self, String> {
        let example = "such as https://github.com/acme/web/releases/tag/v{tag}";
        let filled = template.replace(Self::TAG, "1.0.0");
        if filled.contains(['{', '}']) {
            return Err(format!(
                "'{template}' has a placeholder other than {{tag}}; write a URL {example}"
            ));
        }
        match url::Url::parse(&filled) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Self {
                template: template.to_owned(),
            }),
            Ok(url) => Err(format!(
                "'{template}' uses {}:, which a person cannot open from a notice; write an http or https URL {example}",
                url.scheme()
            )),
            Err(error) => Err(format!(
                "'{template}' is not a URL ({error}); write one {example}"
            )),
        }
    }

    /// The release notes of a repository whose source the OCI label
    /// `org.opencontainers.image.source` names, when it is on GitHub: its releases page.
    /// Other hosts lay their release pages out in their own ways, so they give none.
    pub fn from_source(source: &str) -> Option<Self> {
        let url = url::Url::parse(source.trim()).ok()?;
        if url.scheme() != "https" || url.host_str() != Some("github.com") {
            return None;
        }
        let mut parts = url.path_segments()?.filter(|part| !part.is_empty());
        let (owner, repository) = (parts.next()?, parts.next()?);
        let repository = repository.strip_suffix(".git").unwrap_or(repository);
        Some(Self {
            template: format!("https://github.com/{owner}/{repository}/releases"),
        })
    }

    /// The link for `tag`.
    pub fn link(&self, tag: &str) -> String {
        self.template.replace(Self::TAG, tag)
    }
}

/// A time zone by its IANA name, or the problem and its fix, with the nearest name when there
/// is one.
fn time_zone(name: &str) -> Result<chrono_tz::Tz, (String, String)> {
    name.parse().map_err(|_| {
        let names = chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name());
        let fix = match closest(name, names) {
            Some(near) => format!("{EDIT}: did you mean {near}? (an IANA name, such as UTC)"),
            None => format!("{EDIT}: write an IANA name such as Europe/Berlin or UTC"),
        };
        (format!("'{name}' is not a time zone"), fix)
    })
}

/// The keys the agent reads in a deployment; the rest go to the engine.
pub(super) const SCHEDULE_KEYS: [&str; 5] =
    ["window", "timezone", "min_age", "interval", "release_notes"];

/// The agent's keys of one deployment, project or container, as written.
pub(super) struct ScheduleText {
    pub(super) window: Option<String>,
    pub(super) timezone: Option<String>,
    pub(super) min_age: Option<String>,
    pub(super) interval: Option<String>,
    pub(super) release_notes: Option<String>,
}

/// Takes the agent's own keys out of a deployment's mapping.
pub(super) fn take_schedule(
    body: &mut yaml_serde::Mapping,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Schedule {
    let mut text = |key: &str| -> Option<String> {
        let value = body.remove(key)?;
        match value {
            yaml_serde::Value::String(text) => Some(text),
            yaml_serde::Value::Number(number) => Some(number.to_string()),
            other => {
                problems.push(Problem {
                    field: format!("{path}.{key}"),
                    problem: format!("is {other:?}, not text"),
                    fix: EDIT.to_owned(),
                });
                None
            }
        }
    };
    let given = ScheduleText {
        window: text("window"),
        timezone: text("timezone"),
        min_age: text("min_age"),
        interval: text("interval"),
        release_notes: text("release_notes"),
    };
    schedule_from(given, path, problems)
}

/// Builds a schedule from its texts; problems name the field `PATH.KEY`.
pub(super) fn schedule_from(
    given: ScheduleText,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Schedule {
    let ScheduleText {
        window,
        timezone,
        min_age,
        interval,
        release_notes,
    } = given;
    let field = |key: &str| format!("{path}.{key}");
    let mut duration = |key: &str, text: Option<String>| {
        let text = text?;
        parse_duration(&text)
            .map_err(|problem| {
                problems.push(Problem {
                    field: field(key),
                    problem,
                    fix: EDIT.to_owned(),
                });
            })
            .ok()
    };
    let min_age = duration("min_age", min_age);
    let interval = duration("interval", interval);
    // Checked apart from the window, so that a wrong name is reported as the time zone's.
    let timezone = timezone.and_then(|name| {
        time_zone(&name)
            .map_err(|(problem, fix)| {
                problems.push(Problem {
                    field: field("timezone"),
                    problem,
                    fix,
                });
            })
            .map(|_| name)
            .ok()
            .or_else(|| Some("UTC".to_owned()))
    });
    let window = match (window, timezone) {
        (Some(expression), timezone) => {
            Window::new(&expression, timezone.as_deref().unwrap_or("UTC"))
                .map_err(|problem| {
                    problems.push(Problem {
                        field: field("window"),
                        problem: problem.to_string(),
                        fix: EDIT.to_owned(),
                    });
                })
                .ok()
        }
        (None, Some(_)) => {
            problems.push(Problem {
                field: field("timezone"),
                problem: "is set without `window`".to_owned(),
                fix: format!("{EDIT}: add the `window` it is the time zone of, or remove it"),
            });
            None
        }
        (None, None) => None,
    };
    let release_notes = release_notes.and_then(|template| {
        ReleaseNotes::new(&template)
            .map_err(|problem| {
                problems.push(Problem {
                    field: field("release_notes"),
                    problem,
                    fix: EDIT.to_owned(),
                });
            })
            .ok()
    });
    Schedule {
        window,
        min_age,
        interval,
        release_notes,
    }
}
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn release_notes_from_a_source_on_github() {
        for (source, notes) in [
            (
                "https://github.com/acme/web",
                Some("https://github.com/acme/web/releases"),
            ),
            (
                "https://github.com/acme/web.git",
                Some("https://github.com/acme/web/releases"),
            ),
            (
                "https://github.com/acme/web/tree/main/app",
                Some("https://github.com/acme/web/releases"),
            ),
            ("https://github.com/acme", None),
            ("https://gitlab.com/acme/web", None),
            ("git@github.com:acme/web.git", None),
            ("http://github.com/acme/web", None),
        ] {
            assert_eq!(
                ReleaseNotes::from_source(source)
                    .map(|found| found.link("1.0.0"))
                    .as_deref(),
                notes,
                "{source}"
            );
        }
    }
}
