//! The role ledger: the instance policy (`INSTANCE_POLICY`) is attached at most once per role per run,
//! however many instances and regions of the account share the role, and each role gets one
//! report item (region `global`).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::plan::{RoleRef, action};
use crate::aws::{describe, error_code};
use crate::budget::Budget;
use crate::iam::{GLOBAL, IamView, InstancePolicy};
use crate::report::{Cause, Item, Status};

/// Reason given to writes skipped because the invocation ran out of time.
pub(crate) const DEFERRED: &str = "deferred: the invocation's time budget is spent; the next scan continues";

/// One account's ledger for one run.
pub(crate) struct RoleLedger {
    iam: Arc<IamView>,
    account_id: String,
    mode: InstancePolicy,
    outcomes: Mutex<HashMap<String, PolicyOutcome>>,
    items: std::sync::Mutex<Vec<Item>>,
}

impl RoleLedger {
    fn new(iam: Arc<IamView>, account_id: &str, mode: InstancePolicy) -> Self {
        RoleLedger {
            iam,
            account_id: account_id.to_string(),
            mode,
            outcomes: Mutex::new(HashMap::new()),
            items: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The account's IAM reads.
    pub(crate) fn iam(&self) -> &IamView {
        &self.iam
    }

    /// Makes `role` carry the policy: attaches it the first time a run asks (or plans it in a dry
    /// run) and returns the recorded outcome to every later caller. Once `budget` is spent nothing
    /// is written or recorded (the unit is deferred), so a later caller in the run may still attach.
    pub(crate) async fn ensure_policy(&self, role: &RoleRef, dry_run: bool, budget: &Budget) -> PolicyOutcome {
        let mut outcomes = self.outcomes.lock().await;
        if let Some(outcome) = outcomes.get(&role.name) {
            return outcome.clone();
        }
        let names = self.mode.names();
        let outcome = if dry_run {
            PolicyOutcome::of(Status::Planned, format!("would attach {names} to role {}", role.arn))
        } else if !budget.may_start() {
            PolicyOutcome::of(Status::Skipped, DEFERRED.to_string())
        } else {
            self.attach(role).await
        };
        if outcome.status != Status::Skipped {
            outcomes.insert(role.name.clone(), outcome.clone());
        }
        if let Ok(mut items) = self.items.lock() {
            let item =
                Item::new(&self.account_id, GLOBAL, &role.arn, action::ATTACH, outcome.status, outcome.reason.clone());
            items.push(item.with_known_cause(outcome.cause.clone()));
        }
        outcome
    }

    /// Attaches what the mode wants and the role lacks, in order; the first refusal stops.
    async fn attach(&self, role: &RoleRef) -> PolicyOutcome {
        let names = self.mode.names();
        for arn in self.iam.policies().to_attach(self.mode, &role.attached) {
            let attach = self.iam.client().attach_role_policy().role_name(&role.name).policy_arn(&arn);
            match attach.send().await {
                Ok(_) => self.iam.mark_attached(&role.name, &arn),
                Err(e) => {
                    let code = error_code(&e);
                    let cause = code.map_or_else(|| Cause::AwsCallFailed.into(), |c| format!("aws:{c}"));
                    let reason = attach_failure(names, &role.arn, code, &describe(&e));
                    return PolicyOutcome { status: Status::Failed, reason, cause: Some(cause) };
                }
            }
        }
        PolicyOutcome::of(Status::Done, format!("attached {names} to role {}", role.arn))
    }

    fn take_items(&self) -> Vec<Item> {
        self.items.lock().map(|mut items| std::mem::take(&mut *items)).unwrap_or_default()
    }
}

/// What making a role carry the policy came to, recorded once per role per run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PolicyOutcome {
    /// Done, planned, skipped (deferred) or failed.
    pub(crate) status: Status,
    /// Why, for the report.
    pub(crate) reason: String,
    /// The cause in the item's code (`aws:<code>` when IAM refused).
    pub(crate) cause: Option<String>,
}

impl PolicyOutcome {
    fn of(status: Status, reason: String) -> Self {
        PolicyOutcome { status, reason, cause: None }
    }
}

/// The ledgers of one run, one per account entered.
#[derive(Default)]
pub(crate) struct Ledgers {
    accounts: std::sync::Mutex<HashMap<String, Arc<RoleLedger>>>,
}

impl Ledgers {
    /// The account's ledger, made on first use over its IAM view.
    pub(crate) fn for_account(&self, account_id: &str, iam: &Arc<IamView>, mode: InstancePolicy) -> Arc<RoleLedger> {
        match self.accounts.lock() {
            Ok(mut accounts) => accounts
                .entry(account_id.to_string())
                .or_insert_with(|| Arc::new(RoleLedger::new(iam.clone(), account_id, mode)))
                .clone(),
            Err(_) => Arc::new(RoleLedger::new(iam.clone(), account_id, mode)),
        }
    }

    /// Report items for the roles this run attached (or planned, or failed to attach).
    pub(crate) fn take_items(&self) -> Vec<Item> {
        let Ok(accounts) = self.accounts.lock() else { return Vec::new() };
        accounts.values().flat_map(|ledger| ledger.take_items()).collect()
    }
}

fn attach_failure(names: &str, role_arn: &str, code: Option<&str>, detail: &str) -> String {
    match code {
        Some("LimitExceeded") => format!(
            "cannot attach {names} to role {role_arn}: it already has the maximum number of managed policies; detach one or raise the quota ({detail})"
        ),
        Some("NoSuchEntity") => {
            format!("role {role_arn} disappeared during the scan, or the policy is missing ({detail})")
        }
        Some("AccessDenied") | Some("AccessDeniedException") => format!(
            "not allowed to attach {names} to role {role_arn}: check the member role's permissions, permission boundaries and SCPs ({detail})"
        ),
        _ => format!("cannot attach {names} to role {role_arn}: {detail}"),
    }
}
