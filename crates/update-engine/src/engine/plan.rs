//! Planning: the facts of each deployment, what the registry says of them, and the core's
//! decision, put in words.
//!
//! The decision is the core planner's ([`planner::plan`]); this module only gathers what it
//! needs ([`planner::needs`]) from the registry and words the answer, with the advice named
//! as [`Hint`]s that the engine's [`HintWords`](crate::hint::HintWords) say in the frontend's
//! terms.

use upkeep_registry_clients::{ErrorKind, Registry};
use upkeep_versioning_core::UpdateKind;
use upkeep_versioning_core::manifest::{ServiceName, ServiceVersion};
use upkeep_versioning_core::planner::{
    self, Decision, Facts, FailedVersion, HoldReason, MoveReason, MovedTag, NothingReason,
    Observed, Overrides, Plan,
};

use crate::check::platform_image;
use crate::config::Deployment;
use crate::error_chain as chain;
use crate::hint::Hint;

use super::{
    Engine, EngineError, PlanAction, PlanEntry, PlanReason, PlanRequest, parse_image, short_digest,
};

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

impl Engine {
    /// What each service asked for runs, without asking any registry: what the manifest
    /// records and the policy, for an offline status.
    pub fn plan_offline(&self, services: &[String]) -> Result<Vec<PlanEntry>, EngineError> {
        let manifest = self.shared_manifest()?;
        let services = self.select(&manifest, services)?;
        Ok(services
            .iter()
            .filter_map(|service| {
                let version = manifest.service(service.as_str())?;
                let deployment = self.deployment(service, version.image());
                let mut entry = unplanned(service, version, &deployment);
                entry.action = PlanAction::NotChecked;
                entry.reason = PlanReason::NotChecked;
                entry.why = "not checked (offline)".to_owned();
                Some(entry)
            })
            .collect())
    }

    /// What `update` would do for each service asked for, and why.
    pub async fn plan(&self, request: &PlanRequest) -> Result<Vec<PlanEntry>, EngineError> {
        let manifest = self.shared_manifest()?;
        let services = self.select(&manifest, &request.services)?;
        let mut entries = Vec::new();
        for service in services {
            let Some(version) = manifest.service(service.as_str()) else {
                continue;
            };
            let deployment = self.deployment(&service, version.image());
            let mut entry = unplanned(&service, version, &deployment);
            let planned = match self
                .plan_service(&service, version, &deployment, &mut entry, request)
                .await
            {
                Ok(()) => self.pin_target_digest(&mut entry).await,
                Err(error) => Err(error),
            };
            if let Err(error) = planned {
                entry.action = PlanAction::Unknown;
                entry.reason = PlanReason::Error;
                entry.why = format!("{error:#}");
                entry.hints = error.hint().into_iter().collect();
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

    /// Gathers what the planner needs for one service, asks it, and fills `entry` in.
    async fn plan_service(
        &self,
        service: &ServiceName,
        version: &ServiceVersion,
        deployment: &Deployment,
        entry: &mut PlanEntry,
        request: &PlanRequest,
    ) -> Result<(), EngineError> {
        let image = parse_image(&entry.image)?;
        let repository = image.repository().to_owned();
        let mut failed: Vec<FailedVersion> = version
            .failed_versions()
            .map(|(tag, digest)| FailedVersion {
                tag: tag.to_owned(),
                digest: digest.map(str::to_owned),
                pushed_again: false,
            })
            .collect();
        let constraints = deployment.constraints(std::iter::empty());
        let overrides = Overrides {
            to: request.to.clone(),
            latest: request.latest,
        };
        let needs = planner::needs(
            &facts_of(version, deployment, &constraints, &failed),
            &overrides,
        );
        let asks_registry = needs.tags
            || needs.current_tag_image
            || needs.failed_images
            || request.to.as_deref().is_some_and(|to| to != entry.current);
        if !asks_registry {
            let plan = planner::plan(
                &facts_of(version, deployment, &constraints, &failed),
                &overrides,
                &Observed::default(),
            );
            self.word(service, entry, &plan, None);
            return Ok(());
        }
        let registry = self.registries.registry_for(&image).await?;
        if let Some(to) = request.to.as_deref().filter(|to| *to != entry.current) {
            match registry.resolve_digest(&repository, to).await {
                Ok(_) => {}
                Err(error) if matches!(error.kind(), ErrorKind::NotFound { .. }) => {
                    return Err(EngineError::TagNotFound {
                        image: entry.image.clone(),
                        tag: to.to_owned(),
                    });
                }
                Err(error) => return Err(error.into()),
            }
        }
        let tags = if needs.tags {
            registry.list_tags(&repository).await?
        } else {
            Vec::new()
        };
        if needs.failed_images {
            // A failed version stays skipped while its tag still names the image that
            // failed; a tag pushed again with other content is another image, tried afresh.
            for failed in &mut failed {
                if let Some(digest) = &failed.digest {
                    failed.pushed_again = registry
                        .resolve_digest(&repository, &failed.tag)
                        .await
                        .is_ok_and(|now| now.as_str() != digest);
                }
            }
        }
        let mut moved = None;
        if needs.current_tag_image
            && let Some(found) = self
                .name_moved(registry.as_ref(), &repository, entry)
                .await?
        {
            let names_version = self
                .version_with_image(registry.as_ref(), &repository, deployment, &tags, &found)
                .await;
            moved = Some((
                MovedTag {
                    digest: found.digest.clone(),
                    names_version,
                },
                found,
            ));
        }
        let observed = Observed {
            tags: &tags,
            current_tag_moved: moved.as_ref().map(|(tag, _)| tag),
        };
        let plan = planner::plan(
            &facts_of(version, deployment, &constraints, &failed),
            &overrides,
            &observed,
        );
        self.word(service, entry, &plan, moved.as_ref().map(|(tag, _)| tag));
        Ok(())
    }

    /// Fills `entry` in from the planner's `plan`, in words.
    fn word(
        &self,
        service: &ServiceName,
        entry: &mut PlanEntry,
        plan: &Plan,
        moved: Option<&MovedTag>,
    ) {
        let service = service.as_str();
        let words = self.hint_words.as_ref();
        let policy = entry.policy.as_str();
        let mut hints = Vec::new();
        let mut hint = |hint: Hint| {
            let worded = words.word(&hint);
            hints.push(hint);
            worded
        };
        if let Some((tag, kind)) = &plan.newest {
            entry.newest = Some(tag.clone());
            entry.newest_kind = *kind;
        }
        let current = entry.current.clone();
        // What a floating tag points at now, in words.
        let moved_words = || match moved {
            Some(MovedTag {
                names_version: Some(version),
                ..
            }) => format!("{current} now points at {version}'s image"),
            Some(moved) => format!(
                "{current} now points at a new image ({})",
                short_digest(&moved.digest)
            ),
            None => format!("{current} now points at a new image"),
        };
        let mut skipped_note = String::new();
        for tag in &plan.skipped {
            skipped_note.push_str(&format!(
                "; {tag} is skipped because it failed and was rolled back ({} tries it again)",
                hint(Hint::update_to(service, tag))
            ));
        }
        let why = match &plan.decision {
            Decision::Move {
                target,
                kind,
                digest,
                reason,
            } => {
                entry.action = PlanAction::Update;
                entry.target = Some(target.clone());
                entry.kind = *kind;
                entry.target_digest.clone_from(digest);
                entry.reason = PlanReason::Move(reason.clone());
                match reason {
                    MoveReason::Asked => format!("{target} asked for with --to"),
                    MoveReason::Latest => {
                        format!("newest eligible version, asked for with --latest{skipped_note}")
                    }
                    MoveReason::Policy { waiting } => {
                        let mut why = format!("a {kind} update, which policy {policy} applies");
                        if let Some((newest, newest_kind)) = waiting {
                            why.push_str("; ");
                            why.push_str(&held(
                                newest,
                                *newest_kind,
                                policy,
                                hint(Hint::UpdateLatest {
                                    service: service.to_owned(),
                                }),
                                hint(Hint::update_to(service, newest)),
                            ));
                        }
                        why.push_str(&skipped_note);
                        why
                    }
                    MoveReason::TagMoved { asked: true, .. } => moved_words(),
                    MoveReason::TagMoved { asked: false, .. } => {
                        format!("{}; policy {policy} pulls it again", moved_words())
                    }
                    _ => format!("{current} -> {target} ({kind})"),
                }
            }
            Decision::Hold {
                target,
                kind,
                digest,
                reason,
            } => {
                entry.action = PlanAction::Hold;
                entry.target.clone_from(target);
                entry.kind = *kind;
                entry.target_digest.clone_from(digest);
                entry.reason = PlanReason::Hold(reason.clone());
                let target = target.clone().unwrap_or_default();
                match reason {
                    HoldReason::Disabled => format!(
                        "policy disabled: upkeep leaves it alone; set {}, or {}",
                        hint(Hint::SetPolicy {
                            service: service.to_owned(),
                        }),
                        hint(Hint::UpdateTo {
                            service: service.to_owned(),
                            tag: None,
                        })
                    ),
                    HoldReason::CustomTag => format!(
                        "runs the custom tag {current} pinned by hand; {} moves it to {target}{skipped_note}",
                        hint(Hint::UpdateLatest {
                            service: service.to_owned(),
                        })
                    ),
                    HoldReason::Policy => {
                        let latest = hint(Hint::UpdateLatest {
                            service: service.to_owned(),
                        });
                        let to = hint(Hint::update_to(service, &target));
                        format!("{}{skipped_note}", held(&target, *kind, policy, latest, to))
                    }
                    HoldReason::TagMovedPolicy { .. } => format!(
                        "{}; policy {policy} does not apply it by itself; {} applies it",
                        moved_words(),
                        hint(Hint::update_to(service, &current))
                    ),
                    HoldReason::OutsideWindow { opens: Some(opens) } => format!(
                        "{target} ({kind}) waits for the update window, which opens at {}",
                        opens.format("%Y-%m-%d %H:%M UTC")
                    ),
                    HoldReason::TooNew { until, .. } => format!(
                        "{target} ({kind}) is too new; it is applied from {}",
                        until.format("%Y-%m-%d %H:%M UTC")
                    ),
                    _ => format!("{target} ({kind}) is held"),
                }
            }
            Decision::Nothing { reason } => {
                entry.action = PlanAction::UpToDate;
                entry.reason = PlanReason::Nothing(reason.clone());
                match reason {
                    NothingReason::AlreadyRuns => format!("already runs {current}"),
                    NothingReason::NoNewer => format!("no newer eligible tag{skipped_note}"),
                    NothingReason::NoDigestRecorded => format!(
                        "no digest is recorded for {current}, so whether it points at a new image cannot be told; {} records it",
                        hint(Hint::Pull {
                            service: service.to_owned(),
                        })
                    ),
                    NothingReason::TagUnchanged => {
                        format!("{current} still points at the image it runs for this platform")
                    }
                    NothingReason::TagMovedFailed { .. } => format!(
                        "{}, which failed and was rolled back; {} tries it again",
                        moved_words(),
                        hint(Hint::update_to(service, &current))
                    ),
                    _ => format!("nothing to do for {current}"),
                }
            }
            _ => String::new(),
        };
        entry.skipped.clone_from(&plan.skipped);
        entry.why = why;
        entry.hints = hints;
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

/// A plan entry with what the manifest and configuration say, before anything is decided.
fn unplanned(
    service: &ServiceName,
    version: &ServiceVersion,
    deployment: &Deployment,
) -> PlanEntry {
    PlanEntry {
        service: service.to_string(),
        image: version.image().to_owned(),
        current: version.current_tag().to_owned(),
        current_digest: version.image_digest().map(str::to_owned),
        custom: version.is_custom(),
        policy: deployment.policy,
        newest: None,
        newest_kind: UpdateKind::None,
        target: None,
        kind: UpdateKind::None,
        target_digest: None,
        action: PlanAction::UpToDate,
        reason: PlanReason::Error,
        skipped: Vec::new(),
        why: String::new(),
        hints: Vec::new(),
    }
}

/// What is known of a deployment before the registry is asked.
fn facts_of<'a>(
    version: &'a ServiceVersion,
    deployment: &'a Deployment,
    constraints: &'a upkeep_versioning_core::select::Constraints,
    failed: &'a [FailedVersion],
) -> Facts<'a> {
    Facts {
        current_tag: version.current_tag(),
        current_digest_known: version.image_digest().is_some(),
        custom: version.is_custom(),
        policy: deployment.policy,
        scheme: &deployment.scheme,
        constraints,
        failed,
    }
}

/// A version the policy does not apply by itself, and what applies it.
fn held(target: &str, kind: UpdateKind, policy: &str, latest: String, to: String) -> String {
    format!(
        "{target} ({kind}) waits: policy {policy} does not apply a {kind} update by itself; {latest} or {to} applies it"
    )
}
