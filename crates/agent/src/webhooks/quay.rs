//! Quay's "Push to Repository" notification, webhook method: `docker_url` names the image,
//! `updated_tags` the tags pushed. No digests.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Push, Source, WebhookError, from_json, missing, push, truncated};

/// The fields of the payload the agent reads.
#[derive(Deserialize)]
struct Payload {
    /// `quay.io/namespace/repository`, or the host of a self-hosted Quay.
    docker_url: Option<String>,
    updated_tags: Option<UpdatedTags>,
    /// Present in Quay's build notifications, which can share the webhook URL.
    build_id: Option<IgnoredAny>,
}

/// `["latest", "1.2.3"]`, or in Quay's early format a map from tag to image id.
struct UpdatedTags(Vec<String>);

/// The pushes of a Quay delivery, one per updated tag.
pub(super) fn parse(body: &[u8]) -> Result<Vec<Push>, WebhookError> {
    const SENDER: Source = Source::Quay;
    let payload: Payload = from_json(SENDER, body)?;
    let Some(UpdatedTags(tags)) = payload.updated_tags else {
        if payload.build_id.is_some() {
            // A build was queued, started, finished or failed: its push, if any, comes as its
            // own repo_push.
            return Ok(Vec::new());
        }
        return Err(missing(SENDER, "updated_tags"));
    };
    let docker_url = payload
        .docker_url
        .filter(|url| !url.is_empty())
        .ok_or_else(|| missing(SENDER, "docker_url"))?;
    // `docker_url` is `host/namespace/repository`.
    let Some((registry, repository)) = docker_url.split_once('/') else {
        return Err(WebhookError::InvalidField {
            sender: SENDER,
            path: "docker_url".to_owned(),
            reason: format!(
                "'{}' names no repository; expected 'host/namespace/repository'",
                truncated(&docker_url)
            ),
        });
    };
    tags.iter()
        .enumerate()
        .map(|(index, tag)| {
            push(
                SENDER,
                (registry, "docker_url"),
                (repository, "docker_url"),
                Some((tag, &format!("updated_tags[{index}]"))),
                None,
            )
        })
        .collect()
}

impl<'de> Deserialize<'de> for UpdatedTags {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UpdatedTagsVisitor)
    }
}

struct UpdatedTagsVisitor;

impl<'de> Visitor<'de> for UpdatedTagsVisitor {
    type Value = UpdatedTags;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of tags or a map from tags to image ids")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut tags = Vec::new();
        while let Some(tag) = seq.next_element::<String>()? {
            tags.push(tag);
        }
        Ok(UpdatedTags(tags))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut tags = Vec::new();
        while let Some((tag, _image)) = map.next_entry::<String, IgnoredAny>()? {
            tags.push(tag);
        }
        // A map has no meaningful order; sort so that the result does not depend on the
        // sender's.
        tags.sort();
        Ok(UpdatedTags(tags))
    }
}
