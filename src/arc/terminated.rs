//! An instance's termination (`EC2 Instance State-change Notification`, `terminated`): with a
//! grace period of 0 its Arc machine (named after the instance by the onboarding scripts'
//! `--resource-name`) is deleted at once, once EC2 confirms the end and the machine is this
//! connector's for that account and instance; otherwise the event is reported and the daily sweep,
//! the source of truth, deletes the machine when the grace period has passed.

use std::collections::BTreeSet;

use super::job::{ArcProvisioner, JOB};
use super::sweep::{is_ours, owner};
use super::sweep_run::{ended, instance_states};
use crate::budget::Budget;
use crate::error::InvocationError;
use crate::report::{Action, Item, Outcome, Report, Status};
use crate::run::{self, FleetJob};

impl ArcProvisioner {
    /// Handles one termination event.
    pub(super) async fn terminated(
        &self,
        account: &str,
        region: &str,
        instance: &str,
        dry_run: bool,
        budget: &Budget,
    ) -> Result<Report, InvocationError> {
        let answer = |status: Status, outcome: Outcome, reason: String| {
            let mut item = Item::new(account, region, instance, Action::SweepArcMachine, status, reason);
            item.outcome = Some(outcome);
            Report::new(JOB, dry_run, vec![item], 1, usize::from(status == Status::Failed))
        };
        if let Some(reason) = self.rules().excludes(account, region) {
            return Ok(answer(Status::Skipped, Outcome::Kept, reason.to_string()));
        }
        let grace = self.settings().sweep_grace;
        if !grace.is_zero() {
            let days = grace.as_secs() / 86_400;
            let reason = format!(
                "terminated: the sweep deletes its Arc machine once the agent has been silent for {days} days (ARC_SWEEP_GRACE_DAYS)"
            );
            return Ok(answer(Status::Skipped, Outcome::Kept, reason));
        }
        let sessions = run::sessions(self).await?;
        let mut refused = Vec::new();
        if self.rules().members_only(&sessions, &[account.to_string()], instance, &mut refused).await.is_empty() {
            return Ok(Report::new(JOB, dry_run, refused, 1, 0));
        }
        let ids = BTreeSet::from([instance.to_string()]);
        let state = match sessions.for_account(account).await {
            Ok(session) => instance_states(&session.ec2(region), &ids).await,
            Err(failure) => Err(failure),
        };
        let state: Result<Option<String>, _> = state.map(|s| s.get(instance).cloned());
        match state {
            Ok(Some(state)) if !ended(&state) => {
                let reason = format!("EC2 says the instance is {state}, not terminated: nothing deleted");
                return Ok(answer(Status::Skipped, Outcome::Kept, reason));
            }
            Err(failure) => return Ok(answer(Status::Failed, Outcome::Kept, format!("{failure}; nothing deleted"))),
            Ok(_) => {}
        }
        let manager = match self.resource_manager(budget).await {
            Ok(Some(manager)) => manager,
            Ok(None) => {
                let reason = "the sweep is off (ARC_SWEEP_SERVICE_PRINCIPAL_ID): nothing deleted".to_string();
                return Ok(answer(Status::Skipped, Outcome::Kept, reason));
            }
            Err(failure) => return Ok(answer(Status::Failed, Outcome::Kept, failure.to_string())),
        };
        let machine = match manager.machine(account, instance).await {
            Ok(Some(machine)) => machine,
            Ok(None) => return Ok(answer(Status::Skipped, Outcome::Kept, "no Arc machine of that name".into())),
            Err(failure) => return Ok(answer(Status::Failed, Outcome::Kept, failure.to_string())),
        };
        let connector = &self.settings().target.connector_id;
        let expected = Some((account.to_string(), instance.to_string()));
        if !is_ours(&machine, connector) || owner(&machine) != expected {
            let reason =
                "the Arc machine of that name is not this connector's for this account and instance: never touched";
            return Ok(answer(Status::Skipped, Outcome::Kept, reason.into()));
        }
        if dry_run {
            return Ok(answer(Status::Planned, Outcome::Deleted, "would delete: terminated (grace period 0)".into()));
        }
        Ok(match manager.delete(&machine.id).await {
            Ok(()) => answer(Status::Done, Outcome::Deleted, "deleted: terminated (grace period 0)".into()),
            Err(failure) => answer(Status::Failed, Outcome::Kept, format!("cannot delete: {failure}")),
        })
    }
}
