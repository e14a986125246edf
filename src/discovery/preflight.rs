//! account-discovery's prerequisites (`{"action":"preflight"}`, docs/deploy.md "Verify"): trusted
//! access for StackSets and for Account Management, the delegated administrator registrations in
//! that mode, the CloudTrail trail four Organizations events need, the account's Lambda
//! concurrency, and the member StackSet's stack instances.

use super::job::AccountDiscovery;
use super::state::StackInstance;
use super::trail;
use super::trigger::JOB;
use crate::aws::{cloudtrail_client, describe};
use crate::error::InvocationError;
use crate::lambda_concurrency as concurrency;
use crate::org_scope;
use crate::preflight::{Check, report};
use crate::report::Report;

/// StackSets' service principal in Organizations.
const STACKSETS: &str = "member.org.stacksets.cloudformation.amazonaws.com";
/// Account Management's service principal (`ListRegions` for members).
const ACCOUNT: &str = "account.amazonaws.com";

impl AccountDiscovery {
    /// Checks every prerequisite; writes nothing.
    pub(super) async fn preflight(&self) -> Result<Report, InvocationError> {
        let own = self.context.identity().await?.account_id.clone();
        let region = self.context.home_region().to_string();
        let mut checks = vec![self.stacksets_access().await, self.account_access().await];
        if self.settings.delegated_admin {
            for principal in [STACKSETS, ACCOUNT] {
                checks.push(self.registered(principal, &own).await);
            }
        }
        let org_region = trail::organizations_region(&region);
        let cloudtrail = cloudtrail_client(self.context.base(), org_region);
        checks.push(trail::check(&cloudtrail, org_region, self.settings.delegated_admin).await);
        checks.push(concurrency::check(&self.lambda, &region).await);
        checks.push(self.stack_instances().await);
        checks.extend(org_scope::check(&self.context, &own, &self.settings.common).await);
        Ok(report(JOB, &own, &region, &checks))
    }

    /// StackSets' organizations (trusted) access, as CloudFormation reports it.
    async fn stacksets_access(&self) -> Check {
        const NAME: &str = "trusted-access-stacksets";
        let call_as = if self.settings.delegated_admin { " --call-as DELEGATED_ADMIN" } else { "" };
        match self.readers().organizations_access().await {
            Ok(true) => Check::ok(NAME, "organizations access is activated for StackSets"),
            Ok(false) => Check::missing(
                NAME,
                "organizations access is not activated for StackSets: the member StackSet cannot deploy",
                "in the management account: aws cloudformation activate-organizations-access",
            ),
            Err(e) => Check::unchecked(
                NAME,
                e.to_string(),
                format!("aws cloudformation describe-organizations-access{call_as}"),
            ),
        }
    }

    /// Account Management's trusted access (the enabled regions of members).
    async fn account_access(&self) -> Check {
        const NAME: &str = "trusted-access-account-management";
        let check = "aws organizations list-aws-service-access-for-organization";
        let mut pages = self.context.organizations().list_aws_service_access_for_organization().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) => return Check::unchecked(NAME, describe(&e), check),
            };
            if page.enabled_service_principals().iter().any(|p| p.service_principal() == Some(ACCOUNT)) {
                return Check::ok(NAME, "trusted access is enabled for AWS Account Management");
            }
        }
        Check::missing(
            NAME,
            "trusted access is not enabled for AWS Account Management: members' opt-in regions cannot be read, and stack instances there fail",
            format!(
                "in the management account: aws organizations enable-aws-service-access --service-principal {ACCOUNT}"
            ),
        )
    }

    /// This account registered as delegated administrator for `principal`.
    async fn registered(&self, principal: &'static str, own: &str) -> Check {
        let name =
            if principal == STACKSETS { "delegated-admin-stacksets" } else { "delegated-admin-account-management" };
        let fix = format!(
            "in the management account: aws organizations register-delegated-administrator --service-principal {principal} --account-id {own}"
        );
        let request = self.context.organizations().list_delegated_administrators().service_principal(principal);
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    let check =
                        format!("aws organizations list-delegated-administrators --service-principal {principal}");
                    return Check::unchecked(name, describe(&e), check);
                }
            };
            if page.delegated_administrators().iter().any(|a| a.id() == Some(own)) {
                return Check::ok(name, format!("{own} is a delegated administrator for {principal}"));
            }
        }
        Check::missing(name, format!("{own} is not a delegated administrator for {principal}"), fix)
    }

    /// The member StackSet's stack instances: none failed.
    async fn stack_instances(&self) -> Check {
        const NAME: &str = "member-stack-instances";
        let name = &self.settings.stackset_name;
        let instances = match self.readers().instances(name).await {
            Ok(instances) => instances,
            Err(e) => {
                return Check::unchecked(
                    NAME,
                    e.to_string(),
                    format!("aws cloudformation list-stack-instances --stack-set-name {name}"),
                );
            }
        };
        let failed: Vec<&StackInstance> = instances.iter().filter(|i| failing(i)).collect();
        if failed.is_empty() {
            return Check::ok(NAME, format!("{} stack instances of {name}, none failed", instances.len()));
        }
        let first: Vec<String> = failed
            .iter()
            .take(5)
            .map(|i| {
                format!(
                    "{}/{} {} ({})",
                    i.account,
                    i.region,
                    i.status,
                    i.reason.as_deref().unwrap_or("no reason given")
                )
            })
            .collect();
        let what =
            format!("{} of {} stack instances of {name} failed: {}", failed.len(), instances.len(), first.join("; "));
        let fix = "fix the cause named; then delete each failed instance with its stack (aws cloudformation delete-stack-instances --stack-set-name <name> --no-retain-stacks ..., docs/upgrade.md#a-failed-member-stack-creation) and {\"action\":\"reconcile\"} creates it again, or set StackSetRetryFailed=true so each reconcile re-deploys failed (not INOPERABLE) instances";
        Check::missing(NAME, what, fix)
    }
}

/// A stack instance whose last deployment failed, or that CloudFormation can no longer manage.
fn failing(instance: &StackInstance) -> bool {
    instance.status == "INOPERABLE"
        || matches!(instance.detailed_status.as_deref(), Some("FAILED" | "CANCELLED" | "INOPERABLE" | "FAILED_IMPORT"))
}
