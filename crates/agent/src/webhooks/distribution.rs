//! The notifications of a CNCF Distribution registry: an envelope `{"events": [...]}` of
//! unrelated events, of which the agent wants the pushes of image manifests and indexes by tag.
//!
//! The registry also reports pulls (every manifest HEAD and GET), blob pushes and pulls,
//! mounts and deletes, and pushes by digest (the platform manifests of an index); those are
//! skipped, whatever fields they lack. The registry is named by `request.host`, the host the
//! pushing client addressed, which is what its image references say.
//!
//! The registry retries a failed delivery until it succeeds, holding back the events behind
//! it, so an event that is not a tag push never fails a delivery.

use serde::Deserialize;

use super::{Push, Source, WebhookError, from_json, missing, push};

const SENDER: Source = Source::Distribution;

/// The media types of image manifests and indexes, whose pushes move a tag to new content.
const IMAGE_MEDIA_TYPES: [&str; 6] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

#[derive(Deserialize)]
struct Envelope {
    events: Option<Vec<Event>>,
}

#[derive(Deserialize)]
struct Event {
    action: Option<String>,
    target: Option<Target>,
    request: Option<Request>,
}

#[derive(Deserialize)]
struct Target {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    digest: Option<String>,
    repository: Option<String>,
    tag: Option<String>,
    /// `http://host/v2/repository/manifests/digest`.
    url: Option<String>,
}

#[derive(Deserialize)]
struct Request {
    host: Option<String>,
}

/// The tag pushes of a Distribution delivery.
pub(super) fn parse(body: &[u8]) -> Result<Vec<Push>, WebhookError> {
    let envelope: Envelope = from_json(SENDER, body)?;
    let events = envelope.events.ok_or_else(|| missing(SENDER, "events"))?;
    let mut pushes = Vec::new();
    for (index, event) in events.into_iter().enumerate() {
        if event.action.as_deref() != Some("push") {
            continue;
        }
        let Some(target) = event.target else {
            continue;
        };
        if !target
            .media_type
            .as_deref()
            .is_some_and(is_image_media_type)
        {
            continue;
        }
        let Some(tag) = target.tag.filter(|tag| !tag.is_empty()) else {
            continue;
        };
        let repository_path = format!("events[{index}].target.repository");
        let repository = target
            .repository
            .filter(|repository| !repository.is_empty())
            .ok_or_else(|| missing(SENDER, repository_path.as_str()))?;
        let host_path = format!("events[{index}].request.host");
        let host = event
            .request
            .and_then(|request| request.host)
            .filter(|host| !host.is_empty())
            .or_else(|| target.url.as_deref().and_then(url_host).map(str::to_owned))
            .ok_or_else(|| missing(SENDER, host_path.as_str()))?;
        pushes.push(push(
            SENDER,
            (&host, &host_path),
            (&repository, &repository_path),
            Some((&tag, &format!("events[{index}].target.tag"))),
            target.digest.as_deref(),
        )?);
    }
    Ok(pushes)
}

/// True for the media type of an image manifest or index, parameters aside.
fn is_image_media_type(media_type: &str) -> bool {
    let essence = media_type
        .split_once(';')
        .map_or(media_type, |(essence, _parameters)| essence)
        .trim();
    IMAGE_MEDIA_TYPES
        .iter()
        .any(|image| image.eq_ignore_ascii_case(essence))
}

/// The `host[:port]` of an `http(s)://` URL.
fn url_host(url: &str) -> Option<&str> {
    let (_scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then_some(host)
}
