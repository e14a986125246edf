//! Which accounts and regions a run covers.

use aws_sdk_organizations::types::{AccountState, AccountStatus};

use crate::aws::{describe, error_code};

/// Accounts of the organization, or the single account of a standalone setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Membership {
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

/// Lists the organization's accounts (paginated `ListAccounts`).
pub async fn membership(org: &aws_sdk_organizations::Client) -> Result<Membership, String> {
    let mut pages = org.list_accounts().into_paginator().send();
    let (mut active, mut inactive) = (Vec::new(), Vec::new());
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) if error_code(&e) == Some("AWSOrganizationsNotInUseException") => {
                return Ok(Membership::Standalone);
            }
            Err(e) => {
                return Err(format!(
                    "cannot list the organization's accounts: {}; run in the management account or a delegated administrator, or name accountIds",
                    describe(&e)
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

/// Regions enabled in the account (`DescribeRegions`), sorted.
pub async fn enabled_regions(ec2: &aws_sdk_ec2::Client) -> Result<Vec<String>, String> {
    let out = ec2.describe_regions().send().await.map_err(|e| describe(&e))?;
    let mut regions: Vec<String> = out.regions().iter().filter_map(|r| r.region_name()).map(String::from).collect();
    regions.sort();
    Ok(regions)
}
