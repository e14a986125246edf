//! Which accounts of the organization a run may touch: `CONNECTOR_EXCLUDED_ACCOUNTS`, and the
//! scope document of the SSM parameter `CONNECTOR_SCOPE_PARAMETER` (organizational units and
//! accounts to cover, more exclusions), read afresh on every run.
//!
//! Why a parameter: a Lambda function's environment holds 4 KB in all ("the total size of all
//! environment variables doesn't exceed 4 KB"), about 300 account ids; a CloudFormation parameter
//! value is limited the same way. A pilot widens by editing data (`aws ssm put-parameter
//! --overwrite`), not by redeploying, and an OU names any number of accounts. A Standard
//! parameter holds 4,096 characters ("Standard tier parameters support a maximum parameter value
//! of 4096 characters"); `--tier Intelligent-Tiering` moves a larger one to Advanced (8 KB).
//!
//! A configured scope that cannot be read, parsed or resolved never means "everything": the run
//! fails before it touches an account (`ScopeUnavailable`).

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::aws::{error_code, home_region, ssm_client};
use crate::config::Common;
use crate::context::JobContext;
use crate::error::Failure;
use crate::preflight::Check;
use crate::validate::is_account_id;

/// The scope document (JSON in the parameter's value).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ScopeDocument {
    /// Organizational units (or the root, `r-...`) whose accounts, at any depth, are covered.
    #[serde(default)]
    pub(crate) organizational_units: Vec<String>,
    /// Accounts covered wherever they sit.
    #[serde(default)]
    pub(crate) accounts: Vec<String>,
    /// Accounts never touched, even inside a listed OU.
    #[serde(default)]
    pub(crate) excluded_accounts: Vec<String>,
}

/// Why an account is out of scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutOfScope {
    /// Listed in `CONNECTOR_EXCLUDED_ACCOUNTS`.
    ExcludedByVariable,
    /// Listed in the scope document's `excludedAccounts`.
    ExcludedByDocument,
    /// Neither under one of the document's `organizationalUnits` nor in its `accounts`.
    NotListed,
}

impl OutOfScope {
    /// The reason in report items.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            OutOfScope::ExcludedByVariable => "excluded by CONNECTOR_EXCLUDED_ACCOUNTS",
            OutOfScope::ExcludedByDocument => "excluded by the scope parameter's excludedAccounts",
            OutOfScope::NotListed => {
                "outside the scope parameter (in none of its organizationalUnits, not in its accounts)"
            }
        }
    }
}

/// The accounts one run may touch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OrgScope {
    /// The accounts the document lists (directly or under its OUs); `None`: every account.
    allowed: Option<BTreeSet<String>>,
    by_variable: BTreeSet<String>,
    by_document: BTreeSet<String>,
}

impl OrgScope {
    /// A scope made of `CONNECTOR_EXCLUDED_ACCOUNTS` alone (no scope parameter).
    pub(crate) fn excluding(excluded: &BTreeSet<String>) -> Self {
        OrgScope { allowed: None, by_variable: excluded.clone(), by_document: BTreeSet::new() }
    }

    /// Why `account` is out of scope, or `None` when it is in.
    pub(crate) fn leaves_out(&self, account: &str) -> Option<OutOfScope> {
        if self.by_variable.contains(account) {
            Some(OutOfScope::ExcludedByVariable)
        } else if self.by_document.contains(account) {
            Some(OutOfScope::ExcludedByDocument)
        } else if self.allowed.as_ref().is_some_and(|a| !a.contains(account)) {
            Some(OutOfScope::NotListed)
        } else {
            None
        }
    }

    /// Every excluded account (both lists), for records that name them.
    pub(crate) fn excluded(&self) -> BTreeSet<String> {
        self.by_variable.union(&self.by_document).cloned().collect()
    }
}

/// Reads the scope: `CONNECTOR_EXCLUDED_ACCOUNTS` (`excluded`) and, when `parameter` is set, its
/// document, with each OU resolved to the accounts under it.
pub(crate) async fn resolve(
    ssm: &aws_sdk_ssm::Client,
    org: &aws_sdk_organizations::Client,
    parameter: Option<&str>,
    excluded: &BTreeSet<String>,
) -> Result<OrgScope, Failure> {
    let mut scope = OrgScope::excluding(excluded);
    let Some(name) = parameter else {
        return Ok(scope);
    };
    let document = parse(name, &read_value(ssm, name).await?)?;
    scope.by_document = document.excluded_accounts.iter().cloned().collect();
    let mut allowed: BTreeSet<String> = document.accounts.iter().cloned().collect();
    for ou in &document.organizational_units {
        allowed.extend(accounts_under(org, ou).await?);
    }
    if !document.organizational_units.is_empty() || !document.accounts.is_empty() {
        scope.allowed = Some(allowed);
    }
    Ok(scope)
}

/// [`resolve`] with the parameter read in the function's own `account` and home Region.
pub(crate) async fn read(
    base: &aws_config::SdkConfig,
    account: &str,
    org: &aws_sdk_organizations::Client,
    parameter: Option<&str>,
    excluded: &BTreeSet<String>,
) -> Result<OrgScope, Failure> {
    resolve(&ssm_client(base, account, &home_region(base)), org, parameter, excluded).await
}

/// The preflight's `scope-parameter` check: with `CONNECTOR_SCOPE_PARAMETER` set, the document read
/// and resolved as a run would (`None` without one). A run would stop on anything but `ok`.
pub(crate) async fn check(context: &JobContext, account: &str, common: &Common) -> Option<Check> {
    const NAME: &str = "scope-parameter";
    let name = common.scope_parameter.as_deref()?;
    let fix = format!(
        "aws ssm put-parameter --name {name} --type String --tier Intelligent-Tiering --overwrite --value '{{\"organizationalUnits\":[\"ou-...\"]}}' (docs/operate.md#scope)"
    );
    let scope = read(context.base(), account, context.organizations(), Some(name), &common.excluded_accounts).await;
    Some(match scope {
        Ok(scope) => Check::ok(
            NAME,
            match &scope.allowed {
                Some(allowed) => format!("{name} admits {} accounts (minus its exclusions)", allowed.len()),
                None => format!("{name} lists no OU or account: every account but its exclusions"),
            },
        ),
        Err(failure @ Failure::Precondition(_)) => Check::missing(NAME, failure.to_string(), fix),
        Err(failure) => Check::unchecked(NAME, failure.to_string(), format!("aws ssm get-parameter --name {name}")),
    })
}

/// The parameter's value.
async fn read_value(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<String, Failure> {
    match ssm.get_parameter().name(name).send().await {
        Ok(out) => Ok(out.parameter().and_then(|p| p.value()).unwrap_or_default().to_string()),
        Err(e) if error_code(&e) == Some("ParameterNotFound") => Err(Failure::Precondition(format!(
            "the scope parameter {name} (CONNECTOR_SCOPE_PARAMETER) does not exist in the function's account and region: create it (docs/operate.md#scope) or clear ScopeParameterName; nothing is touched until it can be read"
        ))),
        Err(e) => Err(Failure::aws_with(
            format!("cannot read the scope parameter {name}"),
            &e,
            "nothing is touched until it can be read",
        )),
    }
}

/// The document in `value`, every id well formed.
pub(crate) fn parse(name: &str, value: &str) -> Result<ScopeDocument, Failure> {
    let bad = |why: String| {
        Failure::Precondition(format!(
            "the scope parameter {name} is not a valid scope document: {why} (docs/operate.md#scope)"
        ))
    };
    let document: ScopeDocument = serde_json::from_str(value).map_err(|e| bad(e.to_string()))?;
    let accounts = document.accounts.iter().chain(&document.excluded_accounts);
    if let Some(wrong) = accounts.into_iter().find(|a| !is_account_id(a)) {
        return Err(bad(format!("{wrong:?} is not a 12-digit account id")));
    }
    if let Some(wrong) = document.organizational_units.iter().find(|o| !is_parent_id(o)) {
        return Err(bad(format!("{wrong:?} is not an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)")));
    }
    Ok(document)
}

/// An OU id (`ou-` 4-32 lowercase letters or digits, `-`, 8-32 more) or a root id (`r-` 4-32):
/// Organizations' own patterns for `ParentId`.
fn is_parent_id(id: &str) -> bool {
    let part = |s: &str, min: usize| {
        (min..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = id.strip_prefix("ou-") {
        rest.split_once('-').is_some_and(|(root, ou)| part(root, 4) && part(ou, 8))
    } else {
        id.strip_prefix("r-").is_some_and(|root| part(root, 4))
    }
}

/// Every account under `parent`, at any depth (`ListAccountsForParent`, `ListChildren` of type
/// ORGANIZATIONAL_UNIT, paginated).
async fn accounts_under(org: &aws_sdk_organizations::Client, parent: &str) -> Result<BTreeSet<String>, Failure> {
    use aws_sdk_organizations::types::ChildType;
    let mut out = BTreeSet::new();
    let mut parents = vec![parent.to_string()];
    while let Some(next) = parents.pop() {
        let context = || format!("cannot list the accounts of {next} (the scope parameter's organizationalUnits)");
        let mut pages = org.list_accounts_for_parent().parent_id(&next).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Failure::aws(context(), &e))?;
            out.extend(page.accounts().iter().filter_map(|a| a.id().map(String::from)));
        }
        let mut pages =
            org.list_children().parent_id(&next).child_type(ChildType::OrganizationalUnit).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Failure::aws(context(), &e))?;
            parents.extend(page.children().iter().filter_map(|c| c.id().map(String::from)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_account_is_out_for_the_first_reason_that_holds() {
        let scope = OrgScope {
            allowed: Some(ids(&["111111111111", "222222222222"])),
            by_variable: ids(&["222222222222"]),
            by_document: ids(&["111111111111", "333333333333"]),
        };
        assert_eq!(scope.leaves_out("222222222222"), Some(OutOfScope::ExcludedByVariable));
        assert_eq!(scope.leaves_out("111111111111"), Some(OutOfScope::ExcludedByDocument));
        assert_eq!(scope.leaves_out("444444444444"), Some(OutOfScope::NotListed));
        assert_eq!(OrgScope::excluding(&ids(&["222222222222"])).leaves_out("444444444444"), None);
    }

    #[test]
    fn a_document_is_parsed_strictly() {
        let ok = r#"{"organizationalUnits":["ou-ab12-abcdefgh","r-ab12"],"accounts":["111111111111"]}"#;
        assert_eq!(parse("/p", ok).map(|d| d.organizational_units.len()), Ok(2));
        assert!(parse("/p", "{}").is_ok());
        for bad in [
            r#"{"accounts":["1111"]}"#,
            r#"{"organizationalUnits":["ou-AB12-abcdefgh"]}"#,
            r#"{"organizationalUnits":["ou-ab12"]}"#,
            r#"{"organisationalUnits":[]}"#,
            r#"{"excludedAccounts":["11111111111x"]}"#,
            "111111111111,222222222222",
        ] {
            let error = parse("/p", bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.contains("not a valid scope document"), "{bad}: {error}");
        }
    }
}
