//! Recovery: finishing or undoing a change the journal says was cut short.

use upkeep_versioning_core::journal::{self, Observed, Recovery};
use upkeep_versioning_core::manifest::ServiceName;

use crate::lock::{self};
use crate::target::Previous;

use super::change::{Kind, Planned};
use super::{Engine, EngineError, Recovered, RecoveryAction, known_services};

impl Engine {
    /// Finishes or undoes the update the journal records, if one was interrupted.
    pub async fn recover(&self) -> Result<Option<Recovered>, EngineError> {
        // Nothing to do (the common case) needs no lock, and must not wait behind a writer.
        if self.state.read_journal()?.is_none() {
            return Ok(None);
        }
        let _lock = self.lock("recovery").await?;
        // Read again under the lock: the change may have finished meanwhile.
        let Some(entry) = self.state.read_journal()? else {
            return Ok(None);
        };
        // An owner that still runs (and holds no lock: an older upkeep) is making the change
        // now; only this process's own journal, or a dead owner's, is interrupted.
        if let Some(owner) = &entry.owner
            && owner.pid != std::process::id()
            && lock::is_alive(owner)
        {
            return Err(EngineError::ChangeUnderWay {
                service: entry.service,
                from: entry.from.tag,
                to: entry.to.tag,
                owner: lock::describe(owner),
            });
        }
        let mut manifest = self.manifest()?;
        let service = ServiceName::parse(&entry.service)?;
        let image = manifest
            .service(service.as_str())
            .map(|version| version.image().to_owned())
            .ok_or_else(|| EngineError::UnknownService {
                service: entry.service.clone(),
                known: known_services(&manifest),
            })?;
        let deployment = self.deployment(&service, &image);
        let target = self.target_for(&deployment).await?;
        // A switch cut short (a container parked under another name, say) is undone first,
        // so that what runs is one of the two versions.
        let parked = target.undo_interrupted_switch().await?;
        let state = match target.running().await {
            Ok(state) => Some(state),
            Err(error) if error.is_missing() => None,
            Err(error) => return Err(error.into()),
        };
        let from_reference = format!("{image}:{}", entry.from.tag);
        let to_reference = format!("{image}:{}", entry.to.tag);
        let observed = match &state {
            Some(state) if state.health.condition.is_live() => {
                let kept_image = entry.previous_image.as_deref() == Some(state.artifact.as_str());
                // Both versions carry the same reference when a floating tag got a new
                // image: only the image id tells them apart.
                let runs_previous = if from_reference == to_reference {
                    kept_image || entry.previous_image.is_none()
                } else {
                    state.reference == from_reference || kept_image
                };
                if state.reference == to_reference && !runs_previous {
                    Observed::NewRunning
                } else if runs_previous {
                    Observed::PreviousRunning
                } else {
                    Observed::NothingRunning
                }
            }
            _ => Observed::NothingRunning,
        };
        let decision = journal::recover(&entry, observed);
        let step = entry.step;
        let recovered = match decision {
            Recovery::Finish => {
                let digest = entry.to.digest.clone();
                let planned = Planned {
                    service: service.clone(),
                    from_tag: entry.from.tag.clone(),
                    from_digest: entry.from.digest.clone(),
                    to_tag: entry.to.tag.clone(),
                    to_digest: None,
                    planned_digest: None,
                    kind: Kind::from_journal(entry.change),
                };
                let already = manifest
                    .service(service.as_str())
                    .is_some_and(|version| version.current_tag() == entry.to.tag);
                if !already {
                    self.record(&mut manifest, &planned, digest.as_deref())?;
                }
                Recovered {
                    service: entry.service.clone(),
                    step,
                    action: RecoveryAction::Finished,
                    message: format!(
                        "{} had passed its health checks and runs; recorded it in the manifest",
                        entry.to.tag
                    ),
                }
            }
            Recovery::Forget => Recovered {
                service: entry.service.clone(),
                step,
                action: RecoveryAction::Forgotten,
                message: format!(
                    "nothing had been changed; {} runs as before",
                    entry.from.tag
                ),
            },
            Recovery::Undo { reason } => {
                let healthy_previous = observed == Observed::PreviousRunning;
                if !healthy_previous {
                    let previous = Previous::new(
                        from_reference.clone(),
                        entry
                            .previous_image
                            .clone()
                            .unwrap_or_else(|| from_reference.clone()),
                        entry.from.digest.clone(),
                    );
                    if state.is_some() {
                        target.restore(&previous).await?;
                    } else {
                        return Err(EngineError::ContainerGone {
                            service: entry.service.clone(),
                            container: target.name().to_owned(),
                            image: from_reference.clone(),
                        });
                    }
                }
                Recovered {
                    service: entry.service.clone(),
                    step,
                    action: RecoveryAction::Undone,
                    message: format!(
                        "{reason}; {} runs again{}",
                        entry.from.tag,
                        if parked {
                            " (its container was put back)"
                        } else {
                            ""
                        }
                    ),
                }
            }
        };
        self.state.clear_journal()?;
        Ok(Some(recovered))
    }
}
