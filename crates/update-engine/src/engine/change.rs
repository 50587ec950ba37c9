//! Carrying a change out: journal, hooks, pull, keep, switch, health, record or restore.

use std::sync::Arc;

use upkeep_registry_clients::ErrorKind;
use upkeep_versioning_core::journal::{ChangeKind, JournalEntry, JournalVersion, Step};
use upkeep_versioning_core::manifest::{DeployReason, Manifest, ServiceName};

use crate::config::Deployment;
use crate::error_chain as chain;
use crate::fault::{self, CrashPoint};
use crate::hint::Hint;
use crate::hooks::{HookContext, HookEvent};
use crate::lock::{self};
use crate::target::{Condition, OwnCheck, Previous, Switched, Target, TargetHealth, Wanted};

use super::{
    ChangeStep, Engine, EngineError, Outcome, OutcomeKind, PlanAction, PlanEntry, Report,
    Resolution, describe_change, known_services, one_line, parse_image, short_digest,
};

/// What a change records when it succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    Update,
    Pin { custom: bool },
    Rollback,
    RollbackTo,
}

impl Kind {
    /// How the journal names this kind.
    fn journal(&self) -> ChangeKind {
        match self {
            Self::Update => ChangeKind::Update,
            Self::Pin { custom: false } => ChangeKind::Set,
            Self::Pin { custom: true } => ChangeKind::SetCustom,
            Self::Rollback => ChangeKind::Rollback,
            Self::RollbackTo => ChangeKind::RollbackTo,
        }
    }

    pub(super) fn from_journal(change: ChangeKind) -> Self {
        match change {
            ChangeKind::Set => Self::Pin { custom: false },
            ChangeKind::SetCustom => Self::Pin { custom: true },
            ChangeKind::Rollback => Self::Rollback,
            ChangeKind::RollbackTo => Self::RollbackTo,
            ChangeKind::Update => Self::Update,
        }
    }
}

/// One change to carry out.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub(super) service: ServiceName,
    pub(super) from_tag: String,
    pub(super) from_digest: Option<String>,
    pub(super) to_tag: String,
    /// The digest of what was pulled for `to_tag`, once it is known.
    pub(super) to_digest: Option<String>,
    /// The digest `to_tag` named when the update was planned: pulled by digest, and the
    /// update refused if the tag names another image by then.
    pub(super) planned_digest: Option<String>,
    pub(super) kind: Kind,
}

impl Engine {
    /// Carries out the `Update` entries of `plan`, one service at a time. With `dry_run`,
    /// reports what would happen and touches nothing.
    pub async fn apply(
        &self,
        plan: &[PlanEntry],
        dry_run: bool,
    ) -> Result<Vec<Outcome>, EngineError> {
        let updates: Vec<&str> = plan
            .iter()
            .filter(|entry| entry.action == PlanAction::Update)
            .map(|entry| entry.service.as_str())
            .collect();
        let _lock = if dry_run || updates.is_empty() {
            None
        } else {
            Some(
                self.lock(&format!("the update of {}", updates.join(", ")))
                    .await?,
            )
        };
        // Read under the lock: another writer may have changed it while this one waited.
        let mut manifest = self.manifest()?;
        let mut outcomes = Vec::new();
        let order = self.targets.change_order(
            &self.config,
            plan.iter()
                .filter(|e| e.action == PlanAction::Update)
                .map(|e| e.service.clone())
                .collect(),
        )?;
        for name in order {
            let Some(entry) = plan.iter().find(|entry| entry.service == name) else {
                continue;
            };
            let Some(target) = &entry.target else {
                continue;
            };
            let service = ServiceName::parse(&entry.service)?;
            let planned = Planned {
                service,
                from_tag: entry.current.clone(),
                from_digest: entry.current_digest.clone(),
                to_tag: target.clone(),
                to_digest: None,
                planned_digest: entry.target_digest.clone(),
                kind: Kind::Update,
            };
            let outcome = self.change(&mut manifest, planned, dry_run).await?;
            self.reporter.report(&Report::Finished(&outcome));
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Puts `services` (all when empty) back to their previous version, or to `to`.
    pub async fn rollback(
        &self,
        services: &[String],
        to: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<Outcome>, EngineError> {
        let _lock = if dry_run {
            None
        } else {
            Some(
                self.lock(&describe_change("the rollback", services))
                    .await?,
            )
        };
        let mut manifest = self.manifest()?;
        let names = self.select(&manifest, services)?;
        let mut outcomes = Vec::new();
        for service in names {
            let Some(version) = manifest.service(service.as_str()) else {
                continue;
            };
            let (to_tag, kind) = match to {
                Some(tag) => (tag.to_owned(), Kind::RollbackTo),
                None => match version.rollback_target() {
                    Some(target) => (target.tag().to_owned(), Kind::Rollback),
                    None => {
                        outcomes.push(Outcome {
                            service: service.to_string(),
                            from: version.current_tag().to_owned(),
                            to: version.current_tag().to_owned(),
                            digest: version.image_digest().map(str::to_owned),
                            result: OutcomeKind::Unchanged,
                            message: "no earlier version in the history to go back to".to_owned(),
                            warnings: Vec::new(),
                            hints: Vec::new(),
                        });
                        continue;
                    }
                },
            };
            let planned = Planned {
                from_tag: version.current_tag().to_owned(),
                from_digest: version.image_digest().map(str::to_owned),
                to_tag,
                to_digest: None,
                planned_digest: None,
                kind,
                service,
            };
            outcomes.push(self.change(&mut manifest, planned, dry_run).await?);
        }
        Ok(outcomes)
    }

    /// Sets `service` to `tag` by hand; with `custom`, marks it as a custom (hotfix) tag that
    /// plans leave alone.
    pub async fn pin(
        &self,
        service: &str,
        tag: &str,
        custom: bool,
        dry_run: bool,
    ) -> Result<Outcome, EngineError> {
        let _lock = if dry_run {
            None
        } else {
            Some(self.lock(&format!("the pin of {service}")).await?)
        };
        let mut manifest = self.manifest()?;
        let names = self.select(&manifest, &[service.to_owned()])?;
        let unknown = || EngineError::UnknownService {
            service: service.to_owned(),
            known: known_services(&manifest),
        };
        let service = names.into_iter().next().ok_or_else(unknown)?;
        let version = manifest.service(service.as_str()).ok_or_else(unknown)?;
        let deployment = self.deployment(&service, version.image());
        if !custom && deployment.scheme.parse(tag).is_err() {
            return Err(EngineError::NotAVersion {
                tag: tag.to_owned(),
                scheme: deployment.scheme.to_string(),
            });
        }
        let planned = Planned {
            from_tag: version.current_tag().to_owned(),
            from_digest: version.image_digest().map(str::to_owned),
            to_tag: tag.to_owned(),
            to_digest: None,
            planned_digest: None,
            kind: Kind::Pin { custom },
            service,
        };
        self.change(&mut manifest, planned, dry_run).await
    }

    /// One change, end to end. Errors are for what makes the whole command fail (state
    /// files); a change that fails is an [`Outcome`].
    async fn change(
        &self,
        manifest: &mut Manifest,
        mut planned: Planned,
        dry_run: bool,
    ) -> Result<Outcome, EngineError> {
        let Some(version) = manifest.service(planned.service.as_str()) else {
            return Err(EngineError::UnknownService {
                service: planned.service.to_string(),
                known: known_services(manifest),
            });
        };
        let deployment = self.deployment(&planned.service, version.image());
        let image = version.image().to_owned();
        let service = planned.service.to_string();
        let mut outcome = Outcome {
            service: service.clone(),
            from: planned.from_tag.clone(),
            to: planned.to_tag.clone(),
            digest: planned.from_digest.clone(),
            result: OutcomeKind::Unchanged,
            message: String::new(),
            warnings: Vec::new(),
            hints: Vec::new(),
        };
        let verb = match planned.kind {
            Kind::Update => "update",
            Kind::Pin { .. } => "set",
            Kind::Rollback | Kind::RollbackTo => "roll back",
        };
        if dry_run {
            outcome.message = format!(
                "would {verb} {service} from {} to {} (dry run: nothing changed)",
                planned.from_tag, planned.to_tag
            );
            return Ok(outcome);
        }
        // The journal holds one change: an unrecovered one must not be overwritten.
        if let Some(pending) = self.state.read_journal()? {
            return Err(EngineError::Unrecovered {
                service: pending.service,
                from: pending.from.tag,
                to: pending.to.tag,
            });
        }
        let target = self.target_for(&deployment).await?;
        let reference = format!("{image}:{}", planned.to_tag);
        let (pre, post) = match planned.kind {
            Kind::Rollback | Kind::RollbackTo => (HookEvent::PreRollback, HookEvent::PostRollback),
            _ => (HookEvent::PreUpdate, HookEvent::PostUpdate),
        };
        let context = HookContext {
            service: &service,
            from: &planned.from_tag,
            to: &planned.to_tag,
        };
        // The service must exist before anything is written.
        target.running().await?;

        let mut journal = JournalEntry::begin(
            &service,
            JournalVersion {
                tag: planned.from_tag.clone(),
                digest: planned.from_digest.clone(),
            },
            JournalVersion {
                tag: planned.to_tag.clone(),
                digest: None,
            },
            self.now(),
        );
        journal.change = planned.kind.journal();
        journal.owner = Some(lock::this_process());
        self.state.write_journal(&journal)?;
        fault::point(CrashPoint::AfterIntent);

        if let Err(failed) = deployment.hooks.run(pre, &context).await {
            self.state.clear_journal()?;
            outcome.result = OutcomeKind::Failed;
            outcome.message = format!("{failed}; nothing was changed");
            return Ok(outcome);
        }

        journal.advance(Step::Pull);
        self.state.write_journal(&journal)?;
        // What is pulled is what was planned: the tag must still name the planned image,
        // which the target then prepares by its digest.
        if let Some(planned_digest) = &planned.planned_digest
            && let Err(why) = self
                .still_names(&image, &planned.to_tag, planned_digest)
                .await
        {
            self.state.clear_journal()?;
            outcome.result = OutcomeKind::Failed;
            outcome.message = format!("{why}; nothing was changed");
            return Ok(outcome);
        }
        let wanted = Wanted::new(reference.clone(), planned.planned_digest.clone());
        self.reporter.report(&Report::Step {
            service: &service,
            step: ChangeStep::Pulling {
                reference: &wanted.fetch_reference(),
            },
        });
        let reporter = Arc::clone(&self.reporter);
        let progress_service = service.clone();
        let prepared = target
            .prepare(&wanted, &move |progress| {
                reporter.report(&Report::Pull {
                    service: &progress_service,
                    progress: &progress,
                });
            })
            .await;
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                self.state.clear_journal()?;
                outcome.result = OutcomeKind::Failed;
                outcome.message = format!("{}; nothing was changed", chain(&error));
                return Ok(outcome);
            }
        };
        let digest = prepared.digest.clone();
        journal.to.digest.clone_from(&digest);
        planned.to_digest.clone_from(&digest);
        fault::point(CrashPoint::AfterPull);

        journal.advance(Step::KeepPrevious);
        self.state.write_journal(&journal)?;
        let previous = match target.keep_previous().await {
            Ok(previous) => previous,
            Err(error) => {
                self.state.clear_journal()?;
                outcome.result = OutcomeKind::Failed;
                outcome.message = format!(
                    "cannot keep the running image for a rollback ({}); nothing was changed",
                    chain(&error)
                );
                return Ok(outcome);
            }
        };
        journal.previous_image = Some(previous.artifact.clone());
        self.state.write_journal(&journal)?;
        fault::point(CrashPoint::AfterKeep);

        journal.advance(Step::Stop);
        self.state.write_journal(&journal)?;
        self.reporter.report(&Report::Step {
            service: &service,
            step: ChangeStep::Switching {
                target: target.name(),
                reference: &reference,
            },
        });
        match target.switch(&prepared).await {
            Ok(Switched::Started) => {}
            Ok(Switched::RolledBackByItself { why }) => {
                // The target judged the version sick and put the previous one back itself.
                return self
                    .undo_failed(
                        manifest,
                        target.as_ref(),
                        &deployment,
                        None,
                        &planned,
                        why,
                        outcome,
                    )
                    .await;
            }
            Ok(Switched::Refused { why }) => {
                self.state.clear_journal()?;
                outcome.result = OutcomeKind::Failed;
                outcome.message = format!(
                    "{why}; {planned_from} runs as before",
                    planned_from = planned.from_tag
                );
                return Ok(outcome);
            }
            Err(error) if error.engine_unreachable() => {
                return Ok(self.interrupted(outcome, &chain(&error)));
            }
            Err(error) => {
                outcome.result = OutcomeKind::Stranded;
                outcome.message = format!(
                    "{}; {} once the cause is fixed",
                    chain(&error),
                    self.hint(&mut outcome.hints, Hint::Recover)
                );
                return Ok(outcome);
            }
        }
        fault::point(CrashPoint::AfterStart);
        journal.advance(Step::HealthCheck);
        self.state.write_journal(&journal)?;
        self.reporter.report(&Report::Step {
            service: &service,
            step: ChangeStep::CheckingHealth,
        });

        if let Err(unproven) = self.wait_until_healthy(target.as_ref(), &deployment).await {
            let why = match unproven {
                Unproven::Sick(why) => why,
                Unproven::EngineAway(why) => return Ok(self.interrupted(outcome, &why)),
            };
            return self
                .undo_failed(
                    manifest,
                    target.as_ref(),
                    &deployment,
                    Some(&previous),
                    &planned,
                    why,
                    outcome,
                )
                .await;
        }

        journal.advance(Step::Record);
        self.state.write_journal(&journal)?;
        fault::point(CrashPoint::BeforeRecord);
        self.record(manifest, &planned, digest.as_deref())?;
        fault::point(CrashPoint::AfterRecord);
        self.state.clear_journal()?;
        outcome.result = OutcomeKind::Changed;
        outcome.digest = digest;
        outcome.message = format!(
            "{service}: {} -> {} ({}), healthy",
            planned.from_tag,
            planned.to_tag,
            match planned.kind {
                Kind::Update => "update",
                Kind::Pin { custom: true } => "set, custom",
                Kind::Pin { custom: false } => "set",
                Kind::Rollback => "rollback",
                Kind::RollbackTo => "rollback_to",
            }
        );
        if let Err(failed) = deployment.hooks.run(post, &context).await {
            outcome.warnings.push(failed.to_string());
        }
        Ok(outcome)
    }

    /// Records a healthy change in the manifest and `versions.env`.
    pub(super) fn record(
        &self,
        manifest: &mut Manifest,
        planned: &Planned,
        digest: Option<&str>,
    ) -> Result<(), EngineError> {
        let now = self.now();
        match planned.kind {
            Kind::Update | Kind::Pin { custom: false } => {
                manifest.deploy(
                    &planned.service,
                    None,
                    &planned.to_tag,
                    digest,
                    DeployReason::Update,
                    now,
                )?;
                if planned.kind != Kind::Update {
                    manifest.annotate(&planned.service, "set by hand")?;
                }
            }
            Kind::Pin { custom: true } => {
                manifest.pin(&planned.service, &planned.to_tag, digest, now)?;
            }
            Kind::Rollback => {
                manifest.roll_back(&planned.service, now)?;
                if let Some(digest) = digest {
                    let _ = manifest.record_digest(&planned.service, digest);
                }
            }
            Kind::RollbackTo => {
                manifest.roll_back_to(&planned.service, &planned.to_tag, now)?;
                if let Some(digest) = digest {
                    let _ = manifest.record_digest(&planned.service, digest);
                }
            }
        }
        self.save(manifest, now)?;
        Ok(())
    }

    /// The new version is sick: put the previous one back (`None` when the target has already
    /// done so), record the failed attempt.
    #[allow(clippy::too_many_arguments)]
    async fn undo_failed(
        &self,
        manifest: &mut Manifest,
        target: &dyn Target,
        deployment: &Deployment,
        previous: Option<&Previous>,
        planned: &Planned,
        why: String,
        mut outcome: Outcome,
    ) -> Result<Outcome, EngineError> {
        let service = planned.service.to_string();
        self.reporter.report(&Report::Step {
            service: &service,
            step: ChangeStep::RollingBack {
                why: &why,
                to: &planned.from_tag,
            },
        });
        let context = HookContext {
            service: &service,
            from: &planned.to_tag,
            to: &planned.from_tag,
        };
        // An automatic rollback restores service whatever its pre-hook says.
        if let Err(failed) = deployment.hooks.run(HookEvent::PreRollback, &context).await {
            outcome.warnings.push(failed.to_string());
        }
        let restored = match previous {
            Some(previous) => target.restore(previous).await,
            None => Ok(()),
        };
        if let Err(error) = restored {
            if error.engine_unreachable() {
                let why = format!("{why}, and then {}", chain(&error));
                return Ok(self.interrupted(outcome, &why));
            }
            outcome.result = OutcomeKind::Stranded;
            outcome.message = format!(
                "{} -> {} failed ({why}), and putting {} back failed too: {}; {} once the cause is fixed",
                planned.from_tag,
                planned.to_tag,
                planned.from_tag,
                chain(&error),
                self.hint(&mut outcome.hints, Hint::Recover)
            );
            return Ok(outcome);
        }
        if let Err(Unproven::Sick(still) | Unproven::EngineAway(still)) =
            self.wait_until_healthy(target, deployment).await
        {
            outcome.warnings.push(format!(
                "{} runs again but is not healthy either: {still}",
                planned.from_tag
            ));
        }
        let note = format!(
            "{} failed: {why}; rolled back automatically",
            planned.to_tag
        );
        manifest.record_failed_update(
            &planned.service,
            &planned.to_tag,
            planned.to_digest.as_deref(),
            &one_line(&note),
            self.now(),
        )?;
        self.save(manifest, self.now())?;
        self.state.clear_journal()?;
        if let Err(failed) = deployment
            .hooks
            .run(HookEvent::PostRollback, &context)
            .await
        {
            outcome.warnings.push(failed.to_string());
        }
        outcome.result = OutcomeKind::RolledBack;
        outcome.message = format!(
            "{service}: {} -> {} failed: {why}; rolled back to {}, which runs again",
            planned.from_tag, planned.to_tag, planned.from_tag
        );
        Ok(outcome)
    }

    /// Waits until the target runs steadily and every configured check passes, or says
    /// which check failed and how.
    async fn wait_until_healthy(
        &self,
        target: &dyn Target,
        deployment: &Deployment,
    ) -> Result<(), Unproven> {
        let inspect = || async {
            target.health().await.map_err(|error| {
                if error.engine_unreachable() {
                    Unproven::EngineAway(chain(&error))
                } else {
                    Unproven::Sick(chain(&error))
                }
            })
        };
        let health = &deployment.health;
        let patience = health.patience;
        let attempts = patience.attempts.max(1);
        let first = inspect().await?;
        let restarts = first.condition.restarts();
        if health.probes.is_empty() && !health.image_healthcheck {
            // Nothing to ask: give a crash at start the time to show.
            tokio::time::sleep(patience.interval).await;
        }
        let mut last = String::new();
        for attempt in 1..=attempts {
            let state = inspect().await?;
            if let Some(dead) = not_running(target, &state, restarts) {
                return Err(Unproven::Sick(dead));
            }
            let mut passed = true;
            for probe in &health.probes {
                if let Err(reason) = probe.attempt_in(patience.timeout, target).await {
                    last = format!(
                        "health check {} failed after {attempt} attempt{}: {reason}",
                        probe.describe(),
                        if attempt == 1 { "" } else { "s" }
                    );
                    passed = false;
                    break;
                }
            }
            if passed && health.image_healthcheck {
                match state.own_check {
                    Some(OwnCheck::Healthy) => {}
                    Some(OwnCheck::Unhealthy) => {
                        return Err(Unproven::Sick(
                            "the image's HEALTHCHECK reports unhealthy".to_owned(),
                        ));
                    }
                    Some(OwnCheck::Starting) => {
                        last = format!(
                            "the image's HEALTHCHECK is still starting after {attempt} attempts"
                        );
                        passed = false;
                    }
                    None => {
                        return Err(Unproven::Sick("the image has no HEALTHCHECK; remove `image_healthcheck` from upkeep.yaml".to_owned()));
                    }
                }
            }
            if passed {
                // One more look: a container that answered once and then died is not well.
                let state = inspect().await?;
                return match not_running(target, &state, restarts) {
                    Some(dead) => Err(Unproven::Sick(dead)),
                    None => Ok(()),
                };
            }
            if attempt < attempts {
                tokio::time::sleep(patience.interval).await;
            }
        }
        // Probes fail too while the engine restarts; only an engine that answers can say the
        // container is sick.
        inspect().await?;
        Err(Unproven::Sick(last))
    }
}

/// How many digests `resolve` asks for at most per service: the newest versions come first,
/// and a floating tag almost always points at one of them.
const RESOLVE_LOOKUPS: usize = 50;

impl Engine {
    /// Pulls the versions the manifest names, filling in digests it does not know yet.
    pub async fn pull(&self, services: &[String]) -> Result<Vec<Outcome>, EngineError> {
        // A writer: it records digests in the manifest.
        let _lock = self.lock(&describe_change("the pull", services)).await?;
        let mut manifest = self.manifest()?;
        let names = self.select(&manifest, services)?;
        let mut outcomes = Vec::new();
        let mut changed = false;
        for service in names {
            let Some(version) = manifest.service(service.as_str()) else {
                continue;
            };
            let deployment = self.deployment(&service, version.image());
            let reference = version.image_reference();
            let recorded = version.image_digest().map(str::to_owned);
            let mut outcome = Outcome {
                service: service.to_string(),
                from: version.current_tag().to_owned(),
                to: version.current_tag().to_owned(),
                digest: recorded.clone(),
                result: OutcomeKind::Unchanged,
                message: String::new(),
                warnings: Vec::new(),
                hints: Vec::new(),
            };
            let target = self.target_for(&deployment).await?;
            self.reporter.report(&Report::Step {
                service: service.as_str(),
                step: ChangeStep::Pulling {
                    reference: &reference,
                },
            });
            let reporter = Arc::clone(&self.reporter);
            let name = service.to_string();
            let prepared = target
                .prepare(&Wanted::new(reference.clone(), None), &move |progress| {
                    reporter.report(&Report::Pull {
                        service: &name,
                        progress: &progress,
                    });
                })
                .await;
            match prepared {
                Err(error) => {
                    outcome.result = OutcomeKind::Failed;
                    outcome.message = chain(&error);
                }
                Ok(prepared) => {
                    let digest = prepared.digest;
                    outcome.message = format!("pulled {reference}");
                    match (&recorded, &digest) {
                        (None, Some(digest)) => {
                            manifest.record_digest(&service, digest)?;
                            changed = true;
                            outcome.digest = Some(digest.clone());
                        }
                        (Some(recorded), Some(digest)) if recorded != digest => {
                            let update = self.hint(
                                &mut outcome.hints,
                                Hint::Update {
                                    service: service.to_string(),
                                },
                            );
                            outcome.warnings.push(format!(
                                "{reference} now points at {}, not the recorded {}; {update} moves to it",
                                short_digest(digest),
                                short_digest(recorded)
                            ));
                        }
                        _ => {}
                    }
                }
            }
            outcomes.push(outcome);
        }
        if changed {
            self.save(&manifest, self.now())?;
        }
        Ok(outcomes)
    }

    /// For services on a floating tag such as `latest`, finds the version tag with the same
    /// digest and, unless `dry_run`, records it in the manifest in place of the name.
    pub async fn resolve(
        &self,
        services: &[String],
        dry_run: bool,
    ) -> Result<Vec<Resolution>, EngineError> {
        let _lock = if dry_run {
            None
        } else {
            Some(self.lock(&describe_change("the resolve", services)).await?)
        };
        let mut manifest = self.manifest()?;
        let names = self.select(&manifest, services)?;
        let mut resolutions = Vec::new();
        for service in names {
            let Some(version) = manifest.service(service.as_str()) else {
                continue;
            };
            let deployment = self.deployment(&service, version.image());
            let tag = version.current_tag().to_owned();
            let mut resolution = Resolution {
                service: service.to_string(),
                tag: tag.clone(),
                digest: version.image_digest().map(str::to_owned),
                resolved: None,
                recorded: false,
                message: String::new(),
            };
            if deployment.scheme.parse(&tag).is_ok() {
                resolution.message = format!("{tag} is already a version");
                resolutions.push(resolution);
                continue;
            }
            let image = parse_image(version.image())?;
            let registry = self.registries.registry_for(&image).await?;
            let repository = image.repository();
            let wanted = match &resolution.digest {
                Some(digest) => digest.clone(),
                None => registry.resolve_digest(repository, &tag).await?.to_string(),
            };
            resolution.digest = Some(wanted.clone());
            let tags = registry.list_tags(repository).await?;
            let candidates = upkeep_versioning_core::select::newest_first(
                &deployment.scheme,
                tags.iter().map(String::as_str),
            );
            for candidate in candidates.iter().take(RESOLVE_LOOKUPS) {
                let digest = match registry
                    .resolve_digest(repository, candidate.as_str())
                    .await
                {
                    Ok(digest) => digest,
                    Err(error) if matches!(error.kind(), ErrorKind::NotFound { .. }) => continue,
                    Err(error) => return Err(error.into()),
                };
                if digest.as_str() == wanted {
                    resolution.resolved = Some(candidate.as_str().to_owned());
                    break;
                }
            }
            match &resolution.resolved {
                None => {
                    resolution.message = format!(
                        "no version tag among the newest {RESOLVE_LOOKUPS} has the digest {} of {tag}",
                        short_digest(&wanted)
                    );
                }
                Some(found) if dry_run => {
                    resolution.message = format!("{tag} is {found} (dry run: not recorded)");
                }
                Some(found) => {
                    manifest.deploy(
                        &service,
                        None,
                        found,
                        Some(&wanted),
                        DeployReason::Update,
                        self.now(),
                    )?;
                    manifest.annotate(&service, &format!("resolved from {tag} by digest"))?;
                    resolution.recorded = true;
                    resolution.message = format!("{tag} is {found}; recorded");
                }
            }
            resolutions.push(resolution);
        }
        if resolutions.iter().any(|resolution| resolution.recorded) {
            self.save(&manifest, self.now())?;
        }
        Ok(resolutions)
    }
}

/// Why a target did not prove healthy.
enum Unproven {
    /// It failed a check: the version is sick.
    Sick(String),
    /// The engine stopped answering: nothing can be said about the version.
    EngineAway(String),
}

/// Why a target is not running steadily, if it is not.
fn not_running(target: &dyn Target, health: &TargetHealth, restarts_before: i64) -> Option<String> {
    let (noun, name) = (target.noun(), target.name());
    match &health.condition {
        Condition::Running { restarts, .. } if *restarts == restarts_before => None,
        Condition::Running {
            restarts,
            last_exit,
        }
        | Condition::Restarting {
            restarts,
            last_exit,
        } => Some(format!(
            "{noun} {name} keeps restarting (restarted {} times; last exit code {last_exit})",
            restarts - restarts_before,
        )),
        Condition::Exited { code } => Some(format!("{noun} {name} exited with code {code}")),
        Condition::Other { state } => Some(format!("{noun} {name} is {state}, not running")),
    }
}
