//! One update end to end, as a frontend asks for it: recover what was cut short, plan, let
//! the caller approve the plan, apply it, and report each part.

use serde::Serialize;

use super::{Engine, EngineError, Outcome, PlanAction, PlanEntry, PlanRequest, Recovered, Report};

/// Whether the caller lets a plan go ahead, having seen it.
pub type Approval<'a> = dyn Fn(&[PlanEntry]) -> bool + Send + Sync + 'a;

/// What to update.
#[derive(Default)]
#[non_exhaustive]
pub struct UpdateRequest<'a> {
    /// The services, the target and the overrides.
    pub plan: PlanRequest,
    /// Reports what would happen and touches nothing (no recovery either).
    pub dry_run: bool,
    /// Asked once the plan holds at least one move; `false` stops before anything changes.
    /// `None` approves every plan.
    pub approve: Option<&'a Approval<'a>>,
}

impl<'a> UpdateRequest<'a> {
    /// An update of what `plan` asks for.
    pub fn new(plan: PlanRequest) -> Self {
        Self {
            plan,
            ..Self::default()
        }
    }

    /// Only reports what would happen.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Lets `approve` see the plan before anything changes.
    pub fn approve(mut self, approve: &'a Approval<'a>) -> Self {
        self.approve = Some(approve);
        self
    }
}

/// How an update went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UpdateReport {
    /// The change cut short earlier that was finished or undone first, if any.
    pub recovered: Option<Recovered>,
    /// The plan.
    pub plan: Vec<PlanEntry>,
    /// Whether the plan was approved; nothing changed when it was not.
    pub approved: bool,
    /// How each change went.
    pub outcomes: Vec<Outcome>,
}

impl Engine {
    /// Recovers an interrupted change, plans `request`, asks the caller to approve a plan
    /// that moves anything, and applies it; every part goes to the reporter too.
    pub async fn update(&self, request: &UpdateRequest<'_>) -> Result<UpdateReport, EngineError> {
        let recovered = if request.dry_run {
            None
        } else {
            self.recover().await?
        };
        if let Some(recovered) = &recovered {
            self.reporter.report(&Report::Recovered(recovered));
        }
        let plan = self.plan(&request.plan).await?;
        self.reporter.report(&Report::Planned(&plan));
        let moves = plan.iter().any(|entry| entry.action == PlanAction::Update);
        let approved =
            !moves || request.dry_run || request.approve.is_none_or(|approve| approve(&plan));
        let outcomes = if approved {
            self.apply(&plan, request.dry_run).await?
        } else {
            Vec::new()
        };
        Ok(UpdateReport {
            recovered,
            plan,
            approved,
            outcomes,
        })
    }
}
