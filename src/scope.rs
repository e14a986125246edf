//! Which accounts and regions a run covers: the organization's ACTIVE accounts (or the own
//! account) that the scope admits (`CONNECTOR_EXCLUDED_ACCOUNTS`, the scope parameter's document:
//! `crate::org_scope`), times `CONNECTOR_REGIONS` (or every enabled region), narrowed to what the
//! invocation asks. Everything left out is reported, once.

use std::collections::BTreeSet;

use aws_sdk_organizations::types::{AccountState, AccountStatus};

use crate::aws::{ec2_client, error_code, home_region};
use crate::error::{Failure, InvocationError};
use crate::org_scope::{self, OrgScope};
use crate::report::{Action, Item, Status};
use crate::sessions::{AccountSession, Sessions, enabled_regions};

/// The settings a scope is resolved with.
pub(crate) struct ScopeRules<'a> {
    /// `CONNECTOR_EXCLUDED_ACCOUNTS`.
    pub(crate) excluded: &'a BTreeSet<String>,
    /// `CONNECTOR_SCOPE_PARAMETER`.
    pub(crate) parameter: Option<&'a str>,
    /// `CONNECTOR_REGIONS`; `None` means every enabled region.
    pub(crate) regions: Option<&'a [String]>,
    /// Report action of scope items (`scan`, `provision`).
    pub(crate) action: Action,
    /// What the job does to the own account when the organization cannot be listed, for the
    /// report ("scanned", "provisioned").
    pub(crate) done_to_own: &'static str,
}

/// What an invocation asks to cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScopeRequest {
    /// Only these accounts (default: every account in scope).
    pub(crate) accounts: Option<Vec<String>>,
    /// Only these regions (default: the configured ones).
    pub(crate) regions: Option<Vec<String>>,
    /// Take `accounts` as given, without listing the organization (an event about one resource).
    pub(crate) accounts_known: bool,
    /// The resource the request is about, for the report (`*` otherwise).
    pub(crate) resource: Option<String>,
}

impl ScopeRules<'_> {
    /// Why `account` / `region` is out of scope, or `None` when it is in.
    pub(crate) fn excludes(&self, account: &str, region: &str) -> Option<&'static str> {
        if self.excluded.contains(account) {
            Some("excluded by CONNECTOR_EXCLUDED_ACCOUNTS")
        } else if self.regions.is_some_and(|r| !r.iter().any(|c| c == region)) {
            Some("region outside CONNECTOR_REGIONS")
        } else {
            None
        }
    }

    /// The scope of this run: `CONNECTOR_EXCLUDED_ACCOUNTS` and the scope parameter's document,
    /// read now (the parameter lives in the function's own account and region).
    pub(crate) async fn scope(&self, sessions: &Sessions) -> Result<OrgScope, Failure> {
        let (base, own) = (sessions.base(), &sessions.identity().account_id);
        org_scope::read(base, own, sessions.organizations(), self.parameter, self.excluded).await
    }

    /// The (account, region) work units of a request; what is left out is added to `items`. A
    /// scope that cannot be read fails the run before any account is entered.
    pub(crate) async fn units(
        &self,
        sessions: &Sessions,
        request: &ScopeRequest,
        items: &mut Vec<Item>,
    ) -> Result<Vec<(String, String)>, InvocationError> {
        let scope = self.scope(sessions).await.map_err(InvocationError::Scope)?;
        let accounts = self.accounts(sessions, &scope, request, items).await;
        let regions = self.regions(sessions, request, items).await?;
        Ok(accounts.iter().flat_map(|a| regions.iter().map(move |r| (a.clone(), r.clone()))).collect())
    }

    /// Accounts to cover: the organization's ACTIVE accounts (or the own account), minus the
    /// excluded ones, narrowed to the request.
    async fn accounts(
        &self,
        sessions: &Sessions,
        scope: &OrgScope,
        request: &ScopeRequest,
        items: &mut Vec<Item>,
    ) -> Vec<String> {
        let own = sessions.identity().account_id.clone();
        let resource = request.resource.as_deref().unwrap_or("*");
        let mut skipped: Vec<Item> = Vec::new();
        let skip = |skipped: &mut Vec<Item>, account: &str, reason: String| {
            skipped.push(Item::new(account, "*", resource, self.action, Status::Skipped, reason));
        };
        let wanted = |account: &str| request.accounts.as_ref().is_none_or(|w| w.iter().any(|a| a == account));
        let in_scope: Vec<String> = if request.accounts_known {
            let named = request.accounts.clone().unwrap_or_default();
            self.members_in(sessions, scope, &named, resource, &mut skipped).await
        } else {
            match membership(sessions.organizations()).await {
                Ok(Membership::Organization { active, inactive }) => {
                    for (id, state) in inactive.into_iter().filter(|(id, _)| wanted(id)) {
                        skip(&mut skipped, &id, format!("account is {state}, not ACTIVE"));
                    }
                    active
                }
                Ok(Membership::Standalone) => vec![own.clone()],
                Err(reason) => {
                    let reason = format!("{reason}; only the function's own account is {}", self.done_to_own);
                    items.push(Item::new(&own, "*", "organization", Action::ListAccounts, Status::Failed, reason));
                    vec![own.clone()]
                }
            }
        };
        let mut out = Vec::new();
        for account in in_scope.into_iter().filter(|a| wanted(a)) {
            if let Some(out_of_scope) = scope.leaves_out(&account) {
                skip(&mut skipped, &account, out_of_scope.reason().into());
            } else if !out.contains(&account) {
                out.push(account);
            }
        }
        for account in request.accounts.iter().flatten() {
            if !out.contains(account) && !skipped.iter().any(|i| &i.account_id == account) {
                skip(&mut skipped, account, "not an ACTIVE account of the organization".into());
            }
        }
        items.extend(skipped);
        out
    }

    /// The accounts of `named` (taken from an event or a request) that are ACTIVE accounts of
    /// the organization (`DescribeAccount`, once each), or the function's own account, and that
    /// the scope (read now) admits; the others are reported and never entered: an event's
    /// `account` is not trusted by itself.
    pub(crate) async fn members_only(
        &self,
        sessions: &Sessions,
        named: &[String],
        resource: &str,
        items: &mut Vec<Item>,
    ) -> Vec<String> {
        match self.scope(sessions).await {
            Ok(scope) => self.members_in(sessions, &scope, named, resource, items).await,
            Err(failure) => {
                let reason = format!("cannot read the scope: {failure}; not entered");
                for account in named {
                    items.push(Item::new(account, "*", resource, self.action, Status::Failed, reason.clone()));
                }
                Vec::new()
            }
        }
    }

    /// [`Self::members_only`] with the scope already read.
    async fn members_in(
        &self,
        sessions: &Sessions,
        scope: &OrgScope,
        named: &[String],
        resource: &str,
        items: &mut Vec<Item>,
    ) -> Vec<String> {
        let own = &sessions.identity().account_id;
        let org = sessions.organizations();
        let mut out: Vec<String> = Vec::new();
        for account in named {
            if out.contains(account) {
                continue;
            }
            if let Some(out_of_scope) = scope.leaves_out(account) {
                items.push(Item::new(account, "*", resource, self.action, Status::Skipped, out_of_scope.reason()));
                continue;
            }
            if account == own {
                out.push(account.clone());
                continue;
            }
            let skipped = |reason: String| Item::new(account, "*", resource, self.action, Status::Skipped, reason);
            match account_state(org, account).await {
                Ok(Some(state)) if state == "ACTIVE" => out.push(account.clone()),
                Ok(Some(state)) => items.push(skipped(format!("account is {state}, not ACTIVE"))),
                Ok(None) => items.push(skipped("not an account of this organization: not entered".into())),
                Err(failure) => items.push(Item::new(
                    account,
                    "*",
                    resource,
                    self.action,
                    Status::Failed,
                    format!("cannot check that the account belongs to the organization: {failure}; not entered"),
                )),
            }
        }
        out
    }

    /// Regions to cover: `CONNECTOR_REGIONS` (or every enabled region), narrowed to the request.
    async fn regions(
        &self,
        sessions: &Sessions,
        request: &ScopeRequest,
        items: &mut Vec<Item>,
    ) -> Result<Vec<String>, InvocationError> {
        let configured = match (self.regions, &request.regions) {
            (Some(configured), _) => configured.to_vec(),
            (None, Some(wanted)) => wanted.clone(),
            (None, None) => {
                let base = sessions.base();
                enabled_regions(&ec2_client(base, &sessions.identity().account_id, &home_region(base)))
                    .await
                    .map_err(InvocationError::Regions)?
            }
        };
        let Some(wanted) = &request.regions else {
            return Ok(configured);
        };
        let account = request.accounts.as_ref().and_then(|a| a.first()).map_or("*", String::as_str);
        let resource = request.resource.as_deref().unwrap_or("*");
        let mut out = Vec::new();
        for region in wanted {
            if configured.contains(region) {
                out.push(region.clone());
            } else {
                let reason = "region outside CONNECTOR_REGIONS";
                items.push(Item::new(account, region, resource, self.action, Status::Skipped, reason));
            }
        }
        Ok(out)
    }
}

/// Accounts of the organization, or the single account of a standalone setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Membership {
    /// In an organization: its ACTIVE accounts (the management account included) and the others
    /// with their state.
    Organization {
        /// ACTIVE accounts.
        active: Vec<String>,
        /// Suspended, closed, pending: (id, state).
        inactive: Vec<(String, String)>,
    },
    /// `AWSOrganizationsNotInUseException`: only the function's own account.
    Standalone,
}

/// The item for a unit whose region is not enabled in its account, or `None` (enabled, or
/// unknown: the unit's own calls then tell).
pub(crate) async fn region_not_enabled(
    session: &AccountSession,
    account: &str,
    region: &str,
    resource: &str,
    action: Action,
) -> Option<Item> {
    if session.region_enabled(region).await != Some(false) {
        return None;
    }
    let reason = format!(
        "region {region} is not enabled in account {account} (an opt-in region it has not opted in to): nothing to do there"
    );
    Some(Item::new(account, region, resource, action, Status::Skipped, reason))
}

/// The state (`ACTIVE`, `SUSPENDED`, ...) of one account of the organization, `None` when it is
/// not one (or there is no organization).
async fn account_state(org: &aws_sdk_organizations::Client, account: &str) -> Result<Option<String>, Failure> {
    match org.describe_account().account_id(account).send().await {
        Ok(out) => Ok(out.account().map(|a| match (a.state(), a.status()) {
            (Some(state), _) => state.as_str().to_string(),
            (None, Some(status)) => status.as_str().to_string(),
            (None, None) => "UNKNOWN".to_string(),
        })),
        Err(e) if matches!(error_code(&e), Some("AccountNotFoundException" | "AWSOrganizationsNotInUseException")) => {
            Ok(None)
        }
        Err(e) => Err(Failure::aws("DescribeAccount", &e)),
    }
}

/// Lists the organization's accounts (paginated `ListAccounts`).
pub(crate) async fn membership(org: &aws_sdk_organizations::Client) -> Result<Membership, Failure> {
    let mut pages = org.list_accounts().into_paginator().send();
    let (mut active, mut inactive) = (Vec::new(), Vec::new());
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) if error_code(&e) == Some("AWSOrganizationsNotInUseException") => {
                return Ok(Membership::Standalone);
            }
            Err(e) => {
                return Err(Failure::aws_with(
                    "cannot list the organization's accounts",
                    &e,
                    "run in the management account or a delegated administrator, or name accountIds",
                ));
            }
        };
        for account in page.accounts() {
            let Some(id) = account.id() else { continue };
            let state = match (account.state(), account.status()) {
                (Some(state), _) => state.as_str().to_string(),
                (None, Some(status)) => status.as_str().to_string(),
                (None, None) => String::from("UNKNOWN"),
            };
            if state == AccountState::Active.as_str() || state == AccountStatus::Active.as_str() {
                active.push(id.to_string());
            } else {
                inactive.push((id.to_string(), state));
            }
        }
    }
    if active.is_empty() && inactive.is_empty() {
        // An organization always lists at least its management account; an empty answer means
        // there is none (some emulators answer so instead of AWSOrganizationsNotInUseException).
        return Ok(Membership::Standalone);
    }
    Ok(Membership::Organization { active, inactive })
}
