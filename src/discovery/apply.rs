//! Applies a reconcile plan: one StackSet operation per batch, retried while the StackSet is busy
//! (`OperationInProgressException`, `StaleRequestException`) within the time budget, and waited
//! for (unless managed execution queues operations) so the next batch does not collide.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    AccountFilterType, CallAs, DeploymentTargets, RegionConcurrencyType, StackSetOperationPreferences,
};

use super::plan::STACK_INSTANCE;
use super::plan::{Batch, action};
use super::state::{PermissionModel, StackSet};
use crate::aws::{describe, error_code};
use crate::report::{Item, Status};

/// Reason given to batches still waiting when the budget ran out.
pub const PENDING: &str = "pending: the StackSet stayed busy for the whole invocation; the next reconcile (daily, or the next Organizations event) retries it";

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Create missing instances.
    Create,
    /// Re-deploy unhealthy instances.
    Retry,
    /// Delete instances of departed accounts.
    Remove,
}

impl Kind {
    fn action(self) -> &'static str {
        match self {
            Kind::Create => action::CREATE,
            Kind::Retry => action::RETRY,
            Kind::Remove => action::REMOVE,
        }
    }
}

/// Executes batches against one StackSet.
pub(crate) struct Executor<'a> {
    /// CloudFormation in the StackSet's home region.
    pub cfn: &'a Client,
    /// The StackSet.
    pub stack_set: &'a StackSet,
    /// `CallAs`.
    pub call_as: CallAs,
    /// Plan only.
    pub dry_run: bool,
    /// No operation is started (or waited for) after this.
    pub deadline: Option<Instant>,
    /// First wait between retries of a busy StackSet; doubles up to 32 times this.
    pub backoff: Duration,
}

enum Sent {
    Done(String),
    Failed(String),
    Pending,
}

impl Executor<'_> {
    fn time_left(&self) -> bool {
        self.deadline.is_none_or(|d| Instant::now() < d)
    }

    /// Runs the batches in order and returns one item per (account, region).
    pub(crate) async fn run(&self, kind: Kind, batches: &[Batch]) -> Vec<Item> {
        let mut items = Vec::new();
        for batch in batches {
            let (status, reason) = if self.dry_run {
                (
                    Status::Planned,
                    format!(
                        "would {} ({} accounts, {} regions in one operation)",
                        verb(kind),
                        batch.accounts.len(),
                        batch.regions.len()
                    ),
                )
            } else {
                match self.send_with_retry(kind, batch).await {
                    Sent::Done(op) => (Status::Done, format!("{} by StackSet operation {op}", past(kind))),
                    Sent::Failed(reason) => (Status::Failed, reason),
                    Sent::Pending => (Status::Skipped, PENDING.to_string()),
                }
            };
            for account in &batch.accounts {
                for region in &batch.regions {
                    items.push(Item::new(account, region, STACK_INSTANCE, kind.action(), status, reason.clone()));
                }
            }
        }
        items
    }

    async fn send_with_retry(&self, kind: Kind, batch: &Batch) -> Sent {
        let operation_id = operation_id(kind, batch);
        let mut wait = self.backoff;
        loop {
            if !self.time_left() {
                return Sent::Pending;
            }
            let sent = self.send(kind, batch, &operation_id).await;
            match sent.as_ref().map_err(|(code, reason)| (code.as_deref(), reason)) {
                Ok(op) => return self.wait_for(op.clone()).await,
                Err((Some("OperationInProgressException" | "StaleRequestException"), _)) => {
                    tracing::info!(stack_set = %self.stack_set.name, ?wait, "StackSet busy; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.backoff * 32);
                }
                Err((Some("OperationIdAlreadyExistsException"), _)) => return self.wait_for(operation_id).await,
                Err((_, reason)) => return Sent::Failed(reason.clone()),
            }
        }
    }

    async fn send(&self, kind: Kind, batch: &Batch, operation_id: &str) -> Result<String, (Option<String>, String)> {
        let preferences = StackSetOperationPreferences::builder()
            .region_concurrency_type(RegionConcurrencyType::Parallel)
            .max_concurrent_percentage(100)
            .failure_tolerance_percentage(100)
            .build();
        let service_targets = DeploymentTargets::builder()
            .set_organizational_unit_ids(Some(batch.ous.clone()))
            .set_accounts(Some(batch.accounts.clone()))
            .account_filter_type(AccountFilterType::Intersection)
            .build();
        let self_managed = self.stack_set.model == PermissionModel::SelfManaged;
        let name = &self.stack_set.name;
        let fail = |code: Option<&str>, text: String| {
            (code.map(String::from), format!("cannot {} in StackSet {name}: {text}", verb(kind)))
        };
        let out = match kind {
            Kind::Create => {
                let mut r = self
                    .cfn
                    .create_stack_instances()
                    .stack_set_name(name)
                    .set_regions(Some(batch.regions.clone()))
                    .operation_preferences(preferences)
                    .operation_id(operation_id)
                    .call_as(self.call_as.clone());
                r = if self_managed {
                    r.set_accounts(Some(batch.accounts.clone()))
                } else {
                    r.deployment_targets(service_targets)
                };
                r.send()
                    .await
                    .map(|o| o.operation_id().map(String::from))
                    .map_err(|e| fail(error_code(&e), advise(&describe(&e))))
            }
            Kind::Retry => {
                let mut r = self
                    .cfn
                    .update_stack_instances()
                    .stack_set_name(name)
                    .set_regions(Some(batch.regions.clone()))
                    .operation_preferences(preferences)
                    .operation_id(operation_id)
                    .call_as(self.call_as.clone());
                r = if self_managed {
                    r.set_accounts(Some(batch.accounts.clone()))
                } else {
                    r.deployment_targets(service_targets)
                };
                r.send()
                    .await
                    .map(|o| o.operation_id().map(String::from))
                    .map_err(|e| fail(error_code(&e), advise(&describe(&e))))
            }
            Kind::Remove => self
                .cfn
                .delete_stack_instances()
                .stack_set_name(name)
                .set_regions(Some(batch.regions.clone()))
                .set_accounts(Some(batch.accounts.clone()))
                .retain_stacks(false)
                .operation_preferences(preferences)
                .operation_id(operation_id)
                .call_as(self.call_as.clone())
                .send()
                .await
                .map(|o| o.operation_id().map(String::from))
                .map_err(|e| fail(error_code(&e), advise(&describe(&e)))),
        }?;
        Ok(out.unwrap_or_else(|| operation_id.to_string()))
    }

    /// Waits until the operation ends (unless managed execution queues the next one).
    async fn wait_for(&self, operation_id: String) -> Sent {
        if self.stack_set.managed_execution {
            return Sent::Done(operation_id);
        }
        let mut wait = self.backoff;
        loop {
            let status = self
                .cfn
                .describe_stack_set_operation()
                .stack_set_name(&self.stack_set.name)
                .operation_id(&operation_id)
                .call_as(self.call_as.clone())
                .send()
                .await;
            let status = match status {
                Ok(out) => out.stack_set_operation().and_then(|o| o.status()).map(|s| s.as_str().to_string()),
                Err(e) => {
                    return Sent::Failed(format!(
                        "operation {operation_id} sent; its status is unreadable: {}",
                        describe(&e)
                    ));
                }
            };
            match status.as_deref() {
                Some("SUCCEEDED") | None => return Sent::Done(operation_id),
                Some(s @ ("FAILED" | "STOPPED")) => {
                    return Sent::Failed(format!(
                        "StackSet operation {operation_id} {s}; see ListStackSetOperationResults for each account's reason"
                    ));
                }
                Some(_) if !self.time_left() => return Sent::Done(operation_id),
                Some(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.backoff * 8);
                }
            }
        }
    }
}

/// Adds the remediation to errors users meet without a hint.
fn advise(text: &str) -> String {
    if text.contains("organizations access") || text.contains("trusted access") {
        format!(
            "{text}; activate trusted access: CloudFormation console > StackSets > Enable trusted access, or `aws cloudformation activate-organizations-access`"
        )
    } else {
        text.to_string()
    }
}

/// Same batch in the same minute gives the same id: a retried call is idempotent.
fn operation_id(kind: Kind, batch: &Batch) -> String {
    let mut h = DefaultHasher::new();
    (kind.action(), &batch.accounts, &batch.regions).hash(&mut h);
    let minute =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 60).unwrap_or(0);
    minute.hash(&mut h);
    format!("mdc-connector-{:016x}", h.finish())
}

fn verb(kind: Kind) -> &'static str {
    match kind {
        Kind::Create => "create the missing stack instances",
        Kind::Retry => "re-deploy the unhealthy stack instances",
        Kind::Remove => "delete the departed accounts' stack instances",
    }
}

fn past(kind: Kind) -> &'static str {
    match kind {
        Kind::Create => "created",
        Kind::Retry => "re-deployed",
        Kind::Remove => "deleted",
    }
}
