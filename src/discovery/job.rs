//! The `account-discovery` job: reconcile on schedule or by hand, onboard on Organizations events.

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::CallAs;
use serde_json::Value;

use super::apply::{Executor, Kind};
use super::events::OrgEvent;
use super::plan::{Rules, STACK_INSTANCE, action, plan};
use super::read::Readers;
use super::records::{publish, records};
use super::settings::DiscoverySettings;
use super::state::{Estate, ManagementStack, PermissionModel};
use super::trigger::{DiscoveryTrigger, MAX_RECHECKS, parse};
use crate::aws::organizations_client;
use crate::error::{Failure, InvocationError};
use crate::queue::WorkQueue;
use crate::report::{Item, Report, Status};
use crate::sessions::Identity;

/// Name of the job in reports.
pub const JOB: &str = "account-discovery";

/// The job, built once at cold start.
pub struct AccountDiscovery {
    pub(super) settings: DiscoverySettings,
    pub(super) base: SdkConfig,
    /// First wait between retries of a busy StackSet (doubles each time).
    pub backoff: Duration,
}

impl AccountDiscovery {
    /// The job over validated settings (the StackSet is known).
    pub fn new(settings: DiscoverySettings, base: SdkConfig) -> Self {
        AccountDiscovery { settings, base, backoff: Duration::from_secs(2) }
    }

    /// Handles one invocation payload.
    pub async fn handle(&self, payload: &Value, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let dry = self.settings.common.dry_run;
        let (report, recheck) = match parse(payload)? {
            DiscoveryTrigger::Scheduled => (self.reconcile(None, dry, deadline).await?, 1),
            DiscoveryTrigger::Reconcile(command) => (self.reconcile(None, dry || command.dry_run, deadline).await?, 1),
            DiscoveryTrigger::Recheck { attempt } => (self.reconcile(None, dry, deadline).await?, attempt + 1),
            DiscoveryTrigger::CustomResource(request) => return self.custom_resource(&request, deadline).await,
            DiscoveryTrigger::Organizations { event, detail_type, account } => match event {
                OrgEvent::Joined { account_id, .. }
                | OrgEvent::Moved { account_id }
                | OrgEvent::Left { account_id, .. } => (self.reconcile(Some(account_id), dry, deadline).await?, 1),
                OrgEvent::Ignored { reason } => {
                    let account = account.unwrap_or_else(|| "*".into());
                    let reason = format!("{detail_type}: {reason}");
                    let item = Item::new(account, "*", STACK_INSTANCE, action::CHECK, Status::Skipped, reason);
                    return Ok(Report::new(JOB, dry, vec![item], 0, 0));
                }
            },
        };
        Ok(self.recheck_later(report, recheck).await)
    }

    /// Reconciles the whole organization, or one account.
    pub async fn reconcile(
        &self,
        only: Option<String>,
        dry_run: bool,
        deadline: Option<Instant>,
    ) -> Result<Report, InvocationError> {
        let (name, regions) = (self.settings.stackset_name.as_str(), self.settings.stackset_regions.as_slice());
        let identity = Identity::discover(&self.base).await.map_err(InvocationError::Identity)?;
        let cfn = aws_sdk_cloudformation::Client::new(&self.base);
        let org = organizations_client(&self.base);
        let call_as = if self.settings.delegated_admin { CallAs::DelegatedAdmin } else { CallAs::SelfValue };
        let readers = Readers { cfn: &cfn, org: &org, call_as: call_as.clone() };
        let fail = |reason: Failure| Report::new(JOB, dry_run, vec![unit_failure(name, reason.to_string())], 1, 1);

        // The management account is the organization's, not necessarily the caller's: with
        // STACKSET_CALL_AS=DELEGATED_ADMIN the function runs in a member account.
        let management = match readers.management_account().await {
            Ok(found) => found.unwrap_or_else(|| identity.account_id.clone()),
            Err(reason) => return Ok(fail(reason)),
        };
        let stack_set = match readers.stack_set(name).await {
            Ok(s) => s,
            Err(reason) => return Ok(fail(reason)),
        };
        let mut items = Vec::new();
        if stack_set.model == PermissionModel::ServiceManaged {
            match self.organizations_access(&readers, dry_run).await {
                Ok(Some(item)) => items.push(item),
                Ok(None) => {}
                Err(reason) => return Ok(fail(reason)),
            }
        }
        let instances = match readers.instances(name).await {
            Ok(i) => i,
            Err(reason) => return Ok(fail(reason)),
        };
        let accounts = match readers.accounts(stack_set.model == PermissionModel::ServiceManaged).await {
            Ok(a) => a,
            Err(reason) => return Ok(fail(reason)),
        };
        let management_stack = match only.as_deref() {
            Some(a) if a != management => ManagementStack::NotChecked("the event is about another account".into()),
            _ if identity.account_id != management => ManagementStack::NotChecked(format!(
                "this function runs in {}, a delegated administrator, and cannot read the management account's stacks",
                identity.account_id
            )),
            _ => self.management_stack(&readers, name, &management).await,
        };
        let estate = Estate { stack_set, instances, accounts, management: management.clone(), management_stack };
        let only_list = only.map(|a| vec![a]);
        let rules = Rules {
            regions,
            excluded: &self.settings.common.excluded_accounts,
            retry_failed: self.settings.retry_failed,
            remove_departed: self.settings.remove_departed,
            only: only_list.as_deref(),
        };
        let mut planned = plan(&estate, &rules);
        if let Some(only) = &only_list
            && !estate.accounts.iter().any(|a| a.id == only[0])
            && !estate.instances.iter().any(|i| i.account == only[0])
        {
            let reason = "not an account of the organization and no stack instance: nothing to do";
            planned.findings.push(Item::new(&only[0], "*", STACK_INSTANCE, action::CHECK, Status::Skipped, reason));
        }
        let executor =
            Executor { cfn: &cfn, stack_set: &estate.stack_set, call_as, dry_run, deadline, backoff: self.backoff };
        items.extend(planned.findings);
        items.extend(executor.run(Kind::Create, &planned.create).await);
        items.extend(executor.run(Kind::Retry, &planned.retry).await);
        items.extend(executor.run(Kind::Remove, &planned.remove).await);
        let records = records(&items, &management, name, &self.settings.common.excluded_accounts);
        if let (Some(bus), false) = (&self.settings.event_bus, dry_run || records.is_empty()) {
            let client = aws_sdk_eventbridge::Client::new(&self.base);
            let (status, reason) = match publish(&client, bus, &records).await {
                Ok(n) => (Status::Done, format!("published {n} member-connector records to {bus}")),
                Err(reason) => (Status::Failed, reason.to_string()),
            };
            items.push(Item::new(&identity.account_id, "*", bus, "publish-records", status, reason));
        }
        let operations = planned.create.len() + planned.retry.len() + planned.remove.len();
        tracing::info!(stack_set = name, operations, "reconcile done");
        Ok(Report::new(JOB, dry_run, items, 1, 0))
    }
}

impl AccountDiscovery {
    /// The member template in the management account (where StackSets never deploy a
    /// service-managed StackSet's stacks): the plain stack `MANAGEMENT_STACK_NAME`, or the
    /// instances of the self-managed StackSet `<STACKSET_NAME>-management` that `sam deploy`
    /// creates (cfn/onboarding.yaml).
    async fn management_stack(&self, readers: &Readers<'_>, name: &str, management: &str) -> ManagementStack {
        let plain = &self.settings.management_stack_name;
        match readers.stack_status(plain).await {
            Ok(Some(status)) => return ManagementStack::Deployed(format!("plain stack {plain}: {status}")),
            Ok(None) => {}
            Err(failure) => return ManagementStack::Unreadable(failure.to_string()),
        }
        let own = format!("{name}-management");
        match readers.instances_in(&own, management).await {
            Ok(Some(instances)) if !instances.is_empty() => {
                let regions: Vec<String> = instances.iter().map(|i| format!("{} {}", i.region, i.status)).collect();
                ManagementStack::Deployed(format!("StackSet {own}: {}", regions.join(", ")))
            }
            Ok(_) => ManagementStack::Missing,
            Err(failure) => ManagementStack::Unreadable(failure.to_string()),
        }
    }

    /// Service-managed StackSets need organizations (trusted) access: `None` when it is on, an
    /// item when this run activated it (or would), an error with the remediation otherwise.
    async fn organizations_access(&self, readers: &Readers<'_>, dry_run: bool) -> Result<Option<Item>, Failure> {
        if readers.organizations_access().await? {
            return Ok(None);
        }
        if self.settings.delegated_admin {
            return Err(Failure::Precondition(format!(
                "organizations access (trusted access) is not activated for CloudFormation StackSets, so this service-managed StackSet cannot deploy (AWS answers \"{ACCESS_ERROR}\"); only the management account can activate it: sign in there and run `aws cloudformation activate-organizations-access` (or CloudFormation console, StackSets, Activate trusted access)"
            )));
        }
        if !self.settings.activate_organizations_access {
            return Err(Failure::Precondition(format!(
                "organizations access (trusted access) is not activated for CloudFormation StackSets, so this service-managed StackSet cannot deploy (AWS answers \"{ACCESS_ERROR}\"); activate it in the CloudFormation console (StackSets, Activate trusted access), run `aws cloudformation activate-organizations-access`, or set STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS=true"
            )));
        }
        let item = |status: Status, reason: &str| {
            Item::new("*", "*", "organizations-access", "activate-organizations-access", status, reason)
        };
        if dry_run {
            return Ok(Some(item(Status::Planned, "would activate organizations access for StackSets")));
        }
        readers
            .cfn
            .activate_organizations_access()
            .send()
            .await
            .map_err(|e| Failure::aws("cannot activate organizations access for StackSets", &e))?;
        Ok(Some(item(
            Status::Done,
            "activated organizations access for StackSets (STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS)",
        )))
    }
}

/// Delay of a re-check of pending StackSet work (SQS allows at most 900 s).
pub(crate) const RECHECK_DELAY_SECONDS: i32 = 300;

impl AccountDiscovery {
    /// When StackSet work is still pending and the function has a work queue, sends itself a
    /// delayed re-check (minutes, not the next daily run), at most [`MAX_RECHECKS`] in a row.
    async fn recheck_later(&self, mut report: Report, attempt: u32) -> Report {
        let pending = report.items.iter().any(|i| i.status == Status::Skipped && i.reason.starts_with("pending"));
        let (Some(url), true, false) = (&self.settings.work_queue_url, pending, report.dry_run) else {
            return report;
        };
        let queue = WorkQueue::new(&self.base, url);
        let (status, reason) = if attempt > MAX_RECHECKS {
            (Status::Skipped, format!("pending work left to the daily reconcile after {MAX_RECHECKS} re-checks"))
        } else {
            let body = serde_json::json!({"job": JOB, "attempt": attempt}).to_string();
            match queue.send(&[body], RECHECK_DELAY_SECONDS).await.pop() {
                Some(Ok(())) => (
                    Status::Done,
                    format!("pending work re-checked in {RECHECK_DELAY_SECONDS} s through {}", queue.name()),
                ),
                Some(Err(reason)) => (Status::Failed, format!("{reason}; the daily reconcile takes the pending work")),
                None => return report,
            }
        };
        report.items.push(Item::new("*", "*", queue.name(), "recheck", status, reason));
        Report::new(JOB, report.dry_run, report.items, report.summary.work_units, report.summary.failed_work_units)
    }
}

/// What AWS says when a service-managed StackSet is used without organizations access.
pub(crate) const ACCESS_ERROR: &str = "You must enable organizations access to operate a service managed stack set";

fn unit_failure(stack_set: &str, reason: String) -> Item {
    Item::new("*", "*", stack_set, "reconcile", Status::Failed, reason)
}
