//! The name of one deployment across the agent: `web` for a deployment of the agent's own
//! file or labels, `shop:web` for service `web` of project `shop`. The store keys rows by it,
//! the API takes it in paths, notices and events name it.
//!
//! It only names; it does not say whether such a deployment exists.

use std::fmt;

/// Separates a project's name from its service's in a deployment id: `shop:web`. Service
/// names cannot hold it, so the ids of projects and of the file never meet.
pub const PROJECT_SEPARATOR: char = ':';

/// A deployment's id: its service, within its project if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeploymentId {
    project: Option<String>,
    service: String,
}

impl DeploymentId {
    /// Service `service` of `project`, or of the agent's own deployments for `None`.
    pub fn new(project: Option<&str>, service: &str) -> Self {
        Self {
            project: project.map(str::to_owned),
            service: service.to_owned(),
        }
    }

    /// The id written as `text`: `SERVICE` or `PROJECT:SERVICE`.
    pub fn parse(text: &str) -> Self {
        match text.split_once(PROJECT_SEPARATOR) {
            Some((project, service)) => Self::new(Some(project), service),
            None => Self::new(None, text),
        }
    }

    /// The project, `None` for the agent's own deployments.
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// The service within its project.
    pub fn service(&self) -> &str {
        &self.service
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.project {
            Some(project) => write!(f, "{project}{PROJECT_SEPARATOR}{}", self.service),
            None => f.write_str(&self.service),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_back_as_it_was_written() {
        for (project, service, text) in [(None, "web", "web"), (Some("shop"), "web", "shop:web")] {
            let id = DeploymentId::new(project, service);
            assert_eq!(id.to_string(), text);
            assert_eq!(DeploymentId::parse(text), id);
            assert_eq!((id.project(), id.service()), (project, service));
        }
    }
}
