//! "What is newer?" for one image: the registry's tags and digests fed through the core's
//! target selection.
//!
//! # What this module does not do
//! It changes nothing and decides nothing about applying: it reports. Policies and `decide`
//! act on its answer.

use serde::Serialize;
use upkeep_registry_clients::{ErrorKind, ManifestContent, Registry, RegistryError};
use upkeep_versioning_core::reference::{Digest, ImageRef};
use upkeep_versioning_core::select::{Constraints, Selector, newest};
use upkeep_versioning_core::{Scheme, UpdateKind};

/// What a check found for one image. Serialised as `upkeep check --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The image without tag, such as `docker.io/library/nginx`.
    pub image: String,
    /// The current tag.
    pub current: String,
    /// The digest the current tag points to now, if the tag exists.
    pub current_digest: Option<String>,
    /// The newest eligible tag, if one is newer.
    pub latest: Option<String>,
    /// The digest of `latest`.
    pub latest_digest: Option<String>,
    /// The kind of move to `latest`: `major`, `minor`, `patch`, `build`, `prerelease`, or
    /// `none` when nothing is newer (or the current tag already points at `latest`'s image);
    /// `unknown` when the current tag is a name pointing at another image.
    pub update: String,
    /// The newest version among all tags, whatever its variant, line or stability.
    pub newest_any: Option<String>,
}

/// Checks `image` against its registry under `scheme` and `constraints`.
///
/// It costs one tag listing and one digest lookup (a HEAD) per tag reported; behind a
/// caching registry, repeated checks of one repository share the listing.
pub async fn check(
    registry: &dyn Registry,
    image: &ImageRef,
    scheme: &Scheme,
    constraints: Constraints,
) -> Result<CheckReport, RegistryError> {
    let repository = image.repository();
    let current = image.tag_or_latest().as_str().to_owned();
    let tags = registry.list_tags(repository).await?;
    let selector = Selector::new(scheme.clone(), &current, constraints);
    let selected = selector.select(tags.iter().map(String::as_str));
    let current_digest = digest_if_present(registry, repository, &current).await?;
    let latest_digest = match &selected {
        Some(selected) => digest_if_present(registry, repository, selected.tag()).await?,
        None => None,
    };
    // From a name such as `latest`, the move has no size; when the name already points at
    // the chosen version's image for this platform, there is no move at all (an index whose
    // other platforms were rebuilt has another digest, and is the same image here).
    let same_image = match (&selected, &current_digest, &latest_digest) {
        (Some(_), Some(current), Some(latest)) if current == latest => true,
        (Some(selected), Some(current), Some(latest)) if selected.kind == UpdateKind::Unknown => {
            let here = platform_image(registry, repository, current.as_str()).await?;
            here.is_some() && here == platform_image(registry, repository, latest.as_str()).await?
        }
        _ => false,
    };
    let update = match &selected {
        Some(_) if same_image => UpdateKind::None,
        Some(selected) => selected.kind,
        None => UpdateKind::None,
    };
    Ok(CheckReport {
        image: image.name().to_owned(),
        current,
        current_digest: current_digest.map(|digest| digest.to_string()),
        latest: selected.as_ref().map(|selected| selected.tag().to_owned()),
        latest_digest: latest_digest.map(|digest| digest.to_string()),
        update: update.to_string(),
        newest_any: newest(scheme, tags.iter().map(String::as_str)).map(|v| v.to_string()),
    })
}

/// The tag's digest, or `None` when the registry does not know the tag.
async fn digest_if_present(
    registry: &dyn Registry,
    repository: &str,
    tag: &str,
) -> Result<Option<Digest>, RegistryError> {
    match registry.resolve_digest(repository, tag).await {
        Ok(digest) => Ok(Some(digest)),
        Err(error) if matches!(error.kind(), ErrorKind::NotFound { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The image this machine's platform runs for `digest`: the config digest of the manifest,
/// or of the index entry for linux and this CPU. Two digests of one tag name the same image
/// here when this is equal, however the other platforms of an index changed.
pub(crate) async fn platform_image(
    registry: &dyn Registry,
    repository: &str,
    digest: &str,
) -> Result<Option<String>, RegistryError> {
    let manifest = registry.manifest(repository, digest).await?;
    let entry = match manifest.content {
        ManifestContent::Image { config, .. } => return Ok(Some(config.to_string())),
        ManifestContent::Index { manifests } => manifests.into_iter().find(|entry| {
            entry
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == host_architecture())
        }),
        _ => None,
    };
    let Some(entry) = entry else { return Ok(None) };
    match registry
        .manifest(repository, entry.digest.as_str())
        .await?
        .content
    {
        ManifestContent::Image { config, .. } => Ok(Some(config.to_string())),
        _ => Ok(None),
    }
}

/// This machine's CPU in the registry's (GOARCH) words.
fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use upkeep_registry_clients::MockRegistry;
    use upkeep_versioning_core::select::Within;

    use super::*;

    const DIGEST_A: &str =
        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const DIGEST_B: &str =
        "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn registry(tags: &[&str]) -> MockRegistry {
        let tags: Vec<String> = tags.iter().map(|tag| (*tag).to_owned()).collect();
        let mut registry = MockRegistry::new();
        registry
            .expect_list_tags()
            .withf(|repository| repository == "library/nginx")
            .times(1)
            .returning(move |_| Ok(tags.clone()));
        registry
            .expect_resolve_digest()
            .returning(|repository, tag| match tag {
                "1.25.3-alpine" => Ok(DIGEST_A.parse().unwrap()),
                "1.26.0-alpine" => Ok(DIGEST_B.parse().unwrap()),
                _ => Err(RegistryError::new(
                    "docker.io",
                    Some(repository),
                    ErrorKind::NotFound {
                        what: format!("manifest '{tag}'"),
                        code: None,
                    },
                )),
            });
        registry
    }

    #[tokio::test]
    async fn reports_the_newest_eligible_tag_with_digests() {
        let registry = registry(&[
            "1.25.3-alpine",
            "1.26.0-alpine",
            "1.27.0-rc1-alpine",
            "2.0.0",
            "latest",
        ]);
        let image: ImageRef = "nginx:1.25.3-alpine".parse().unwrap();
        let report = check(&registry, &image, &Scheme::Docker, Constraints::default())
            .await
            .unwrap();
        assert_eq!(
            report,
            CheckReport {
                image: "docker.io/library/nginx".to_owned(),
                current: "1.25.3-alpine".to_owned(),
                current_digest: Some(DIGEST_A.to_owned()),
                latest: Some("1.26.0-alpine".to_owned()),
                latest_digest: Some(DIGEST_B.to_owned()),
                update: "minor".to_owned(),
                newest_any: Some("2.0.0".to_owned()),
            }
        );
    }

    #[tokio::test]
    async fn nothing_newer_is_none() {
        let registry = registry(&["1.25.3-alpine", "2.0.0-alpine"]);
        let image: ImageRef = "nginx:1.25.3-alpine".parse().unwrap();
        let constraints = Constraints {
            within: Within::Major,
            ..Constraints::default()
        };
        let report = check(&registry, &image, &Scheme::Docker, constraints)
            .await
            .unwrap();
        assert_eq!(report.latest, None);
        assert_eq!(report.latest_digest, None);
        assert_eq!(report.update, "none");
        assert_eq!(report.newest_any.as_deref(), Some("2.0.0-alpine"));
    }

    #[tokio::test]
    async fn a_name_on_the_newest_image_needs_no_update() {
        let mut registry = MockRegistry::new();
        registry.expect_list_tags().returning(|_| {
            Ok(vec![
                "1.25.3".to_owned(),
                "1.26.0".to_owned(),
                "latest".to_owned(),
            ])
        });
        registry
            .expect_resolve_digest()
            .returning(|_, tag| match tag {
                "latest" | "1.26.0" => Ok(DIGEST_B.parse().unwrap()),
                _ => Ok(DIGEST_A.parse().unwrap()),
            });
        let image: ImageRef = "nginx".parse().unwrap();
        let report = check(&registry, &image, &Scheme::Docker, Constraints::default())
            .await
            .unwrap();
        assert_eq!(
            (report.latest.as_deref(), report.update.as_str()),
            (Some("1.26.0"), "none")
        );
        let image: ImageRef = "nginx:1.25.3".parse().unwrap();
        let report = check(&registry, &image, &Scheme::Docker, Constraints::default())
            .await
            .unwrap();
        assert_eq!(report.update, "minor");
    }

    #[tokio::test]
    async fn a_missing_current_tag_has_no_digest() {
        let registry = registry(&["1.26.0-alpine"]);
        let image: ImageRef = "nginx:1.25.3-alpine-gone".parse().unwrap();
        let report = check(&registry, &image, &Scheme::Docker, Constraints::default())
            .await
            .unwrap();
        assert_eq!(report.current_digest, None);
    }
}
