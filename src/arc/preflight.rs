//! arc-provisioner's prerequisites (`{"action":"preflight"}`, docs/deploy.md "Verify"): outbound
//! identity federation, each application's sign-in to Microsoft Entra (the federated identity
//! credential accepting the function's token) and its role in the resource group (Resource
//! Manager's permissions list, as `super::rights` reads it), and the account's Lambda concurrency.

use super::azure::resource_manager::{Permission, ResourceManager};
use super::credential::{obtain, sweep_off};
use super::job::ArcProvisioner;
use super::rights::{ONBOARDING_ACTIONS, beyond_onboarding, with_token};
use crate::aws::describe;
use crate::budget::Budget;
use crate::error::{Failure, InvocationError};
use crate::lambda_concurrency as concurrency;
use crate::org_scope;
use crate::preflight::{Check, report};
use crate::report::Report;

/// What the sweep's application must be allowed in the resource group (docs/deploy.md).
const SWEEP_ACTIONS: [&str; 2] = ["Microsoft.HybridCompute/machines/read", "Microsoft.HybridCompute/machines/delete"];

impl ArcProvisioner {
    /// Checks every prerequisite; writes nothing (the onboarding token obtained here is dropped).
    pub(super) async fn preflight(&self) -> Result<Report, InvocationError> {
        let own = self.context.identity().await?.account_id.clone();
        let region = self.home_region().to_string();
        let target = &self.settings().target;
        let subject = self.role_arn().await;
        let mut checks = Vec::new();
        let issuer = if target.credential_parameter.is_none() {
            let (check, issuer) = self.outbound_federation().await;
            checks.push(check);
            issuer
        } else {
            None
        };
        let fic = Fic { issuer: issuer.as_deref(), subject: subject.as_deref() };
        checks.extend(self.onboarding_checks(&own, &fic).await);
        checks.extend(self.sweep_checks(&own, &fic).await);
        checks.push(concurrency::check(&aws_sdk_lambda::Client::new(self.context.base()), &region).await);
        checks.extend(org_scope::check(&self.context, &own, &self.settings().common).await);
        Ok(report(super::job::JOB, &own, &region, &checks))
    }

    /// IAM outbound identity federation: enabled, and its issuer.
    async fn outbound_federation(&self) -> (Check, Option<String>) {
        const NAME: &str = "outbound-identity-federation";
        let iam = aws_sdk_iam::Client::new(self.context.base());
        match iam.get_outbound_web_identity_federation_info().send().await {
            Ok(info) if info.jwt_vending_enabled() => {
                let issuer = info.issuer_identifier().map(String::from);
                let found = format!("enabled, issuer {}", issuer.as_deref().unwrap_or("(none given)"));
                (Check::ok(NAME, found), issuer)
            }
            Ok(_) => (missing_federation(NAME, "outbound identity federation is disabled in this account"), None),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_feature_disabled_exception()) => {
                (missing_federation(NAME, describe(&e)), None)
            }
            Err(e) => {
                let check = "aws iam get-outbound-web-identity-federation-info";
                (Check::unchecked(NAME, describe(&e), check), None)
            }
        }
    }

    /// The function's role ARN (the subject of its AWS identity tokens), from STS.
    async fn role_arn(&self) -> Option<String> {
        let sts = aws_sdk_sts::Client::new(self.context.base());
        let arn = sts.get_caller_identity().send().await.ok()?.arn()?.to_string();
        role_of_session(&arn)
    }

    /// The onboarding application: sign-in, then its rights in the (own account's) group.
    async fn onboarding_checks(&self, own: &str, fic: &Fic<'_>) -> Vec<Check> {
        const SIGN_IN: &str = "entra-sign-in-onboarding";
        let target = &self.settings().target;
        let application = target.service_principal_id.as_str();
        let obtained = match obtain(&self.secret_store, self.identity_tokens(), target, application).await {
            Ok(obtained) => obtained,
            Err(failure) => {
                return vec![Check::missing(SIGN_IN, failure.to_string(), fic.command(application, target))];
            }
        };
        let sign_in = Check::ok(SIGN_IN, format!("application {application} signs in to tenant {}", target.tenant_id));
        let rights = match with_token(target, &obtained.token) {
            Ok(manager) => {
                self.rights("azure-rights-onboarding", &manager, own, &ONBOARDING_ACTIONS, application).await
            }
            Err(failure) => Check::unchecked("azure-rights-onboarding", failure.to_string(), "az role assignment list"),
        };
        vec![sign_in, rights]
    }

    /// The sweep's application, when the sweep is on: sign-in, then read and delete of machines.
    async fn sweep_checks(&self, own: &str, fic: &Fic<'_>) -> Vec<Check> {
        const SIGN_IN: &str = "entra-sign-in-sweep";
        let target = &self.settings().target;
        let (None, Some(application)) = (sweep_off(target), target.sweep_service_principal_id.as_deref()) else {
            return Vec::new();
        };
        // The sweep's own client: it signs in before its first request (sweep_run.rs).
        let manager = match self.resource_manager(&Budget::until(None)).await {
            Ok(Some(manager)) => manager,
            Ok(None) => return Vec::new(),
            Err(failure) => {
                return vec![Check::missing(SIGN_IN, failure.to_string(), fic.command(application, target))];
            }
        };
        let sign_in = Check::ok(SIGN_IN, format!("application {application} signs in to tenant {}", target.tenant_id));
        let rights = self.rights("azure-rights-sweep", &manager, own, &SWEEP_ACTIONS, application).await;
        vec![sign_in, rights]
    }

    /// Whether `application` may do each of `needed` in `own`'s resource group (and, for the
    /// onboarding application, nothing more than the onboarding role).
    async fn rights(
        &self,
        name: &'static str,
        manager: &ResourceManager,
        own: &str,
        needed: &[&str],
        application: &str,
    ) -> Check {
        let target = &self.settings().target;
        let group = target.group(own);
        let scope = format!("/subscriptions/{}/resourceGroups/{group}", target.subscription_id);
        let permissions = match manager.permissions(&group).await {
            Ok(permissions) => permissions,
            Err(failure) => return unreadable(name, &failure, application, &scope),
        };
        let lacking: Vec<&str> = needed.iter().copied().filter(|a| !allows(&permissions, a)).collect();
        let role = if name == "azure-rights-sweep" {
            "\"MDC connector Arc sweep\""
        } else {
            "\"Azure Connected Machine Onboarding\""
        };
        if !lacking.is_empty() {
            let mut fix = format!("az role assignment create --assignee {application} --role {role} --scope {scope}");
            if name == "azure-rights-sweep" {
                fix.push_str(" (the custom role holds machines/read and /delete only; scripts/azure-setup creates it)");
            }
            return Check::missing(
                name,
                format!("application {application} may not {} in {scope}", lacking.join(", ")),
                fix,
            );
        }
        let beyond = if name == "azure-rights-onboarding" { beyond_onboarding(&permissions) } else { Vec::new() };
        if !beyond.is_empty() {
            let what = format!("application {application} may do more than onboard in {scope}: {}", beyond.join(", "));
            let fix = format!(
                "az role assignment list --assignee {application} --all, then delete every assignment but {role} on {scope}"
            );
            return Check::missing(name, what, fix);
        }
        Check::ok(name, format!("application {application} may {} in {scope}", needed.join(", ")))
    }
}

/// What an application's federated identity credential must say.
struct Fic<'a> {
    issuer: Option<&'a str>,
    subject: Option<&'a str>,
}

impl Fic<'_> {
    /// The command that adds the credential to `application`.
    fn command(&self, application: &str, target: &super::target::ArcTarget) -> String {
        if target.credential_parameter.is_some() {
            return format!(
                "check the secret in {} and ARC_SERVICE_PRINCIPAL_ID",
                target.credential_parameter.as_deref().unwrap_or_default()
            );
        }
        let audience = super::federation::audience(&target.cloud);
        let (issuer, subject) = (
            self.issuer.unwrap_or("<issuer: aws iam get-outbound-web-identity-federation-info>"),
            self.subject.unwrap_or("<the function role's ARN>"),
        );
        format!(
            "az ad app federated-credential create --id {application} --parameters '{{\"name\":\"aws-mdc-connector\",\"issuer\":\"{issuer}\",\"subject\":\"{subject}\",\"audiences\":[\"{audience}\"]}}' (scripts/azure-setup does it)"
        )
    }
}

fn missing_federation(name: &'static str, what: impl Into<String>) -> Check {
    Check::missing(name, what, "aws iam enable-outbound-web-identity-federation")
}

/// The permissions list could not be read: a 403 means no role at all there.
fn unreadable(name: &'static str, failure: &Failure, application: &str, scope: &str) -> Check {
    let check = format!("az role assignment list --assignee {application} --scope {scope}");
    Check::unchecked(name, failure.to_string(), check)
}

/// Whether `permissions` allow `action` (exact, or a `*` wildcard, minus `notActions`), as Azure
/// compares operations: case-insensitively.
fn allows(permissions: &[Permission], action: &str) -> bool {
    let matches = |pattern: &str| wildcard(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase());
    permissions.iter().any(|p| p.actions.iter().any(|a| matches(a)) && !p.not_actions.iter().any(|a| matches(a)))
}

/// `pattern` with `*` matching any run of characters (compared byte by byte).
fn wildcard(pattern: &str, text: &str) -> bool {
    fn matches(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.iter().position(|b| *b == b'*') {
            None => pattern == text,
            Some(star) => {
                let (head, tail) = (&pattern[..star], &pattern[star + 1..]);
                text.starts_with(head) && (head.len()..=text.len()).any(|i| matches(tail, &text[i..]))
            }
        }
    }
    matches(pattern.as_bytes(), text.as_bytes())
}

/// `arn:aws:sts::1:assumed-role/Name/session` → `arn:aws:iam::1:role/Name`.
fn role_of_session(arn: &str) -> Option<String> {
    let (prefix, resource) = arn.split_once(":assumed-role/")?;
    let (role, _) = resource.split_once('/')?;
    Some(format!("{}:role/{role}", prefix.replacen(":sts:", ":iam:", 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permission(actions: &[&str], not: &[&str]) -> Permission {
        Permission {
            actions: actions.iter().map(|a| a.to_string()).collect(),
            not_actions: not.iter().map(|a| a.to_string()).collect(),
            data_actions: Vec::new(),
        }
    }

    #[test]
    fn an_action_is_allowed_exactly_or_by_wildcard_unless_taken_back() {
        let delete = "Microsoft.HybridCompute/machines/delete";
        assert!(allows(&[permission(&["microsoft.hybridcompute/machines/DELETE"], &[])], delete));
        assert!(allows(&[permission(&["*"], &[])], delete));
        assert!(allows(&[permission(&["Microsoft.HybridCompute/*"], &[])], delete));
        assert!(!allows(&[permission(&["Microsoft.HybridCompute/*"], &["*/delete"])], delete));
        assert!(!allows(&[permission(&["Microsoft.HybridCompute/machines/read"], &[])], delete));
    }

    #[test]
    fn the_token_subject_is_the_role_not_the_session() {
        let arn = "arn:aws:sts::111111111111:assumed-role/mdc-connector-arc-provisioner/mdc-connector-arc-provisioner";
        assert_eq!(
            role_of_session(arn).as_deref(),
            Some("arn:aws:iam::111111111111:role/mdc-connector-arc-provisioner")
        );
        assert_eq!(role_of_session("arn:aws:iam::111111111111:user/x"), None);
    }
}
