//! Planning: the facts of each deployment, what the registry says of them, and the decision.

use upkeep_registry_clients::{ErrorKind, Registry};
use upkeep_versioning_core::UpdateKind;
use upkeep_versioning_core::policy::Policy;
use upkeep_versioning_core::select::{Selector, Within};
use upkeep_versioning_core::version::classify;

use crate::check::platform_image;
use crate::config::Deployment;
use crate::error_chain as chain;

use super::{Engine, EngineError, PlanAction, PlanEntry, PlanRequest, parse_image, short_digest};

/// How many of the newest version tags are looked up to name the version a floating tag
/// points at.
const VERSIONS_TO_NAME_AN_IMAGE: usize = 5;

/// A floating tag that points at a new image for this platform.
struct Moved {
    /// The tag's digest now (an index's, for a multi-platform image).
    digest: String,
    /// The config digest of this platform's image, when the registry says.
    platform_image: Option<String>,
}

impl Moved {
    fn describe(&self, tag: &str) -> String {
        format!(
            "{tag} now points at a new image ({})",
            short_digest(&self.digest)
        )
    }
}

impl Engine {
    /// What `update` would do for each service asked for, and why.
    pub async fn plan(&self, request: &PlanRequest) -> Result<Vec<PlanEntry>, EngineError> {
        let manifest = self.manifest()?;
        let services = self.select(&manifest, &request.services)?;
        let mut entries = Vec::new();
        for service in services {
            let Some(version) = manifest.service(service.as_str()) else {
                continue;
            };
            let deployment = self.deployment(&service, version.image());
            let mut entry = PlanEntry {
                service: service.to_string(),
                image: version.image().to_owned(),
                current: version.current_tag().to_owned(),
                current_digest: version.image_digest().map(str::to_owned),
                custom: version.is_custom(),
                policy: deployment.policy.as_str().to_owned(),
                newest: None,
                newest_kind: UpdateKind::None.to_string(),
                target: None,
                kind: UpdateKind::None.to_string(),
                target_digest: None,
                action: PlanAction::UpToDate,
                why: String::new(),
            };
            let failed: Vec<(String, Option<String>)> = version
                .failed_versions()
                .map(|(tag, digest)| (tag.to_owned(), digest.map(str::to_owned)))
                .collect();
            let planned = match self
                .plan_one(&deployment, &mut entry, &failed, request)
                .await
            {
                Ok(()) => self.pin_target_digest(&mut entry).await,
                Err(error) => Err(error),
            };
            match planned {
                Ok(()) => {}
                Err(error) => {
                    entry.action = PlanAction::Unknown;
                    entry.why = format!("{error:#}");
                }
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Whether `image:tag` still names `planned` in the registry; if not, why, in words.
    pub(super) async fn still_names(
        &self,
        image: &str,
        tag: &str,
        planned: &str,
    ) -> Result<(), String> {
        let parsed = parse_image(image).map_err(|error| error.to_string())?;
        // Asked afresh: a cached answer may predate the move.
        self.registries.forget(&parsed).await;
        let now = async {
            let registry = self.registries.registry_for(&parsed).await?;
            registry.resolve_digest(parsed.repository(), tag).await
        }
        .await
        .map_err(|error| {
            format!(
                "cannot check that {image}:{tag} still names the planned image: {}",
                chain(&error)
            )
        })?;
        if now.as_str() == planned {
            Ok(())
        } else {
            Err(format!(
                "{image}:{tag} moved since the update was planned: it named {}, it names {} now; plan again to see what it is",
                short_digest(planned),
                short_digest(now.as_str())
            ))
        }
    }

    /// Records the digest an update's target names now, so that what is pulled is what was
    /// planned.
    async fn pin_target_digest(&self, entry: &mut PlanEntry) -> Result<(), EngineError> {
        if entry.action != PlanAction::Update || entry.target_digest.is_some() {
            return Ok(());
        }
        let Some(target) = &entry.target else {
            return Ok(());
        };
        let image = parse_image(&entry.image)?;
        let registry = self.registries.registry_for(&image).await?;
        let digest = registry.resolve_digest(image.repository(), target).await?;
        entry.target_digest = Some(digest.to_string());
        Ok(())
    }

    async fn plan_one(
        &self,
        deployment: &Deployment,
        entry: &mut PlanEntry,
        failed_versions: &[(String, Option<String>)],
        request: &PlanRequest,
    ) -> Result<(), EngineError> {
        let image = parse_image(&entry.image)?;
        let registry = self.registries.registry_for(&image).await?;
        let repository = image.repository().to_owned();
        if request.to.as_ref() == Some(&entry.current) {
            // The tag it runs, asked for again: what that tag is now, if it moved.
            return match self
                .name_moved(registry.as_ref(), &repository, entry)
                .await?
            {
                Some(moved) => {
                    entry.target = Some(entry.current.clone());
                    entry.kind = UpdateKind::Digest.to_string();
                    entry.target_digest = Some(moved.digest.clone());
                    entry.action = PlanAction::Update;
                    entry.why = moved.describe(&entry.current);
                    Ok(())
                }
                None => {
                    entry.why = format!("already runs {}", entry.current);
                    Ok(())
                }
            };
        }
        if let Some(to) = &request.to {
            match registry.resolve_digest(&repository, to).await {
                Ok(_) => {}
                Err(error) if matches!(error.kind(), ErrorKind::NotFound { .. }) => {
                    return Err(EngineError::Invalid(format!(
                        "{}:{to} is not in the registry; list the tags with `upkeep tags {}`",
                        entry.image, entry.image
                    )));
                }
                Err(error) => return Err(error.into()),
            }
            entry.target = Some(to.clone());
            entry.kind = classify(&entry.current, to, &deployment.scheme).to_string();
            if *to == entry.current {
                entry.action = PlanAction::UpToDate;
                entry.why = format!("already runs {to}");
            } else {
                entry.action = PlanAction::Update;
                entry.why = format!("{to} asked for with --to");
            }
            return Ok(());
        }
        if deployment.policy == Policy::Disabled {
            entry.action = PlanAction::Hold;
            entry.why = format!(
                "policy disabled: upkeep leaves it alone; set a policy in upkeep.yaml, or `upkeep update {} --to TAG`",
                entry.service
            );
            return Ok(());
        }
        let tags = registry.list_tags(&repository).await?;
        let scheme = &deployment.scheme;
        if scheme.parse(&entry.current).is_err() && !request.latest && !entry.custom {
            return self
                .plan_floating(deployment, entry, failed_versions, registry.as_ref(), &tags)
                .await;
        }
        // A failed version stays skipped while its tag still names the image that failed; a
        // tag pushed again with other content is another image, tried afresh.
        let mut failed = Vec::new();
        for (tag, digest) in failed_versions {
            let pushed_again = match digest {
                Some(digest) => registry
                    .resolve_digest(&repository, tag)
                    .await
                    .is_ok_and(|now| now.as_str() != digest),
                None => false,
            };
            if !pushed_again {
                failed.push(tag.clone());
            }
        }
        let failed = &failed;
        let mut constraints = deployment.constraints(failed.iter().cloned());
        if request.latest {
            constraints.within = Within::Any;
        }
        let pick = |constraints: &upkeep_versioning_core::select::Constraints| {
            Selector::new(scheme.clone(), &entry.current, constraints.clone())
                .select(tags.iter().map(String::as_str))
        };
        let newest = pick(&constraints);
        // Which failed version would have been chosen, to say why it was not.
        let unskipped = {
            let mut open = constraints.clone();
            open.skip.clear();
            pick(&open).map(|selected| selected.tag().to_owned())
        };
        let mut skipped_note = match &unskipped {
            Some(tag) if failed.contains(tag) && newest.as_ref().map(|s| s.tag()) != Some(tag) => {
                format!(
                    "; {tag} is skipped because it failed and was rolled back (`upkeep update {} --to {tag}` tries it again)",
                    entry.service
                )
            }
            _ => String::new(),
        };
        entry.newest = newest.as_ref().map(|selected| selected.tag().to_owned());
        entry.newest_kind = newest
            .as_ref()
            .map_or(UpdateKind::None, |selected| selected.kind)
            .to_string();
        let Some(newest) = newest else {
            entry.why = format!("no newer eligible tag{skipped_note}");
            return Ok(());
        };
        if entry.custom && !request.latest {
            entry.target = Some(newest.tag().to_owned());
            entry.kind = newest.kind.to_string();
            entry.action = PlanAction::Hold;
            entry.why = format!(
                "runs the custom tag {} pinned by hand; `upkeep update {} --latest` moves it to {}{skipped_note}",
                entry.current,
                entry.service,
                newest.tag()
            );
            return Ok(());
        }
        if request.latest {
            entry.target = Some(newest.tag().to_owned());
            entry.kind = newest.kind.to_string();
            entry.action = PlanAction::Update;
            entry.why = format!("newest eligible version, asked for with --latest{skipped_note}");
            return Ok(());
        }
        // The newest version the policy applies by itself, which may be older than the
        // newest eligible one (a patch while a minor release waits).
        let allowed = deployment.policy.line().and_then(|line| {
            let mut narrowed = constraints.clone();
            narrowed.within = narrowed.within.min(line);
            pick(&narrowed).filter(|selected| deployment.policy.allows(selected.kind))
        });
        // A failed version the policy would have applied by itself (a patch while a minor
        // release waits) is skipped too; say so, unless the note above names it already.
        if let Some(tag) = deployment.policy.line().and_then(|line| {
            let mut open = constraints.clone();
            open.within = open.within.min(line);
            open.skip.clear();
            pick(&open)
                .filter(|selected| deployment.policy.allows(selected.kind))
                .map(|selected| selected.tag().to_owned())
        }) && failed.contains(&tag)
            && unskipped.as_ref() != Some(&tag)
        {
            skipped_note = format!(
                "{skipped_note}; {tag} is skipped because it failed and was rolled back (`upkeep update {} --to {tag}` tries it again)",
                entry.service
            );
        }
        let held = |target: &str| {
            format!(
                "{} ({}) waits: policy {} does not apply a {} update by itself; `upkeep update {} --latest` or `--to {}` applies it",
                target,
                newest.kind,
                deployment.policy.as_str(),
                newest.kind,
                entry.service,
                target
            )
        };
        match allowed {
            Some(allowed) => {
                entry.target = Some(allowed.tag().to_owned());
                entry.kind = allowed.kind.to_string();
                entry.action = PlanAction::Update;
                entry.why = format!(
                    "a {} update, which policy {} applies",
                    allowed.kind,
                    deployment.policy.as_str()
                );
                if allowed.tag() != newest.tag() {
                    entry.why = format!("{}; {}", entry.why, held(newest.tag()));
                }
                entry.why.push_str(&skipped_note);
            }
            None => {
                entry.target = Some(newest.tag().to_owned());
                entry.kind = newest.kind.to_string();
                entry.action = PlanAction::Hold;
                entry.why = format!("{}{skipped_note}", held(newest.tag()));
            }
        }
        Ok(())
    }

    /// The plan of a service that follows a floating tag (`latest`, `stable`, `3`): the tag
    /// is followed, not left. Its news is a new image behind it for this machine's platform
    /// (an update of kind `digest`, which the auto policies apply by pulling the tag again);
    /// an index whose other platforms were rebuilt is no news. Moving to a version tag stays
    /// the user's choice (`resolve`, `--to`, `--latest`).
    async fn plan_floating(
        &self,
        deployment: &Deployment,
        entry: &mut PlanEntry,
        failed_versions: &[(String, Option<String>)],
        registry: &dyn Registry,
        tags: &[String],
    ) -> Result<(), EngineError> {
        let repository = parse_image(&entry.image)?.repository().to_owned();
        if entry.current_digest.is_none() {
            // Nothing to compare with: whether the tag moved cannot be told.
            entry.why = format!(
                "no digest is recorded for {}, so whether it points at a new image cannot be told; `upkeep pull {}` records it",
                entry.current, entry.service
            );
            return Ok(());
        }
        let Some(moved) = self.name_moved(registry, &repository, entry).await? else {
            entry.why = format!(
                "{} still points at the image it runs for this platform",
                entry.current
            );
            return Ok(());
        };
        let mut why = moved.describe(&entry.current);
        if let Some(version) = self
            .version_with_image(registry, &repository, deployment, tags, &moved)
            .await
        {
            why = format!("{} now points at {version}'s image", entry.current);
        }
        let failed_before = failed_versions.iter().any(|(tag, digest)| {
            *tag == entry.current && digest.as_deref() == Some(moved.digest.as_str())
        });
        if failed_before {
            entry.why = format!(
                "{why}, which failed and was rolled back; `upkeep update {} --to {}` tries it again",
                entry.service, entry.current
            );
            return Ok(());
        }
        entry.target = Some(entry.current.clone());
        entry.newest = Some(entry.current.clone());
        entry.kind = UpdateKind::Digest.to_string();
        entry.target_digest = Some(moved.digest.clone());
        entry.newest_kind = entry.kind.clone();
        if deployment.policy.allows(UpdateKind::Digest) {
            entry.action = PlanAction::Update;
            entry.why = format!(
                "{why}; policy {} pulls it again",
                deployment.policy.as_str()
            );
        } else {
            entry.action = PlanAction::Hold;
            entry.why = format!(
                "{why}; policy {} does not apply it by itself; `upkeep update {} --to {}` applies it",
                deployment.policy.as_str(),
                entry.service,
                entry.current
            );
        }
        Ok(())
    }

    /// The newest version tag (of the few newest) whose image for this platform is the one
    /// `moved` found, to name what a floating tag points at now.
    async fn version_with_image(
        &self,
        registry: &dyn Registry,
        repository: &str,
        deployment: &Deployment,
        tags: &[String],
        moved: &Moved,
    ) -> Option<String> {
        let here = moved.platform_image.as_ref()?;
        let mut versions: Vec<_> = tags
            .iter()
            .filter_map(|tag| Some((deployment.scheme.parse(tag).ok()?, tag)))
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        // A few lookups at most: the tag is usually one of the newest versions.
        for (_, tag) in versions.into_iter().take(VERSIONS_TO_NAME_AN_IMAGE) {
            let Ok(digest) = registry.resolve_digest(repository, tag).await else {
                continue;
            };
            if let Ok(Some(image)) = platform_image(registry, repository, digest.as_str()).await
                && &image == here
            {
                return Some(tag.clone());
            }
        }
        None
    }

    /// For a service on a name such as `latest`: whether the name now points at another
    /// image for this machine's platform than the one recorded.
    async fn name_moved(
        &self,
        registry: &dyn Registry,
        repository: &str,
        entry: &PlanEntry,
    ) -> Result<Option<Moved>, EngineError> {
        let Some(recorded) = &entry.current_digest else {
            return Ok(None);
        };
        let now = match registry.resolve_digest(repository, &entry.current).await {
            Ok(digest) => digest.to_string(),
            Err(error) if matches!(error.kind(), ErrorKind::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        if &now == recorded {
            return Ok(None);
        }
        // An index changes when any platform is rebuilt; only this platform's image counts.
        let here = platform_image(registry, repository, &now).await?;
        let before = platform_image(registry, repository, recorded)
            .await
            .ok()
            .flatten();
        if here.is_some() && here == before {
            return Ok(None);
        }
        Ok(Some(Moved {
            digest: now,
            platform_image: here,
        }))
    }
}
