//! Reads the StackSet, its instances, the organization (with each account's parent for
//! service-managed targets) and the management account's plain stack.

use aws_sdk_cloudformation::types::{CallAs, PermissionModels};
use aws_sdk_organizations::types::ChildType;

use super::state::{Account, PermissionModel, StackInstance, StackSet};
use crate::aws::error_code;
use crate::error::Failure;

/// CloudFormation and Organizations clients of the management account (or delegated admin).
pub(crate) struct Readers<'a> {
    /// CloudFormation in the StackSet's home region.
    pub cfn: &'a aws_sdk_cloudformation::Client,
    /// Organizations.
    pub org: &'a aws_sdk_organizations::Client,
    /// `CallAs` for every StackSet call.
    pub call_as: CallAs,
}

impl Readers<'_> {
    /// The StackSet's permission model and execution mode.
    pub(crate) async fn stack_set(&self, name: &str) -> Result<StackSet, Failure> {
        let out =
            self.cfn.describe_stack_set().stack_set_name(name).call_as(self.call_as.clone()).send().await.map_err(
                |e| {
                    Failure::aws_with(
                        format!("cannot read StackSet {name}"),
                        &e,
                        "check STACKSET_NAME and STACKSET_CALL_AS",
                    )
                },
            )?;
        let set = out.stack_set().ok_or_else(|| Failure::Unexpected(format!("StackSet {name} not returned")))?;
        let model = match set.permission_model() {
            Some(PermissionModels::ServiceManaged) => PermissionModel::ServiceManaged,
            _ => PermissionModel::SelfManaged,
        };
        let managed_execution = set.managed_execution().and_then(|m| m.active()).unwrap_or(false);
        Ok(StackSet { name: name.to_string(), model, managed_execution })
    }

    /// Whether organizations (trusted) access is activated for StackSets.
    pub(crate) async fn organizations_access(&self) -> Result<bool, Failure> {
        let out = self
            .cfn
            .describe_organizations_access()
            .call_as(self.call_as.clone())
            .send()
            .await
            .map_err(|e| Failure::aws("cannot read whether organizations access is activated for StackSets", &e))?;
        Ok(out.status().map(|s| s.as_str()) == Some("ENABLED"))
    }

    /// Every instance of the StackSet (paginated).
    pub(crate) async fn instances(&self, name: &str) -> Result<Vec<StackInstance>, Failure> {
        let mut pages =
            self.cfn.list_stack_instances().stack_set_name(name).call_as(self.call_as.clone()).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Failure::aws(format!("cannot list the instances of StackSet {name}"), &e))?;
            for s in page.summaries() {
                let (Some(account), Some(region)) = (s.account(), s.region()) else { continue };
                out.push(StackInstance {
                    account: account.to_string(),
                    region: region.to_string(),
                    status: s.status().map(|x| x.as_str().to_string()).unwrap_or_default(),
                    detailed_status: s
                        .stack_instance_status()
                        .and_then(|x| x.detailed_status())
                        .map(|x| x.as_str().to_string()),
                    reason: s.status_reason().map(String::from),
                });
            }
        }
        Ok(out)
    }

    /// Instances of a StackSet in `account`; `None` when the StackSet does not exist.
    pub(crate) async fn instances_in(&self, name: &str, account: &str) -> Result<Option<Vec<StackInstance>>, Failure> {
        match self.cfn.describe_stack_set().stack_set_name(name).call_as(self.call_as.clone()).send().await {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some("StackSetNotFoundException") => return Ok(None),
            Err(e) => return Err(Failure::aws(format!("cannot read StackSet {name}"), &e)),
        }
        let all = self.instances(name).await?;
        Ok(Some(all.into_iter().filter(|i| i.account == account).collect()))
    }

    /// Every account with its state; with `parents`, each with its direct parent, found by
    /// walking the OU tree (two calls per OU instead of one per account).
    pub(crate) async fn accounts(&self, parents: bool) -> Result<Vec<Account>, Failure> {
        if !parents {
            let mut pages = self.org.list_accounts().into_paginator().send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| Failure::aws("cannot list the organization's accounts", &e))?;
                out.extend(page.accounts().iter().filter_map(|a| account(a, None)));
            }
            return Ok(out);
        }
        let roots =
            self.org.list_roots().send().await.map_err(|e| Failure::aws("cannot list the organization's roots", &e))?;
        let mut queue: Vec<String> = roots.roots().iter().filter_map(|r| r.id()).map(String::from).collect();
        let mut out = Vec::new();
        while let Some(parent) = queue.pop() {
            let mut pages = self.org.list_accounts_for_parent().parent_id(&parent).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| Failure::aws(format!("cannot list the accounts of {parent}"), &e))?;
                out.extend(page.accounts().iter().filter_map(|a| account(a, Some(&parent))));
            }
            let mut pages = self
                .org
                .list_children()
                .parent_id(&parent)
                .child_type(ChildType::OrganizationalUnit)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| Failure::aws(format!("cannot list the OUs under {parent}"), &e))?;
                queue.extend(page.children().iter().filter_map(|c| c.id()).map(String::from));
            }
        }
        Ok(out)
    }

    /// One account (an event's), with its direct parent when `parents`: `DescribeAccount` and
    /// `ListParents`, two calls whatever the organization's size (listing every account would cost
    /// one call per 20 accounts on every event). Empty when it is not (or no longer) a member.
    pub(crate) async fn one_account(&self, id: &str, parents: bool) -> Result<Vec<Account>, Failure> {
        let described = match self.org.describe_account().account_id(id).send().await {
            Ok(out) => out,
            Err(e) if error_code(&e) == Some("AccountNotFoundException") => return Ok(Vec::new()),
            Err(e) => return Err(Failure::aws(format!("cannot read account {id} (DescribeAccount)"), &e)),
        };
        let parent = if parents {
            let out = self
                .org
                .list_parents()
                .child_id(id)
                .send()
                .await
                .map_err(|e| Failure::aws(format!("cannot read the parent of account {id}"), &e))?;
            out.parents().first().and_then(|p| p.id()).map(String::from)
        } else {
            None
        };
        Ok(described.account().and_then(|a| account(a, parent.as_deref())).into_iter().collect())
    }

    /// The organization's management account (`DescribeOrganization` "You can call this operation
    /// from any account in a organization"; `MasterAccountId`), `None` for a standalone account.
    pub(crate) async fn management_account(&self) -> Result<Option<String>, Failure> {
        match self.org.describe_organization().send().await {
            Ok(out) => Ok(out.organization().and_then(|o| o.master_account_id()).map(String::from)),
            Err(e) if error_code(&e) == Some("AWSOrganizationsNotInUseException") => Ok(None),
            Err(e) => Err(Failure::aws("cannot read the organization (DescribeOrganization)", &e)),
        }
    }

    /// Status of a plain stack, `None` when it does not exist (or was deleted).
    pub(crate) async fn stack_status(&self, name: &str) -> Result<Option<String>, Failure> {
        match self.cfn.describe_stacks().stack_name(name).send().await {
            Ok(out) => Ok(out
                .stacks()
                .first()
                .and_then(|s| s.stack_status())
                .map(|s| s.as_str().to_string())
                .filter(|s| s != "DELETE_COMPLETE")),
            Err(e) if error_code(&e) == Some("ValidationError") => Ok(None),
            Err(e) => Err(Failure::aws(format!("cannot read stack {name}"), &e)),
        }
    }
}

fn account(a: &aws_sdk_organizations::types::Account, parent: Option<&str>) -> Option<Account> {
    let state = match (a.state(), a.status()) {
        (Some(s), _) => s.as_str().to_string(),
        (None, Some(s)) => s.as_str().to_string(),
        _ => "UNKNOWN".into(),
    };
    Some(Account { id: a.id()?.to_string(), state, parent: parent.map(String::from) })
}
