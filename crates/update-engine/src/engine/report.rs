//! What the engine reports while it works: typed [`Report`]s to the [`Reporter`] its caller
//! passes. The CLI draws progress from them, the agent logs them, a library user does what
//! it wants.
//!
//! # What this module does not do
//! It renders nothing but each step's plain words ([`ChangeStep`]'s `Display`), which a
//! frontend may use or replace.

use std::fmt;

use crate::lock::Holder;
use crate::runtime::PullProgress;

use super::{Outcome, PlanEntry, Recovered};

/// Something the engine did or is doing.
#[derive(Debug)]
#[non_exhaustive]
pub enum Report<'a> {
    /// A change of `service` begins a step.
    Step {
        /// The service.
        service: &'a str,
        /// The step.
        step: ChangeStep<'a>,
    },
    /// A pull of `service`'s image made progress.
    Pull {
        /// The service.
        service: &'a str,
        /// How far it is.
        progress: &'a PullProgress,
    },
    /// Another process holds the state directory; the engine waits for it. Reported once
    /// per wait.
    Waiting {
        /// Who holds it.
        holder: &'a Holder,
    },
    /// An interrupted change was finished or undone before anything else.
    Recovered(&'a Recovered),
    /// An update was planned ([`Engine::update`](super::Engine::update)).
    Planned(&'a [PlanEntry]),
    /// A change ended.
    Finished(&'a Outcome),
}

/// A step of a change.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ChangeStep<'a> {
    /// Pulling `reference`.
    Pulling {
        /// What is pulled, `REPOSITORY@DIGEST` or `REPOSITORY:TAG`.
        reference: &'a str,
    },
    /// Switching `target` (a container, a compose service, a Swarm service) to `reference`.
    Switching {
        /// What is switched.
        target: &'a str,
        /// The image it runs next.
        reference: &'a str,
    },
    /// Checking the new version's health.
    CheckingHealth,
    /// The new version is sick: putting `to` back.
    RollingBack {
        /// Why.
        why: &'a str,
        /// The version put back.
        to: &'a str,
    },
}

impl fmt::Display for ChangeStep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pulling { reference } => write!(f, "pulling {reference}"),
            Self::Switching { target, reference } => {
                write!(f, "recreating {target} from {reference}")
            }
            Self::CheckingHealth => f.write_str("checking health"),
            Self::RollingBack { why, to } => write!(f, "{why}; rolling back to {to}"),
        }
    }
}

/// Where the engine's reports go.
pub trait Reporter: Send + Sync {
    /// Takes one report.
    fn report(&self, report: &Report<'_>);
}

/// A reporter that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _report: &Report<'_>) {}
}
