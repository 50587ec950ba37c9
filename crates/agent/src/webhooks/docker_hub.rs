//! Docker Hub's repository webhook: one push per delivery, `repository.repo_name` and
//! `push_data.tag`, no digest.

use serde::Deserialize;
use upkeep_versioning_core::reference::DOCKER_HUB;

use super::{Push, Source, WebhookError, from_json, missing, push};

/// The fields of the payload the agent reads; the rest (`callback_url`, `pusher`, the
/// repository's description and Dockerfile) is ignored.
#[derive(Deserialize)]
struct Payload {
    push_data: Option<PushData>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct PushData {
    tag: Option<String>,
}

#[derive(Deserialize, Default)]
struct Repository {
    repo_name: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

/// The push of a Docker Hub delivery. A delivery without `push_data.tag` (older automated
/// builds sent none) becomes a push without a tag, so that every deployment of the repository
/// is checked.
pub(super) fn parse(body: &[u8]) -> Result<Vec<Push>, WebhookError> {
    const SENDER: Source = Source::DockerHub;
    let payload: Payload = from_json(SENDER, body)?;
    let push_data = payload
        .push_data
        .ok_or_else(|| missing(SENDER, "push_data"))?;
    let repository = payload.repository.unwrap_or_default();
    // `repo_name` is `namespace/name`; an official image's is its bare name, which the
    // reference parser gives its `library/`.
    let repo_name = match (repository.repo_name, repository.namespace, repository.name) {
        (Some(repo_name), _, _) if !repo_name.is_empty() => repo_name,
        (_, Some(namespace), Some(name)) if !namespace.is_empty() && !name.is_empty() => {
            format!("{namespace}/{name}")
        }
        _ => return Err(missing(SENDER, "repository.repo_name")),
    };
    let tag = push_data.tag.filter(|tag| !tag.is_empty());
    Ok(vec![push(
        SENDER,
        (DOCKER_HUB, "repository.repo_name"),
        (&repo_name, "repository.repo_name"),
        tag.as_deref().map(|tag| (tag, "push_data.tag")),
        None,
    )?])
}
