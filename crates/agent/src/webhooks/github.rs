//! GitHub's `package` and `registry_package` events, as GitHub Container Registry sends them
//! through the repository or organisation the package is connected to.
//!
//! `registry_package` is the older name of the same event, with the payload under
//! `registry_package` instead of `package`. Both have the actions `published` and `updated`.
//! The image is read from `package_version.package_url` (`ghcr.io/owner/name:tag`), which
//! names the registry a client pulls from; `registry.url` does not
//! (`https://CONTAINER.pkg.github.com/owner`). Without it the image is
//! `ghcr.io/namespace/name`.

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde::Deserialize;
use upkeep_versioning_core::reference::Digest;

use super::{Push, Source, WebhookError, from_json, missing, push, truncated};

const SENDER: Source = Source::GitHub;

/// The registry of container packages when the payload does not name it.
const GHCR: &str = "ghcr.io";

#[derive(Deserialize)]
struct Payload {
    action: Option<String>,
    package: Option<Package>,
    registry_package: Option<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: Option<String>,
    namespace: Option<String>,
    /// `CONTAINER` today; `docker` in older deliveries.
    package_type: Option<String>,
    ecosystem: Option<String>,
    package_version: Option<PackageVersion>,
}

#[derive(Deserialize)]
struct PackageVersion {
    /// The manifest digest, for containers.
    version: Option<String>,
    name: Option<String>,
    package_url: Option<String>,
    container_metadata: Option<ContainerMetadata>,
}

#[derive(Deserialize)]
struct ContainerMetadata {
    tag: Option<TagMetadata>,
}

#[derive(Deserialize)]
struct TagMetadata {
    name: Option<String>,
    digest: Option<String>,
}

/// The push of a GitHub delivery whose signature has been checked.
pub(super) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Push>, WebhookError> {
    let event = headers
        .get("x-github-event")
        .ok_or(WebhookError::MissingEvent)?;
    let event = String::from_utf8_lossy(event.as_bytes());
    let key = match event.as_ref() {
        // Sent once when the webhook is created, to test it.
        "ping" => return Ok(Vec::new()),
        "package" | "registry_package" => event.as_ref(),
        _ => {
            return Err(WebhookError::UnsupportedEvent {
                event: truncated(&event),
            });
        }
    };
    let payload: Payload = if is_form(headers) {
        // A webhook with the content type `application/x-www-form-urlencoded` sends the JSON
        // in the form field `payload`.
        let json = url::form_urlencoded::parse(body)
            .find(|(name, _)| name == "payload")
            .map(|(_, json)| json)
            .ok_or_else(|| missing(SENDER, "payload"))?;
        from_json(SENDER, json.as_bytes())?
    } else {
        from_json(SENDER, body)?
    };
    package_push(key, payload)
}

fn package_push(key: &str, payload: Payload) -> Result<Vec<Push>, WebhookError> {
    let action = payload.action.ok_or_else(|| missing(SENDER, "action"))?;
    if action != "published" && action != "updated" {
        return Ok(Vec::new());
    }
    let (key, package) = match (payload.package, payload.registry_package) {
        (Some(package), _) => ("package", package),
        (None, Some(package)) => ("registry_package", package),
        (None, None) => return Err(missing(SENDER, key)),
    };
    let kinds = [&package.package_type, &package.ecosystem];
    if kinds.iter().all(|kind| kind.is_none()) {
        return Err(missing(SENDER, format!("{key}.package_type")));
    }
    let is_container = kinds.iter().any(|kind| {
        kind.as_deref().is_some_and(|kind| {
            kind.eq_ignore_ascii_case("container") || kind.eq_ignore_ascii_case("docker")
        })
    });
    if !is_container {
        return Ok(Vec::new());
    }
    let version = package
        .package_version
        .ok_or_else(|| missing(SENDER, format!("{key}.package_version")))?;
    let tag_metadata = version.container_metadata.and_then(|metadata| metadata.tag);
    let (tag, tag_digest) = match tag_metadata {
        Some(TagMetadata { name, digest }) => (name.filter(|name| !name.is_empty()), digest),
        None => (None, None),
    };
    // An untagged version: one platform's manifest of a multi-arch push, which the tagged
    // index's own delivery covers.
    let Some(tag) = tag else {
        return Ok(Vec::new());
    };

    let from_url = version
        .package_url
        .as_deref()
        .and_then(split_package_url)
        .map(|(registry, repository)| {
            (
                registry,
                repository.to_ascii_lowercase(),
                format!("{key}.package_version.package_url"),
            )
        });
    let (registry, repository, path) = match from_url {
        Some(image) => image,
        None => match (package.namespace, package.name) {
            (Some(namespace), Some(name)) if !namespace.is_empty() && !name.is_empty() => (
                GHCR,
                format!("{namespace}/{name}").to_ascii_lowercase(),
                format!("{key}.name"),
            ),
            _ => {
                return Err(missing(
                    SENDER,
                    format!("{key}.package_version.package_url"),
                ));
            }
        },
    };
    // GitHub gives the digest as the tag's, and as the version's name for containers; GHCR's
    // names are lower-case, but owners are shown as spelled, hence the lower-casing above.
    let digest = [tag_digest, version.version, version.name]
        .into_iter()
        .flatten()
        .find(|digest| digest.parse::<Digest>().is_ok());
    Ok(vec![push(
        SENDER,
        (registry, &path),
        (&repository, &path),
        Some((
            &tag,
            &format!("{key}.package_version.container_metadata.tag.name"),
        )),
        digest.as_deref(),
    )?])
}

/// `ghcr.io/owner/name:tag` (or `...@digest`) as its host and repository; `None` when there is
/// no `/` after the host.
fn split_package_url(url: &str) -> Option<(&str, &str)> {
    let url = url.trim();
    let name = url.split_once('@').map_or(url, |(name, _digest)| name);
    let (registry, rest) = name.split_once('/')?;
    // The tag starts at the first `:` after the last `/`.
    let last_component = rest.rfind('/').map_or(0, |slash| slash + 1);
    let repository = match rest.get(last_component..).and_then(|last| last.find(':')) {
        Some(colon) => rest.get(..last_component + colon)?,
        None => rest,
    };
    (!registry.is_empty() && !repository.is_empty()).then_some((registry, repository))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_urls() {
        let cases = [
            (
                "ghcr.io/octo-org/web:1.0",
                Some(("ghcr.io", "octo-org/web")),
            ),
            (
                "ghcr.io/octo-org/tools/cli:v2",
                Some(("ghcr.io", "octo-org/tools/cli")),
            ),
            (
                "ghcr.io/Codertocat/hello-world:",
                Some(("ghcr.io", "Codertocat/hello-world")),
            ),
            ("ghcr.io/octo-org/web", Some(("ghcr.io", "octo-org/web"))),
            (
                "ghcr.io/octo-org/web@sha256:abc",
                Some(("ghcr.io", "octo-org/web")),
            ),
            ("localhost:5000/web:1", Some(("localhost:5000", "web"))),
            ("ghcr.io/", None),
            ("ghcr.io", None),
            ("/web:1", None),
            ("", None),
        ];
        for (url, expected) in cases {
            assert_eq!(split_package_url(url), expected, "{url}");
        }
    }
}
