//! The `profile-scan` job: turns a trigger into work units, runs them through the shared run
//! skeleton, and assembles the run report.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_config::SdkConfig;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::apply::{PROPAGATION_WAIT, Unit};
use super::ledger::Ledgers;
use super::plan::{Policy, action, plan};
use super::read::read_unit;
use super::settings::ProfileSettings;
use super::trigger::{ProfileTrigger, parse};
use crate::error::{Failure, InvocationError};
use crate::pace::{EC2_MUTATING, Pacer};
use crate::queue::{QueueRecord, UnitMessage, WorkQueue};
use crate::report::{Item, Report, Status};
use crate::run::{QueueBatch, UNIT_DEFERRED, UnitResult, enqueue, fan_out, run_each, spent};
use crate::scope::{ScopeRequest, ScopeRules, region_not_enabled};
use crate::sessions::{AccountSession, Identity, Sessions};
use crate::validate::is_instance_id;

/// Name of the job in reports and STS session names.
pub const JOB: &str = "profile-scan";

/// What one invocation covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScanRequest {
    /// Only these accounts (default: every account in scope).
    pub accounts: Option<Vec<String>>,
    /// Only these regions (default: the configured ones).
    pub regions: Option<Vec<String>>,
    /// Only this instance (launch events).
    pub instance_id: Option<String>,
    /// Plan only.
    pub dry_run: bool,
    /// A continuation of a unit that ran out of time (its account's EC2 burst is spent).
    pub continued: bool,
}

/// The job, built once at cold start and reused by warm invocations.
pub struct ProfileScan {
    settings: ProfileSettings,
    base: SdkConfig,
    identity: OnceCell<Identity>,
}

impl ProfileScan {
    /// `base` is the function's own SDK config (see [`crate::aws::load_base_config`]).
    pub fn new(settings: ProfileSettings, base: SdkConfig) -> Self {
        ProfileScan { settings, base, identity: OnceCell::new() }
    }

    /// Handles one invocation payload. `deadline` is when the invocation must have returned.
    pub async fn handle(&self, payload: &Value, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let dry_run = self.settings.common.dry_run;
        let request = match parse(payload)? {
            ProfileTrigger::Scheduled => ScanRequest { dry_run, ..ScanRequest::default() },
            ProfileTrigger::Scan(command) => ScanRequest {
                accounts: command.account_ids,
                regions: command.regions,
                instance_id: None,
                dry_run: command.dry_run || dry_run,
                continued: false,
            },
            ProfileTrigger::Queue(records) => return Box::pin(self.work(records, deadline)).await,
            ProfileTrigger::InstanceStateChange { account_id, region, instance_id, state } => {
                if state != "running" {
                    let reason = format!("instance state is {state}; only running instances are checked at launch");
                    let item = Item::new(account_id, region, instance_id, action::NONE, Status::Skipped, reason);
                    return Ok(Report::new(JOB, dry_run, vec![item], 0, 0));
                }
                ScanRequest {
                    accounts: Some(vec![account_id]),
                    regions: Some(vec![region]),
                    instance_id: Some(instance_id),
                    dry_run,
                    continued: false,
                }
            }
        };
        // Boxed: the futures are deep enough to overflow the binary's layout computation.
        Box::pin(self.run(&request, deadline)).await
    }

    async fn sessions(&self) -> Result<Sessions, InvocationError> {
        let identity = self
            .identity
            .get_or_try_init(|| Identity::discover(&self.base))
            .await
            .map_err(InvocationError::Identity)?
            .clone();
        Ok(Sessions::new(self.base.clone(), identity, &self.settings.member_role, JOB))
    }

    fn rules(&self) -> ScopeRules<'_> {
        ScopeRules {
            excluded: &self.settings.common.excluded_accounts,
            regions: self.settings.fleet.regions.as_deref(),
            action: action::SCAN,
            done_to_own: "scanned",
        }
    }

    /// Runs a scan request: inline, or, for a broad run with a work queue, one message per unit.
    pub(crate) async fn run(
        &self,
        request: &ScanRequest,
        deadline: Option<Instant>,
    ) -> Result<Report, InvocationError> {
        let sessions = self.sessions().await?;
        let rules = self.rules();
        let scope = ScopeRequest {
            accounts: request.accounts.clone(),
            regions: request.regions.clone(),
            accounts_known: request.instance_id.is_some(),
            resource: request.instance_id.clone(),
        };
        let mut items = Vec::new();
        let units = rules.units(&sessions, &scope, &mut items).await?;
        let broad = request.accounts.is_none() && request.instance_id.is_none();
        if let (Some(url), true, false) = (&self.settings.fleet.work_queue_url, broad, request.dry_run) {
            let queue = WorkQueue::new(&self.base, url);
            items.extend(enqueue(&queue, JOB, units).await);
            return Ok(Report::new(JOB, false, items, 0, 0));
        }
        let unit_count = units.len();
        let ledgers = Ledgers::default();
        let (unit_items, failed_units) = fan_out(units, self.settings.fleet.concurrency, |(account, region)| {
            let (sessions, ledgers) = (&sessions, &ledgers);
            async move {
                let session = sessions.for_account(&account).await;
                self.unit(&account, &region, session, ledgers, request, deadline).await
            }
        })
        .await;
        items.extend(unit_items);
        items.extend(ledgers.take_items());
        Ok(Report::new(JOB, request.dry_run, items, unit_count, failed_units))
    }

    /// Work units from the queue: each record one (account, region), run concurrently; a unit
    /// out of time continues through a new message, a failed unit's record is delivered again
    /// (and dead-lettered if it keeps failing), and the instances fixed are handed to
    /// arc-provisioner's queue.
    async fn work(&self, records: Vec<QueueRecord>, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let sessions = self.sessions().await?;
        let mut batch = QueueBatch::sort(records, JOB, &self.rules());
        let unit_count = batch.units.len();
        let ledgers = Ledgers::default();
        let results = run_each(std::mem::take(&mut batch.units), self.settings.fleet.concurrency, |(id, message)| {
            let (sessions, ledgers) = (&sessions, &ledgers);
            async move {
                let request = ScanRequest {
                    dry_run: message.dry_run,
                    continued: message.continuation > 0,
                    ..ScanRequest::default()
                };
                let session = sessions.for_account(&message.account_id).await;
                let result =
                    self.unit(&message.account_id, &message.region, session, ledgers, &request, deadline).await;
                (id, message, result)
            }
        })
        .await;
        let own_queue = self.settings.fleet.work_queue_url.as_deref().map(|url| WorkQueue::new(&self.base, url));
        batch.settle(results, action::SCAN, own_queue.as_ref(), self.settings.fleet.continuation_delay_seconds).await;
        batch.items.extend(ledgers.take_items());
        if let Some(url) = &self.settings.handoff_queue_url {
            let handed = hand_off(&WorkQueue::new(&self.base, url), &batch.items).await;
            batch.items.extend(handed);
        }
        let report = Report::new(JOB, false, batch.items, unit_count, batch.failed_units);
        Ok(report.with_failed_records(batch.failed_records))
    }

    async fn unit(
        &self,
        account_id: &str,
        region: &str,
        session: Result<std::sync::Arc<AccountSession>, Failure>,
        ledgers: &Ledgers,
        request: &ScanRequest,
        deadline: Option<Instant>,
    ) -> UnitResult {
        let resource = request.instance_id.as_deref().unwrap_or("*");
        let fail = |reason: Failure| {
            tracing::warn!(account_id, region, %reason, "work unit failed");
            Item::new(account_id, region, resource, action::SCAN, Status::Failed, reason.to_string())
        };
        if spent(deadline) {
            return Ok(vec![Item::new(account_id, region, resource, action::SCAN, Status::Skipped, UNIT_DEFERRED)]);
        }
        let session = session.map_err(fail)?;
        if let Some(skipped) = region_not_enabled(&session, account_id, region, resource, action::SCAN).await {
            return Ok(vec![skipped]);
        }
        let ledger = ledgers.for_account(account_id, &session.iam);
        let ec2 = session.ec2(region);
        let settings = &self.settings;
        let state = read_unit(
            &ec2,
            ledger.iam(),
            &settings.fleet.opt_out_tag,
            &settings.instance_profile_name,
            request.instance_id.as_deref(),
        )
        .await
        .map_err(fail)?;
        let policy = Policy {
            opt_out_tag: &settings.fleet.opt_out_tag,
            connector_profile: &settings.instance_profile_name,
            attach_to_existing_roles: settings.attach_policy_to_existing_roles,
            account_id,
        };
        let decisions = plan(&state, &policy);
        if let (Some(id), true) = (&request.instance_id, decisions.is_empty()) {
            let reason = "instance not found or no longer running";
            return Ok(vec![Item::new(account_id, region, id, action::NONE, Status::Skipped, reason)]);
        }
        // Paced like EC2's own bucket: its burst, then the configured rate (default its refill).
        let rate = self.settings.ec2_write_rate;
        let capacity = EC2_MUTATING.0 * rate / EC2_MUTATING.1;
        // A continuation follows an invocation that spent the burst: start at the refill rate.
        let pacer = if request.continued { Pacer::drained(capacity, rate) } else { Pacer::new(capacity, rate) };
        let unit = Unit {
            account_id,
            region,
            ec2: &ec2,
            ledger: &ledger,
            dry_run: request.dry_run,
            write_deadline: deadline,
            propagation_wait: PROPAGATION_WAIT,
            pacer: &pacer,
        };
        let items = unit.apply(decisions).await;
        tracing::info!(account_id, region, instances = items.len(), "work unit done");
        Ok(items)
    }
}

/// The function fixed instances are handed to.
const ARC_PROVISIONER: &str = "arc-provisioner";

/// Sends the instances this run fixed to arc-provisioner's queue, one message per (account,
/// region); returns an item only when that fails (the instances are then provisioned by its next
/// scheduled run).
async fn hand_off(queue: &WorkQueue, items: &[Item]) -> Vec<Item> {
    let mut fixed: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for item in items.iter().filter(|i| i.status == Status::Done && is_instance_id(&i.resource_id)) {
        fixed.entry((item.account_id.clone(), item.region.clone())).or_default().push(item.resource_id.clone());
    }
    let messages = fixed
        .into_iter()
        .map(|((account, region), ids)| UnitMessage {
            instance_ids: Some(ids),
            ..UnitMessage::unit(ARC_PROVISIONER, account, region)
        })
        .collect();
    queue
        .send_units(messages)
        .await
        .into_iter()
        .filter_map(|(unit, outcome)| {
            let reason = format!("{}; arc-provisioner's next scheduled run provisions these instances", outcome.err()?);
            Some(Item::new(unit.account_id, unit.region, queue.name(), "hand-off", Status::Failed, reason))
        })
        .collect()
}
