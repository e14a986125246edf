//! Which regions each account has enabled: opt-in regions are enabled per account, and a stack
//! instance in a region the account has not enabled fails (`Account ... should have '<region>'
//! region enabled`). Read once per run with Account Management's `ListRegions` for the accounts
//! that still need StackSet work: "To use this parameter [AccountId], the caller must be an
//! identity in the organization's management account or a delegated administrator account ... the
//! organization must have trusted access enabled for the Account Management service"; "The
//! management account can't specify its own AccountId" (so the caller's own account is read
//! without it).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_account::Client;
use aws_sdk_account::types::RegionOptStatus;
use futures::stream::{self, StreamExt};

use super::state::EnabledRegions;
use crate::aws::{describe, error_code};

/// `ListRegions` calls in flight at once.
const CONCURRENCY: usize = 8;

/// What to tell the operator when the read is refused.
pub(crate) const TRUSTED_ACCESS_REMEDY: &str = "enable trusted access for AWS Account Management (aws organizations enable-aws-service-access --service-principal account.amazonaws.com) and, when the connector runs in a delegated administrator, register that account as Account Management's delegated administrator (aws organizations register-delegated-administrator --service-principal account.amazonaws.com --account-id <its id>), so regions an account has not enabled are skipped instead of failing";

/// The enabled regions of `accounts` (`own` is the caller's account, read without `AccountId`).
/// A refusal (no trusted access, or not allowed) makes the whole answer unknown, with its reason;
/// another error leaves that account out (all regions are then tried there, as without the read).
pub(crate) async fn enabled_regions(client: &Client, accounts: &[String], own: &str) -> EnabledRegions {
    let reads = stream::iter(accounts.iter().cloned())
        .map(|account| async move {
            let read = read_account(client, &account, own).await;
            (account, read)
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut known = BTreeMap::new();
    for (account, read) in reads {
        match read {
            Ok(regions) => _ = known.insert(account, regions),
            Err(Read::Refused(why)) => return EnabledRegions::Unknown(why),
            Err(Read::Failed(why)) => tracing::warn!(%account, %why, "cannot read the account's enabled regions"),
        }
    }
    EnabledRegions::Known(known)
}

/// Why one account's regions could not be read.
enum Read {
    /// Not allowed (no trusted access for Account Management, or the caller may not ask).
    Refused(String),
    /// Another error (throttled beyond retries, ...).
    Failed(String),
}

async fn read_account(client: &Client, account: &str, own: &str) -> Result<BTreeSet<String>, Read> {
    let mut regions = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let request = client
            .list_regions()
            .set_account_id((account != own).then(|| account.to_string()))
            .region_opt_status_contains(RegionOptStatus::Enabled)
            .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
            .set_next_token(token.take());
        let page = request.send().await.map_err(|e| match error_code(&e) {
            Some("AccessDeniedException") => Read::Refused(format!("account:ListRegions refused: {}", describe(&e))),
            _ => Read::Failed(describe(&e)),
        })?;
        regions.extend(page.regions().iter().filter_map(|r| r.region_name()).map(String::from));
        match page.next_token().filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(regions),
        }
    }
}
