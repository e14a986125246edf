//! IAM for one account, shared by all its regions in a run: profile and role reads are cached,
//! and the policy is attached at most once per role per run (the role ledger).

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_iam::Client;
use tokio::sync::{Mutex, OnceCell};

use super::plan::{RoleRef, action};
use super::state::{PolicyState, Profile, ProfileLookup, Role};
use crate::aws::{Sessions, describe, error_code, iam_client};
use crate::report::{Item, Status};

/// Region label of IAM items in the report.
pub const GLOBAL: &str = "global";

/// An account's SDK config and IAM view, or why the account cannot be entered.
pub type AccountSession = Result<(SdkConfig, Arc<AccountIam>), String>;

/// Per-account sessions of a run: each account is entered (role assumed, IAM view made) at most
/// once, however many of its regions run concurrently.
pub struct AccountSessions<'a> {
    sessions: &'a Sessions,
    policy_arn: String,
    cells: HashMap<String, OnceCell<AccountSession>>,
}

impl<'a> AccountSessions<'a> {
    /// Slots for `accounts`; `policy_arn` is `AmazonSSMManagedInstanceCore` in the partition.
    pub fn new(sessions: &'a Sessions, policy_arn: &str, accounts: impl IntoIterator<Item = String>) -> Self {
        let cells = accounts.into_iter().map(|a| (a, OnceCell::new())).collect();
        AccountSessions { sessions, policy_arn: policy_arn.to_string(), cells }
    }

    /// The account's session, opened on first use.
    pub async fn get(&self, account_id: &str) -> AccountSession {
        let Some(cell) = self.cells.get(account_id) else {
            return Err(format!("internal: account {account_id} has no session slot"));
        };
        cell.get_or_init(|| async {
            let config = self.sessions.for_account(account_id).await?;
            let iam = Arc::new(AccountIam::new(iam_client(&config), account_id, &self.policy_arn));
            Ok((config, iam))
        })
        .await
        .clone()
    }

    /// The IAM views of the accounts that were entered.
    pub fn opened(&self) -> impl Iterator<Item = &Arc<AccountIam>> {
        self.cells.values().filter_map(|c| c.get()).filter_map(|s| s.as_ref().ok()).map(|(_, iam)| iam)
    }
}

/// Cached IAM view of one account plus the role ledger.
pub struct AccountIam {
    client: Client,
    account_id: String,
    policy_arn: String,
    profiles: Mutex<HashMap<String, ProfileLookup>>,
    ledger: Mutex<HashMap<String, (Status, String)>>,
    items: std::sync::Mutex<Vec<Item>>,
}

impl AccountIam {
    /// `policy_arn` is `AmazonSSMManagedInstanceCore` in the account's partition.
    pub fn new(client: Client, account_id: &str, policy_arn: &str) -> Self {
        AccountIam {
            client,
            account_id: account_id.to_string(),
            policy_arn: policy_arn.to_string(),
            profiles: Mutex::new(HashMap::new()),
            ledger: Mutex::new(HashMap::new()),
            items: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Looks up profiles by name, reading each at most once per run.
    pub async fn profiles(&self, names: impl IntoIterator<Item = String>) -> HashMap<String, ProfileLookup> {
        let mut cache = self.profiles.lock().await;
        let mut out = HashMap::new();
        for name in names {
            if !cache.contains_key(&name) {
                let found = self.read_profile(&name).await;
                cache.insert(name.clone(), found);
            }
            if let Some(found) = cache.get(&name) {
                out.insert(name, found.clone());
            }
        }
        out
    }

    async fn read_profile(&self, name: &str) -> ProfileLookup {
        let out = match self.client.get_instance_profile().instance_profile_name(name).send().await {
            Ok(out) => out,
            Err(e) if error_code(&e) == Some("NoSuchEntity") => return ProfileLookup::Missing,
            Err(e) => return ProfileLookup::Unreadable(describe(&e)),
        };
        let Some(profile) = out.instance_profile() else {
            return ProfileLookup::Unreadable("GetInstanceProfile returned no profile".into());
        };
        let mut roles = Vec::new();
        for role in profile.roles() {
            let name = role.role_name().to_string();
            let policy = self.role_policy(&name).await;
            roles.push(Role { name, arn: role.arn().to_string(), policy });
        }
        ProfileLookup::Found(Profile {
            name: profile.instance_profile_name().to_string(),
            arn: profile.arn().to_string(),
            roles,
        })
    }

    async fn role_policy(&self, role_name: &str) -> PolicyState {
        if self.ledger.lock().await.get(role_name).is_some_and(|(s, _)| *s == Status::Done) {
            return PolicyState::Attached;
        }
        let mut pages = self.client.list_attached_role_policies().role_name(role_name).into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => {
                    if page.attached_policies().iter().any(|p| p.policy_arn() == Some(self.policy_arn.as_str())) {
                        return PolicyState::Attached;
                    }
                }
                Err(e) => return PolicyState::Unknown(describe(&e)),
            }
        }
        PolicyState::Missing
    }

    /// Makes `role` carry the policy: attaches it the first time a run asks (or plans it in a dry
    /// run) and returns the recorded outcome to every later caller. With `may_write` false (time
    /// budget spent) nothing is written or recorded, so a later caller in the run may still attach.
    pub async fn ensure_policy(&self, role: &RoleRef, dry_run: bool, may_write: bool) -> (Status, String) {
        let mut ledger = self.ledger.lock().await;
        if let Some(outcome) = ledger.get(&role.name) {
            return outcome.clone();
        }
        let outcome = if dry_run {
            (Status::Planned, format!("would attach AmazonSSMManagedInstanceCore to role {}", role.arn))
        } else if !may_write {
            (Status::Skipped, "deferred: the invocation's time budget is spent; the next scan continues".to_string())
        } else {
            match self.client.attach_role_policy().role_name(&role.name).policy_arn(&self.policy_arn).send().await {
                Ok(_) => (Status::Done, format!("attached AmazonSSMManagedInstanceCore to role {}", role.arn)),
                Err(e) => (Status::Failed, attach_failure(&role.arn, error_code(&e), &describe(&e))),
            }
        };
        if outcome.0 != Status::Skipped {
            ledger.insert(role.name.clone(), outcome.clone());
        }
        if let Ok(mut items) = self.items.lock() {
            items.push(Item {
                account_id: self.account_id.clone(),
                region: GLOBAL.into(),
                resource_id: role.arn.clone(),
                action: action::ATTACH.into(),
                status: outcome.0,
                reason: outcome.1.clone(),
                outcome: None,
            });
        }
        outcome
    }

    /// Report items for the roles this run attached (or planned, or failed to attach).
    pub fn take_items(&self) -> Vec<Item> {
        self.items.lock().map(|mut items| std::mem::take(&mut *items)).unwrap_or_default()
    }
}

fn attach_failure(role_arn: &str, code: Option<&str>, detail: &str) -> String {
    match code {
        Some("LimitExceeded") => format!(
            "cannot attach AmazonSSMManagedInstanceCore to role {role_arn}: it already has the maximum number of managed policies; detach one or raise the quota ({detail})"
        ),
        Some("NoSuchEntity") => format!("role {role_arn} disappeared during the scan ({detail})"),
        Some("AccessDenied") | Some("AccessDeniedException") => format!(
            "not allowed to attach AmazonSSMManagedInstanceCore to role {role_arn}: check the member role's permissions, permission boundaries and SCPs ({detail})"
        ),
        _ => format!("cannot attach AmazonSSMManagedInstanceCore to role {role_arn}: {detail}"),
    }
}
