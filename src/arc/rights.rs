//! What the onboarding token may do in Azure, checked before it is sealed to any instance: every
//! instance that onboards holds the token for as long as it lives, so it must carry nothing but
//! onboarding. Resource Manager says what a caller may do at a scope ("Permissions - List For
//! Resource Group": `GET …/resourceGroups/{g}/providers/Microsoft.Authorization/permissions`,
//! api-version 2022-04-01, answered for the caller's own identity); the token goes out only when
//! every action there is one of the built-in *Azure Connected Machine Onboarding* role's.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};

use super::azure::resource_manager::{Permission, ResourceManager};
use super::secret::Secret;
use super::target::ArcTarget;
use crate::error::Failure;
use crate::report::Cause;

/// The actions of Microsoft's built-in role *Azure Connected Machine Onboarding*
/// (b64e21ea-ac4e-4cdf-9dc9-5b892992bee7), "Can onboard Azure Connected Machines." (Azure
/// built-in roles reference, Hybrid + multicloud): it has no NotActions and no DataActions.
pub(crate) const ONBOARDING_ACTIONS: [&str; 4] = [
    "Microsoft.HybridCompute/machines/read",
    "Microsoft.HybridCompute/machines/write",
    "Microsoft.HybridCompute/privateLinkScopes/read",
    "Microsoft.GuestConfiguration/guestConfigurationAssignments/read",
];

/// What in `permissions` goes beyond the onboarding role: each allowed action that is not exactly
/// (case-insensitively, as Azure compares operations) one of [`ONBOARDING_ACTIONS`], and every data
/// action. A wildcard counts as beyond even where `notActions` takes part of it back: what is left
/// cannot be told from the list alone, and only the plain role passes.
pub(crate) fn beyond_onboarding(permissions: &[Permission]) -> Vec<String> {
    let allowed = |action: &str| ONBOARDING_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(action));
    let mut beyond: Vec<String> = permissions
        .iter()
        .flat_map(|p| {
            let actions = p.actions.iter().filter(|a| !allowed(a)).cloned();
            actions.chain(p.data_actions.iter().map(|a| format!("data action {a}")))
        })
        .collect();
    beyond.sort();
    beyond.dedup();
    beyond
}

/// Refuses `token` (the onboarding application's) unless Resource Manager lists nothing beyond
/// the onboarding role for it on `account_id`'s resource group.
pub(crate) async fn only_onboarding(
    target: &ArcTarget,
    account_id: &str,
    application: &str,
    token: &Secret,
) -> Result<(), Failure> {
    let name = target.group(account_id);
    let group = format!("{}/{name}", target.subscription_id);
    let manager = with_token(target, token)?;
    let permissions = manager.permissions(&name).await.map_err(|e| {
        Failure::Precondition(format!(
            "cannot read what the onboarding token may do in resource group {group} (Resource Manager's permissions list): {e}; nothing is sent"
        ))
    })?;
    let beyond = beyond_onboarding(&permissions);
    if beyond.is_empty() {
        return Ok(());
    }
    Err(Failure::Caused(
        Cause::OnboardingRightsRefused,
        format!(
            "the onboarding application {} may do more than Azure Connected Machine Onboarding in resource group {group} ({}): every instance that onboards receives its token, so nothing is sent; give it that role alone there, and the sweep an application of its own (ARC_SWEEP_SERVICE_PRINCIPAL_ID)",
            application,
            beyond.join(", ")
        ),
    ))
}

/// The token already obtained, as a credential for one Resource Manager request.
/// Resource Manager called with `token` (the onboarding application's): it reads the machines of
/// the groups the application onboards into, and what it may do there.
pub(crate) fn with_token(target: &ArcTarget, token: &Secret) -> Result<ResourceManager, Failure> {
    let credential: Arc<dyn TokenCredential> = Arc::new(Fixed(token.clone()));
    ResourceManager::new(target, credential, Duration::from_secs(60))
}

struct Fixed(Secret);

impl std::fmt::Debug for Fixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fixed(..)")
    }
}

#[async_trait::async_trait]
impl TokenCredential for Fixed {
    async fn get_token(&self, _: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        let expires_on = azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::minutes(10);
        Ok(AccessToken::new(self.0.expose().to_string(), expires_on))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    fn permission(actions: &[&str]) -> Permission {
        Permission { actions: actions.iter().map(|a| a.to_string()).collect(), ..Permission::default() }
    }

    #[test]
    fn the_onboarding_role_alone_passes_and_anything_more_is_named() {
        assert!(beyond_onboarding(&[permission(&ONBOARDING_ACTIONS)]).is_empty());
        let lower: Vec<String> = ONBOARDING_ACTIONS.iter().map(|a| a.to_ascii_lowercase()).collect();
        let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
        assert!(beyond_onboarding(&[permission(&lower)]).is_empty(), "operations compare case-insensitively");
        assert!(beyond_onboarding(&[]).is_empty(), "no rights at all: the agents' connect fails, nothing leaks");
        let resource_admin =
            permission(&["Microsoft.HybridCompute/machines/delete", "Microsoft.HybridCompute/machines/read"]);
        assert_eq!(
            beyond_onboarding(&[permission(&ONBOARDING_ACTIONS), resource_admin]),
            ["Microsoft.HybridCompute/machines/delete"]
        );
        assert_eq!(beyond_onboarding(&[permission(&["*"])]), ["*"], "Owner or Contributor");
        let narrowed = Permission {
            not_actions: vec!["Microsoft.HybridCompute/machines/delete".into()],
            ..permission(&["Microsoft.HybridCompute/*"])
        };
        assert_eq!(beyond_onboarding(&[narrowed]), ["Microsoft.HybridCompute/*"], "a wildcard never passes");
        let data = Permission { data_actions: vec!["Microsoft.Storage/*".into()], ..Permission::default() };
        assert_eq!(beyond_onboarding(&[data]), ["data action Microsoft.Storage/*"]);
    }

    #[test]
    fn resource_managers_answer_parses() {
        let body = r#"{"value":[{"actions":["*/read"],"notActions":[],"dataActions":[],"notDataActions":[]}]}"#;
        #[derive(Deserialize)]
        struct Page {
            value: Vec<Permission>,
        }
        let page: Page = serde_json::from_str(body).expect("json");
        assert_eq!(beyond_onboarding(&page.value), ["*/read"], "Reader reads everything: beyond onboarding");
    }
}
