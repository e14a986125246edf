//! The `account-discovery` job: reconcile on schedule or by hand, onboard on Organizations events.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::CallAs;
use serde_json::Value;

use super::apply::{Applied, Executor, Kind};
use super::chain::{Onboarded, hand_off, settle};
use super::events::OrgEvent;
use super::plan::{Rules, STACK_INSTANCE, action, plan};
use super::read::Readers;
use super::records::{publish, records};
use super::regions::{TRUSTED_ACCESS_REMEDY, enabled_regions};
use super::settings::DiscoverySettings;
use super::state::{Account, EnabledRegions, Estate, ManagementStack, PermissionModel, StackInstance};
use super::trigger::{DiscoveryTrigger, JOB, parse};
use crate::budget::Budget;
use crate::context::JobContext;
use crate::error::{Failure, InvocationError};
use crate::org_scope::{self, OrgScope};
use crate::queue::WorkQueue;
use crate::report::{Action, Item, Report, Status};

/// The job, built once at cold start.
pub struct AccountDiscovery {
    pub(super) settings: DiscoverySettings,
    pub(super) context: JobContext,
    /// CloudFormation of the function's own account (StackSets live in the management account).
    pub(super) cfn: aws_sdk_cloudformation::Client,
    events: aws_sdk_eventbridge::Client,
    /// First wait between retries of a busy StackSet (doubles each time).
    pub backoff: Duration,
    /// Account Management of the function's account: which regions members have enabled.
    account: aws_sdk_account::Client,
    /// Lambda of the function's account: its concurrency (preflight).
    pub(super) lambda: aws_sdk_lambda::Client,
    /// profile-scan's work queue (`PROFILE_SCAN_QUEUE_URL`): onboarded accounts are handed on.
    profile_scan: Option<WorkQueue>,
    /// arc-provisioner's work queue (`ARC_PROVISIONER_QUEUE_URL`): onboarded accounts are handed on.
    arc_provisioner: Option<WorkQueue>,
    /// The ARN this function is invoked as (from the Lambda context), which a custom resource
    /// request's `ServiceToken` must name.
    own_arn: std::sync::OnceLock<String>,
}

/// A reconcile's report, how many (account, region) it left with StackSet work pending, and the
/// accounts whose onboarding operation is still running (account → operation).
pub(super) struct Reconciled {
    pub(super) report: Report,
    pub(super) pending: usize,
    pub(super) awaiting: BTreeMap<String, String>,
}

impl AccountDiscovery {
    /// The job over validated settings (the StackSet is known).
    pub fn new(settings: DiscoverySettings, base: SdkConfig) -> Self {
        let cfn = aws_sdk_cloudformation::Client::new(&base);
        let events = aws_sdk_eventbridge::Client::new(&base);
        let account = aws_sdk_account::Client::new(&base);
        let lambda = aws_sdk_lambda::Client::new(&base);
        let context = JobContext::new(base, settings.work_queue_url.as_deref());
        let own_arn = std::sync::OnceLock::new();
        let queue = |url: &Option<String>| url.as_deref().map(|url| WorkQueue::new(context.base(), url));
        let (profile_scan, arc_provisioner) =
            (queue(&settings.profile_scan_queue_url), queue(&settings.arc_provisioner_queue_url));
        let backoff = Duration::from_secs(2);
        AccountDiscovery {
            settings,
            context,
            cfn,
            events,
            account,
            lambda,
            backoff,
            profile_scan,
            arc_provisioner,
            own_arn,
        }
    }

    /// Handles one invocation payload. `deadline` is when writes must have stopped.
    pub async fn handle(&self, payload: &Value, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let budget = Budget::until(deadline);
        let dry = self.settings.common.dry_run;
        // Boxed: the futures are deep enough to overflow the binary's layout computation.
        let none = BTreeMap::new();
        let (reconciled, recheck) = match parse(payload)? {
            DiscoveryTrigger::Scheduled => (Box::pin(self.reconcile(None, dry, false, &budget, &none)).await?, 1),
            DiscoveryTrigger::Reconcile(command) => {
                let dry = dry || command.dry_run;
                (Box::pin(self.reconcile(None, dry, command.leave_scope, &budget, &none)).await?, 1)
            }
            DiscoveryTrigger::Recheck { attempt, awaiting } => {
                (Box::pin(self.reconcile(None, dry, false, &budget, &awaiting)).await?, attempt + 1)
            }
            DiscoveryTrigger::Preflight => return Box::pin(self.preflight()).await,
            DiscoveryTrigger::CustomResource(request) => {
                return Box::pin(self.custom_resource(&request, &budget)).await;
            }
            DiscoveryTrigger::Organizations { event, detail_type, account } => match event {
                OrgEvent::Joined { account_id, .. }
                | OrgEvent::Moved { account_id }
                | OrgEvent::Left { account_id, .. }
                | OrgEvent::RegionEnabled { account_id, .. } => {
                    (Box::pin(self.reconcile(Some(account_id), dry, false, &budget, &none)).await?, 1)
                }
                OrgEvent::Ignored { reason } => {
                    let account = account.unwrap_or_else(|| "*".into());
                    let reason = format!("{detail_type}: {reason}");
                    let item = Item::new(account, "*", STACK_INSTANCE, action::CHECK, Status::Skipped, reason);
                    return Ok(Report::new(JOB, dry, vec![item], 0, 0));
                }
            },
        };
        Ok(self.recheck_later(reconciled, recheck).await)
    }

    /// Records the ARN the function is invoked as (the Lambda context's `invoked_function_arn`);
    /// the first one is kept.
    pub fn invoked_as(&self, function_arn: &str) {
        let _ = self.own_arn.set(function_arn.to_string());
    }

    /// The ARN recorded by [`Self::invoked_as`].
    pub(super) fn own_arn(&self) -> Option<&str> {
        self.own_arn.get().map(String::as_str)
    }

    /// `CallAs` of every StackSet call.
    pub(super) fn call_as(&self) -> CallAs {
        if self.settings.delegated_admin { CallAs::DelegatedAdmin } else { CallAs::SelfValue }
    }

    /// StackSet and organization reads with the job's clients.
    pub(super) fn readers(&self) -> Readers<'_> {
        Readers { cfn: &self.cfn, org: self.context.organizations(), call_as: self.call_as() }
    }

    /// Reconciles the whole organization, or one account; `awaiting` are the accounts a re-check
    /// carries (operation still running when an earlier invocation ended).
    async fn reconcile(
        &self,
        only: Option<String>,
        dry_run: bool,
        leave_scope: bool,
        budget: &Budget,
        awaiting: &BTreeMap<String, String>,
    ) -> Result<Reconciled, InvocationError> {
        let name = self.settings.stackset_name.as_str();
        let own = self.context.identity().await?.account_id.clone();
        let readers = self.readers();
        let (estate, mut items) = match self.estate(&readers, only.as_deref(), &own, dry_run).await {
            Ok(read) => read,
            Err(reason) => {
                let report = Report::new(JOB, dry_run, vec![unit_failure(name, reason.to_string())], 1, 1);
                // The awaited accounts stay awaited: the next re-check (or the daily run) sees them.
                return Ok(Reconciled { report, pending: awaiting.len(), awaiting: awaiting.clone() });
            }
        };
        let only_list = only.map(|a| vec![a]);
        let rules = Rules {
            regions: &self.settings.stackset_regions,
            scope: &estate.scope,
            leave_scope,
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
        let executor = Executor {
            cfn: &self.cfn,
            stack_set: &estate.stack_set,
            call_as: self.call_as(),
            dry_run,
            budget,
            backoff: self.backoff,
        };
        let mut applied =
            Applied { items: std::mem::take(&mut planned.findings), pending: planned.pending, ..Applied::default() };
        applied.extend(executor.run(Kind::Create, &planned.create).await);
        applied.extend(executor.run(Kind::Retry, &planned.retry).await);
        applied.extend(executor.run(Kind::Remove, &planned.remove).await);
        // Leaving the scope: the member stacks go too (roles trusting the functions, documents,
        // forwarding); the member template retains the instance role and profile.
        applied.extend(executor.run(Kind::Teardown, &planned.leave).await);
        settle(&mut applied.onboarding, awaiting, &estate.instances);
        let onboarded = if dry_run { Onboarded::new() } else { applied.onboarding.onboarded() };
        items.extend(applied.items);
        let excluded = estate.scope.excluded();
        items.extend(self.publish_records(&onboarded, &estate.management, &own, &excluded).await);
        let delay = self.settings.profile_scan_delay_seconds;
        for (function, queue) in [("profile-scan", &self.profile_scan), ("arc-provisioner", &self.arc_provisioner)] {
            if let Some(queue) = queue {
                items.extend(hand_off(function, queue, &onboarded, delay).await);
            }
        }
        let operations = planned.create.len() + planned.retry.len() + planned.remove.len() + planned.leave.len();
        tracing::info!(
            stack_set = name,
            operations,
            pending = applied.pending,
            onboarded = onboarded.len(),
            "reconcile done"
        );
        let (pending, awaiting) = (applied.pending, applied.onboarding.awaiting);
        Ok(Reconciled { report: Report::new(JOB, dry_run, items, 1, 0), pending, awaiting })
    }

    /// What a reconcile plans from: the StackSet, its instances, the organization's accounts and
    /// the management account's member template; plus the item of trusted access activated.
    async fn estate(
        &self,
        readers: &Readers<'_>,
        only: Option<&str>,
        own: &str,
        dry_run: bool,
    ) -> Result<(Estate, Vec<Item>), Failure> {
        let name = self.settings.stackset_name.as_str();
        // The management account is the organization's, not necessarily the caller's: with
        // STACKSET_CALL_AS=DELEGATED_ADMIN the function runs in a member account.
        let management = readers.management_account().await?.unwrap_or_else(|| own.to_string());
        let stack_set = readers.stack_set(name).await?;
        let service_managed = stack_set.model == PermissionModel::ServiceManaged;
        let mut items = Vec::new();
        if service_managed && let Some(item) = self.organizations_access(readers, dry_run).await? {
            items.push(item);
        }
        let instances = readers.instances(name).await?;
        let accounts = match only {
            Some(account) => readers.one_account(account, service_managed).await?,
            None => readers.accounts(service_managed).await?,
        };
        let management_stack = match only {
            Some(a) if a != management => ManagementStack::NotChecked("the event is about another account".into()),
            _ if own != management => ManagementStack::NotChecked(format!(
                "this function runs in {own}, a delegated administrator, and cannot read the management account's stacks"
            )),
            _ => self.management_stack(readers, name, &management).await,
        };
        let common = &self.settings.common;
        let parameter = common.scope_parameter.as_deref();
        let scope =
            org_scope::read(self.context.base(), own, readers.org, parameter, &common.excluded_accounts).await?;
        let needing = needing_work(&self.settings.stackset_regions, &scope, &accounts, &instances, &management, only);
        let enabled_regions = enabled_regions(&self.account, &needing, own).await;
        if let EnabledRegions::Unknown(why) = &enabled_regions {
            let reason = format!("{why}; {TRUSTED_ACCESS_REMEDY}");
            items.push(Item::new("*", "*", STACK_INSTANCE, action::CHECK, Status::Skipped, reason));
        }
        let estate = Estate { stack_set, instances, accounts, management, management_stack, enabled_regions, scope };
        Ok((estate, items))
    }

    /// Publishes the member-connector records of the accounts onboarded; the item saying so (none
    /// without a bus or with nothing to publish).
    async fn publish_records(
        &self,
        onboarded: &Onboarded,
        management: &str,
        own: &str,
        excluded: &BTreeSet<String>,
    ) -> Option<Item> {
        let name = self.settings.stackset_name.as_str();
        let records = records(onboarded, management, name, excluded);
        let (Some(bus), false) = (&self.settings.event_bus, records.is_empty()) else {
            return None;
        };
        let (status, reason) = match publish(&self.events, bus, &records).await {
            Ok(n) => (Status::Done, format!("published {n} member-connector records to {bus}")),
            Err(reason) => (Status::Failed, reason.to_string()),
        };
        Some(Item::new(own, "*", bus, Action::PublishRecords, status, reason))
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
            Item::new("*", "*", "organizations-access", Action::ActivateOrganizationsAccess, status, reason)
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

/// What AWS says when a service-managed StackSet is used without organizations access.
pub(crate) const ACCESS_ERROR: &str = "You must enable organizations access to operate a service managed stack set";

fn unit_failure(stack_set: &str, reason: String) -> Item {
    Item::new("*", "*", stack_set, Action::Reconcile, Status::Failed, reason)
}

/// ACTIVE members the scope admits (and the event names), with a region of `STACKSET_REGIONS`
/// lacking a healthy instance: the accounts whose enabled regions matter this run.
fn needing_work(
    regions: &[String],
    scope: &OrgScope,
    accounts: &[Account],
    instances: &[StackInstance],
    management: &str,
    only: Option<&str>,
) -> Vec<String> {
    let candidate = |a: &&Account| {
        a.state == "ACTIVE" && a.id != management && only.is_none_or(|o| o == a.id) && scope.leaves_out(&a.id).is_none()
    };
    let healthy = |a: &str, r: &str| instances.iter().any(|i| i.account == a && i.region == r && i.healthy());
    accounts
        .iter()
        .filter(candidate)
        .filter(|a| regions.iter().any(|r| !healthy(&a.id, r)))
        .map(|a| a.id.clone())
        .collect()
}
