//! arc-provisioner's settings: [`Common`], [`Fleet`], the `ARC_*` variables (declared in
//! `super::variables`), read in one pass into the complete Azure target the function cannot run
//! without, and how commands are sent. Only these variables are read.

use super::forms::{
    is_authority_host, is_connector_id, is_document_name, is_guid, is_location, is_parameter_name,
    is_private_link_scope, is_proxy_url, is_rate, is_resource_group_template,
};
use super::target::{ArcTarget, CLOUDS, CredentialMode};
use super::variables::*;
use crate::config::{Common, Env, Fleet, Variable};
use crate::error::ConfigError;
use crate::validate::is_role_ref;

/// Validated settings of arc-provisioner: the complete Azure target (the function does not start
/// without it) and how its documents are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArcSettings {
    /// Excluded accounts, dry run.
    pub common: Common,
    /// Regions, opt-out tag, concurrency, work queue.
    pub fleet: Fleet,
    /// `ARC_MEMBER_ROLE`: role (name or `path/name`) assumed in member accounts.
    pub member_role: String,
    /// `ARC_LINUX_DOCUMENT`.
    pub linux_document: String,
    /// `ARC_WINDOWS_DOCUMENT`.
    pub windows_document: String,
    /// `ARC_MAX_DELIVERIES`: sealed credentials sent to one instance while it keeps failing the
    /// same way, before it is reported `needs-attention`.
    pub max_deliveries: u32,
    /// `ARC_MAX_CONCURRENCY`: SendCommand `MaxConcurrency` (a number or a percentage).
    pub max_concurrency: String,
    /// `ARC_MAX_ERRORS`: SendCommand `MaxErrors` (a number or a percentage).
    pub max_errors: String,
    /// The Azure target every command carries.
    pub target: ArcTarget,
    /// `ARC_SWEEP_GRACE_DAYS`: how long the sweep keeps the Arc machine of an instance that is gone.
    pub sweep_grace: std::time::Duration,
    /// `ARC_INVENTORY_TABLE`: the inventory of the Arc machines this connector onboarded.
    pub inventory_table: String,
}

/// Days the sweep keeps a stale Arc machine when `ARC_SWEEP_GRACE_DAYS` is not set: the reference
/// product removes Arc servers of instances that no longer exist "after 7 days".
pub const DEFAULT_SWEEP_GRACE_DAYS: u64 = 7;

/// Linux document when `ARC_LINUX_DOCUMENT` is not set (created by the member template).
pub const DEFAULT_LINUX_DOCUMENT: &str = "MdcConnector-ArcOnboard-Linux";
/// Windows document when `ARC_WINDOWS_DOCUMENT` is not set.
pub const DEFAULT_WINDOWS_DOCUMENT: &str = "MdcConnector-ArcOnboard-Windows";
/// Deliveries to one instance failing the same way when `ARC_MAX_DELIVERIES` is not set.
pub const DEFAULT_MAX_DELIVERIES: u32 = 3;
/// Role arc-provisioner assumes in member accounts when `ARC_MEMBER_ROLE` is not set (created by
/// the member template, trusted only by the arc-provisioner function's role).
pub const DEFAULT_PROVISIONING_ROLE: &str = "MdcConnectorProvisioningRole";
impl ArcSettings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` in one pass; fails naming the first variable that is
    /// malformed or, for the Azure target, missing.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let target = read_target(&env)?;
        let is_deliveries = |v: &str| v.parse::<u32>().is_ok_and(|n| (1..=10).contains(&n));
        let max_deliveries = env.single(&MAX_DELIVERIES, is_deliveries)?;
        let or = |value: Option<String>, default: &str| value.unwrap_or_else(|| default.to_string());
        Ok(ArcSettings {
            common: Common::read(&env)?,
            fleet: Fleet::read(&env)?,
            member_role: or(env.single(&MEMBER_ROLE, is_role_ref)?, DEFAULT_PROVISIONING_ROLE),
            linux_document: or(env.single(&LINUX_DOCUMENT, is_document_name)?, DEFAULT_LINUX_DOCUMENT),
            windows_document: or(env.single(&WINDOWS_DOCUMENT, is_document_name)?, DEFAULT_WINDOWS_DOCUMENT),
            max_deliveries: max_deliveries.and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX_DELIVERIES),
            max_concurrency: or(env.single(&MAX_CONCURRENCY, is_rate)?, "50"),
            max_errors: or(env.single(&MAX_ERRORS, is_rate)?, "100%"),
            target,
            sweep_grace: std::time::Duration::from_secs(86_400 * grace_days(&env)?),
            inventory_table: env
                .single(&INVENTORY_TABLE, is_table_name)?
                .ok_or_else(|| ConfigError::missing(INVENTORY_TABLE.name, "arc-provisioner"))?,
        })
    }
}

/// A DynamoDB table name: "between 3 and 255 characters long ... a-z, A-Z, 0-9, _, -, ."
/// (DynamoDB naming rules).
fn is_table_name(value: &str) -> bool {
    (3..=255).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// `ARC_SWEEP_GRACE_DAYS`, 0 to 365.
fn grace_days(env: &Env<'_>) -> Result<u64, ConfigError> {
    let in_range = |v: &str| v.parse::<u64>().is_ok_and(|d| d <= 365) && v.bytes().all(|b| b.is_ascii_digit());
    Ok(env.single(&SWEEP_GRACE_DAYS, in_range)?.and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_SWEEP_GRACE_DAYS))
}

/// The Azure target; the error names the first variable missing or malformed.
fn read_target(env: &Env<'_>) -> Result<ArcTarget, ConfigError> {
    let required = |variable: &Variable, ok: fn(&str) -> bool| {
        env.single(variable, ok)?.ok_or_else(|| ConfigError::missing(variable.name, "arc-provisioner"))
    };
    let mode = env.single(&CREDENTIAL_MODE, |m| CredentialMode::parse(m).is_some())?;
    let credential_mode = mode.as_deref().and_then(CredentialMode::parse).unwrap_or_default();
    let credential_parameter = env.single(&CREDENTIAL_PARAMETER, is_parameter_name)?;
    if credential_mode == CredentialMode::ServicePrincipalSecret && credential_parameter.is_none() {
        return Err(ConfigError::missing(CREDENTIAL_PARAMETER.name, "ARC_CREDENTIAL_MODE=service-principal-secret"));
    }
    let sweep_service_principal_id = env.single(&SWEEP_SERVICE_PRINCIPAL_ID, is_guid)?;
    Ok(ArcTarget {
        tenant_id: required(&TENANT_ID, is_guid)?,
        subscription_id: required(&SUBSCRIPTION_ID, is_guid)?,
        resource_group: required(&RESOURCE_GROUP, is_resource_group_template)?,
        location: required(&LOCATION, is_location)?,
        cloud: env.single(&CLOUD, |c| CLOUDS.contains(&c))?.unwrap_or_else(|| CLOUDS[0].into()),
        connector_id: required(&CONNECTOR_ID, is_connector_id)?,
        service_principal_id: required(&SERVICE_PRINCIPAL_ID, is_guid)?,
        sweep_service_principal_id,
        credential_parameter,
        credential_mode,
        authority_host: env.single(&AUTHORITY_HOST, is_authority_host)?,
        resource_manager_host: env.single(&RESOURCE_MANAGER_HOST, is_authority_host)?,
        proxy_url: env.single(&PROXY_URL, is_proxy_url)?.unwrap_or_default(),
        private_link_scope: env.single(&PRIVATE_LINK_SCOPE, is_private_link_scope)?.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arc::forms::is_authority_host;
    use std::collections::HashMap;

    const FULL: [(&str, &str); 9] = [
        ("ARC_TENANT_ID", "11111111-2222-3333-4444-555555555555"),
        ("ARC_SUBSCRIPTION_ID", "aaaaaaaa-2222-3333-4444-555555555555"),
        ("ARC_RESOURCE_GROUP", "rg-(prod).arc"),
        ("ARC_LOCATION", "westeurope"),
        ("ARC_CONNECTOR_ID", "mdc-connector-1"),
        ("ARC_SERVICE_PRINCIPAL_ID", "bbbbbbbb-2222-3333-4444-555555555555"),
        ("ARC_CREDENTIAL_PARAMETER", "/mdc-connector/arc/service-principal-secret"),
        ("ARC_PROXY_URL", "http://proxy.corp.example:3128"),
        ("ARC_INVENTORY_TABLE", "mdc-connector-arc-inventory"),
    ];

    /// The settings from `vars` (later pairs win).
    fn parse(vars: &[(&str, &str)]) -> Result<ArcSettings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ArcSettings::from_lookup(|k| map.get(k).cloned())
    }

    /// The full target plus `extra`.
    fn with(extra: &[(&str, &str)]) -> Result<ArcSettings, ConfigError> {
        parse(&FULL.iter().chain(extra).copied().collect::<Vec<_>>())
    }

    #[test]
    fn settings_need_the_whole_target_and_ignore_other_functions_variables() {
        assert_eq!(with(&[]).unwrap().target.location, "westeurope");
        assert_eq!(parse(&FULL[..1]).unwrap_err().variable, "ARC_SUBSCRIPTION_ID");
        assert!(with(&[("STACKSET_CALL_AS", "ROOT"), ("INSTANCE_PROFILE_NAME", "a/b")]).is_ok());
    }

    #[test]
    fn a_group_per_account_from_the_template() {
        let target = with(&[("ARC_RESOURCE_GROUP", "aws_{accountId}")]).unwrap().target;
        assert!(target.group_per_account());
        assert_eq!(target.group("111122223333"), "aws_111122223333");
        assert_eq!(target.parameters("111122223333", "c", false)["resourceGroup"], "aws_111122223333");
        assert!(target.holds_group("AWS_111122223333"), "Azure compares group names case-insensitively");
        assert!(
            !target.holds_group("aws_1111") && !target.holds_group("aws_11112222333x") && !target.holds_group("rg-arc")
        );
        for refused in ["aws_{accountId}_{accountId}", "aws_{account}", &format!("{}{{accountId}}", "a".repeat(79))] {
            assert_eq!(
                with(&[("ARC_RESOURCE_GROUP", refused)]).unwrap_err().variable,
                "ARC_RESOURCE_GROUP",
                "{refused}"
            );
        }
        let single = with(&[]).unwrap().target;
        assert!(!single.group_per_account() && single.holds_group(&single.resource_group.to_ascii_uppercase()));
        assert_eq!(single.group("111122223333"), single.resource_group);
    }

    #[test]
    fn complete_target_and_parameters() {
        let target = with(&[]).unwrap().target;
        let params = target.parameters("111122223333", "c", true);
        assert!(!params.contains_key("credentialParameter"), "no credential, nor where one is, is a parameter");
        assert_eq!(params["cloud"], "AzureCloud");
        assert_eq!(params["force"], "true");
        assert_eq!(params["privateLinkScope"], "");
        assert_eq!(params["credentialType"], "access-token", "a short-lived token unless opted out");
        assert_eq!(
            params.len(),
            13,
            "every document parameter (cfn/ssm/parameters.json) but phase and sealedCredential"
        );
        assert_eq!(target.fingerprint().len(), 16);
    }

    #[test]
    fn the_target_names_the_missing_variable() {
        assert_eq!(parse(&FULL[..3]).unwrap_err().variable, "ARC_LOCATION");
    }

    #[test]
    fn fingerprint_changes_with_the_target_only() {
        let a = with(&[]).unwrap().target;
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
            "ARC_MAX_DELIVERIES",
            "ARC_INVENTORY_TABLE",
            "ARC_CREDENTIAL_MODE",
            "ARC_AUTHORITY_HOST",
            "ARC_LINUX_DOCUMENT",
            "ARC_MAX_CONCURRENCY",
            "ARC_MAX_ERRORS",
        ] {
            for value in hostile {
                let err = with(&[(name, value)]).unwrap_err();
                assert_eq!(err.variable, name, "{name}={value:?}");
            }
        }
    }

    #[test]
    fn validators_accept_real_values() {
        use crate::arc::forms::{is_private_link_scope, is_proxy_url, is_rate};
        assert!(is_private_link_scope(
            "/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.HybridCompute/privateLinkScopes/pls-1"
        ));
        assert!(is_proxy_url("https://10.0.0.1:8080/"));
        assert!(!is_proxy_url("http://user:pw@proxy:8080"));
        assert!(is_rate("10%") && is_rate("50") && !is_rate("0%") && !is_rate("101%") && !is_rate("%"));
        assert_eq!(with(&[]).unwrap().max_deliveries, DEFAULT_MAX_DELIVERIES);
        assert_eq!(with(&[("ARC_MAX_DELIVERIES", "10")]).unwrap().max_deliveries, 10);
        for refused in ["0", "11", "three"] {
            assert_eq!(with(&[("ARC_MAX_DELIVERIES", refused)]).unwrap_err().variable, "ARC_MAX_DELIVERIES");
        }
    }

    #[test]
    fn no_secret_is_configured_by_default_and_staging_one_needs_one() {
        let secretless: Vec<_> = FULL.iter().filter(|(k, _)| *k != "ARC_CREDENTIAL_PARAMETER").copied().collect();
        let settings = parse(&secretless).unwrap();
        assert_eq!(settings.target.credential_parameter, None, "federated sign-in: no secret to read");
        let staged = parse(&[secretless.as_slice(), &[("ARC_CREDENTIAL_MODE", "service-principal-secret")]].concat());
        assert_eq!(staged.unwrap_err().variable, "ARC_CREDENTIAL_PARAMETER");
    }

    #[test]
    fn the_service_principal_secret_reaches_members_only_when_asked_for() {
        assert_eq!(with(&[]).unwrap().target.credential_mode, CredentialMode::AccessToken);
        let opted = with(&[("ARC_CREDENTIAL_MODE", "service-principal-secret")]).unwrap();
        assert_eq!(opted.target.credential_mode, CredentialMode::ServicePrincipalSecret);
        assert_eq!(with(&[("ARC_CREDENTIAL_MODE", "secret")]).unwrap_err().variable, "ARC_CREDENTIAL_MODE");
        assert!(is_authority_host("https://login.microsoftonline.us") && is_authority_host("https://localhost:8443/"));
        assert!(!is_authority_host("http://login.microsoftonline.com"), "tokens are only asked for over TLS");
    }
}
