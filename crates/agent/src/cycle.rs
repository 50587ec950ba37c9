//! One pass of the agent over its deployments.
//!
//! For each deployment the core's planner says what to do (the engine's plan asks
//! [`planner::plan`] for the target, [`planner::cycle`] says when to check and whether to
//! apply or announce, [`planner::gate`] whether the window and the minimum age allow a move
//! now); the agent only carries it out through the engine
//! and records it. In order:
//! 1. `disabled` deployments are not checked at all;
//! 2. a deployment is checked when its last check is older than its interval (or a webhook
//!    asked for it), and the result is stored, so a restart does not check again early;
//! 3. an update the policy allows is applied inside the deployment's window, once the tag
//!    has been known for the minimum age; outside, it is noted and waits;
//! 4. an update the policy does not allow is announced once per version;
//! 5. a failed update is rolled back by the engine, announced loudly, and its version (as
//!    the manifest records it) is never applied again on its own (a newer one is).
//!
//! Before any of it, a change cut short (the agent killed, the Docker Engine gone mid-update)
//! is finished or undone from the engine's journal; until that succeeds nothing is applied.
//!
//! Notifications are sent in the background: a slow target never holds the cycle.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use upkeep_update_engine::engine::{EngineError, OutcomeKind, PlanAction, PlanEntry, PlanRequest};
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::UpdateKind;
use upkeep_versioning_core::manifest::ServiceName;
use upkeep_versioning_core::planner::{self, HoldReason};
use upkeep_versioning_core::planner::{CycleAction, CycleState};
use upkeep_versioning_core::policy::{CheckResult, PolicyConfig};
use upkeep_versioning_core::version::classify;

use crate::config::Schedule;
use crate::notify::Notice;
use crate::store::{Check, Deployment, Event, EventKind, StoreError};

use crate::agent::{Agent, Watched};

/// Why a cycle could not run at all (a deployment's own failures are in its report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CycleError {
    /// The engine could not read its state.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one cycle did for one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Asked the registry; the target found, if any.
    Checked(Option<String>),
    /// Updated to the tag, healthy.
    Applied(String),
    /// The tag failed and was rolled back.
    RolledBack(String),
    /// The tag failed and so did the rollback.
    RollbackFailed(String),
    /// The Docker Engine stopped answering mid-update; the journal keeps the change for
    /// recovery, and the tag is not blamed.
    Interrupted(String),
    /// A change cut short earlier was finished or undone; what was done, in words.
    Recovered(String),
    /// The update could not start; nothing changed.
    Failed(String),
    /// An update is due but waits: outside the window, or the tag is too new. Reported (and
    /// written to the event log) when the wait for that tag and reason begins, not on every
    /// cycle it lasts.
    Waiting(String),
    /// Announced an update the policy leaves to a person.
    Announced(String),
    /// Something went wrong for this deployment; the others went on.
    Error(String),
}

/// What one cycle did, by deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// The steps, in order, as `(deployment, step)`.
    pub steps: Vec<(String, Step)>,
}

impl CycleReport {
    /// The steps of one deployment.
    pub fn of(&self, deployment: &str) -> Vec<&Step> {
        self.steps
            .iter()
            .filter(|(name, _)| name == deployment)
            .map(|(_, step)| step)
            .collect()
    }
}

impl Agent {
    /// One pass over every deployment. `triggered` are deployments a webhook asked to check
    /// now, whatever their interval.
    pub async fn cycle(&self, triggered: &BTreeSet<String>) -> Result<CycleReport, CycleError> {
        // While a change cut short cannot be recovered (the Docker Engine is still away), the
        // engine refuses new changes; checks and announcements go on.
        let mut report = CycleReport {
            steps: self.recover_interrupted().await,
        };
        for watched in self.watched() {
            if watched.engine.config().deployments.is_empty() {
                continue;
            }
            // One project's broken manifest does not stop the others.
            let manifest = match watched.engine.shared_manifest() {
                Ok(manifest) => manifest,
                Err(error) => {
                    report.steps.push((
                        watched.describe(),
                        Step::Error(upkeep_update_engine::error_chain(&error)),
                    ));
                    continue;
                }
            };
            for (service, deployment) in &watched.engine.config().deployments {
                let id = watched.id(service.as_str());
                let Some(version) = manifest.service(service.as_str()) else {
                    report.steps.push((
                        id,
                        Step::Error(format!(
                            "not in the manifest of {}; the agent adds containers when it starts, `upkeep init` adds a project's services",
                            watched.engine.state().manifest_path().display()
                        )),
                    ));
                    continue;
                };
                // Rule 1: a disabled deployment is never checked.
                if !deployment.policy.is_checked() {
                    continue;
                }
                let record = watched.record(id.clone(), version, deployment.policy);
                let schedule = self.schedule_of(&watched, service);
                let checked_now = triggered.contains(&id);
                if let Err(error) = self
                    .one(
                        &watched,
                        service,
                        &record,
                        &schedule,
                        checked_now,
                        &mut report,
                    )
                    .await
                {
                    report.steps.push((id, Step::Error(error.to_string())));
                }
            }
        }
        // The check history would otherwise grow by every deployment every interval.
        let keep = TimeDelta::from_std(self.config.keep_checks).unwrap_or(TimeDelta::MAX);
        if let Some(before) = self.clock.now().checked_sub_signed(keep) {
            match self.store.prune_checks(before).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, %before, "pruned old check records"),
                Err(error) => report
                    .steps
                    .push(("check history".to_owned(), Step::Error(error.to_string()))),
            }
        }
        Ok(report)
    }

    /// When `service` may be checked and updated: the file's schedule, else its container
    /// labels'; a project's for all its services.
    fn schedule_of(&self, watched: &Watched, service: &ServiceName) -> Schedule {
        if let Some(project) = &watched.project {
            return self
                .config
                .projects
                .get(project)
                .map(|project| project.schedule.clone())
                .unwrap_or_default();
        }
        let labelled = self
            .labelled_schedules
            .read()
            .ok()
            .and_then(|schedules| schedules.get(service).cloned());
        self.config
            .schedules
            .get(service)
            .cloned()
            .or(labelled)
            .unwrap_or_default()
    }

    async fn one(
        &self,
        watched: &Watched,
        service: &ServiceName,
        record: &Deployment,
        schedule: &Schedule,
        triggered: bool,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let now = self.clock.now();
        let id = record.id.as_str();
        self.store.upsert_deployment(record, now).await?;
        // Each deployment's checks fall at its own offset within the jitter, so that many
        // deployments do not ask the registries at the same moment.
        let interval =
            schedule.interval.unwrap_or(self.config.interval) + jitter(id, self.config.jitter);
        let policy = PolicyConfig::new(
            record.policy,
            TimeDelta::from_std(interval).unwrap_or(TimeDelta::hours(1)),
        )
        .unwrap_or_else(|_| PolicyConfig::from(record.policy));
        let last = self.store.last_check(id).await?;
        let mut state = CycleState::new(record.current_tag.clone());
        state.last_check = last
            .as_ref()
            .filter(|_| !triggered)
            .map(|check| check.result.checked_at);
        // The versions that failed, from the one store of them: the manifest the engine
        // records each rollback in.
        let failed: Vec<(String, Option<String>)> = watched
            .engine
            .shared_manifest()?
            .service(service.as_str())
            .map(|version| {
                version
                    .failed_versions()
                    .map(|(tag, digest)| (tag.to_owned(), digest.map(str::to_owned)))
                    .collect()
            })
            .unwrap_or_default();
        let mut latest_digest = last.as_ref().and_then(|check| check.target_digest.clone());
        state.skipped = planner::skipped_tags(
            &failed,
            last.as_ref()
                .and_then(|check| check.result.target.as_deref()),
            latest_digest.as_deref(),
        );
        if triggered {
            // A push notification: the cached tag list predates it.
            watched.engine.forget_cached(service.as_str()).await?;
        }
        let mut latest = last.map(|check| check.result);
        let mut decided = planner::cycle(&state, &policy, latest.as_ref(), now);
        let mut newest = None;
        if decided.action == Some(CycleAction::Check) {
            let (result, newest_found, digest) = self.check(watched, service, record, now).await?;
            newest = newest_found;
            report
                .steps
                .push((id.to_owned(), Step::Checked(result.target.clone())));
            state.last_check = Some(now);
            state.skipped =
                planner::skipped_tags(&failed, result.target.as_deref(), digest.as_deref());
            latest_digest = digest;
            latest = Some(result);
            decided = planner::cycle(&state, &policy, latest.as_ref(), now);
        }
        if let Some(action) = decided.action {
            match action {
                CycleAction::Apply { target, kind } => {
                    let Some(step) = self
                        .apply(
                            watched,
                            service,
                            record,
                            schedule,
                            (&target, latest_digest.as_deref()),
                            kind,
                            now,
                        )
                        .await?
                    else {
                        // A wait already reported goes on.
                        return Ok(());
                    };
                    if step == Step::Applied(target.clone()) {
                        // What the registry said still holds for the new tag until the
                        // interval has passed: record it, so the next cycle does not ask again.
                        let checked_at = latest.as_ref().map_or(now, |result| result.checked_at);
                        self.record_after_update(
                            watched,
                            service,
                            id,
                            &target,
                            newest.as_deref(),
                            checked_at,
                        )
                        .await?;
                    }
                    report.steps.push((id.to_owned(), step));
                }
                CycleAction::Announce { target, kind } => {
                    let notice = Notice::update_available(
                        id,
                        &record.image,
                        &record.current_tag,
                        &target,
                        kind,
                        schedule
                            .release_notes
                            .as_ref()
                            .map(|notes| notes.link(&target)),
                        now,
                    );
                    if self.announce(notice, now).await? {
                        report.steps.push((id.to_owned(), Step::Announced(target)));
                    }
                }
                // Checked above; a failed update is rolled back by the engine itself, within
                // `apply`.
                _ => {}
            }
        }
        Ok(())
    }

    /// Records the check made before an update as if made for the new tag: the newest
    /// eligible version it found is the target from there, when it is newer.
    async fn record_after_update(
        &self,
        watched: &Watched,
        service: &ServiceName,
        id: &str,
        applied: &str,
        newest: Option<&str>,
        checked_at: Timestamp,
    ) -> Result<(), CycleError> {
        let scheme = watched
            .engine
            .config()
            .deployments
            .get(service)
            .map(|deployment| deployment.scheme.clone())
            .unwrap_or_default();
        let onward = newest
            .filter(|newest| *newest != applied)
            .map(|newest| (newest.to_owned(), classify(applied, newest, &scheme)))
            .filter(|(_, kind)| !matches!(kind, UpdateKind::None | UpdateKind::Downgrade));
        let result = CheckResult {
            checked_at,
            current_tag: applied.to_owned(),
            kind: onward.as_ref().map_or(UpdateKind::None, |(_, kind)| *kind),
            target: onward.map(|(tag, _)| tag),
        };
        self.store
            .record_check(
                id,
                &Check {
                    result,
                    target_digest: None,
                    error: None,
                },
            )
            .await?;
        Ok(())
    }

    /// Asks the registry through the engine's plan and stores the result; also returns the
    /// newest eligible version under the configured constraints.
    async fn check(
        &self,
        watched: &Watched,
        service: &ServiceName,
        record: &Deployment,
        now: Timestamp,
    ) -> Result<(CheckResult, Option<String>, Option<String>), CycleError> {
        let entries = watched
            .engine
            .plan(&PlanRequest {
                services: vec![service.to_string()],
                ..PlanRequest::default()
            })
            .await?;
        let entry = entries.into_iter().next();
        let newest = entry.as_ref().and_then(|entry| entry.newest.clone());
        let target_digest = entry.as_ref().and_then(|entry| entry.target_digest.clone());
        let (target, kind, error) = match &entry {
            // To apply or to announce: `planner::cycle` tells which by the policy.
            Some(PlanEntry {
                action: PlanAction::Update | PlanAction::Hold,
                target: Some(target),
                kind,
                ..
            }) => (Some(target.clone()), *kind, None),
            Some(PlanEntry {
                action: PlanAction::Unknown,
                why,
                ..
            }) => (None, UpdateKind::None, Some(why.clone())),
            _ => (None, UpdateKind::None, None),
        };
        let result = CheckResult {
            checked_at: now,
            current_tag: record.current_tag.clone(),
            target,
            kind,
        };
        self.store
            .record_check(
                &record.id,
                &Check {
                    result: result.clone(),
                    target_digest: target_digest.clone(),
                    error,
                },
            )
            .await?;
        Ok((result, newest, target_digest))
    }

    /// Applies `target` when the window and the minimum age allow, and tells people. `None`
    /// while a wait already reported goes on.
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        watched: &Watched,
        service: &ServiceName,
        record: &Deployment,
        schedule: &Schedule,
        (target, checked_digest): (&str, Option<&str>),
        kind: UpdateKind,
        now: Timestamp,
    ) -> Result<Option<Step>, CycleError> {
        let id = record.id.as_str();
        // Whether the window and the minimum age let the move be made by itself is the
        // planner's to say; the image the age counts for is the one checked.
        if let Some((key, why)) = self
            .held_by_schedule(record, schedule, target, kind, checked_digest, now)
            .await?
        {
            return self.wait(now, record, target, key, why).await;
        }
        let Some(_one_at_a_time) = self.change_slot().await else {
            let why = format!(
                "another change is still under way after {} s; {target} is applied in a later cycle",
                self.change_wait.as_secs()
            );
            return self
                .wait(now, record, target, "change_under_way", why)
                .await;
        };
        let plan = watched
            .engine
            .plan(&PlanRequest {
                services: vec![service.to_string()],
                to: Some(target.to_owned()),
                latest: false,
            })
            .await?;
        // The image the minimum age was counted for must be the one applied: a tag pushed
        // again since the check names another image, whose own age counts.
        let planned_digest = plan.first().and_then(|entry| entry.target_digest.clone());
        if let (Some(checked), Some(planned)) = (checked_digest, planned_digest.as_deref())
            && checked != planned
            && self
                .held_by_schedule(record, schedule, target, kind, Some(planned), now)
                .await?
                .is_some()
        {
            let why = format!(
                "{target} names another image than when it was checked; it is applied once that image is old enough"
            );
            return self.wait(now, record, target, "pushed_again", why).await;
        }
        let outcomes = watched.engine.apply(&plan, false).await?;
        let Some(outcome) = outcomes.into_iter().next() else {
            return Ok(Some(Step::Error(format!(
                "{target} was not applied: {plan:?}"
            ))));
        };
        let (step, notice, event_kind) = match outcome.result {
            OutcomeKind::Changed => (
                Step::Applied(target.to_owned()),
                Some(Notice::update_applied(
                    id,
                    &record.image,
                    &record.current_tag,
                    target,
                    kind,
                    now,
                )),
                EventKind::Applied,
            ),
            // The engine has recorded the failed version in the manifest, which later plans
            // (this agent's, the CLI's, the API's) skip.
            OutcomeKind::RolledBack => (
                Step::RolledBack(target.to_owned()),
                Some(Notice::update_rolled_back(
                    id,
                    &record.image,
                    &record.current_tag,
                    target,
                    kind,
                    &outcome.message,
                    now,
                )),
                EventKind::RolledBack,
            ),
            OutcomeKind::Stranded => (
                Step::RollbackFailed(target.to_owned()),
                Some(Notice::rollback_failed(
                    id,
                    &record.image,
                    &record.current_tag,
                    target,
                    kind,
                    &outcome.message,
                    now,
                )),
                EventKind::RollbackFailed,
            ),
            // Not the tag's fault: the journal keeps the change, and the next cycle (or the
            // next start) recovers it once the engine answers.
            OutcomeKind::Interrupted => (
                Step::Interrupted(target.to_owned()),
                None,
                EventKind::Interrupted,
            ),
            _ => (
                Step::Failed(outcome.message.clone()),
                None,
                EventKind::Failed,
            ),
        };
        self.record_current(id).await?;
        self.event(now, id, event_kind, record, target, &outcome.message)
            .await?;
        if let Some(mut notice) = notice {
            notice.release_notes = schedule
                .release_notes
                .as_ref()
                .map(|notes| notes.link(target));
            self.announce(notice, now).await?;
        }
        Ok(Some(step))
    }

    /// Asks the planner whether `schedule` holds the move to `target` (the image `digest`)
    /// now; if so, the wait's key and why, in words.
    async fn held_by_schedule(
        &self,
        record: &Deployment,
        schedule: &Schedule,
        target: &str,
        kind: UpdateKind,
        digest: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<(&'static str, String)>, CycleError> {
        if schedule.window.is_none() && schedule.min_age.is_none() {
            return Ok(None);
        }
        // Counted from the first sighting of this image under the tag: a tag pushed again
        // with other content starts the clock again.
        let first_seen = if schedule.min_age.is_some() {
            self.store.first_seen(&record.id, target, digest).await?
        } else {
            None
        };
        let moving = planner::Plan {
            newest: Some((target.to_owned(), kind)),
            decision: planner::Decision::Move {
                target: target.to_owned(),
                kind,
                digest: digest.map(str::to_owned),
                reason: planner::MoveReason::Policy { waiting: None },
            },
            skipped: Vec::new(),
        };
        let gated = planner::gate(
            moving,
            &planner::Schedule {
                window: schedule.window.as_ref(),
                min_age: schedule
                    .min_age
                    .map(|age| TimeDelta::from_std(age).unwrap_or(TimeDelta::MAX)),
            },
            first_seen,
            now,
        );
        Ok(match gated.decision {
            planner::Decision::Hold {
                reason: HoldReason::OutsideWindow { opens },
                ..
            } => {
                let window = schedule
                    .window
                    .as_ref()
                    .map(|window| window.describe())
                    .unwrap_or_default();
                let opens = opens.map_or_else(
                    || "; it does not open within four years".to_owned(),
                    |opens| format!(" (it opens at {})", opens.format("%Y-%m-%d %H:%M UTC")),
                );
                Some((
                    "window",
                    format!(
                        "{} -> {target} waits for the update window {window}{opens}",
                        record.current_tag
                    ),
                ))
            }
            planner::Decision::Hold {
                reason: HoldReason::TooNew { seen, until },
                ..
            } => Some((
                "min_age",
                format!(
                    "{target} is known for {} min; it is applied once it is {} min old",
                    now.signed_duration_since(seen).num_minutes(),
                    until.signed_duration_since(seen).num_minutes()
                ),
            )),
            _ => None,
        })
    }

    /// Notes that the update to `target` waits for `reason`: in the event log and the report
    /// once per (deployment, target, reason), since the daemon decides every tick and a
    /// window can be a day away.
    async fn wait(
        &self,
        now: Timestamp,
        record: &Deployment,
        target: &str,
        reason: &str,
        why: String,
    ) -> Result<Option<Step>, CycleError> {
        let id = record.id.as_str();
        // The ledger of announcements doubles as the ledger of waits; notices' keys end in
        // their kind (`update_available`, ...), so these cannot collide with them.
        let key = format!("{id}|{target}|waiting_for_{reason}");
        if !self.store.mark_notified(&key, now).await? {
            return Ok(None);
        }
        self.event(now, id, EventKind::Waiting, record, target, &why)
            .await?;
        Ok(Some(Step::Waiting(why)))
    }

    async fn event(
        &self,
        now: Timestamp,
        id: &str,
        kind: EventKind,
        record: &Deployment,
        target: &str,
        message: &str,
    ) -> Result<(), CycleError> {
        self.store
            .append_event(&Event {
                at: now,
                deployment: Some(id.to_owned()),
                kind,
                from_tag: Some(record.current_tag.clone()),
                to_tag: Some(target.to_owned()),
                message: message.to_owned(),
            })
            .await?;
        Ok(())
    }

    /// Sends `notice` once per (deployment, version, event), in the background. True when it
    /// was not sent before.
    async fn announce(&self, notice: Notice, now: Timestamp) -> Result<bool, CycleError> {
        if !self.store.mark_notified(&notice.dedup_key(), now).await? {
            return Ok(false);
        }
        if let Some(notifier) = &self.notifier {
            let notifier = notifier.clone();
            let metrics = self.metrics.clone();
            let handle = tokio::spawn(async move {
                let deliveries = notifier.send(&notice).await;
                if let Some(metrics) = metrics {
                    for delivery in deliveries {
                        if delivery.ok {
                            metrics.notifications_sent.inc();
                        } else {
                            metrics.notifications_failed.inc();
                        }
                    }
                }
            });
            if let Ok(mut sending) = self.sending.lock() {
                sending.retain(|handle| !handle.is_finished());
                sending.push(handle);
            }
        }
        Ok(true)
    }
}

/// A fixed offset in `0..jitter` for deployment `id`: the same across cycles and restarts
/// (FNV-1a of the name), different between deployments.
fn jitter(id: &str, jitter: std::time::Duration) -> std::time::Duration {
    let millis = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return std::time::Duration::ZERO;
    }
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    std::time::Duration::from_millis(hash % millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_stable_per_deployment_and_within_bounds() {
        let spread = std::time::Duration::from_secs(300);
        let offsets: Vec<_> = (0..50)
            .map(|n| jitter(&format!("web-{n}"), spread))
            .collect();
        assert!(offsets.iter().all(|offset| *offset < spread));
        assert_eq!(jitter("web-1", spread), offsets[1]);
        let distinct: BTreeSet<_> = offsets.iter().collect();
        assert!(distinct.len() > 40, "spread out: {distinct:?}");
        assert_eq!(
            jitter("web", std::time::Duration::ZERO),
            std::time::Duration::ZERO
        );
    }
}
