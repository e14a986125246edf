//! An instance's termination (`EC2 Instance State-change Notification`, `terminated`): with a
//! grace period of 0 its Arc machine (named after the instance by the onboarding scripts'
//! `--resource-name`) is deleted at once, on the sweep's own terms: the instance is looked for in
//! every enabled region of its account (an event naming the wrong region finds it alive elsewhere),
//! the machine must be the one the inventory records for that account and instance, and its agent must have
//! stopped reporting (`Disconnected`/`Expired`: a `Connected` machine is never deleted, whatever the
//! event says). Otherwise the event is reported and the daily sweep, the source of truth, deletes
//! the machine when the grace period has passed.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use super::sweep::{Found, Verdict, judge};
use crate::arc::job::{ArcProvisioner, JOB};
use crate::budget::Budget;
use crate::error::InvocationError;
use crate::report::{Action, Item, Outcome, Report, Status};
use crate::run::{self, FleetJob};

impl ArcProvisioner {
    /// Handles one termination event.
    pub(in crate::arc) async fn terminated(
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
        // Every enabled region, as the sweep reads it: "not in the event's region" is not "ended".
        let ids = BTreeSet::from([instance.to_string()]);
        let found = match self.account_estate(&sessions, account, &ids).await {
            Ok(mut found) => found.remove(instance).unwrap_or(Found::Nowhere),
            Err(failure) => return Ok(answer(Status::Failed, Outcome::Kept, format!("{failure}; nothing deleted"))),
        };
        if let Found::Alive { region: alive_in, .. } = &found {
            let reason = format!("EC2 says the instance is alive in {alive_in}, not terminated: nothing deleted");
            return Ok(answer(Status::Skipped, Outcome::Kept, reason));
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
        // Only a machine the inventory records for this account and instance (tags prove nothing).
        let recorded = match self.inventory.account(account).await {
            Ok(entries) => entries.get(instance).is_some_and(|entry| entry.matches(&machine)),
            Err(failure) => return Ok(answer(Status::Failed, Outcome::Kept, format!("{failure}; nothing deleted"))),
        };
        if !recorded {
            let reason = "the Arc machine of that name is not in this connector's inventory for this account and instance: never touched";
            return Ok(answer(Status::Skipped, Outcome::NotOurs, reason.into()));
        }
        // The sweep's judgement with no grace period: a machine whose agent still reports is kept.
        let (verdict, why) = judge(&machine, &found, SystemTime::now(), Duration::ZERO);
        if verdict != Verdict::Delete {
            return Ok(answer(Status::Skipped, Outcome::Kept, format!("{why}; the sweep deletes it once it stops")));
        }
        if dry_run {
            return Ok(answer(Status::Planned, Outcome::Deleted, format!("would delete: {why}")));
        }
        if let Err(failure) = manager.delete(&machine.id).await {
            return Ok(answer(Status::Failed, Outcome::Kept, format!("cannot delete: {failure}")));
        }
        Ok(match self.inventory.forget(account, instance).await {
            Ok(()) => answer(Status::Done, Outcome::Deleted, format!("deleted: {why}")),
            Err(failure) => {
                answer(Status::Done, Outcome::Deleted, format!("deleted: {why}; its inventory entry stays ({failure})"))
            }
        })
    }
}
