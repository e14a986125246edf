//! Arc provisioning configuration (`ARC_*` variables) and the document parameters it yields.
//!
//! Every value that reaches an instance's script is validated here with the same rules as the
//! SSM documents' `allowedPattern` (`cfn/ssm/parameters.json`), so a bad value stops the function
//! at cold start instead of reaching SendCommand.

use std::collections::BTreeMap;

use crate::config::{COMMON_VARIABLES, Common, Env, FLEET_VARIABLES, Fleet, Variable};
use crate::error::ConfigError;
use crate::validate::is_role_ref;

/// Validated settings of arc-provisioner: [`Common`], [`Fleet`], the `ARC_*` variables, and the
/// complete Azure target (the function does not start without it). Only these variables are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArcSettings {
    /// Excluded accounts, dry run.
    pub common: Common,
    /// Regions, opt-out tag, concurrency.
    pub fleet: Fleet,
    /// The `ARC_*` variables as read.
    pub arc: ArcConfig,
    /// The Azure target every command carries.
    pub target: ArcTarget,
}

impl ArcSettings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`; fails, naming the first missing variable, when the
    /// Azure target is incomplete.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let arc = ArcConfig::read(&env)?;
        let target = arc.target()?;
        Ok(ArcSettings { common: Common::read(&env)?, fleet: Fleet::read(&env)?, arc, target })
    }
}

/// `ARC_MEMBER_ROLE`.
pub const MEMBER_ROLE: Variable = Variable {
    name: "ARC_MEMBER_ROLE",
    meaning: "role arc-provisioner assumes in member accounts (may send only the connector's documents)",
    default: "`MdcConnectorProvisioningRole`",
    accepted: "a role name or `path/name`",
    example: "team/ProvisioningRole",
    refused: &["bad role", "a;b"],
};
/// `ARC_TENANT_ID`.
pub const TENANT_ID: Variable = Variable {
    name: "ARC_TENANT_ID",
    meaning: "Azure tenant",
    default: "**required**",
    accepted: "a GUID",
    example: "11111111-2222-3333-4444-555555555555",
    refused: &["not-a-guid", "$(reboot)"],
};
/// `ARC_SUBSCRIPTION_ID`.
pub const SUBSCRIPTION_ID: Variable = Variable {
    name: "ARC_SUBSCRIPTION_ID",
    meaning: "Azure subscription",
    default: "**required**",
    accepted: "a GUID",
    example: "aaaaaaaa-2222-3333-4444-555555555555",
    refused: &["aaaaaaaa-2222-3333-4444", "`id`"],
};
/// `ARC_RESOURCE_GROUP`.
pub const RESOURCE_GROUP: Variable = Variable {
    name: "ARC_RESOURCE_GROUP",
    meaning: "Azure resource group",
    default: "**required**",
    accepted: "1-90 letters, digits, `. _ ( ) -`",
    example: "rg-(prod).arc",
    refused: &["a;b", "a b"],
};
/// `ARC_LOCATION`.
pub const LOCATION: Variable = Variable {
    name: "ARC_LOCATION",
    meaning: "Azure region",
    default: "**required**",
    accepted: "1-40 lowercase letters and digits (`westeurope`)",
    example: "westeurope",
    refused: &["West Europe", "a;b"],
};
/// `ARC_CLOUD`.
pub const CLOUD: Variable = Variable {
    name: "ARC_CLOUD",
    meaning: "Azure cloud",
    default: "`AzureCloud`",
    accepted: "`AzureCloud`, `AzureUSGovernment`, `AzureChinaCloud`",
    example: "AzureUSGovernment",
    refused: &["AzureMoon"],
};
/// `ARC_CONNECTOR_ID`.
pub const CONNECTOR_ID: Variable = Variable {
    name: "ARC_CONNECTOR_ID",
    meaning: "value of the `MDFCSecurityConnector` tag",
    default: "**required**",
    accepted: "a letter or digit, then up to 89 letters, digits, `. _ -`",
    example: "mdc-connector-1",
    refused: &["-leading", "a b"],
};
/// `ARC_SERVICE_PRINCIPAL_ID`.
pub const SERVICE_PRINCIPAL_ID: Variable = Variable {
    name: "ARC_SERVICE_PRINCIPAL_ID",
    meaning: "application (client) id of the onboarding service principal",
    default: "**required**",
    accepted: "a GUID (the application id)",
    example: "bbbbbbbb-2222-3333-4444-555555555555",
    refused: &["client"],
};
/// `ARC_CREDENTIAL_PARAMETER`.
pub const CREDENTIAL_PARAMETER: Variable = Variable {
    name: "ARC_CREDENTIAL_PARAMETER",
    meaning: "SecureString (management account, function's region) holding its secret; only the name is configuration",
    default: "**required**",
    accepted: "an SSM parameter name",
    example: "/mdc-connector/arc/service-principal-secret",
    refused: &["a b", "a;b"],
};
/// `ARC_CREDENTIAL_MODE`.
pub const CREDENTIAL_MODE: Variable = Variable {
    name: "ARC_CREDENTIAL_MODE",
    meaning: "what member accounts receive: `access-token`, a Microsoft Entra access token for Azure Resource Manager that the function obtains once per invocation with the secret (client credentials; the secret never leaves the management account), or `service-principal-secret`, the secret itself (opt-in, for agents that cannot take a token; forced moves are then never made, as the connector tag cannot be checked)",
    default: "`access-token`",
    accepted: "`access-token` or `service-principal-secret`",
    example: "service-principal-secret",
    refused: &["secret"],
};
/// `ARC_AUTHORITY_HOST`.
pub const AUTHORITY_HOST: Variable = Variable {
    name: "ARC_AUTHORITY_HOST",
    meaning: "Microsoft Entra authority tokens are asked from",
    default: "the one of `ARC_CLOUD` (`https://login.microsoftonline.com`, `.us`, `login.chinacloudapi.cn`)",
    accepted: "`https://host[:port]`, no path (TLS only)",
    example: "https://login.microsoftonline.us",
    refused: &["http://login.microsoftonline.com", "https://host/path"],
};
/// `ARC_STAGED_CREDENTIAL_PARAMETER`.
pub const STAGED_CREDENTIAL_PARAMETER: Variable = Variable {
    name: "ARC_STAGED_CREDENTIAL_PARAMETER",
    meaning: "prefix of the SecureStrings the credential is staged in, one per run, member account and region (`<prefix>/<expiry>-<random>`, expiring after 20 minutes or with the token, whichever is first)",
    default: "`/mdc-connector/arc/staged-onboarding-secret`",
    accepted: "an SSM parameter name starting with `/`, different from `ARC_CREDENTIAL_PARAMETER`",
    example: "/mdc-connector/arc/staged",
    refused: &["no-slash", "/a b"],
};
/// `ARC_LINUX_DOCUMENT`.
pub const LINUX_DOCUMENT: Variable = Variable {
    name: "ARC_LINUX_DOCUMENT",
    meaning: "the connector's SSM document for Linux",
    default: "`MdcConnector-ArcOnboard-Linux`",
    accepted: "3-128 letters, digits, `_ - .`",
    example: "MdcConnector-ArcOnboard-Linux",
    refused: &["ab", "a b"],
};
/// `ARC_WINDOWS_DOCUMENT`.
pub const WINDOWS_DOCUMENT: Variable = Variable {
    name: "ARC_WINDOWS_DOCUMENT",
    meaning: "the connector's SSM document for Windows",
    default: "`MdcConnector-ArcOnboard-Windows`",
    accepted: "3-128 letters, digits, `_ - .`",
    example: "MdcConnector-ArcOnboard-Windows",
    refused: &["ab", "a;b"],
};
/// `ARC_PROXY_URL`.
pub const PROXY_URL: Variable = Variable {
    name: "ARC_PROXY_URL",
    meaning: "proxy for the agent",
    default: "none",
    accepted: "`http(s)://host[:port]`, no credentials or path",
    example: "http://proxy.corp.example:3128",
    refused: &["ftp://x", "http://user:pw@proxy:8080"],
};
/// `ARC_PRIVATE_LINK_SCOPE`.
pub const PRIVATE_LINK_SCOPE: Variable = Variable {
    name: "ARC_PRIVATE_LINK_SCOPE",
    meaning: "Azure Arc private link scope",
    default: "none",
    accepted: "`/subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.HybridCompute/privateLinkScopes/<name>`",
    example: "/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.HybridCompute/privateLinkScopes/pls-1",
    refused: &["/subscriptions/x"],
};
/// `ARC_MAX_CONCURRENCY`.
pub const MAX_CONCURRENCY: Variable = Variable {
    name: "ARC_MAX_CONCURRENCY",
    meaning: "SendCommand `MaxConcurrency`",
    default: "`50`",
    accepted: "a number, or a percentage from 1% to 100%",
    example: "10%",
    refused: &["0%", "101%", "%", "ten"],
};
/// `ARC_MAX_ERRORS`.
pub const MAX_ERRORS: Variable = Variable {
    name: "ARC_MAX_ERRORS",
    meaning: "SendCommand `MaxErrors`",
    default: "`100%`",
    accepted: "a number, or a percentage from 1% to 100%",
    example: "5",
    refused: &["0%", "101%", "%"],
};

/// Every variable arc-provisioner reads.
pub const VARIABLES: [Variable; 24] = [
    COMMON_VARIABLES[0],
    COMMON_VARIABLES[1],
    FLEET_VARIABLES[0],
    FLEET_VARIABLES[1],
    FLEET_VARIABLES[2],
    FLEET_VARIABLES[3],
    MEMBER_ROLE,
    TENANT_ID,
    SUBSCRIPTION_ID,
    RESOURCE_GROUP,
    LOCATION,
    CLOUD,
    CONNECTOR_ID,
    SERVICE_PRINCIPAL_ID,
    CREDENTIAL_PARAMETER,
    CREDENTIAL_MODE,
    AUTHORITY_HOST,
    STAGED_CREDENTIAL_PARAMETER,
    LINUX_DOCUMENT,
    WINDOWS_DOCUMENT,
    PROXY_URL,
    PRIVATE_LINK_SCOPE,
    MAX_CONCURRENCY,
    MAX_ERRORS,
];

/// Linux document when `ARC_LINUX_DOCUMENT` is not set (created by the member template).
pub const DEFAULT_LINUX_DOCUMENT: &str = "MdcConnector-ArcOnboard-Linux";
/// Windows document when `ARC_WINDOWS_DOCUMENT` is not set.
pub const DEFAULT_WINDOWS_DOCUMENT: &str = "MdcConnector-ArcOnboard-Windows";
/// Prefix of the SecureStrings the onboarding secret is staged in (one per run, member account
/// and region, expiring by itself) when `ARC_STAGED_CREDENTIAL_PARAMETER` is not set.
pub const DEFAULT_STAGED_CREDENTIAL: &str = "/mdc-connector/arc/staged-onboarding-secret";
/// Role arc-provisioner assumes in member accounts when `ARC_MEMBER_ROLE` is not set (created by
/// the member template, trusted only by the arc-provisioner function's role).
pub const DEFAULT_PROVISIONING_ROLE: &str = "MdcConnectorProvisioningRole";
/// Azure clouds the agent knows.
pub(crate) const CLOUDS: [&str; 3] = ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"];

/// What member accounts receive to connect their instances (`ARC_CREDENTIAL_MODE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CredentialMode {
    /// A Microsoft Entra access token the function obtains per run with the service principal
    /// (client credentials); it lives about an hour, and the secret never leaves the management
    /// account. The default.
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

    fn parse(value: &str) -> Option<Self> {
        [CredentialMode::AccessToken, CredentialMode::ServicePrincipalSecret].into_iter().find(|m| m.as_str() == value)
    }
}

/// `ARC_*` configuration as read; arc-provisioner requires the Azure target through [`ArcConfig::target`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArcConfig {
    /// `ARC_MEMBER_ROLE`: role (name or `path/name`) assumed in member accounts.
    pub member_role: String,
    /// `ARC_TENANT_ID`.
    pub tenant_id: Option<String>,
    /// `ARC_SUBSCRIPTION_ID`.
    pub subscription_id: Option<String>,
    /// `ARC_RESOURCE_GROUP`.
    pub resource_group: Option<String>,
    /// `ARC_LOCATION`.
    pub location: Option<String>,
    /// `ARC_CLOUD` (default `AzureCloud`).
    pub cloud: String,
    /// `ARC_CONNECTOR_ID`: value of the `MDFCSecurityConnector` tag.
    pub connector_id: Option<String>,
    /// `ARC_PROXY_URL`.
    pub proxy_url: Option<String>,
    /// `ARC_PRIVATE_LINK_SCOPE`.
    pub private_link_scope: Option<String>,
    /// `ARC_SERVICE_PRINCIPAL_ID`: application (client) id of the onboarding service principal.
    pub service_principal_id: Option<String>,
    /// `ARC_CREDENTIAL_PARAMETER`: SecureString in the management account (the function's region)
    /// holding the service principal's secret. Only its name is configuration.
    pub credential_parameter: Option<String>,
    /// `ARC_STAGED_CREDENTIAL_PARAMETER`.
    pub staged_credential_parameter: String,
    /// `ARC_CREDENTIAL_MODE`: what is staged in member accounts (default: an access token).
    pub credential_mode: CredentialMode,
    /// `ARC_AUTHORITY_HOST`: Microsoft Entra authority (`https://host[:port]`) tokens are asked
    /// from; by default the one of `ARC_CLOUD`.
    pub authority_host: Option<String>,
    /// `ARC_LINUX_DOCUMENT`.
    pub linux_document: String,
    /// `ARC_WINDOWS_DOCUMENT`.
    pub windows_document: String,
    /// `ARC_MAX_CONCURRENCY`: SendCommand `MaxConcurrency` (a number or a percentage).
    pub max_concurrency: String,
    /// `ARC_MAX_ERRORS`: SendCommand `MaxErrors` (a number or a percentage).
    pub max_errors: String,
}

impl Default for ArcConfig {
    fn default() -> Self {
        ArcConfig {
            member_role: DEFAULT_PROVISIONING_ROLE.into(),
            tenant_id: None,
            subscription_id: None,
            resource_group: None,
            location: None,
            cloud: CLOUDS[0].into(),
            connector_id: None,
            proxy_url: None,
            private_link_scope: None,
            service_principal_id: None,
            credential_parameter: None,
            staged_credential_parameter: DEFAULT_STAGED_CREDENTIAL.into(),
            credential_mode: CredentialMode::default(),
            authority_host: None,
            linux_document: DEFAULT_LINUX_DOCUMENT.into(),
            windows_document: DEFAULT_WINDOWS_DOCUMENT.into(),
            max_concurrency: "50".into(),
            max_errors: "100%".into(),
        }
    }
}

/// The complete Azure target: what every command carries (no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArcTarget {
    /// Tenant.
    pub tenant_id: String,
    /// Subscription.
    pub subscription_id: String,
    /// Resource group.
    pub resource_group: String,
    /// Azure region.
    pub location: String,
    /// Azure cloud.
    pub cloud: String,
    /// `MDFCSecurityConnector` tag value.
    pub connector_id: String,
    /// Onboarding service principal (client id).
    pub service_principal_id: String,
    /// Source SecureString in the management account.
    pub credential_parameter: String,
    /// What is staged in member accounts.
    pub credential_mode: CredentialMode,
    /// Entra authority override (`ARC_AUTHORITY_HOST`).
    pub authority_host: Option<String>,
    /// Optional proxy.
    pub proxy_url: String,
    /// Optional private link scope.
    pub private_link_scope: String,
}

impl ArcConfig {
    /// Reads the `ARC_*` variables.
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let d = ArcConfig::default();
        let opt = |variable: &Variable, ok: fn(&str) -> bool| env.single(variable, ok);
        let is_staging_prefix = |n: &str| is_parameter_name(n) && n.starts_with('/');
        let config = ArcConfig {
            member_role: opt(&MEMBER_ROLE, is_role_ref)?.unwrap_or(d.member_role),
            tenant_id: opt(&TENANT_ID, is_guid)?,
            subscription_id: opt(&SUBSCRIPTION_ID, is_guid)?,
            resource_group: opt(&RESOURCE_GROUP, is_resource_group)?,
            location: opt(&LOCATION, is_location)?,
            cloud: env.single(&CLOUD, |c| CLOUDS.contains(&c))?.unwrap_or(d.cloud),
            connector_id: opt(&CONNECTOR_ID, is_connector_id)?,
            proxy_url: opt(&PROXY_URL, is_proxy_url)?,
            private_link_scope: opt(&PRIVATE_LINK_SCOPE, is_private_link_scope)?,
            service_principal_id: opt(&SERVICE_PRINCIPAL_ID, is_guid)?,
            credential_parameter: opt(&CREDENTIAL_PARAMETER, is_parameter_name)?,
            staged_credential_parameter: opt(&STAGED_CREDENTIAL_PARAMETER, is_staging_prefix)?
                .unwrap_or(d.staged_credential_parameter),
            credential_mode: env
                .single(&CREDENTIAL_MODE, |m| CredentialMode::parse(m).is_some())?
                .and_then(|m| CredentialMode::parse(&m))
                .unwrap_or(d.credential_mode),
            authority_host: opt(&AUTHORITY_HOST, is_authority_host)?,
            linux_document: opt(&LINUX_DOCUMENT, is_document_name)?.unwrap_or(d.linux_document),
            windows_document: opt(&WINDOWS_DOCUMENT, is_document_name)?.unwrap_or(d.windows_document),
            max_concurrency: opt(&MAX_CONCURRENCY, is_rate)?.unwrap_or(d.max_concurrency),
            max_errors: opt(&MAX_ERRORS, is_rate)?.unwrap_or(d.max_errors),
        };
        if config
            .credential_parameter
            .as_deref()
            .is_some_and(|c| c.trim_start_matches('/') == config.staged_credential_parameter.trim_start_matches('/'))
        {
            return Err(ConfigError::invalid(
                STAGED_CREDENTIAL_PARAMETER.name,
                &config.staged_credential_parameter,
                "must differ from ARC_CREDENTIAL_PARAMETER (staged copies are deleted after each run)",
            ));
        }
        Ok(config)
    }

    /// The Azure target arc-provisioner cannot run without; the error names the first missing variable.
    pub fn target(&self) -> Result<ArcTarget, ConfigError> {
        let need = |name: &'static str, v: &Option<String>| {
            v.clone().ok_or_else(|| ConfigError::missing(name, "arc-provisioner"))
        };
        Ok(ArcTarget {
            tenant_id: need(TENANT_ID.name, &self.tenant_id)?,
            subscription_id: need(SUBSCRIPTION_ID.name, &self.subscription_id)?,
            resource_group: need(RESOURCE_GROUP.name, &self.resource_group)?,
            location: need(LOCATION.name, &self.location)?,
            cloud: self.cloud.clone(),
            connector_id: need(CONNECTOR_ID.name, &self.connector_id)?,
            service_principal_id: need(SERVICE_PRINCIPAL_ID.name, &self.service_principal_id)?,
            credential_parameter: need(CREDENTIAL_PARAMETER.name, &self.credential_parameter)?,
            credential_mode: self.credential_mode,
            authority_host: self.authority_host.clone(),
            proxy_url: self.proxy_url.clone().unwrap_or_default(),
            private_link_scope: self.private_link_scope.clone().unwrap_or_default(),
        })
    }
}

impl ArcTarget {
    /// SendCommand parameters for one account's command. `staged` is the member-side SecureString
    /// name (the secret itself never travels as a parameter).
    pub fn parameters(
        &self,
        account_id: &str,
        staged: &str,
        correlation_id: &str,
        force: bool,
    ) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("tenantId", self.tenant_id.clone()),
            ("subscriptionId", self.subscription_id.clone()),
            ("resourceGroup", self.resource_group.clone()),
            ("location", self.location.clone()),
            ("cloud", self.cloud.clone()),
            ("connectorId", self.connector_id.clone()),
            ("accountId", account_id.to_string()),
            ("servicePrincipalId", self.service_principal_id.clone()),
            ("credentialParameter", staged.to_string()),
            ("credentialType", self.credential_mode.as_str().to_string()),
            ("proxyUrl", self.proxy_url.clone()),
            ("privateLinkScope", self.private_link_scope.clone()),
            ("correlationId", correlation_id.to_string()),
            ("force", force.to_string()),
        ])
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

/// True for a GUID (`8-4-4-4-12` hex digits).
pub(crate) fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Azure resource group name: 1-90 of letters, digits, `.`, `_`, `(`, `)`, `-`.
pub(crate) fn is_resource_group(s: &str) -> bool {
    (1..=90).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._()-".contains(&b))
}

/// Azure location: 1-40 lowercase letters and digits.
pub(crate) fn is_location(s: &str) -> bool {
    (1..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Connector id: a letter or digit, then up to 89 letters, digits, `.`, `_`, `-`.
pub(crate) fn is_connector_id(s: &str) -> bool {
    (1..=90).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `http(s)://host[:port][/]`, host of letters, digits, `.`, `-`.
pub(crate) fn is_proxy_url(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://")) else {
        return false;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    (1..=253).contains(&host.len())
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `https://host[:port]` with an optional trailing `/`: an Entra authority host.
pub(crate) fn is_authority_host(s: &str) -> bool {
    s.starts_with("https://") && is_proxy_url(s)
}

/// Azure Arc private link scope resource id.
pub(crate) fn is_private_link_scope(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == 9
        && parts[0].is_empty()
        && parts[1] == "subscriptions"
        && parts[2].len() == 36
        && parts[2].bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && parts[3] == "resourceGroups"
        && is_resource_group(parts[4])
        && parts[5] == "providers"
        && parts[6] == "Microsoft.HybridCompute"
        && parts[7] == "privateLinkScopes"
        && (1..=64).contains(&parts[8].len())
        && parts[8].bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// SSM parameter name: optional leading `/`, segments of 1-128 letters, digits, `_`, `.`, `-`, at most 15.
pub(crate) fn is_parameter_name(s: &str) -> bool {
    let body = s.strip_prefix('/').unwrap_or(s);
    let segments: Vec<&str> = body.split('/').collect();
    segments.len() <= 15
        && segments.iter().all(|seg| {
            (1..=128).contains(&seg.len()) && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        })
}

/// SSM document name: 3-128 letters, digits, `_`, `-`, `.`.
pub(crate) fn is_document_name(s: &str) -> bool {
    (3..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// SendCommand rate: `1`-`10000`-ish number, or `1%`-`100%`.
pub(crate) fn is_rate(s: &str) -> bool {
    let digits = s.strip_suffix('%').unwrap_or(s);
    (1..=7).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (!s.ends_with('%') || digits.parse::<u32>().is_ok_and(|n| (1..=100).contains(&n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<ArcConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = |k: &str| map.get(k).cloned();
        ArcConfig::read(&Env::new(&lookup))
    }

    #[test]
    fn settings_need_the_whole_target_and_ignore_other_functions_variables() {
        let map: HashMap<String, String> = FULL.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let settings = ArcSettings::from_lookup(|k| map.get(k).cloned()).unwrap();
        assert_eq!(settings.target.location, "westeurope");
        let err = ArcSettings::from_lookup(|k| (k == "ARC_TENANT_ID").then(|| FULL[0].1.to_string())).unwrap_err();
        assert_eq!(err.variable, "ARC_SUBSCRIPTION_ID");
        let with_others = |k: &str| match k {
            "STACKSET_CALL_AS" => Some("ROOT".to_string()),
            "INSTANCE_PROFILE_NAME" => Some("a/b".to_string()),
            _ => map.get(k).cloned(),
        };
        assert!(ArcSettings::from_lookup(with_others).is_ok());
    }

    const FULL: [(&str, &str); 8] = [
        ("ARC_TENANT_ID", "11111111-2222-3333-4444-555555555555"),
        ("ARC_SUBSCRIPTION_ID", "aaaaaaaa-2222-3333-4444-555555555555"),
        ("ARC_RESOURCE_GROUP", "rg-(prod).arc"),
        ("ARC_LOCATION", "westeurope"),
        ("ARC_CONNECTOR_ID", "mdc-connector-1"),
        ("ARC_SERVICE_PRINCIPAL_ID", "bbbbbbbb-2222-3333-4444-555555555555"),
        ("ARC_CREDENTIAL_PARAMETER", "/mdc-connector/arc/service-principal-secret"),
        ("ARC_PROXY_URL", "http://proxy.corp.example:3128"),
    ];

    #[test]
    fn complete_target_and_parameters() {
        let target = parse(&FULL).unwrap().target().unwrap();
        let params = target.parameters("111122223333", DEFAULT_STAGED_CREDENTIAL, "c", true);
        assert_eq!(params["credentialParameter"], DEFAULT_STAGED_CREDENTIAL);
        assert_eq!(params["cloud"], "AzureCloud");
        assert_eq!(params["force"], "true");
        assert_eq!(params["privateLinkScope"], "");
        assert_eq!(params["credentialType"], "access-token", "a short-lived token unless opted out");
        assert_eq!(params.len(), 14, "one per document parameter (cfn/ssm/parameters.json)");
        assert_eq!(target.fingerprint().len(), 16);
    }

    #[test]
    fn the_target_names_the_missing_variable() {
        let err = parse(&FULL[..3]).unwrap().target().unwrap_err();
        assert_eq!(err.variable, "ARC_LOCATION");
    }

    #[test]
    fn fingerprint_changes_with_the_target_only() {
        let a = parse(&FULL).unwrap().target().unwrap();
        let mut b = a.clone();
        b.resource_group = "RG-(PROD).ARC".into();
        assert_eq!(a.fingerprint(), b.fingerprint(), "resource groups compare case-insensitively");
        b.subscription_id = "cccccccc-2222-3333-4444-555555555555".into();
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn hostile_values_are_refused_naming_the_variable() {
        let hostile = ["$(reboot)", "`id`", "a;b", "a' b", "a\"b", "a\nb", "a b", "a|b", "a&&b", "${IFS}"];
        for name in [
            "ARC_MEMBER_ROLE",
            "ARC_TENANT_ID",
            "ARC_SUBSCRIPTION_ID",
            "ARC_RESOURCE_GROUP",
            "ARC_LOCATION",
            "ARC_CLOUD",
            "ARC_CONNECTOR_ID",
            "ARC_PROXY_URL",
            "ARC_PRIVATE_LINK_SCOPE",
            "ARC_SERVICE_PRINCIPAL_ID",
            "ARC_CREDENTIAL_PARAMETER",
            "ARC_STAGED_CREDENTIAL_PARAMETER",
            "ARC_CREDENTIAL_MODE",
            "ARC_AUTHORITY_HOST",
            "ARC_LINUX_DOCUMENT",
            "ARC_MAX_CONCURRENCY",
            "ARC_MAX_ERRORS",
        ] {
            for value in hostile {
                let err = parse(&[(name, value)]).unwrap_err();
                assert_eq!(err.variable, name, "{name}={value:?}");
            }
        }
    }

    #[test]
    fn validators_accept_real_values() {
        assert!(is_private_link_scope(
            "/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.HybridCompute/privateLinkScopes/pls-1"
        ));
        assert!(is_proxy_url("https://10.0.0.1:8080/"));
        assert!(!is_proxy_url("http://user:pw@proxy:8080"));
        assert!(is_rate("10%") && is_rate("50") && !is_rate("0%") && !is_rate("101%") && !is_rate("%"));
        let same = parse(&[
            ("ARC_CREDENTIAL_PARAMETER", "mdc-connector/arc/staged-onboarding-secret"),
            ("ARC_STAGED_CREDENTIAL_PARAMETER", "/mdc-connector/arc/staged-onboarding-secret"),
        ]);
        assert_eq!(same.unwrap_err().variable, "ARC_STAGED_CREDENTIAL_PARAMETER");
    }

    #[test]
    fn the_service_principal_secret_reaches_members_only_when_asked_for() {
        assert_eq!(parse(&[]).unwrap().credential_mode, CredentialMode::AccessToken);
        let opted = parse(&[("ARC_CREDENTIAL_MODE", "service-principal-secret")]).unwrap();
        assert_eq!(opted.credential_mode, CredentialMode::ServicePrincipalSecret);
        assert_eq!(parse(&[("ARC_CREDENTIAL_MODE", "secret")]).unwrap_err().variable, "ARC_CREDENTIAL_MODE");
        assert!(is_authority_host("https://login.microsoftonline.us") && is_authority_host("https://localhost:8443/"));
        assert!(!is_authority_host("http://login.microsoftonline.com"), "tokens are only asked for over TLS");
    }
}
