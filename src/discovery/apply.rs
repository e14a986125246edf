//! Applies a reconcile plan: one StackSet operation per batch, retried while the StackSet is busy
//! (`OperationInProgressException`, `StaleRequestException`) within the time budget, and waited
//! for (unless managed execution queues operations) so the next batch does not collide.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use crate::budget::Budget;
use crate::error::Failure;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    AccountFilterType, CallAs, DeploymentTargets, RegionConcurrencyType, StackSetOperationPreferences,
};

use super::plan::STACK_INSTANCE;
use super::plan::{Batch, action};
use super::state::{PermissionModel, StackSet};
use crate::aws::{describe, error_code};
use crate::report::{Action, Cause, Item, STACK_INSTANCE_CAUSE, Status};

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
    /// Delete every instance, stacks included (the deploy's teardown).
    Teardown,
}

impl Kind {
    fn action(self) -> Action {
        match self {
            Kind::Create => action::CREATE,
            Kind::Retry => action::RETRY,
            Kind::Remove | Kind::Teardown => action::REMOVE,
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
    pub(crate) budget: &'a Budget,
    /// First wait between retries of a busy StackSet; doubles up to 32 times this.
    pub backoff: Duration,
}

/// What sending one batch gave.
enum Sent {
    /// The operation was accepted: its id.
    Operation(String),
    /// It was refused: the cause in the item's code (`aws:<code>`), and why.
    Failed(String, String),
    /// The StackSet stayed busy until the budget ended.
    Pending,
}

/// How an operation ended, as far as this invocation saw.
enum Ended {
    /// Finished (`SUCCEEDED`, `FAILED` or `STOPPED`): its per-instance results are final.
    Finished,
    /// Still queued or running when the budget ended.
    Running,
    /// Its status could not be read.
    Unreadable(Failure),
}

/// One (account, region) result of an operation: `ListStackSetOperationResults`.
type Results = HashMap<(String, String), (String, String)>;

/// What happened to one (account, region) of an operation.
enum Verdict {
    /// A final (or planned) outcome.
    Is(Status, String),
    /// Failed: why, and the cause in the item's code.
    Failed(String, String),
    /// StackSet work not finished yet: reported `skipped`, counted, checked again later.
    Pending(String),
}

/// The items of a run of batches, how many (account, region) are still pending, and where each
/// account's onboarding (create or re-deploy) stands.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// One item per (account, region).
    pub(crate) items: Vec<Item>,
    /// Items whose StackSet work is still pending.
    pub(crate) pending: usize,
    /// Onboarding outcomes per account.
    pub(crate) onboarding: Onboarding,
}

impl Applied {
    pub(crate) fn extend(&mut self, other: Applied) {
        self.items.extend(other.items);
        self.pending += other.pending;
        self.onboarding.merge(other.onboarding);
    }
}

/// Where the onboarding (create or re-deploy) of each account stands after this invocation's
/// operations: typed, so records and hand-offs never depend on reason text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Onboarding {
    /// Per account, the operation that succeeded and the regions it succeeded in.
    pub(crate) succeeded: BTreeMap<String, (String, BTreeSet<String>)>,
    /// Accounts with a region that failed or whose work could not even start.
    pub(crate) unfinished: BTreeSet<String>,
    /// Accounts whose operation was still running when the invocation's budget ended: account →
    /// operation. A re-check carries them, so whichever invocation sees them `CURRENT` reports them.
    pub(crate) awaiting: BTreeMap<String, String>,
}

impl Onboarding {
    fn merge(&mut self, other: Onboarding) {
        for (account, (op, regions)) in other.succeeded {
            let entry = self.succeeded.entry(account).or_insert((op, BTreeSet::new()));
            entry.1.extend(regions);
        }
        self.unfinished.extend(other.unfinished);
        self.awaiting.extend(other.awaiting);
    }

    /// Accounts onboarded in every region this invocation worked on: account → (operation, regions).
    pub(crate) fn onboarded(&self) -> BTreeMap<String, (String, BTreeSet<String>)> {
        let settled = |a: &String| !self.unfinished.contains(a) && !self.awaiting.contains_key(a);
        self.succeeded.iter().filter(|(a, _)| settled(a)).map(|(a, v)| (a.clone(), v.clone())).collect()
    }

    /// Records an (account, region) outcome of `kind`'s operation `op`.
    fn note(&mut self, kind: Kind, op: Option<&str>, account: &str, region: &str, verdict: &Verdict) {
        if !matches!(kind, Kind::Create | Kind::Retry) {
            return;
        }
        match (verdict, op) {
            (Verdict::Is(Status::Done, _), Some(op)) => {
                let entry = self.succeeded.entry(account.to_string()).or_insert((op.to_string(), BTreeSet::new()));
                entry.1.insert(region.to_string());
            }
            (Verdict::Is(Status::Planned, _), _) => {}
            (Verdict::Pending(_), Some(op)) => {
                self.awaiting.insert(account.to_string(), op.to_string());
            }
            _ => {
                self.unfinished.insert(account.to_string());
            }
        }
    }
}

impl Executor<'_> {
    /// Runs the batches in order and returns one item per (account, region), each with its own
    /// outcome. An operation is `SUCCEEDED` unless its failure tolerance was exceeded (this one
    /// tolerates every failure), so the per-instance results are the truth: `StackSetOperation
    /// ResultSummary` "FAILED: The operation in the specified account and Region failed."
    pub(crate) async fn run(&self, kind: Kind, batches: &[Batch]) -> Applied {
        let mut items = Applied::default();
        if self.dry_run {
            for batch in batches {
                let reason = format!(
                    "would {} ({} accounts, {} regions in one operation)",
                    verb(kind),
                    batch.accounts.len(),
                    batch.regions.len()
                );
                items.extend(each(kind, batch, None, |_, _| Verdict::Is(Status::Planned, reason.clone())));
            }
            return items;
        }
        // Without managed execution one operation runs at a time: wait for each before the
        // next. With it, StackSets queues them: send all, then wait.
        let mut sent: Vec<(&Batch, Sent, Option<Ended>)> = Vec::new();
        for batch in batches {
            let outcome = self.send_with_retry(kind, batch).await;
            let ended = match (&outcome, self.stack_set.managed_execution) {
                (Sent::Operation(op), false) => Some(self.wait_for(op).await),
                _ => None,
            };
            sent.push((batch, outcome, ended));
        }
        for (batch, outcome, ended) in sent {
            let op = match outcome {
                Sent::Operation(op) => op,
                Sent::Failed(cause, reason) => {
                    let failed = |_: &str, _: &str| Verdict::Failed(reason.clone(), cause.clone());
                    items.extend(each(kind, batch, None, failed));
                    continue;
                }
                Sent::Pending => {
                    items.extend(each(kind, batch, None, |_, _| Verdict::Pending(PENDING.to_string())));
                    continue;
                }
            };
            let ended = match ended {
                Some(ended) => ended,
                None => self.wait_for(&op).await,
            };
            let results = match ended {
                Ended::Finished => self.results(&op).await,
                Ended::Running => {
                    let reason = format!(
                        "pending: StackSet operation {op} is still RUNNING when the invocation's budget ended; the next reconcile checks it"
                    );
                    items.extend(each(kind, batch, Some(&op), |_, _| Verdict::Pending(reason.clone())));
                    continue;
                }
                Ended::Unreadable(reason) => Err(reason),
            };
            items.extend(each(kind, batch, Some(&op), |account, region| match &results {
                Err(reason) => Verdict::Is(Status::Failed, format!("operation {op} sent; {reason}")),
                Ok(results) => outcome_of(kind, &op, results.get(&(account.to_string(), region.to_string()))),
            }));
        }
        items
    }

    async fn send_with_retry(&self, kind: Kind, batch: &Batch) -> Sent {
        let operation_id = operation_id(kind, batch);
        let mut wait = self.backoff;
        loop {
            if self.budget.spent() {
                return Sent::Pending;
            }
            let sent = self.send(kind, batch, &operation_id).await;
            match sent.as_ref().map_err(|(code, reason)| (code.as_deref(), reason)) {
                Ok(op) => return Sent::Operation(op.clone()),
                Err((Some("OperationInProgressException" | "StaleRequestException"), _)) => {
                    tracing::info!(stack_set = %self.stack_set.name, ?wait, "StackSet busy; retrying");
                    self.budget.sleep(wait).await;
                    wait = (wait * 2).min(self.backoff * 32);
                }
                Err((Some("OperationIdAlreadyExistsException"), _)) => return Sent::Operation(operation_id),
                Err((code, reason)) => {
                    let cause = code.map_or_else(|| Cause::AwsCallFailed.into(), |c| format!("aws:{c}"));
                    return Sent::Failed(cause, reason.clone());
                }
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
        // Every operation: its regions, preferences, id and CallAs, then the accounts (self-managed)
        // or the OUs filtered to the accounts (service-managed), sent.
        macro_rules! targeted {
            ($request:expr) => {{
                let r = $request
                    .stack_set_name(name)
                    .set_regions(Some(batch.regions.clone()))
                    .operation_preferences(preferences)
                    .operation_id(operation_id)
                    .call_as(self.call_as.clone());
                let r = if self_managed {
                    r.set_accounts(Some(batch.accounts.clone()))
                } else {
                    r.deployment_targets(service_targets)
                };
                r.send()
                    .await
                    .map(|o| o.operation_id().map(String::from))
                    .map_err(|e| fail(error_code(&e), advise(&describe(&e))))
            }};
        }
        let out = match kind {
            Kind::Create => targeted!(self.cfn.create_stack_instances()),
            Kind::Retry => targeted!(self.cfn.update_stack_instances()),
            // Departed accounts (self-managed only): the stack (the instance role and profile live
            // instances use) stays in the account, only detached from the StackSet. Teardown: the
            // stacks go too (the member template retains the instance role and profile).
            Kind::Remove | Kind::Teardown => {
                targeted!(self.cfn.delete_stack_instances().retain_stacks(kind == Kind::Remove))
            }
        }?;
        Ok(out.unwrap_or_else(|| operation_id.to_string()))
    }

    /// Waits until the operation ends or the budget does.
    async fn wait_for(&self, operation_id: &str) -> Ended {
        let mut wait = self.backoff;
        loop {
            let status = self
                .cfn
                .describe_stack_set_operation()
                .stack_set_name(&self.stack_set.name)
                .operation_id(operation_id)
                .call_as(self.call_as.clone())
                .send()
                .await;
            let status = match status {
                Ok(out) => out.stack_set_operation().and_then(|o| o.status()).map(|s| s.as_str().to_string()),
                Err(e) => return Ended::Unreadable(Failure::aws("its status is unreadable", &e)),
            };
            match status.as_deref() {
                Some("SUCCEEDED" | "FAILED" | "STOPPED") | None => return Ended::Finished,
                Some(_) if self.budget.spent() => return Ended::Running,
                Some(_) => {
                    self.budget.sleep(wait).await;
                    wait = (wait * 2).min(self.backoff * 8);
                }
            }
        }
    }

    /// Every (account, region) result of a finished operation (paginated).
    async fn results(&self, operation_id: &str) -> Result<Results, Failure> {
        let mut pages = self
            .cfn
            .list_stack_set_operation_results()
            .stack_set_name(&self.stack_set.name)
            .operation_id(operation_id)
            .call_as(self.call_as.clone())
            .into_paginator()
            .send();
        let mut out = Results::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Failure::aws("its per-account results are unreadable", &e))?;
            for summary in page.summaries() {
                let (Some(account), Some(region)) = (summary.account(), summary.region()) else { continue };
                let status = summary.status().map(|s| s.as_str().to_string()).unwrap_or_default();
                let reason = summary.status_reason().unwrap_or_default().to_string();
                out.insert((account.to_string(), region.to_string()), (status, reason));
            }
        }
        Ok(out)
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
    (format!("{kind:?}"), &batch.accounts, &batch.regions).hash(&mut h);
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
        Kind::Teardown => "delete the stack instances",
    }
}

fn past(kind: Kind) -> &'static str {
    match kind {
        Kind::Create => "created",
        Kind::Retry => "re-deployed",
        Kind::Remove => "removed from the StackSet (its stack is retained in the account)",
        Kind::Teardown => "deleted with its stack (the instance role and profile are retained)",
    }
}

/// One item per (account, region) of a batch (sent as operation `op`, when it was).
fn each(kind: Kind, batch: &Batch, op: Option<&str>, outcome: impl Fn(&str, &str) -> Verdict) -> Applied {
    let mut applied = Applied::default();
    for account in &batch.accounts {
        for region in &batch.regions {
            let verdict = outcome(account, region);
            applied.onboarding.note(kind, op, account, region, &verdict);
            let (status, reason, cause) = match verdict {
                Verdict::Is(status, reason) => (status, reason, None),
                Verdict::Failed(reason, cause) => (Status::Failed, reason, Some(cause)),
                Verdict::Pending(reason) => {
                    applied.pending += 1;
                    (Status::Skipped, reason, None)
                }
            };
            let item = Item::new(account, region, STACK_INSTANCE, kind.action(), status, reason);
            applied.items.push(match cause {
                Some(cause) => item.with_cause(cause),
                None => item,
            });
        }
    }
    applied
}

/// The item for one (account, region) from its operation result.
fn outcome_of(kind: Kind, op: &str, result: Option<&(String, String)>) -> Verdict {
    match result.map(|(status, reason)| (status.as_str(), reason.as_str())) {
        Some(("SUCCEEDED", _)) => Verdict::Is(Status::Done, format!("{} by StackSet operation {op}", past(kind))),
        Some((status @ ("FAILED" | "CANCELLED"), reason)) => {
            let reason = if reason.is_empty() { "no reason given" } else { reason };
            let why = format!("StackSet operation {op} {status} here: {reason}");
            Verdict::Failed(why, format!("{STACK_INSTANCE_CAUSE}{status}"))
        }
        Some((status, _)) => {
            Verdict::Pending(format!("pending: StackSet operation {op} is {status} here; the next reconcile checks it"))
        }
        // The operation has finished (results are read only then) without this (account,
        // region): it was not targeted after all (for service-managed StackSets the targets are
        // OUs, and the account may have moved between the read and the call). Nothing is running
        // for it, so it is not pending: the next reconcile plans it again.
        None => Verdict::Is(
            Status::Skipped,
            format!(
                "StackSet operation {op} finished without this account and region (it may have moved to another OU meanwhile); the next reconcile plans it again"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(verdict: &Verdict) -> Option<Status> {
        match verdict {
            Verdict::Is(status, _) => Some(*status),
            Verdict::Failed(..) => Some(Status::Failed),
            Verdict::Pending(_) => None,
        }
    }

    #[test]
    fn a_finished_operation_without_a_row_is_not_pending_and_only_full_success_onboards() {
        let row = |s: &str| (s.to_string(), String::new());
        assert_eq!(status(&outcome_of(Kind::Create, "op", Some(&row("SUCCEEDED")))), Some(Status::Done));
        assert_eq!(status(&outcome_of(Kind::Create, "op", Some(&row("FAILED")))), Some(Status::Failed));
        assert_eq!(status(&outcome_of(Kind::Create, "op", Some(&row("RUNNING")))), None, "still running: pending");
        assert_eq!(status(&outcome_of(Kind::Create, "op", None)), Some(Status::Skipped), "no row: not pending");

        let batch = Batch {
            accounts: vec!["200000000001".into(), "200000000002".into()],
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            ous: Vec::new(),
        };
        let applied = each(Kind::Create, &batch, Some("op-1"), |account, region| {
            if account == "200000000002" && region == "us-east-1" {
                Verdict::Is(Status::Failed, "boom".into())
            } else {
                Verdict::Is(Status::Done, "created".into())
            }
        });
        let onboarded = applied.onboarding.onboarded();
        assert_eq!(onboarded.keys().collect::<Vec<_>>(), ["200000000001"], "a failed region: not onboarded");
        assert_eq!(onboarded["200000000001"].0, "op-1");
        let removed = each(Kind::Remove, &batch, Some("op-2"), |_, _| Verdict::Is(Status::Done, "gone".into()));
        assert!(removed.onboarding.onboarded().is_empty(), "removals onboard nothing");
    }
}
