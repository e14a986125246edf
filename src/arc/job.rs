//! The `arc-provisioner` job: turns a trigger into work units, runs them concurrently with
//! failure isolation, and assembles the run report.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::applications::application_of;
use super::apply::UnitRun;
use super::azure::inventory::Inventory;
use super::azure::resource_manager::ArcMachine;
use super::command::DEFAULT_TRACKING;
use super::credential::{Obtained, obtain};
use super::outcome::is_final;
use super::phase::Phase;
use super::plan::{
    Batch, MAX_REGISTRATION_RETRIES, PROVISION, Policy, REGISTRATION_RETRY_DELAY_SECONDS, Selection, item, plan,
};
use super::read::read_unit;
use super::rights::only_onboarding;
use super::settings::ArcSettings;
use super::state::{AzureView, Platform};
use super::status::{StatusEvent, read_final};
use super::trigger::{ArcTrigger, SweepCommand, parse};
use crate::aws::{dynamodb_client, organizations_client, ssm_client, sts_client};
use crate::budget::Budget;
use crate::context::JobContext;
use crate::error::{Failure, InvocationError};
use crate::queue::UnitMessage;
use crate::report::{Action, Item, Outcome, Report, Status};
use crate::run::{self, FleetJob, FleetParts, Path, Unit};
use crate::scope::ScopeRequest;
use crate::sessions::AccountSession;

/// Name of the job in reports and STS session names.
pub const JOB: &str = "arc-provisioner";

/// arc-provisioner's part of a work unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ArcWork {
    /// Instances covered.
    pub selection: Selection,
    /// Send even where already provisioned; re-connect this connector's agents connected elsewhere.
    pub force: bool,
    /// Plan only.
    pub dry_run: bool,
    /// Instances profile-scan just fixed (its report, or its hand-off through the queue): one that
    /// Systems Manager does not list yet is tried again later.
    pub hand_off: bool,
    /// How many times these instances were already put back waiting for registration.
    pub retries: u32,
}

/// The onboarding credential, obtained at most once per run and only when an instance needs it
/// (not per container: a rotated secret is picked up at once); each instance gets it sealed to its
/// own key.
#[derive(Default)]
pub(crate) struct RunCredential {
    /// Each onboarding application's credential and token, obtained once.
    obtained: tokio::sync::Mutex<HashMap<String, Arc<ObtainedOnce>>>,
    /// Each (application, resource group) rights check, once per run.
    checked: tokio::sync::Mutex<HashMap<(String, String), Result<(), Failure>>>,
    /// Each resource group's Arc machines, listed once per run.
    pub(super) machines: tokio::sync::Mutex<HashMap<String, Arc<MachinesOnce>>>,
}

/// One group's Arc machines by name (lower case), listed at most once per run.
pub(super) type MachinesOnce = OnceCell<Result<Arc<HashMap<String, ArcMachine>>, Failure>>;

/// One application's credential, obtained at most once per run.
type ObtainedOnce = OnceCell<Result<Obtained, Failure>>;

/// The job, built once at cold start and reused by warm invocations.
pub struct ArcProvisioner {
    settings: ArcSettings,
    pub(super) documents: HashMap<Platform, String>,
    pub(super) context: JobContext,
    /// Systems Manager of the function's own account, where an opted-in client secret is kept.
    pub(super) secret_store: aws_sdk_ssm::Client,
    /// STS of the function's own region (GetWebIdentityToken has no global endpoint).
    identity_tokens: aws_sdk_sts::Client,
    /// Organizations (an account's own onboarding application, from its tag).
    organizations: aws_sdk_organizations::Client,
    /// The inventory of the Arc machines this connector onboarded (`ARC_INVENTORY_TABLE`).
    pub(super) inventory: Inventory,
}

impl ArcProvisioner {
    /// The job over validated settings (the Azure target is complete).
    pub fn new(settings: ArcSettings, base: SdkConfig) -> Self {
        let documents = HashMap::from([
            (Platform::Linux, settings.linux_document.clone()),
            (Platform::Windows, settings.windows_document.clone()),
        ]);
        let context = JobContext::new(base, settings.fleet.work_queue_url.as_deref());
        let secret_store = ssm_client(context.base(), "own", context.home_region());
        let identity_tokens = sts_client(context.base(), context.home_region());
        let organizations = organizations_client(context.base());
        let inventory =
            Inventory::new(dynamodb_client(context.base(), context.home_region()), settings.inventory_table.clone());
        ArcProvisioner { settings, documents, context, secret_store, identity_tokens, organizations, inventory }
    }

    /// The validated settings.
    pub(super) fn settings(&self) -> &ArcSettings {
        &self.settings
    }

    /// STS of the function's own region.
    pub(super) fn identity_tokens(&self) -> &aws_sdk_sts::Client {
        &self.identity_tokens
    }

    /// The function's own work queue (`WORK_QUEUE_URL`), if any.
    pub(super) fn own_queue(&self) -> Option<&crate::queue::WorkQueue> {
        self.context.own_queue()
    }

    /// The function's own region.
    pub(super) fn home_region(&self) -> &str {
        self.context.home_region()
    }

    /// Handles one invocation payload. `deadline` is when writes must have stopped.
    pub async fn handle(&self, payload: &Value, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let budget = Budget::until(deadline);
        let dry_run = self.settings.common.dry_run;
        // The paths that run units also report the estate's coverage.
        let (report, estate) = match parse(payload)? {
            ArcTrigger::Scheduled => {
                let work = || ArcWork { dry_run, ..ArcWork::default() };
                (Box::pin(run::scoped(self, &ScopeRequest::default(), true, dry_run, &budget, work)).await?, true)
            }
            ArcTrigger::Queue(records) => (Box::pin(run::queued(self, records, &budget)).await?, true),
            ArcTrigger::SweepAndQueue(command, records) => {
                let units = Box::pin(run::queued(self, records, &budget)).await?;
                let command = SweepCommand { dry_run, ..command };
                let swept = Box::pin(self.sweep(&command, &budget)).await?;
                (units.merged(swept), true)
            }
            ArcTrigger::Coverage(_) => return Ok(self.coverage_answer().await),
            ArcTrigger::Preflight => return Box::pin(self.preflight()).await,
            ArcTrigger::Reprovision(command) => {
                let selection =
                    Selection { ids: command.instance_ids.map(|ids| ids.into_iter().collect()), tag: command.tag };
                let unit_dry_run = command.dry_run || dry_run;
                let work = ArcWork { selection, force: command.force, dry_run: unit_dry_run, ..ArcWork::default() };
                let unit = Unit { account_id: command.account_id, region: command.region, work };
                (Box::pin(self.named(vec![unit], unit_dry_run, &budget)).await?, false)
            }
            ArcTrigger::InstanceTerminated { account_id, region, instance_id } => {
                (Box::pin(self.terminated(&account_id, &region, &instance_id, dry_run, &budget)).await?, false)
            }
            ArcTrigger::Sweep(command) => {
                let command = SweepCommand { dry_run: command.dry_run || dry_run, ..command };
                (Box::pin(self.sweep(&command, &budget)).await?, false)
            }
            // A report naming no instance (a preflight's, a scan that fixed nothing) is nothing to do.
            ArcTrigger::ProfileScanCompleted { instances } if instances.is_empty() => {
                return Ok(Report::new(JOB, dry_run, Vec::new(), 0, 0));
            }
            ArcTrigger::ProfileScanCompleted { instances } => {
                (Box::pin(self.named(fixed(instances, dry_run), dry_run, &budget)).await?, false)
            }
            ArcTrigger::CommandStatusChange { account_id, region, command_id, instance_id, document_name, status } => {
                let event = StatusEvent {
                    account_id: &account_id,
                    region: &region,
                    command_id: &command_id,
                    instance_id: &instance_id,
                    document_name: &document_name,
                    status: &status,
                };
                (self.status_change(&event, &budget).await?, false)
            }
        };
        let report = with_metrics(report);
        Ok(if estate { self.with_estate(report).await } else { report })
    }

    /// Units named by a request or an event: only ACTIVE accounts of the organization, in scope.
    pub(super) async fn named(
        &self,
        units: Vec<Unit<ArcWork>>,
        dry_run: bool,
        budget: &Budget,
    ) -> Result<Report, InvocationError> {
        let sessions = run::sessions(self).await?;
        let mut items = Vec::new();
        let rules = self.rules();
        let named: Vec<String> = units.iter().map(|u| u.account_id.clone()).collect();
        let members = rules.members_only(&sessions, &named, "*", &mut items).await;
        let mut admitted = Vec::new();
        for unit in units.into_iter().filter(|u| members.contains(&u.account_id)) {
            match rules.excludes(&unit.account_id, &unit.region) {
                Some(reason) => {
                    items.push(item(&unit.account_id, &unit.region, "*", Status::Skipped, None, reason.into()))
                }
                None => admitted.push(unit),
            }
        }
        Ok(run::inline(self, &sessions, admitted, items, dry_run, budget).await)
    }

    /// Sends the planned batches of one unit in the documents' two phases: prepare to every
    /// planned instance, then the run's credential (obtained once per run, before the first
    /// command) sealed to the key each instance that needs it reported.
    async fn send(
        &self,
        unit: &Unit<ArcWork>,
        ssm: &aws_sdk_ssm::Client,
        batches: &[Batch],
        credential: &RunCredential,
        view: &AzureView,
        budget: &Budget,
    ) -> Vec<Item> {
        let (account_id, region) = (unit.account_id.as_str(), unit.region.as_str());
        let correlation_id = correlation_id(account_id, region);
        let parameters = self.settings.target.parameters(account_id, &correlation_id, unit.work.force);
        let fingerprint = self.settings.target.fingerprint();
        let (prepare_comment, connect_comment) =
            (Phase::Prepare.comment(&fingerprint), Phase::Connect.comment(&fingerprint));
        let run = UnitRun {
            ssm,
            account_id,
            region,
            parameters: &parameters,
            prepare_comment: &prepare_comment,
            connect_comment: &connect_comment,
            max_concurrency: &self.settings.max_concurrency,
            max_errors: &self.settings.max_errors,
            // Track at most DEFAULT_TRACKING: later results come with the status-change events.
            until: budget.cap_instant(Instant::now() + DEFAULT_TRACKING),
        };
        // The credential first: when it cannot be had, no instance is asked for a key in vain.
        let credential = match self.credential_for(account_id, credential).await {
            Ok(credential) => credential,
            Err(reason) => {
                return run.failed(&batches.iter().flat_map(|b| b.instance_ids.clone()).collect::<Vec<_>>(), &reason);
            }
        };
        let (mut items, ready, mut reported) = run.prepare(batches).await;
        if !ready.is_empty() {
            let (delivered, connected) = run.deliver(&ready, &credential.credential).await;
            items.extend(delivered);
            reported.extend(connected);
        }
        self.record(account_id, region, (reported, view), &mut items, &credential.token).await;
        items
    }
}

impl ArcProvisioner {
    /// The run's credential for `account_id`'s instances, once the token was found to hold
    /// nothing beyond onboarding on that account's resource group.
    pub(super) async fn credential_for(&self, account_id: &str, run: &RunCredential) -> Result<Obtained, Failure> {
        let target = &self.settings.target;
        let application = application_of(&self.organizations, target, account_id).await?;
        let cell = run.obtained.lock().await.entry(application.clone()).or_default().clone();
        let obtained =
            cell.get_or_init(|| obtain(&self.secret_store, &self.identity_tokens, target, &application)).await;
        let obtained = obtained.as_ref().map_err(Clone::clone)?;
        let key = (application, target.group(account_id));
        let mut checked = run.checked.lock().await;
        let verdict = match checked.get(&key) {
            Some(verdict) => verdict.clone(),
            None => {
                let verdict = only_onboarding(target, account_id, &key.0, &obtained.token).await;
                checked.insert(key, verdict.clone());
                verdict
            }
        };
        verdict.map(|()| obtained.clone())
    }
}

impl FleetJob for ArcProvisioner {
    type Work = ArcWork;
    type Shared = RunCredential;
    const NAME: &'static str = JOB;
    const ACTION: Action = PROVISION;
    const DONE_TO_OWN: &'static str = "provisioned";
    const RETRY_DELAY_SECONDS: i32 = REGISTRATION_RETRY_DELAY_SECONDS;

    fn parts(&self) -> FleetParts<'_> {
        let settings = &self.settings;
        FleetParts::new(&self.context, &settings.fleet, &settings.common, &settings.member_role)
    }

    fn resource(_: &ArcWork) -> &str {
        "*"
    }

    fn from_message(message: &UnitMessage) -> ArcWork {
        let hand_off = message.instance_ids.is_some();
        let ids = message.instance_ids.clone().map(|ids| ids.into_iter().collect());
        let selection = Selection { ids, tag: None };
        ArcWork { selection, force: false, dry_run: message.dry_run, hand_off, retries: message.propagation_retries }
    }

    async fn work(
        &self,
        unit: &Unit<ArcWork>,
        session: &AccountSession,
        credential: &RunCredential,
        budget: &Budget,
    ) -> Result<Vec<Item>, Failure> {
        let items = self.provision(unit, session, credential, budget).await?;
        // A whole unit's run is its coverage (a named selection is only part of it, and a unit out
        // of time left some instances for later: the previous row stands).
        let whole = unit.work.selection == Selection::default();
        if whole && !unit.work.dry_run && !budget.deferred() {
            self.keep_coverage(&unit.account_id, &unit.region, &items).await;
        }
        Ok(items)
    }

    async fn finish(&self, _: RunCredential, _: Path, _: &[Item]) -> Vec<Item> {
        Vec::new()
    }
}

impl ArcProvisioner {
    /// One unit: read, plan, send, and the items.
    async fn provision(
        &self,
        unit: &Unit<ArcWork>,
        session: &AccountSession,
        credential: &RunCredential,
        budget: &Budget,
    ) -> Result<Vec<Item>, Failure> {
        let (account_id, region, work) = (unit.account_id.as_str(), unit.region.as_str(), &unit.work);
        let (ssm, ec2) = (session.ssm(region), session.ec2(region));
        let ids = work.selection.ids.as_ref();
        let mut state = read_unit(&ec2, &ssm, &session.iam, &self.documents, ids, !work.force).await?;
        let candidates = candidates(&state);
        if !candidates.is_empty() {
            state.azure = self
                .azure_view(account_id, &candidates, credential)
                .await
                .unwrap_or_else(|failure| AzureView { unreadable: Some(failure.to_string()), ..AzureView::default() });
        }
        let fingerprint = self.settings.target.fingerprint();
        let policy = Policy {
            account_id,
            region,
            fleet: &self.settings.fleet,
            force: work.force,
            fingerprint: &fingerprint,
            documents: &self.documents,
            max_deliveries: self.settings.max_deliveries,
            // A hand-off whose instance has not registered yet goes back on the queue, a few times.
            retry_registration: (work.hand_off && !work.dry_run && self.own_queue().is_some())
                .then_some(work.retries)
                .filter(|tries| *tries < MAX_REGISTRATION_RETRIES),
        };
        let planned = plan(&state, &work.selection, &policy);
        let mut items = planned.items;
        if work.dry_run {
            items.extend(would_send(account_id, region, &planned.batches));
            return Ok(items);
        }
        if planned.batches.is_empty() {
            return Ok(items);
        }
        if !budget.may_start() {
            let reason = "deferred: the invocation's time budget is spent; the next run provisions it";
            let ids = planned.batches.iter().flat_map(|b| b.instance_ids.iter());
            items.extend(ids.map(|id| item(account_id, region, id, Status::Skipped, None, reason.into())));
            return Ok(items);
        }
        items.extend(self.send(unit, &ssm, &planned.batches, credential, &state.azure, budget).await);
        Ok(items)
    }
}

/// The unit's instances that are managed and online: Azure is read for them.
fn candidates(state: &super::state::UnitState) -> Vec<String> {
    let online = |i: &&super::state::Ec2Instance| state.managed.get(&i.id).is_some_and(|m| m.ping_status == "Online");
    state.instances.iter().filter(online).map(|i| i.id.clone()).collect()
}

/// The units of profile-scan's fixed instances, one per (account, region).
fn fixed(instances: Vec<(String, String, String)>, dry_run: bool) -> Vec<Unit<ArcWork>> {
    let mut units: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (account, region, id) in instances {
        units.entry((account, region)).or_default().insert(id);
    }
    units
        .into_iter()
        .map(|((account_id, region), ids)| {
            let selection = Selection { ids: Some(ids), tag: None };
            Unit { account_id, region, work: ArcWork { selection, dry_run, hand_off: true, ..ArcWork::default() } }
        })
        .collect()
}

/// A dry run's items: the instances each batch would be sent to.
fn would_send(account_id: &str, region: &str, batches: &[Batch]) -> Vec<Item> {
    let mut items = Vec::new();
    for batch in batches {
        for id in &batch.instance_ids {
            let reason = format!("would send {} version {}", batch.document, batch.document_version);
            items.push(item(account_id, region, id, Status::Planned, None, reason));
        }
    }
    items
}

impl ArcProvisioner {
    /// One instance's final status from a status-change event (forwarded from the member account).
    async fn status_change(&self, event: &StatusEvent<'_>, budget: &Budget) -> Result<Report, InvocationError> {
        let StatusEvent { account_id, region, command_id, instance_id, document_name, status } = *event;
        let report = |item: Item| Report::new(JOB, false, vec![item], 1, 0);
        if !self.documents.values().any(|d| d == document_name) {
            let reason = format!("command {command_id} ran {document_name}, not a connector document");
            return Ok(report(item(account_id, region, instance_id, Status::Skipped, None, reason)));
        }
        if !is_final(status) {
            let reason = format!("command {command_id} is {status}");
            let in_progress = Some(Outcome::InProgress);
            return Ok(report(item(account_id, region, instance_id, Status::Skipped, in_progress, reason)));
        }
        if let Some(reason) = self.rules().excludes(account_id, region) {
            let reason = reason.to_string();
            return Ok(report(item(account_id, region, instance_id, Status::Skipped, None, reason)));
        }
        let sessions = run::sessions(self).await?;
        let mut refused = Vec::new();
        if self.rules().members_only(&sessions, &[account_id.to_string()], instance_id, &mut refused).await.is_empty() {
            let failed = refused.iter().filter(|i| i.status == Status::Failed).count();
            return Ok(Report::new(JOB, false, refused, 1, failed));
        }
        let found = match sessions.for_account(account_id).await {
            Ok(session) => read_final(&session.ssm(region), event, budget).await,
            Err(reason) => Err(item(account_id, region, instance_id, Status::Failed, None, reason.to_string())),
        };
        Ok(match found {
            Ok(found) => Report::new(JOB, false, vec![found], 1, 0),
            Err(failed) => Report::new(JOB, false, vec![failed], 1, 1),
        })
    }
}

/// The report with arc-provisioner's coverage metrics for the metrics line: instances connected,
/// managed by SSM, and not managed.
fn with_metrics(report: Report) -> Report {
    use Outcome::*;
    let count =
        |names: &[Outcome]| report.items.iter().filter(|i| i.outcome.is_some_and(|o| names.contains(&o))).count();
    let done = |outcome: Outcome| {
        report.items.iter().filter(|i| i.outcome == Some(outcome) && i.status == Status::Done).count()
    };
    let metrics = vec![
        ("ArcConnected", count(&[Connected, AlreadyConnected, Adopted])),
        (
            "InstancesManaged",
            count(&[
                Connected,
                AlreadyConnected,
                Adopted,
                Disconnected,
                ConnectedElsewhere,
                Failed,
                TimedOut,
                InProgress,
            ]),
        ),
        ("InstancesNotManaged", count(&[NotManaged])),
        ("ArcMachinesDeleted", done(Deleted)),
        ("ArcMachinesRepaired", done(Repaired)),
        ("ArcMachinesKept", count(&[Kept])),
    ];
    report.with_metrics(metrics)
}

/// A GUID-shaped id for one unit's commands (in the agent's log and the Arc resource), unique
/// enough without a random source: account, region and the current time, hashed.
fn correlation_id(account_id: &str, region: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let fnv = |seed: u64, text: &str| text.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let text = format!("{account_id}/{region}/{nanos}");
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325, &text), fnv(0x8422_2325_cbf2_9ce4, &text));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arc::forms::is_guid;

    #[test]
    fn coverage_metrics_count_outcomes() {
        let outcome =
            |o: Option<Outcome>, status: Status| item("111111111111", "eu-west-1", "i-1", status, o, String::new());
        let report = Report::new(
            JOB,
            false,
            vec![
                outcome(Some(Outcome::Connected), Status::Done),
                outcome(Some(Outcome::AlreadyConnected), Status::Skipped),
                outcome(Some(Outcome::NotManaged), Status::Skipped),
                outcome(Some(Outcome::Failed), Status::Failed),
                outcome(None, Status::Done),
            ],
            2,
            0,
        );
        let metrics: HashMap<&str, usize> = with_metrics(report).metrics.into_iter().collect();
        assert_eq!(metrics["ArcConnected"], 2);
        assert_eq!(metrics["InstancesManaged"], 3);
        assert_eq!(metrics["InstancesNotManaged"], 1);
    }

    #[test]
    fn correlation_ids_are_guids() {
        let a = correlation_id("111111111111", "eu-west-1");
        assert!(is_guid(&a), "{a}");
        assert_ne!(a, correlation_id("111111111111", "eu-west-2"));
    }
}
