//! The target of anything a container [`Runtime`] runs: a container, a compose service, a
//! Swarm service. It turns the target's verbs into the runtime's (pull by digest and tag,
//! pin the running image, recreate, inspect) and the runtime's states into a target's.
//!
//! It does not decide anything, and holds no state but the name it drives.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    Condition, OwnCheck, Prepared, Previous, Running, Switched, Target, TargetHealth, Wanted,
};
use crate::error_chain;
use crate::runtime::{
    ContainerState, Exited, Health, PullProgress, ROLLBACK_TAG, RollbackPoint, Runtime,
    RuntimeError, Status, repository,
};

/// One container, compose service or Swarm service, driven through its runtime.
pub struct ContainerTarget {
    runtime: Arc<dyn Runtime>,
    name: String,
    noun: &'static str,
}

impl ContainerTarget {
    /// The thing `runtime` knows as `name`, called a `noun` in messages.
    pub fn new(runtime: Arc<dyn Runtime>, name: impl Into<String>, noun: &'static str) -> Self {
        Self {
            runtime,
            name: name.into(),
            noun,
        }
    }
}

#[async_trait]
impl Target for ContainerTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn noun(&self) -> &'static str {
        self.noun
    }

    async fn running(&self) -> Result<Running, RuntimeError> {
        let state = self.runtime.inspect(&self.name).await?;
        Ok(Running {
            reference: state.image.clone(),
            artifact: state.image_id.clone(),
            digest: state.repo_digest.clone(),
            health: health_of(&state),
        })
    }

    async fn prepare(
        &self,
        version: &Wanted,
        progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<Prepared, RuntimeError> {
        // Pulled by the planned digest, then given the tag the container is made from: what
        // runs is what was planned even if the tag moves meanwhile.
        let pull_reference = version.fetch_reference();
        let pulled = self
            .runtime
            .pull(&self.name, &pull_reference, progress)
            .await?;
        if pull_reference != version.reference {
            self.runtime
                .tag_image(&pulled.id, &version.reference)
                .await?;
        }
        let digest = version
            .digest
            .clone()
            .or_else(|| digest_of(&pulled.repo_digests, &version.reference));
        Ok(Prepared::new(version.reference.clone(), digest))
    }

    async fn keep_previous(&self) -> Result<Previous, RuntimeError> {
        let point = self.runtime.keep_for_rollback(&self.name).await?;
        Ok(Previous::new(
            point.reference,
            point.image_id,
            point.repo_digest,
        ))
    }

    async fn switch(&self, to: &Prepared) -> Result<Switched, RuntimeError> {
        match self.runtime.recreate(&self.name, &to.reference).await {
            Ok(_) => Ok(Switched::Started),
            Err(error @ RuntimeError::Recreate { .. }) => Ok(Switched::Refused {
                why: error_chain(&error),
            }),
            Err(RuntimeError::SwarmRolledBack { message, .. }) => {
                Ok(Switched::RolledBackByItself {
                    why: format!("Swarm rolled it back by itself ({message})"),
                })
            }
            Err(error) => Err(error),
        }
    }

    async fn health(&self) -> Result<TargetHealth, RuntimeError> {
        let state = self.runtime.inspect(&self.name).await?;
        Ok(health_of(&state))
    }

    async fn restore(&self, previous: &Previous) -> Result<(), RuntimeError> {
        let point = RollbackPoint {
            container: self.name.clone(),
            reference: previous.reference.clone(),
            tag: format!("{}:{ROLLBACK_TAG}", repository(&previous.reference)),
            image_id: previous.artifact.clone(),
            repo_digest: previous.digest.clone(),
        };
        self.runtime.restore(&self.name, &point).await.map(drop)
    }

    async fn undo_interrupted_switch(&self) -> Result<bool, RuntimeError> {
        self.runtime.undo_interrupted_recreate(&self.name).await
    }

    async fn run_inside(
        &self,
        command: &[String],
        timeout: Duration,
    ) -> Result<Exited, RuntimeError> {
        self.runtime.exec(&self.name, command, timeout).await
    }
}

/// A container's state as a target's health.
fn health_of(state: &ContainerState) -> TargetHealth {
    let condition = match state.status {
        Status::Running => Condition::Running {
            restarts: state.restart_count,
            last_exit: state.exit_code,
        },
        Status::Restarting => Condition::Restarting {
            restarts: state.restart_count,
            last_exit: state.exit_code,
        },
        Status::Exited | Status::Dead => Condition::Exited {
            code: state.exit_code,
        },
        other => Condition::Other {
            state: other.to_string(),
        },
    };
    TargetHealth {
        condition,
        own_check: state.health.map(|health| match health {
            Health::Starting => OwnCheck::Starting,
            Health::Healthy => OwnCheck::Healthy,
            Health::Unhealthy => OwnCheck::Unhealthy,
        }),
    }
}

/// The registry digest of `reference`'s repository among an image's repo digests.
fn digest_of(repo_digests: &[String], reference: &str) -> Option<String> {
    let repository = repository(reference);
    repo_digests.iter().find_map(|entry| {
        let (name, digest) = entry.split_once('@')?;
        (name == repository).then(|| digest.to_owned())
    })
}
