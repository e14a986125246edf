//! Applies a unit's plan: stage the onboarding credential, send each batch, track every invocation
//! to a final status, and remove the staged secret once nothing runs.

use std::time::{Instant, SystemTime};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterStringFilter;

use super::credential::Credential;
use super::plan::{Batch, PROVISION};
use super::send::{CommandSettings, remove_staged_secret, send, stage_secret, staged_expiry, track};
use crate::aws::describe;
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
            items.push(item(account_id, region, self.staged, Status::Skipped, None, reason));
        } else {
            items.extend(clean_up_staged(self.ssm, account_id, region, self.staged).await);
        }
        items
    }
}

/// Removes what earlier runs staged under `prefix` and left behind (a run that died, or whose
/// commands outlived it): every name whose expiry has passed, and the single fixed name older
/// versions used. Names not yet expired belong to runs still going and are left alone.
pub(crate) async fn sweep_staged(ssm: &Client, account_id: &str, region: &str, prefix: &str) -> Vec<Item> {
    let parent = prefix.rsplit_once('/').map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
    let Ok(filter) = ParameterStringFilter::builder().key("Path").option("Recursive").values(parent).build() else {
        return Vec::new();
    };
    let mut pages = ssm.describe_parameters().parameter_filters(filter).max_results(50).into_paginator().send();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut stale = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                let reason = format!("cannot look for staged onboarding secrets left behind: {}", describe(&e));
                return vec![item(account_id, region, prefix, Status::Failed, None, reason)];
            }
        };
        for name in page.parameters().iter().filter_map(|p| p.name()) {
            let expired = staged_expiry(prefix, name).is_some_and(|expiry| expiry <= now);
            if expired || name == prefix {
                stale.push(name.to_string());
            }
        }
    }
    let mut items = Vec::new();
    for name in stale {
        items.extend(clean_up_staged(ssm, account_id, region, &name).await);
    }
    items
}

/// Removes one staged secret.
pub(crate) async fn clean_up_staged(ssm: &Client, account_id: &str, region: &str, staged: &str) -> Option<Item> {
    match remove_staged_secret(ssm, staged).await {
        Ok(true) => {
            Some(item(account_id, region, staged, Status::Done, None, "staged onboarding secret removed".into()))
        }
        Ok(false) => None,
        Err(reason) => Some(item(account_id, region, staged, Status::Failed, None, reason.to_string())),
    }
}

/// A report item of arc-provisioner.
pub(crate) fn item(
    account_id: &str,
    region: &str,
    resource: &str,
    status: Status,
    outcome: Option<Outcome>,
    reason: String,
) -> Item {
    Item::new(account_id, region, resource, PROVISION, status, reason).with_outcome(outcome)
}
