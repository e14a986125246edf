//! The Azure target every command carries (no secret), the document parameters it yields, and
//! its fingerprint.

use super::forms::ACCOUNT_PLACEHOLDER;
use std::collections::BTreeMap;

/// Azure clouds the agent knows.
pub(crate) const CLOUDS: [&str; 3] = ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"];

/// What member accounts receive to connect their instances (`ARC_CREDENTIAL_MODE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CredentialMode {
    /// A Microsoft Entra access token the function obtains per run for the onboarding application
    /// (client credentials, by default with no secret: workload identity federation); it lives
    /// about an hour. The default.
    #[default]
    AccessToken,
    /// The service principal's secret itself (opt-in, for agents that cannot use a token).
    ServicePrincipalSecret,
}

impl CredentialMode {
    /// The value of `ARC_CREDENTIAL_MODE` and of the documents' `credentialType` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialMode::AccessToken => "access-token",
            CredentialMode::ServicePrincipalSecret => "service-principal-secret",
        }
    }

    /// The mode named by `value`.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        [CredentialMode::AccessToken, CredentialMode::ServicePrincipalSecret].into_iter().find(|m| m.as_str() == value)
    }
}

/// The complete Azure target: what every command carries (no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArcTarget {
    /// Tenant.
    pub tenant_id: String,
    /// Subscription.
    pub subscription_id: String,
    /// Resource group, or a template with `{accountId}` (a group per account).
    pub resource_group: String,
    /// Azure region.
    pub location: String,
    /// Azure cloud.
    pub cloud: String,
    /// `MDFCSecurityConnector` tag value.
    pub connector_id: String,
    /// Onboarding service principal (client id).
    pub service_principal_id: String,
    /// The application the sweep signs in as, when not the onboarding one.
    pub sweep_service_principal_id: Option<String>,
    /// SecureString in the management account holding the application's client secret; `None`
    /// (the default): no secret, the function signs in with an AWS identity token.
    pub credential_parameter: Option<String>,
    /// What instances receive, sealed.
    pub credential_mode: CredentialMode,
    /// Entra authority override (`ARC_AUTHORITY_HOST`).
    pub authority_host: Option<String>,
    /// Azure Resource Manager override (`ARC_RESOURCE_MANAGER_HOST`).
    pub resource_manager_host: Option<String>,
    /// Optional proxy.
    pub proxy_url: String,
    /// Optional private link scope.
    pub private_link_scope: String,
}

impl ArcTarget {
    /// SendCommand parameters for one account's commands, both phases alike (the phase and the
    /// sealed credential are added per command).
    pub fn parameters(&self, account_id: &str, correlation_id: &str, force: bool) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("tenantId", self.tenant_id.clone()),
            ("subscriptionId", self.subscription_id.clone()),
            ("resourceGroup", self.group(account_id)),
            ("location", self.location.clone()),
            ("cloud", self.cloud.clone()),
            ("connectorId", self.connector_id.clone()),
            ("accountId", account_id.to_string()),
            ("servicePrincipalId", self.service_principal_id.clone()),
            ("credentialType", self.credential_mode.as_str().to_string()),
            ("proxyUrl", self.proxy_url.clone()),
            ("privateLinkScope", self.private_link_scope.clone()),
            ("correlationId", correlation_id.to_string()),
            ("force", force.to_string()),
        ])
    }

    /// The resource group of `account_id`'s machines.
    pub fn group(&self, account_id: &str) -> String {
        self.resource_group.replace(ACCOUNT_PLACEHOLDER, account_id)
    }

    /// Whether the resource group is per account (`{accountId}` in `ARC_RESOURCE_GROUP`).
    pub fn group_per_account(&self) -> bool {
        self.resource_group.contains(ACCOUNT_PLACEHOLDER)
    }

    /// Whether `group` is one of the target's groups: the group, or the template's for some
    /// 12-digit account id (case-insensitively, as Azure compares group names).
    pub fn holds_group(&self, group: &str) -> bool {
        let (group, template) = (group.to_ascii_lowercase(), self.resource_group.to_ascii_lowercase());
        let placeholder = ACCOUNT_PLACEHOLDER.to_ascii_lowercase();
        let Some((prefix, suffix)) = template.split_once(&placeholder) else { return group == template };
        group
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Short, stable fingerprint of where instances are connected (tenant, subscription, group,
    /// location, cloud, connector, network settings): a command whose comment carries another
    /// fingerprint does not count as provisioned.
    pub fn fingerprint(&self) -> String {
        let text = [
            &self.tenant_id,
            &self.subscription_id,
            &self.resource_group.to_ascii_lowercase(),
            &self.location,
            &self.cloud,
            &self.connector_id,
            &self.proxy_url,
            &self.private_link_scope,
        ]
        .map(|s| s.as_str())
        .join("\n");
        // FNV-1a, 64 bits: stable across releases (unlike std's hasher).
        let hash =
            text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        format!("{hash:016x}")
    }
}
