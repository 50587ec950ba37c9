//! The engine's advice in the agent's words: each [`Hint`] as the API request (or the agent's
//! own doing) that carries it out.
//!
//! The engine names what a user can do next as data; the CLI says it as `upkeep` commands,
//! which an agent's user does not run. This module is the one place that says it for the
//! agent: its plans, outcomes and errors reach people through events, notices and the API.

use upkeep_update_engine::hint::{Hint, HintWords};

use crate::id::DeploymentId;

/// The agent's words for the deployments of one engine: the agent's own (no project) or a
/// compose project's, whose deployments the API names `PROJECT:SERVICE`.
#[derive(Debug, Clone, Default)]
pub struct ApiWords {
    project: Option<String>,
}

impl ApiWords {
    /// The words for the deployments of `project`, or the agent's own for `None`.
    pub fn new(project: Option<&str>) -> Self {
        Self {
            project: project.map(str::to_owned),
        }
    }

    /// The API's name of `service`.
    fn id(&self, service: &str) -> String {
        DeploymentId::new(self.project.as_deref(), service).to_string()
    }

    fn apply(&self, service: &str) -> String {
        format!("POST /api/v1/deployments/{}/apply", self.id(service))
    }
}

impl HintWords for ApiWords {
    fn word(&self, hint: &Hint) -> String {
        match hint {
            Hint::UpdateTo {
                service,
                tag: Some(tag),
            } => format!("`{}` with {{\"tag\": \"{tag}\"}}", self.apply(service)),
            Hint::UpdateTo { service, tag: None } => {
                format!("`{}` with {{\"tag\": \"TAG\"}}", self.apply(service))
            }
            Hint::UpdateLatest { service } => {
                format!("`{}` with the newest version's tag", self.apply(service))
            }
            Hint::Update { service } => format!("`{}`", self.apply(service)),
            Hint::Pull { service } => format!(
                "an update of {} (the agent records the digest of what it runs then)",
                self.id(service)
            ),
            Hint::ListTags { image } => format!("the registry's tag list of {image}"),
            Hint::Recover => "the agent's recovery, at its next cycle".to_owned(),
            Hint::Init => {
                "a deployment under `deployments:` in the agent's configuration".to_owned()
            }
            Hint::Track { service } => {
                format!("an entry for {service} under `deployments:` in the agent's configuration")
            }
            Hint::SetPolicy { service } => {
                format!("`PUT /api/v1/deployments/{}/policy`", self.id(service))
            }
            Hint::History { .. } => "`GET /api/v1/events`".to_owned(),
            // A hint this build does not know yet: its data still says what it is.
            other => format!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_api_request_of_the_deployment() {
        let words = ApiWords::new(Some("shop"));
        let said = words.word(&Hint::update_to("web", "1.0.2"));
        assert_eq!(
            said,
            "`POST /api/v1/deployments/shop:web/apply` with {\"tag\": \"1.0.2\"}"
        );
        assert!(!said.contains("upkeep "), "{said}");
        assert_eq!(
            ApiWords::new(None).word(&Hint::SetPolicy {
                service: "web".to_owned()
            }),
            "`PUT /api/v1/deployments/web/policy`"
        );
    }
}
