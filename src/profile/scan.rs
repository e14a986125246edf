//! The `profile-scan` job: turns a trigger into work units, runs them concurrently with failure
//! isolation, and assembles the run report.

use std::time::Instant;

use aws_config::SdkConfig;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::apply::Unit;
use super::iam::{AccountSession, AccountSessions};
use super::plan::{Policy, action, plan};
use super::read::read_unit;
use crate::aws::{Identity, Sessions, ec2_client, organizations_client};
use crate::config::Config;
use crate::error::{EventError, InvocationError};
use crate::event::{ManualRequest, Trigger, parse};
use crate::report::{Item, Report, Status, collect_units};
use crate::scope::{Membership, enabled_regions, membership};

/// Name of the job in reports and STS session names.
pub const JOB: &str = "profile-scan";

/// What one invocation covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanRequest {
    /// Only these accounts (default: every account in scope).
    pub accounts: Option<Vec<String>>,
    /// Only these regions (default: the configured ones).
    pub regions: Option<Vec<String>>,
    /// Only this instance (launch events).
    pub instance_id: Option<String>,
    /// Plan only.
    pub dry_run: bool,
}

/// The job, built once at cold start and reused by warm invocations.
pub struct ProfileScan {
    config: Config,
    base: SdkConfig,
    identity: OnceCell<Identity>,
}

impl ProfileScan {
    /// `base` is the function's own SDK config (see [`crate::aws::load_base_config`]).
    pub fn new(config: Config, base: SdkConfig) -> Self {
        ProfileScan { config, base, identity: OnceCell::new() }
    }

    /// Handles one invocation payload. `deadline` is when the invocation must have returned.
    pub async fn handle(&self, payload: &Value, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let request = match parse(payload)? {
            Trigger::Scheduled => ScanRequest { dry_run: self.config.dry_run, ..ScanRequest::default() },
            Trigger::Manual(ManualRequest::Scan { account_ids, regions, dry_run }) => ScanRequest {
                accounts: account_ids,
                regions,
                instance_id: None,
                dry_run: dry_run || self.config.dry_run,
            },
            Trigger::InstanceStateChange { account_id, region, instance_id, state } => {
                if state != "running" {
                    let item = Item {
                        account_id,
                        region,
                        resource_id: instance_id,
                        action: action::NONE.into(),
                        status: Status::Skipped,
                        reason: format!("instance state is {state}; only running instances are checked at launch"),
                        outcome: None,
                    };
                    return Ok(Report::new(JOB, self.config.dry_run, vec![item], 0, 0));
                }
                ScanRequest {
                    accounts: Some(vec![account_id]),
                    regions: Some(vec![region]),
                    instance_id: Some(instance_id),
                    dry_run: self.config.dry_run,
                }
            }
            Trigger::Manual(other) => {
                let name = match other {
                    ManualRequest::Reconcile { .. } => "reconcile (send it to account-discovery)",
                    _ => "reprovision (send it to arc-provisioner)",
                };
                return Err(EventError::NotHandled(format!("the manual action {name}")).into());
            }
            Trigger::CommandStatusChange { .. } | Trigger::ProfileScanCompleted { .. } => {
                let what = "Run Command and profile-scan results (send them to arc-provisioner)";
                return Err(EventError::NotHandled(what.into()).into());
            }
            Trigger::Other { source, detail_type } => {
                return Err(EventError::NotHandled(format!("{detail_type:?} events from {source}")).into());
            }
        };
        self.run(&request, deadline).await
    }

    /// Runs a scan request.
    pub async fn run(&self, request: &ScanRequest, deadline: Option<Instant>) -> Result<Report, InvocationError> {
        let identity = self
            .identity
            .get_or_try_init(|| Identity::discover(&self.base))
            .await
            .map_err(InvocationError::Identity)?
            .clone();
        let policy_arn = identity.ssm_core_policy_arn();
        let sessions = Sessions::new(self.base.clone(), identity, &self.config.member_role, JOB);
        let mut items = Vec::new();
        let accounts = self.accounts(&sessions, request, &mut items).await;
        let regions = self.regions(request, &mut items).await?;

        let account_sessions = AccountSessions::new(&sessions, &policy_arn, accounts.iter().cloned());
        let units: Vec<(String, String)> =
            accounts.iter().flat_map(|a| regions.iter().map(move |r| (a.clone(), r.clone()))).collect();
        let unit_count = units.len();
        let results: Vec<Result<Vec<Item>, Item>> = futures::stream::iter(units)
            .map(|(account, region)| {
                let account_sessions = &account_sessions;
                async move {
                    let session = account_sessions.get(&account).await;
                    self.unit(&account, &region, session, request, deadline).await
                }
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;

        let failed_units = collect_units(&mut items, results);
        for iam in account_sessions.opened() {
            items.extend(iam.take_items());
        }
        Ok(Report::new(JOB, request.dry_run, items, unit_count, failed_units))
    }

    async fn unit(
        &self,
        account_id: &str,
        region: &str,
        session: AccountSession,
        request: &ScanRequest,
        deadline: Option<Instant>,
    ) -> Result<Vec<Item>, Item> {
        let fail = |reason: String| {
            tracing::warn!(account_id, region, %reason, "work unit failed");
            Item {
                account_id: account_id.to_string(),
                region: region.to_string(),
                resource_id: request.instance_id.clone().unwrap_or_else(|| "*".into()),
                action: action::SCAN.into(),
                status: Status::Failed,
                reason,
                outcome: None,
            }
        };
        let (config, iam) = session.map_err(fail)?;
        let ec2 = ec2_client(&config, region);
        let state = read_unit(
            &ec2,
            &iam,
            &self.config.opt_out_tag,
            &self.config.instance_profile_name,
            request.instance_id.as_deref(),
        )
        .await
        .map_err(fail)?;
        let policy = Policy {
            opt_out_tag: &self.config.opt_out_tag,
            connector_profile: &self.config.instance_profile_name,
            attach_to_existing_roles: self.config.attach_policy_to_existing_roles,
            account_id,
        };
        let decisions = plan(&state, &policy);
        if let (Some(id), true) = (&request.instance_id, decisions.is_empty()) {
            return Ok(vec![Item {
                account_id: account_id.into(),
                region: region.into(),
                resource_id: id.clone(),
                action: action::NONE.into(),
                status: Status::Skipped,
                reason: "instance not found or no longer running".into(),
                outcome: None,
            }]);
        }
        let unit =
            Unit { account_id, region, ec2: &ec2, iam: &iam, dry_run: request.dry_run, write_deadline: deadline };
        let items = unit.apply(decisions).await;
        tracing::info!(account_id, region, instances = items.len(), "work unit done");
        Ok(items)
    }

    /// Accounts to cover: the organization's ACTIVE accounts (or the own account), minus the
    /// excluded ones, narrowed to the request. Everything left out is reported.
    async fn accounts(&self, sessions: &Sessions, request: &ScanRequest, items: &mut Vec<Item>) -> Vec<String> {
        let own = sessions.identity().account_id.clone();
        let mut skipped: Vec<Item> = Vec::new();
        let mut skip = |account: &str, reason: String| {
            skipped.push(Item {
                account_id: account.to_string(),
                region: "*".into(),
                resource_id: "*".into(),
                action: action::SCAN.into(),
                status: Status::Skipped,
                reason,
                outcome: None,
            })
        };
        let in_scope: Vec<String> = if request.instance_id.is_some() {
            request.accounts.clone().unwrap_or_default()
        } else {
            match membership(&organizations_client(sessions.base())).await {
                Ok(Membership::Organization { active, inactive }) => {
                    for (id, state) in inactive {
                        if request.accounts.as_ref().is_none_or(|wanted| wanted.contains(&id)) {
                            skip(&id, format!("account is {state}, not ACTIVE"));
                        }
                    }
                    active
                }
                Ok(Membership::Standalone) => vec![own.clone()],
                Err(reason) => {
                    items.push(Item {
                        account_id: own.clone(),
                        region: "*".into(),
                        resource_id: "organization".into(),
                        action: "list-accounts".into(),
                        status: Status::Failed,
                        reason: format!("{reason}; only the function's own account is scanned"),
                        outcome: None,
                    });
                    vec![own.clone()]
                }
            }
        };
        let mut out = Vec::new();
        for account in in_scope {
            if request.accounts.as_ref().is_some_and(|wanted| !wanted.contains(&account)) {
                continue;
            }
            if self.config.excluded_accounts.contains(&account) {
                skip(&account, "excluded by CONNECTOR_EXCLUDED_ACCOUNTS".into());
                continue;
            }
            if !out.contains(&account) {
                out.push(account);
            }
        }
        if let Some(wanted) = &request.accounts {
            for account in wanted {
                let reported = skipped.iter().any(|i| &i.account_id == account);
                if !out.contains(account) && !reported {
                    skipped.push(Item {
                        account_id: account.clone(),
                        region: "*".into(),
                        resource_id: "*".into(),
                        action: action::SCAN.into(),
                        status: Status::Skipped,
                        reason: "not an ACTIVE account of the organization".into(),
                        outcome: None,
                    });
                }
            }
        }
        items.extend(skipped);
        out
    }

    /// Regions to cover: `CONNECTOR_REGIONS` (or every enabled region), narrowed to the request.
    async fn regions(&self, request: &ScanRequest, items: &mut Vec<Item>) -> Result<Vec<String>, InvocationError> {
        let configured = match &self.config.regions {
            Some(r) => r.clone(),
            None => match &request.regions {
                Some(r) => r.clone(),
                None => {
                    let region = self.base.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
                    enabled_regions(&ec2_client(&self.base, &region)).await.map_err(InvocationError::Regions)?
                }
            },
        };
        let Some(wanted) = &request.regions else {
            return Ok(configured);
        };
        let mut out = Vec::new();
        for region in wanted {
            if configured.contains(region) {
                out.push(region.clone());
            } else {
                items.push(Item {
                    account_id: request
                        .accounts
                        .as_ref()
                        .and_then(|a| a.first())
                        .cloned()
                        .unwrap_or_else(|| "*".into()),
                    region: region.clone(),
                    resource_id: request.instance_id.clone().unwrap_or_else(|| "*".into()),
                    action: action::SCAN.into(),
                    status: Status::Skipped,
                    reason: "region outside CONNECTOR_REGIONS".into(),
                    outcome: None,
                });
            }
        }
        Ok(out)
    }
}
