//! Which onboarding application serves an account. Azure keeps a token to what its application
//! may do, and role assignments on HybridCompute cannot carry conditions (Azure ABAC: "Currently,
//! conditions can be added to built-in or custom role assignments that have blob storage data
//! actions or queue storage data actions"), so the only way to keep a token delivered in account A
//! out of account B's resource group is an application per account, holding *Azure Connected
//! Machine Onboarding* on its own account's group alone. With a resource group per account
//! (`ARC_RESOURCE_GROUP` holding `{accountId}`) and secretless sign-in, an account names its own
//! application in its Organizations tag [`APPLICATION_TAG`]; tags on accounts are set from the
//! management account (or a delegated administrator), not from the member. Accounts without the
//! tag use `ARC_SERVICE_PRINCIPAL_ID`.

use super::forms::is_guid;
use super::target::ArcTarget;
use crate::error::Failure;

/// The account tag naming the account's own onboarding application (its application id).
pub const APPLICATION_TAG: &str = "mdc-connector:arc-application";

/// The application `account_id`'s instances receive tokens of: its tag's, where accounts have
/// their own (a group per account, secretless sign-in), else `ARC_SERVICE_PRINCIPAL_ID`.
pub(crate) async fn application_of(
    organizations: &aws_sdk_organizations::Client,
    target: &ArcTarget,
    account_id: &str,
) -> Result<String, Failure> {
    if !target.group_per_account() || target.credential_parameter.is_some() {
        return Ok(target.service_principal_id.clone());
    }
    let mut pages = organizations.list_tags_for_resource().resource_id(account_id).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Failure::aws(format!("ListTagsForResource {account_id}"), &e))?;
        if let Some(tag) = page.tags().iter().find(|t| t.key() == APPLICATION_TAG) {
            let value = tag.value();
            return if is_guid(value) {
                Ok(value.to_string())
            } else {
                Err(Failure::Precondition(format!(
                    "account {account_id}'s tag {APPLICATION_TAG} is {value:?}, not an application (client) id: nothing is sent to its instances"
                )))
            };
        }
    }
    Ok(target.service_principal_id.clone())
}
