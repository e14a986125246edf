//! Applies a unit's plan: stage the run's credential, send each batch, track every invocation to
//! a final status, and remove the staged copy once nothing runs.

use std::time::{Instant, SystemTime};

use aws_sdk_ssm::Client;

use super::command::{CommandSettings, send, track};
use super::credential::Credential;
use super::plan::{Batch, item};
use super::staging::{clean_up_staged, stage_secret, staged_label};
use crate::error::Failure;
use crate::report::{Item, Outcome, Status};

/// One (account, region) being provisioned.
pub(crate) struct UnitRun<'a> {
    /// Systems Manager in the unit.
    pub ssm: &'a Client,
    /// Account.
    pub account_id: &'a str,
    /// Region.
    pub region: &'a str,
    /// Name of the staged SecureString.
    pub staged: &'a str,
    /// When the staged copy expires by itself.
    pub staged_until: SystemTime,
    /// What every command carries.
    pub settings: CommandSettings<'a>,
    /// When tracking stops.
    pub until: Instant,
}

impl UnitRun<'_> {
    /// Sends `batches` and reports every instance; the run's staged secret is removed once none
    /// of its commands runs (otherwise it expires by itself).
    pub(crate) async fn apply(&self, batches: &[Batch], credential: Result<&Credential, &Failure>) -> Vec<Item> {
        let (account_id, region) = (self.account_id, self.region);
        let every = |status: Status, reason: &str| -> Vec<Item> {
            batches
                .iter()
                .flat_map(|b| b.instance_ids.iter())
                .map(|id| item(account_id, region, id, status, Some(Outcome::Failed), reason.to_string()))
                .collect()
        };
        let staging = match credential {
            Ok(credential) => stage_secret(self.ssm, self.staged, credential, self.staged_until).await,
            Err(e) => Err(e.clone()),
        };
        if let Err(reason) = staging {
            return every(Status::Failed, &reason.to_string());
        }
        let mut items = Vec::new();
        let mut tracking = Vec::new();
        for batch in batches {
            match send(self.ssm, batch, &self.settings).await {
                Ok(command_id) => {
                    let instances = batch.instance_ids.len();
                    tracing::info!(command_id, instances, "command sent");
                    tracking.push((command_id, batch.instance_ids.clone()));
                }
                Err(reason) => {
                    items.extend(batch.instance_ids.iter().map(|id| {
                        item(account_id, region, id, Status::Failed, Some(Outcome::Failed), reason.to_string())
                    }))
                }
            }
        }
        let tracked = futures::future::join_all(
            tracking.iter().map(|(command_id, ids)| track(self.ssm, command_id, ids, self.until)),
        )
        .await;
        let mut still_running = false;
        for outcomes in tracked {
            for (id, outcome) in outcomes {
                still_running |= outcome.name == Outcome::InProgress;
                items.push(item(account_id, region, &id, outcome.status, Some(outcome.name), outcome.reason));
            }
        }
        if still_running {
            let reason = "staged onboarding credential kept while commands run; it expires by itself".to_string();
            items.push(item(account_id, region, &staged_label(self.staged), Status::Skipped, None, reason));
        } else {
            items.extend(clean_up_staged(self.ssm, account_id, region, self.staged).await);
        }
        items
    }
}
