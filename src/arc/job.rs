//! The `arc-provisioner` job: turns a trigger into work units, runs them concurrently with
//! failure isolation, and assembles the run report.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::execute::{UnitRun, clean_up_staged, item};
use super::outcome::is_final;
use super::plan::{Policy, Selection, plan};
use super::read::read_unit;
use super::send::{CommandSettings, DEFAULT_TRACKING, Secret, invocation_result, read_secret};
use super::settings::ArcTarget;
use super::state::Platform;
use crate::aws::{Identity, Sessions, ec2_client, organizations_client, ssm_client};
use crate::config::Config;
use crate::error::{ConfigError, EventError, InvocationError};
use crate::event::{ManualRequest, Trigger, parse};
use crate::profile::iam::{AccountSession, AccountSessions};
use crate::report::{Item, Report, Status, collect_units};
use crate::scope::{Membership, enabled_regions, membership};

/// Name of the job in reports and STS session names.
pub const JOB: &str = "arc-provisioner";
/// Times `GetCommandInvocation` is asked after a status event before giving up on
/// `InvocationDoesNotExist`.
const STATUS_EVENT_ATTEMPTS: u32 = 4;

/// One (account, region) to provision, and which of its instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitRequest {
    /// Account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Instances covered.
    pub selection: Selection,
}

/// What one invocation covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProvisionRequest {
    /// The units; `None` means every account in scope times every configured region.
    pub units: Option<Vec<UnitRequest>>,
    /// Send even where already provisioned; re-connect agents connected elsewhere.
    pub force: bool,
    /// Plan only.
    pub dry_run: bool,
}

/// The job, built once at cold start and reused by warm invocations.
pub struct ArcProvisioner {
    config: Config,
    target: ArcTarget,
    documents: HashMap<Platform, String>,
    base: SdkConfig,
    identity: OnceCell<Identity>,
}

impl ArcProvisioner {
    /// Fails, naming the variable, when the Azure target is incomplete.
    pub fn new(config: Config, base: SdkConfig) -> Result<Self, ConfigError> {
        let target = config.arc.target()?;
        let documents = HashMap::from([
            (Platform::Linux, config.arc.linux_document.clone()),
            (Platform::Windows, config.arc.windows_document.clone()),
        ]);
        Ok(ArcProvisioner { config, target, documents, base, identity: OnceCell::new() })
    }

    /// Handles one invocation payload. `deadline` is when writes must have stopped.
    pub async fn handle(&self, payload: &Value, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let request = match parse(payload)? {
            Trigger::Scheduled => ProvisionRequest { units: None, force: false, dry_run: self.config.dry_run },
            Trigger::Manual(ManualRequest::Reprovision { account_id, region, instance_ids, tag, force, dry_run }) => {
                let selection = Selection { ids: instance_ids.map(|ids| ids.into_iter().collect()), tag };
                ProvisionRequest {
                    units: Some(vec![UnitRequest { account_id, region, selection }]),
                    force,
                    dry_run: dry_run || self.config.dry_run,
                }
            }
            Trigger::ProfileScanCompleted { instances } => {
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
                ProvisionRequest { units: Some(units), force: false, dry_run: self.config.dry_run }
            }
            Trigger::CommandStatusChange { account_id, region, command_id, instance_id, document_name, status } => {
                return self
                    .status_change(&account_id, &region, &command_id, &instance_id, &document_name, &status)
                    .await;
            }
            Trigger::Manual(other) => {
                let name = match other {
                    ManualRequest::Scan { .. } => "scan (send it to profile-scan)",
                    _ => "reconcile (send it to account-discovery)",
                };
                return Err(EventError::NotHandled(format!("the manual action {name}")).into());
            }
            Trigger::InstanceStateChange { .. } => {
                return Err(EventError::NotHandled(
                    "EC2 instance state changes (profile-scan fixes new instances, then its report triggers provisioning)".into(),
                )
                .into());
            }
            Trigger::Other { source, detail_type } => {
                return Err(EventError::NotHandled(format!("{detail_type:?} events from {source}")).into());
            }
        };
        Box::pin(self.run(&request, deadline)).await
    }

    async fn sessions(&self) -> Result<Sessions, InvocationError> {
        let identity = self
            .identity
            .get_or_try_init(|| Identity::discover(&self.base))
            .await
            .map_err(InvocationError::Identity)?
            .clone();
        Ok(Sessions::new(self.base.clone(), identity, &self.config.arc.member_role, JOB))
    }

    /// Runs a provisioning request.
    pub async fn run(&self, request: &ProvisionRequest, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let sessions = self.sessions().await?;
        let policy_arn = sessions.identity().ssm_core_policy_arn();
        let mut items = Vec::new();
        let units = match &request.units {
            Some(units) => self.narrow(units, &mut items),
            None => self.all_units(&sessions, &mut items).await?,
        };
        let accounts: BTreeSet<String> = units.iter().map(|u| u.account_id.clone()).collect();
        let account_sessions = AccountSessions::new(&sessions, &policy_arn, accounts);
        // Read once per invocation (not per container): a rotated secret is picked up at once.
        let secret: OnceCell<Result<Secret, String>> = OnceCell::new();
        let unit_count = units.len();
        let results: Vec<Result<Vec<Item>, Item>> = futures::stream::iter(units)
            .map(|unit| {
                let (account_sessions, secret) = (&account_sessions, &secret);
                async move {
                    let session = account_sessions.get(&unit.account_id).await;
                    // Boxed: the unit future is large, and unboxed it overflows the layout computation.
                    Box::pin(self.unit(&unit, session, secret, request, deadline)).await
                }
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        let failed_units = collect_units(&mut items, results);
        Ok(Report::new(JOB, request.dry_run, items, unit_count, failed_units))
    }

    async fn unit(
        &self,
        unit: &UnitRequest,
        session: AccountSession,
        secret: &OnceCell<Result<Secret, String>>,
        request: &ProvisionRequest,
        deadline: Option<Instant>,
    ) -> Result<Vec<Item>, Item> {
        let (account_id, region) = (unit.account_id.as_str(), unit.region.as_str());
        let fail = |reason: String| {
            tracing::warn!(account_id, region, %reason, "work unit failed");
            item(account_id, region, "*", Status::Failed, None, reason)
        };
        let (config, iam) = session.map_err(fail)?;
        let ssm = ssm_client(&config, region);
        let ec2 = ec2_client(&config, region);
        let state = read_unit(&ec2, &ssm, &iam, &self.documents, unit.selection.ids.as_ref(), !request.force)
            .await
            .map_err(fail)?;
        let fingerprint = self.target.fingerprint();
        let policy = Policy {
            account_id,
            region,
            opt_out_tag: &self.config.opt_out_tag,
            force: request.force,
            fingerprint: &fingerprint,
            documents: &self.documents,
        };
        let planned = plan(&state, &unit.selection, &policy);
        let mut items = planned.items;
        let history_in_progress = state.history.values().any(|run| !is_final(&run.status));
        if request.dry_run {
            for batch in &planned.batches {
                for id in &batch.instance_ids {
                    let reason = format!("would send {} version {}", batch.document, batch.document_version);
                    items.push(item(account_id, region, id, Status::Planned, None, reason));
                }
            }
            return Ok(items);
        }
        let staged = self.config.arc.staged_credential_parameter.as_str();
        if planned.batches.is_empty() {
            if !history_in_progress {
                items.extend(clean_up_staged(&ssm, account_id, region, staged, false).await);
            }
            return Ok(items);
        }
        let sent_ids = planned.batches.iter().flat_map(|b| b.instance_ids.iter().cloned());
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let reason = "deferred: the invocation's time budget is spent; the next run provisions it";
            items.extend(sent_ids.map(|id| item(account_id, region, &id, Status::Skipped, None, reason.into())));
            return Ok(items);
        }
        let secret = secret
            .get_or_init(|| async {
                let region = self.base.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
                read_secret(&ssm_client(&self.base, &region), &self.target.credential_parameter).await
            })
            .await;
        let correlation_id = correlation_id(account_id, region);
        let parameters = self.target.parameters(account_id, staged, &correlation_id, request.force);
        let comment = format!("mdc-connector arc-provisioner {fingerprint}");
        // Track at most DEFAULT_TRACKING: later results come with the status-change events.
        let cap = Instant::now() + DEFAULT_TRACKING;
        let run = UnitRun {
            ssm: &ssm,
            account_id,
            region,
            staged,
            settings: CommandSettings {
                parameters: &parameters,
                comment: &comment,
                max_concurrency: &self.config.arc.max_concurrency,
                max_errors: &self.config.arc.max_errors,
            },
            until: deadline.map_or(cap, |d| d.min(cap)),
        };
        items.extend(run.apply(&planned.batches, secret.as_ref(), history_in_progress).await);
        Ok(items)
    }

    /// One instance's final status from a status-change event (forwarded from the member account).
    async fn status_change(
        &self,
        account_id: &str,
        region: &str,
        command_id: &str,
        instance_id: &str,
        document_name: &str,
        status: &str,
    ) -> Result<Report, InvocationError> {
        let report = |item: Item| Report::new(JOB, false, vec![item], 1, 0);
        if !self.documents.values().any(|d| d == document_name) {
            let reason = format!("command {command_id} ran {document_name}, not a connector document");
            return Ok(report(item(account_id, region, instance_id, Status::Skipped, None, reason)));
        }
        if !is_final(status) {
            let reason = format!("command {command_id} is {status}");
            return Ok(report(item(account_id, region, instance_id, Status::Skipped, Some("in-progress"), reason)));
        }
        if self.config.excluded_accounts.contains(account_id) {
            let reason = "excluded by CONNECTOR_EXCLUDED_ACCOUNTS".to_string();
            return Ok(report(item(account_id, region, instance_id, Status::Skipped, None, reason)));
        }
        let sessions = self.sessions().await?;
        let config = match sessions.for_account(account_id).await {
            Ok(config) => config,
            Err(reason) => {
                let failed = item(account_id, region, instance_id, Status::Failed, None, reason);
                return Ok(Report::new(JOB, false, vec![failed], 1, 1));
            }
        };
        let ssm = ssm_client(&config, region);
        let mut last = None;
        for attempt in 0..STATUS_EVENT_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
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

    /// Explicit units, minus excluded accounts and regions outside `CONNECTOR_REGIONS`.
    fn narrow(&self, units: &[UnitRequest], items: &mut Vec<Item>) -> Vec<UnitRequest> {
        let mut out = Vec::new();
        for unit in units {
            let (account, region) = (&unit.account_id, &unit.region);
            if self.config.excluded_accounts.contains(account) {
                let reason = "excluded by CONNECTOR_EXCLUDED_ACCOUNTS".to_string();
                items.push(item(account, region, "*", Status::Skipped, None, reason));
            } else if self.config.regions.as_ref().is_some_and(|r| !r.contains(region)) {
                items.push(item(
                    account,
                    region,
                    "*",
                    Status::Skipped,
                    None,
                    "region outside CONNECTOR_REGIONS".into(),
                ));
            } else {
                out.push(unit.clone());
            }
        }
        out
    }

    /// Every ACTIVE account in scope (or the own account) times every configured region.
    async fn all_units(&self, sessions: &Sessions, items: &mut Vec<Item>) -> Result<Vec<UnitRequest>, InvocationError> {
        let own = sessions.identity().account_id.clone();
        let accounts = match membership(&organizations_client(sessions.base())).await {
            Ok(Membership::Organization { active, .. }) => active,
            Ok(Membership::Standalone) => vec![own.clone()],
            Err(reason) => {
                let reason = format!("{reason}; only the function's own account is provisioned");
                items.push(item(&own, "*", "organization", Status::Failed, None, reason));
                vec![own]
            }
        };
        let regions = match &self.config.regions {
            Some(regions) => regions.clone(),
            None => {
                let region = self.base.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
                enabled_regions(&ec2_client(&self.base, &region)).await.map_err(InvocationError::Regions)?
            }
        };
        let mut units = Vec::new();
        for account in accounts {
            if self.config.excluded_accounts.contains(&account) {
                let reason = "excluded by CONNECTOR_EXCLUDED_ACCOUNTS".to_string();
                items.push(item(&account, "*", "*", Status::Skipped, None, reason));
                continue;
            }
            for region in &regions {
                units.push(UnitRequest {
                    account_id: account.clone(),
                    region: region.clone(),
                    selection: Selection::default(),
                });
            }
        }
        Ok(units)
    }
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
    fn correlation_ids_are_guids() {
        let a = correlation_id("111111111111", "eu-west-1");
        assert!(is_guid(&a), "{a}");
        assert_ne!(a, correlation_id("111111111111", "eu-west-2"));
    }
}
