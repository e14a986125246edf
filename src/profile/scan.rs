//! The `profile-scan` job: a trigger becomes a scope or queue records; the fleet-job skeleton
//! (`crate::run`) runs the units; this module holds the work of one unit and the hand-off.

use std::collections::{BTreeMap, HashSet};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use serde_json::Value;

use super::apply::{Apply, PROPAGATION_WAIT, PROPAGATION_WAIT_WITHOUT_QUEUE};
use super::dhmc::{self, Dhmc};
use super::ledger::Ledgers;
use super::plan::{DhmcView, Policy, action, plan};
use super::read::read_unit;
use super::settings::ProfileSettings;
use super::state::UnitState;
use super::trigger::{ProfileTrigger, parse};
use crate::budget::Budget;
use crate::context::JobContext;
use crate::error::{Failure, InvocationError};
use crate::pace::{EC2_ASSOCIATE, Pacer};
use crate::queue::MAX_PROPAGATION_RETRIES;
use crate::queue::{UnitMessage, WorkQueue};
use crate::report::{Action, Item, Report, Status};
use crate::run::{self, FleetJob, FleetParts, Path, Unit};
use crate::scope::ScopeRequest;
use crate::sessions::AccountSession;
use crate::validate::is_instance_id;

/// Name of the job in reports and STS session names.
pub const JOB: &str = "profile-scan";

/// profile-scan's part of a work unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScanWork {
    /// Only these instances (a launch event's, or those put back waiting for IAM propagation).
    pub instance_ids: Option<Vec<String>>,
    /// How many times these instances were put back waiting for IAM propagation.
    pub propagation_retries: u32,
    /// Plan only.
    pub dry_run: bool,
    /// A continuation of a unit that ran out of time (its account's EC2 burst is spent).
    pub continued: bool,
    /// Turn DHMC off where its role is the connector's, instead of scanning.
    pub release_dhmc: bool,
}

/// The job, built once at cold start and reused by warm invocations.
pub struct ProfileScan {
    settings: ProfileSettings,
    pub(super) context: JobContext,
    handoff: Option<WorkQueue>,
}

impl ProfileScan {
    /// `base` is the function's own SDK config (see [`crate::aws::load_base_config`]).
    pub fn new(settings: ProfileSettings, base: SdkConfig) -> Self {
        let handoff = settings.handoff_queue_url.as_deref().map(|url| WorkQueue::new(&base, url));
        let context = JobContext::new(base, settings.fleet.work_queue_url.as_deref());
        ProfileScan { settings, context, handoff }
    }

    /// Handles one invocation payload. `deadline` is when writes must have stopped.
    pub async fn handle(&self, payload: &Value, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let budget = Budget::until(deadline);
        let dry_run = self.settings.common.dry_run;
        let work = |instance_id: Option<String>, dry_run| {
            move || ScanWork { instance_ids: instance_id.clone().map(|id| vec![id]), dry_run, ..ScanWork::default() }
        };
        let (scope, may_enqueue, dry_run) = match parse(payload)? {
            ProfileTrigger::Scheduled => (ScopeRequest::default(), true, dry_run),
            ProfileTrigger::Scan(command) if command.release_dhmc => {
                let scope =
                    ScopeRequest { accounts: command.account_ids, regions: command.regions, ..ScopeRequest::default() };
                let dry_run = command.dry_run || dry_run;
                let release = move || ScanWork { dry_run, release_dhmc: true, ..ScanWork::default() };
                return Box::pin(run::scoped(self, &scope, false, dry_run, &budget, release)).await;
            }
            ProfileTrigger::Scan(command) => {
                let broad = command.account_ids.is_none();
                let scope =
                    ScopeRequest { accounts: command.account_ids, regions: command.regions, ..ScopeRequest::default() };
                (scope, broad, command.dry_run || dry_run)
            }
            ProfileTrigger::Queue(records) => return Box::pin(run::queued(self, records, &budget)).await,
            ProfileTrigger::Preflight => return Box::pin(self.preflight()).await,
            ProfileTrigger::InstanceStateChange { account_id, region, instance_id, state } => {
                if state != "running" {
                    let reason = format!("instance state is {state}; only running instances are checked at launch");
                    let item = Item::new(account_id, region, instance_id, action::NONE, Status::Skipped, reason);
                    return Ok(Report::new(JOB, dry_run, vec![item], 0, 0));
                }
                let scope = ScopeRequest {
                    accounts: Some(vec![account_id]),
                    regions: Some(vec![region]),
                    accounts_known: true,
                    resource: Some(instance_id.clone()),
                };
                let run = run::scoped(self, &scope, false, dry_run, &budget, work(Some(instance_id), dry_run));
                return Box::pin(run).await;
            }
        };
        // Boxed: the futures are deep enough to overflow the binary's layout computation.
        Box::pin(run::scoped(self, &scope, may_enqueue, dry_run, &budget, work(None, dry_run))).await
    }
}

impl FleetJob for ProfileScan {
    type Work = ScanWork;
    type Shared = Ledgers;
    const NAME: &'static str = JOB;
    const ACTION: Action = action::SCAN;
    const DONE_TO_OWN: &'static str = "scanned";

    fn parts(&self) -> FleetParts<'_> {
        let settings = &self.settings;
        FleetParts::new(&self.context, &settings.fleet, &settings.common, &settings.member_role)
    }

    fn resource(work: &ScanWork) -> &str {
        match work.instance_ids.as_deref() {
            Some([one]) => one,
            _ => "*",
        }
    }

    fn from_message(message: &UnitMessage) -> ScanWork {
        ScanWork {
            instance_ids: message.instance_ids.clone(),
            dry_run: message.dry_run,
            continued: message.continuation > 0,
            propagation_retries: message.propagation_retries,
            release_dhmc: false,
        }
    }

    async fn work(
        &self,
        unit: &Unit<ScanWork>,
        session: &AccountSession,
        ledgers: &Ledgers,
        budget: &Budget,
    ) -> Result<Vec<Item>, Failure> {
        let (account_id, region, work) = (unit.account_id.as_str(), unit.region.as_str(), &unit.work);
        if work.release_dhmc {
            let ssm = session.ssm(region);
            return Ok(vec![
                dhmc::release(&ssm, (account_id, region), &self.settings.dhmc_role_name, work.dry_run).await,
            ]);
        }
        let ledger = ledgers.for_account(account_id, &session.iam, self.settings.instance_policy);
        let ec2 = session.ec2(region);
        let settings = &self.settings;
        let profile = &settings.instance_profile_name;
        let only = work.instance_ids.as_deref();
        let state = read_unit(&ec2, ledger.iam(), &settings.fleet, profile, only).await?;
        let found = self.dhmc(session, (account_id, region), &state, work.dry_run).await;
        let policy = Policy {
            connector_profile: profile,
            attach_to_existing_roles: settings.attach_policy_to_existing_roles,
            account_id,
            reach: settings.ssm_reach,
            dhmc: DhmcView {
                serves: found.dhmc.serves(),
                on_since: found.on_since,
                managed: found.managed.as_ref(),
                now: now_seconds(),
            },
        };
        let decisions = plan(&state, &policy);
        if let (Some(ids), true) = (only, decisions.is_empty()) {
            let reason = "instance not found or no longer running";
            let gone = ids.iter().map(|id| Item::new(account_id, region, id, action::NONE, Status::Skipped, reason));
            return Ok(gone.collect());
        }
        let pacer = self.pacer(work.continued);
        let queued = self.context.own_queue().is_some();
        let unit = Apply {
            account_id,
            region,
            ec2: &ec2,
            ledger: &ledger,
            dry_run: work.dry_run,
            budget,
            propagation_wait: if queued { PROPAGATION_WAIT } else { PROPAGATION_WAIT_WITHOUT_QUEUE },
            retry_later: queued && !work.dry_run && work.propagation_retries < MAX_PROPAGATION_RETRIES,
            pacer: &pacer,
        };
        let mut items = found.items;
        items.extend(unit.apply(decisions).await);
        Ok(items)
    }

    async fn finish(&self, ledgers: Ledgers, path: Path, items: &[Item]) -> Vec<Item> {
        let mut added = ledgers.take_items();
        if let (Path::Queue, Some(queue)) = (path, &self.handoff) {
            added.extend(hand_off(queue, items).await);
        }
        added
    }
}

impl ProfileScan {
    /// The job's settings.
    pub(super) fn settings(&self) -> &ProfileSettings {
        &self.settings
    }

    /// With `SSM_REACH` `dhmc` or `both`: DHMC turned on where it is off and the unit's scope allows
    /// it, and what it reached (the instances Systems Manager lists, where it serves).
    async fn dhmc(&self, session: &AccountSession, unit: (&str, &str), state: &UnitState, dry_run: bool) -> DhmcFound {
        let mut found = DhmcFound { items: Vec::new(), dhmc: Dhmc::Off, on_since: None, managed: None };
        if !self.settings.ssm_reach.uses_dhmc() {
            return found;
        }
        let ssm = session.ssm(unit.1);
        let conflict = scope_conflict(&self.settings.fleet, state);
        let (item, dhmc, on_since) = dhmc::ensure(&ssm, unit, &self.settings.dhmc_role_name, dry_run, conflict).await;
        found.items.push(item);
        if dhmc.serves() && !dry_run {
            match dhmc::managed_ids(&ssm).await {
                Ok(ids) => found.managed = Some(ids),
                Err(failure) => {
                    let reason =
                        format!("{failure}; what DHMC reached is not known this run (nothing falls back to a profile)");
                    let item =
                        Item::new(unit.0, unit.1, dhmc::SETTING_ID, Action::RegisterDhmc, Status::Failed, reason);
                    found.items.push(item.with_cause(failure.cause()));
                }
            }
        }
        (found.dhmc, found.on_since) = (dhmc, on_since);
        found
    }

    /// Paces associations like EC2's own bucket: its burst, then the configured rate (default
    /// its refill). A continuation follows an invocation that spent the burst: it starts at the
    /// refill rate.
    fn pacer(&self, continued: bool) -> Pacer {
        let rate = self.settings.ec2_write_rate;
        let capacity = EC2_ASSOCIATE.0 * rate / EC2_ASSOCIATE.1;
        if continued { Pacer::drained(capacity, rate) } else { Pacer::new(capacity, rate) }
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
            Some(Item::new(unit.account_id, unit.region, queue.name(), Action::HandOff, Status::Failed, reason))
        })
        .collect()
}

/// Seconds since the Unix epoch.
fn now_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// DHMC in a unit, as profile-scan found or left it.
struct DhmcFound {
    /// `register-dhmc` items.
    items: Vec<Item>,
    /// DHMC as it stands.
    dhmc: Dhmc,
    /// Since when it has been on (`None`: unknown, or turned on by this run).
    on_since: Option<i64>,
    /// The instances Systems Manager lists (`None`: not read).
    managed: Option<HashSet<String>>,
}

/// Why DHMC must not be turned on in a unit: it is one switch for every instance of the account and
/// Region ("all instances using Instance Metadata Service Version 2 (IMDSv2) in the AWS Region and
/// AWS account ... automatically become managed instances"), tagged or not, so a pilot
/// (`CONNECTOR_OPT_IN_TAG`) or an instance left alone without a profile would be reached too.
fn scope_conflict(fleet: &crate::config::Fleet, state: &UnitState) -> Option<String> {
    if let Some(tag) = &fleet.opt_in_tag {
        return Some(format!(
            "a pilot covers only instances tagged {tag} (CONNECTOR_OPT_IN_TAG), and DHMC would reach every IMDSv2 instance of the Region; instances without a profile get the connector's profile with SSM_REACH=both"
        ));
    }
    let left = state.instances.iter().find(|i| i.left_alone.is_some() && i.profile.is_none())?;
    Some(format!(
        "instance {} is left alone ({}) and has no profile: DHMC would reach it once it requires IMDSv2; instances without a profile get the connector's profile with SSM_REACH=both",
        left.id,
        left.left_alone.as_deref().unwrap_or_default()
    ))
}
