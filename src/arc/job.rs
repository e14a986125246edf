//! The `arc-provisioner` job: turns a trigger into work units, runs them concurrently with
//! failure isolation, and assembles the run report.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::credential::{Credential, obtain};
use super::execute::{UnitRun, item, sweep_staged};
use super::outcome::is_final;
use super::plan::{PROVISION, Policy, Selection, plan};
use super::read::read_unit;
use super::send::{CommandSettings, DEFAULT_TRACKING, STAGED_LIFETIME, invocation_result, staged_name};
use super::settings::ArcSettings;
use super::state::Platform;
use super::trigger::{ArcTrigger, parse};
use crate::aws::ssm_client;
use crate::error::{Failure, InvocationError};
use crate::queue::{QueueRecord, WorkQueue};
use crate::report::{Item, Report, Status};
use crate::run::{QueueBatch, UNIT_DEFERRED, UnitResult, enqueue, fan_out, run_each, spent};
use crate::scope::{ScopeRequest, ScopeRules, region_not_enabled};
use crate::sessions::{AccountSession, Identity, Sessions};

/// Name of the job in reports and STS session names.
pub const JOB: &str = "arc-provisioner";
/// Times `GetCommandInvocation` is asked after a status event before giving up on
/// `InvocationDoesNotExist`.
const STATUS_EVENT_ATTEMPTS: u32 = 4;

/// One (account, region) to provision, and which of its instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnitRequest {
    /// Account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Instances covered.
    pub selection: Selection,
}

/// What one invocation covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProvisionRequest {
    /// The units; `None` means every account in scope times every configured region.
    pub units: Option<Vec<UnitRequest>>,
    /// Send even where already provisioned; re-connect agents connected elsewhere.
    pub force: bool,
    /// Plan only.
    pub dry_run: bool,
}

/// The job, built once at cold start and reused by warm invocations.
pub struct ArcProvisioner {
    settings: ArcSettings,
    documents: HashMap<Platform, String>,
    base: SdkConfig,
    identity: OnceCell<Identity>,
}

impl ArcProvisioner {
    /// The job over validated settings (the Azure target is complete).
    pub fn new(settings: ArcSettings, base: SdkConfig) -> Self {
        let documents = HashMap::from([
            (Platform::Linux, settings.arc.linux_document.clone()),
            (Platform::Windows, settings.arc.windows_document.clone()),
        ]);
        ArcProvisioner { settings, documents, base, identity: OnceCell::new() }
    }

    /// Handles one invocation payload. `deadline` is when writes must have stopped.
    pub async fn handle(&self, payload: &Value, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let dry_run = self.settings.common.dry_run;
        let request = match parse(payload)? {
            ArcTrigger::Scheduled => ProvisionRequest { units: None, force: false, dry_run },
            ArcTrigger::Queue(records) => return Ok(with_metrics(Box::pin(self.work(records, deadline)).await?)),
            ArcTrigger::Reprovision(command) => {
                let selection =
                    Selection { ids: command.instance_ids.map(|ids| ids.into_iter().collect()), tag: command.tag };
                ProvisionRequest {
                    units: Some(vec![UnitRequest {
                        account_id: command.account_id,
                        region: command.region,
                        selection,
                    }]),
                    force: command.force,
                    dry_run: command.dry_run || dry_run,
                }
            }
            ArcTrigger::ProfileScanCompleted { instances } => {
                let mut units: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
                for (account, region, id) in instances {
                    units.entry((account, region)).or_default().insert(id);
                }
                let units = units
                    .into_iter()
                    .map(|((account_id, region), ids)| UnitRequest {
                        account_id,
                        region,
                        selection: Selection { ids: Some(ids), tag: None },
                    })
                    .collect();
                ProvisionRequest { units: Some(units), force: false, dry_run }
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
                return Ok(with_metrics(self.status_change(&event, deadline).await?));
            }
        };
        Ok(with_metrics(Box::pin(self.run(&request, deadline)).await?))
    }

    async fn sessions(&self) -> Result<Sessions, InvocationError> {
        let identity = self
            .identity
            .get_or_try_init(|| Identity::discover(&self.base))
            .await
            .map_err(InvocationError::Identity)?
            .clone();
        Ok(Sessions::new(self.base.clone(), identity, &self.settings.arc.member_role, JOB))
    }

    fn rules(&self) -> ScopeRules<'_> {
        ScopeRules {
            excluded: &self.settings.common.excluded_accounts,
            regions: self.settings.fleet.regions.as_deref(),
            action: PROVISION,
            done_to_own: "provisioned",
        }
    }

    /// Runs a provisioning request.
    pub(crate) async fn run(
        &self,
        request: &ProvisionRequest,
        deadline: Option<Instant>,
    ) -> Result<Report, InvocationError> {
        let sessions = self.sessions().await?;
        let mut items = Vec::new();
        let rules = self.rules();
        let units = match &request.units {
            Some(units) => {
                let named: Vec<String> = units.iter().map(|u| u.account_id.clone()).collect();
                let members = rules.members_only(&sessions, &named, "*", &mut items).await;
                let mut admitted = Vec::new();
                for unit in units.iter().filter(|u| members.contains(&u.account_id)) {
                    match rules.excludes(&unit.account_id, &unit.region) {
                        Some(reason) => {
                            items.push(item(&unit.account_id, &unit.region, "*", Status::Skipped, None, reason.into()))
                        }
                        None => admitted.push(unit.clone()),
                    }
                }
                admitted
            }
            None => {
                let units = rules.units(&sessions, &ScopeRequest::default(), &mut items).await?;
                if let (Some(url), false) = (&self.settings.fleet.work_queue_url, request.dry_run) {
                    let queue = WorkQueue::new(&self.base, url);
                    items.extend(enqueue(&queue, JOB, units).await);
                    return Ok(Report::new(JOB, false, items, 0, 0));
                }
                units
                    .into_iter()
                    .map(|(account_id, region)| UnitRequest { account_id, region, selection: Selection::default() })
                    .collect()
            }
        };
        // Obtained once per invocation (not per container): a rotated secret is picked up at once,
        // and every unit of the invocation stages the same short-lived token.
        let credential: OnceCell<Result<Credential, Failure>> = OnceCell::new();
        let unit_count = units.len();
        let (unit_items, failed_units) = fan_out(units, self.settings.fleet.concurrency, |unit| {
            let (sessions, credential) = (&sessions, &credential);
            async move {
                let session = sessions.for_account(&unit.account_id).await;
                // Boxed: the unit future is large, and unboxed it overflows the layout computation.
                Box::pin(self.unit(&unit, session, credential, request, deadline)).await
            }
        })
        .await;
        items.extend(unit_items);
        Ok(Report::new(JOB, request.dry_run, items, unit_count, failed_units))
    }

    /// Work units from the queue (the schedule's units, profile-scan's hand-offs): each record one
    /// (account, region), optionally some of its instances. A unit not started for lack of time
    /// continues through a new message; a failed unit's record is delivered again (and
    /// dead-lettered if it keeps failing).
    async fn work(&self, records: Vec<QueueRecord>, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let sessions = self.sessions().await?;
        let mut batch = QueueBatch::sort(records, JOB, &self.rules());
        let unit_count = batch.units.len();
        let credential: OnceCell<Result<Credential, Failure>> = OnceCell::new();
        let results = run_each(std::mem::take(&mut batch.units), self.settings.fleet.concurrency, |(id, message)| {
            let (sessions, credential) = (&sessions, &credential);
            async move {
                let ids = message.instance_ids.clone().map(|ids| ids.into_iter().collect());
                let unit = UnitRequest {
                    account_id: message.account_id.clone(),
                    region: message.region.clone(),
                    selection: Selection { ids, tag: None },
                };
                let request = ProvisionRequest { units: None, force: false, dry_run: message.dry_run };
                let session = sessions.for_account(&unit.account_id).await;
                let result = Box::pin(self.unit(&unit, session, credential, &request, deadline)).await;
                (id, message, result)
            }
        })
        .await;
        let own_queue = self.settings.fleet.work_queue_url.as_deref().map(|url| WorkQueue::new(&self.base, url));
        batch.settle(results, PROVISION, own_queue.as_ref(), self.settings.fleet.continuation_delay_seconds).await;
        let report = Report::new(JOB, false, batch.items, unit_count, batch.failed_units);
        Ok(report.with_failed_records(batch.failed_records))
    }

    async fn unit(
        &self,
        unit: &UnitRequest,
        session: Result<std::sync::Arc<AccountSession>, Failure>,
        credential: &OnceCell<Result<Credential, Failure>>,
        request: &ProvisionRequest,
        deadline: Option<Instant>,
    ) -> UnitResult {
        let (account_id, region) = (unit.account_id.as_str(), unit.region.as_str());
        let fail = |reason: Failure| {
            tracing::warn!(account_id, region, %reason, "work unit failed");
            item(account_id, region, "*", Status::Failed, None, reason.to_string())
        };
        if spent(deadline) {
            return Ok(vec![item(account_id, region, "*", Status::Skipped, None, UNIT_DEFERRED.into())]);
        }
        let session = session.map_err(fail)?;
        if let Some(skipped) = region_not_enabled(&session, account_id, region, "*", PROVISION).await {
            return Ok(vec![skipped]);
        }
        let ssm = session.ssm(region);
        let ec2 = session.ec2(region);
        let state = read_unit(&ec2, &ssm, &session.iam, &self.documents, unit.selection.ids.as_ref(), !request.force)
            .await
            .map_err(fail)?;
        let fingerprint = self.settings.target.fingerprint();
        let policy = Policy {
            account_id,
            region,
            opt_out_tag: &self.settings.fleet.opt_out_tag,
            force: request.force,
            fingerprint: &fingerprint,
            documents: &self.documents,
        };
        let planned = plan(&state, &unit.selection, &policy);
        let mut items = planned.items;
        if request.dry_run {
            for batch in &planned.batches {
                for id in &batch.instance_ids {
                    let reason = format!("would send {} version {}", batch.document, batch.document_version);
                    items.push(item(account_id, region, id, Status::Planned, None, reason));
                }
            }
            return Ok(items);
        }
        let prefix = self.settings.arc.staged_credential_parameter.as_str();
        items.extend(sweep_staged(&ssm, account_id, region, prefix).await);
        if planned.batches.is_empty() {
            return Ok(items);
        }
        let sent_ids = planned.batches.iter().flat_map(|b| b.instance_ids.iter().cloned());
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let reason = "deferred: the invocation's time budget is spent; the next run provisions it";
            items.extend(sent_ids.map(|id| item(account_id, region, &id, Status::Skipped, None, reason.into())));
            return Ok(items);
        }
        let credential = credential
            .get_or_init(|| async {
                let region = self.base.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
                let own = self.identity.get().map(|i| i.account_id.clone()).unwrap_or_default();
                obtain(&ssm_client(&self.base, &own, &region), &self.settings.target).await
            })
            .await;
        let staged_until = match credential {
            Ok(credential) => credential.stage_until(SystemTime::now(), STAGED_LIFETIME),
            Err(_) => SystemTime::now(),
        };
        let staged = staged_name(prefix, staged_until);
        let staged = staged.as_str();
        let correlation_id = correlation_id(account_id, region);
        let parameters = self.settings.target.parameters(account_id, staged, &correlation_id, request.force);
        let comment = format!("mdc-connector arc-provisioner {fingerprint}");
        // Track at most DEFAULT_TRACKING: later results come with the status-change events.
        let cap = Instant::now() + DEFAULT_TRACKING;
        let run = UnitRun {
            ssm: &ssm,
            account_id,
            region,
            staged,
            staged_until,
            settings: CommandSettings {
                parameters: &parameters,
                comment: &comment,
                max_concurrency: &self.settings.arc.max_concurrency,
                max_errors: &self.settings.arc.max_errors,
            },
            until: deadline.map_or(cap, |d| d.min(cap)),
        };
        items.extend(run.apply(&planned.batches, credential.as_ref()).await);
        Ok(items)
    }

    /// One instance's final status from a status-change event (forwarded from the member account).
    async fn status_change(
        &self,
        event: &StatusEvent<'_>,
        deadline: Option<Instant>,
    ) -> Result<Report, InvocationError> {
        let StatusEvent { account_id, region, command_id, instance_id, document_name, status } = *event;
        let report = |item: Item| Report::new(JOB, false, vec![item], 1, 0);
        if !self.documents.values().any(|d| d == document_name) {
            let reason = format!("command {command_id} ran {document_name}, not a connector document");
            return Ok(report(item(account_id, region, instance_id, Status::Skipped, None, reason)));
        }
        if !is_final(status) {
            let reason = format!("command {command_id} is {status}");
            return Ok(report(item(account_id, region, instance_id, Status::Skipped, Some("in-progress"), reason)));
        }
        if let Some(reason) = self.rules().excludes(account_id, region) {
            let reason = reason.to_string();
            return Ok(report(item(account_id, region, instance_id, Status::Skipped, None, reason)));
        }
        let sessions = self.sessions().await?;
        let mut refused = Vec::new();
        if self.rules().members_only(&sessions, &[account_id.to_string()], instance_id, &mut refused).await.is_empty() {
            let failed = refused.iter().filter(|i| i.status == Status::Failed).count();
            return Ok(Report::new(JOB, false, refused, 1, failed));
        }
        let session = match sessions.for_account(account_id).await {
            Ok(session) => session,
            Err(reason) => {
                let failed = item(account_id, region, instance_id, Status::Failed, None, reason.to_string());
                return Ok(Report::new(JOB, false, vec![failed], 1, 1));
            }
        };
        let ssm = session.ssm(region);
        let mut last = None;
        for attempt in 0..STATUS_EVENT_ATTEMPTS {
            if attempt > 0 {
                if spent(deadline) {
                    break;
                }
                let wait = std::time::Duration::from_millis(500 << attempt);
                let left = deadline.map_or(wait, |d| d.saturating_duration_since(Instant::now()));
                tokio::time::sleep(wait.min(left)).await;
            }
            match invocation_result(&ssm, command_id, instance_id).await {
                Ok(Some(outcome)) => {
                    let found =
                        item(account_id, region, instance_id, outcome.status, Some(outcome.name), outcome.reason);
                    return Ok(report(found));
                }
                Ok(None) => last = None,
                Err(e) => last = Some(e),
            }
        }
        let reason = match last {
            Some(e) => format!("command {command_id} ended {status}, but its result could not be read: {e}"),
            None => format!("command {command_id} ended {status}, but SSM does not show the invocation yet"),
        };
        Ok(Report::new(JOB, false, vec![item(account_id, region, instance_id, Status::Failed, None, reason)], 1, 1))
    }
}

/// An `EC2 Command Invocation Status-change Notification`, borrowed from the trigger.
#[derive(Clone, Copy)]
struct StatusEvent<'a> {
    account_id: &'a str,
    region: &'a str,
    command_id: &'a str,
    instance_id: &'a str,
    document_name: &'a str,
    status: &'a str,
}

/// The report with arc-provisioner's coverage metrics for the metrics line: instances connected,
/// managed by SSM, and not managed.
fn with_metrics(report: Report) -> Report {
    let count = |names: &[&str]| {
        report.items.iter().filter(|i| i.outcome.as_deref().is_some_and(|o| names.contains(&o))).count()
    };
    let metrics = vec![
        ("ArcConnected", count(&["connected", "already-connected"])),
        (
            "InstancesManaged",
            count(&["connected", "already-connected", "connected-elsewhere", "failed", "timed-out", "in-progress"]),
        ),
        ("InstancesNotManaged", count(&["not-managed"])),
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
    use crate::arc::settings::is_guid;

    #[test]
    fn coverage_metrics_count_outcomes() {
        let outcome =
            |o: Option<&str>, status: Status| item("111111111111", "eu-west-1", "i-1", status, o, String::new());
        let report = Report::new(
            JOB,
            false,
            vec![
                outcome(Some("connected"), Status::Done),
                outcome(Some("already-connected"), Status::Skipped),
                outcome(Some("not-managed"), Status::Skipped),
                outcome(Some("failed"), Status::Failed),
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
