//! Configuration from environment variables, read and validated once at cold start.
//!
//! Every variable of DESIGN.md §2 that the engine uses today is parsed here; a bad value is an
//! error naming the variable, so a misconfigured function stops before doing anything.

use std::collections::BTreeSet;

use crate::arc::settings::ArcConfig;
use crate::error::ConfigError;
use crate::validate::{is_account_id, is_iam_name, is_region, is_role_ref, is_tag_key};

/// Role assumed in member accounts when `CONNECTOR_MEMBER_ROLE` is not set (created by the member template).
pub const DEFAULT_MEMBER_ROLE: &str = "MdcConnectorMemberRole";
/// Instance profile given to unprofiled instances when `INSTANCE_PROFILE_NAME` is not set.
pub const DEFAULT_INSTANCE_PROFILE: &str = "MdcConnectorInstanceProfile";
/// Instances carrying this tag key are left alone when `CONNECTOR_OPT_OUT_TAG` is not set.
pub const DEFAULT_OPT_OUT_TAG: &str = "mdc-connector:opt-out";
/// Plain stack of the member template in the management account when `MANAGEMENT_STACK_NAME` is not set.
pub const DEFAULT_MANAGEMENT_STACK: &str = "mdc-connector-member";
/// Work units processed at once when `CONNECTOR_CONCURRENCY` is not set.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Validated configuration shared by every function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Regions to cover; `None` means every region enabled in the account.
    pub regions: Option<Vec<String>>,
    /// Accounts never touched.
    pub excluded_accounts: BTreeSet<String>,
    /// Role (name or `path/name`) assumed in member accounts.
    pub member_role: String,
    /// Instances with this tag key are left alone.
    pub opt_out_tag: String,
    /// Plan only: no write call.
    pub dry_run: bool,
    /// Profile given to instances that have none.
    pub instance_profile_name: String,
    /// Attach the SSM policy to the roles of customers' existing profiles.
    pub attach_policy_to_existing_roles: bool,
    /// Work units (account, region) processed concurrently.
    pub concurrency: usize,
    /// The onboarding StackSet (`STACKSET_NAME`; account-discovery requires it).
    pub stackset_name: Option<String>,
    /// Regions the StackSet deploys to (`STACKSET_REGIONS`; account-discovery requires it).
    pub stackset_regions: Option<Vec<String>>,
    /// Re-deploy OUTDATED, INOPERABLE or failed instances (`STACKSET_RETRY_FAILED`).
    pub stackset_retry_failed: bool,
    /// Delete instances of accounts that left or closed (`STACKSET_REMOVE_DEPARTED`).
    pub stackset_remove_departed: bool,
    /// Call StackSets as a delegated administrator (`STACKSET_CALL_AS=DELEGATED_ADMIN`).
    pub stackset_delegated_admin: bool,
    /// Activate organizations (trusted) access for service-managed StackSets when it is off
    /// (`STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS`).
    pub stackset_activate_organizations_access: bool,
    /// Name of the member template's plain stack in the management account.
    pub management_stack_name: String,
    /// EventBridge bus (name or ARN) that receives member-connector records (`CONNECTOR_EVENT_BUS`).
    pub event_bus: Option<String>,
    /// Azure Arc provisioning (`ARC_*`).
    pub arc: ArcConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            regions: None,
            excluded_accounts: BTreeSet::new(),
            member_role: DEFAULT_MEMBER_ROLE.into(),
            opt_out_tag: DEFAULT_OPT_OUT_TAG.into(),
            dry_run: false,
            instance_profile_name: DEFAULT_INSTANCE_PROFILE.into(),
            attach_policy_to_existing_roles: true,
            concurrency: DEFAULT_CONCURRENCY,
            stackset_name: None,
            stackset_regions: None,
            stackset_retry_failed: false,
            stackset_remove_departed: false,
            stackset_delegated_admin: false,
            stackset_activate_organizations_access: false,
            management_stack_name: DEFAULT_MANAGEMENT_STACK.into(),
            event_bus: None,
            arc: ArcConfig::default(),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment in production, a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let defaults = Config::default();
        Ok(Config {
            regions: get("CONNECTOR_REGIONS")
                .map(|v| list("CONNECTOR_REGIONS", &v, is_region, "a region name such as eu-west-1"))
                .transpose()?,
            excluded_accounts: get("CONNECTOR_EXCLUDED_ACCOUNTS")
                .map(|v| list("CONNECTOR_EXCLUDED_ACCOUNTS", &v, is_account_id, "a 12-digit account id"))
                .transpose()?
                .unwrap_or_default()
                .into_iter()
                .collect(),
            member_role: get("CONNECTOR_MEMBER_ROLE")
                .map(|v| single("CONNECTOR_MEMBER_ROLE", v, is_role_ref, "a role name or path/name"))
                .transpose()?
                .unwrap_or(defaults.member_role),
            opt_out_tag: get("CONNECTOR_OPT_OUT_TAG")
                .map(|v| {
                    single(
                        "CONNECTOR_OPT_OUT_TAG",
                        v,
                        is_tag_key,
                        "a tag key of 1-128 characters not starting with aws:",
                    )
                })
                .transpose()?
                .unwrap_or(defaults.opt_out_tag),
            dry_run: get("CONNECTOR_DRY_RUN").map(|v| boolean("CONNECTOR_DRY_RUN", &v)).transpose()?.unwrap_or(false),
            instance_profile_name: get("INSTANCE_PROFILE_NAME")
                .map(|v| {
                    single("INSTANCE_PROFILE_NAME", v, |s| is_iam_name(s, 128), "an instance profile name (no path)")
                })
                .transpose()?
                .unwrap_or(defaults.instance_profile_name),
            attach_policy_to_existing_roles: get("ATTACH_POLICY_TO_EXISTING_ROLES")
                .map(|v| boolean("ATTACH_POLICY_TO_EXISTING_ROLES", &v))
                .transpose()?
                .unwrap_or(true),
            concurrency: get("CONNECTOR_CONCURRENCY")
                .map(|v| match v.parse::<usize>() {
                    Ok(n) if (1..=64).contains(&n) => Ok(n),
                    _ => Err(ConfigError::invalid("CONNECTOR_CONCURRENCY", &v, "expected a whole number from 1 to 64")),
                })
                .transpose()?
                .unwrap_or(DEFAULT_CONCURRENCY),
            stackset_name: get("STACKSET_NAME")
                .map(|v| {
                    single(
                        "STACKSET_NAME",
                        v,
                        is_stack_name,
                        "a StackSet name: a letter, then letters, digits and hyphens, at most 128",
                    )
                })
                .transpose()?,
            stackset_regions: get("STACKSET_REGIONS")
                .map(|v| list("STACKSET_REGIONS", &v, is_region, "a region name such as eu-west-1"))
                .transpose()?,
            stackset_retry_failed: get("STACKSET_RETRY_FAILED")
                .map(|v| boolean("STACKSET_RETRY_FAILED", &v))
                .transpose()?
                .unwrap_or(false),
            stackset_remove_departed: get("STACKSET_REMOVE_DEPARTED")
                .map(|v| boolean("STACKSET_REMOVE_DEPARTED", &v))
                .transpose()?
                .unwrap_or(false),
            stackset_delegated_admin: match get("STACKSET_CALL_AS").as_deref() {
                None | Some("SELF") => false,
                Some("DELEGATED_ADMIN") => true,
                Some(other) => {
                    return Err(ConfigError::invalid("STACKSET_CALL_AS", other, "expected SELF or DELEGATED_ADMIN"));
                }
            },
            stackset_activate_organizations_access: get("STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS")
                .map(|v| boolean("STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS", &v))
                .transpose()?
                .unwrap_or(false),
            management_stack_name: get("MANAGEMENT_STACK_NAME")
                .map(|v| single("MANAGEMENT_STACK_NAME", v, is_stack_name, "a stack name"))
                .transpose()?
                .unwrap_or(defaults.management_stack_name),
            event_bus: get("CONNECTOR_EVENT_BUS")
                .map(|v| {
                    single(
                        "CONNECTOR_EVENT_BUS",
                        v,
                        is_bus,
                        "an EventBridge bus name or ARN (letters, digits, . - _ / :)",
                    )
                })
                .transpose()?,
            arc: ArcConfig::from_lookup(&get)?,
        })
    }

    /// The StackSet settings account-discovery cannot run without.
    pub fn require_stackset(&self) -> Result<(&str, &[String]), ConfigError> {
        let name = self
            .stackset_name
            .as_deref()
            .ok_or_else(|| ConfigError::invalid("STACKSET_NAME", "", "required by account-discovery"))?;
        let regions = self
            .stackset_regions
            .as_deref()
            .ok_or_else(|| ConfigError::invalid("STACKSET_REGIONS", "", "required by account-discovery"))?;
        Ok((name, regions))
    }
}

fn is_bus(s: &str) -> bool {
    !s.is_empty() && s.len() <= 1600 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b))
}

fn is_stack_name(s: &str) -> bool {
    s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn single(name: &'static str, value: String, ok: impl Fn(&str) -> bool, expected: &str) -> Result<String, ConfigError> {
    if ok(&value) { Ok(value) } else { Err(ConfigError::invalid(name, &value, &format!("expected {expected}"))) }
}

fn list(
    name: &'static str,
    value: &str,
    ok: impl Fn(&str) -> bool,
    expected: &str,
) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !ok(part) {
            return Err(ConfigError::invalid(name, part, &format!("expected a comma-separated list, each {expected}")));
        }
        if !out.iter().any(|p| p == part) {
            out.push(part.to_string());
        }
    }
    if out.is_empty() {
        return Err(ConfigError::invalid(name, value, "the list is empty; unset the variable for the default"));
    }
    Ok(out)
}

fn boolean(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::invalid(name, value, "expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        assert_eq!(parse(&[]).unwrap(), Config::default());
    }

    #[test]
    fn parses_every_variable() {
        let c = parse(&[
            ("CONNECTOR_REGIONS", " eu-west-1, us-east-1 ,eu-west-1"),
            ("CONNECTOR_EXCLUDED_ACCOUNTS", "111111111111,222222222222"),
            ("CONNECTOR_MEMBER_ROLE", "team/ConnectorRole"),
            ("CONNECTOR_OPT_OUT_TAG", "no-ssm"),
            ("CONNECTOR_DRY_RUN", "TRUE"),
            ("INSTANCE_PROFILE_NAME", "MyProfile"),
            ("ATTACH_POLICY_TO_EXISTING_ROLES", "false"),
            ("CONNECTOR_CONCURRENCY", "3"),
        ])
        .unwrap();
        assert_eq!(c.regions, Some(vec!["eu-west-1".to_string(), "us-east-1".to_string()]));
        assert_eq!(c.excluded_accounts.len(), 2);
        assert_eq!(c.member_role, "team/ConnectorRole");
        assert_eq!(c.opt_out_tag, "no-ssm");
        assert!(c.dry_run);
        assert_eq!(c.instance_profile_name, "MyProfile");
        assert!(!c.attach_policy_to_existing_roles);
        assert_eq!(c.concurrency, 3);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            ("CONNECTOR_REGIONS", "eu-west-1,mars-1"),
            ("CONNECTOR_REGIONS", ","),
            ("CONNECTOR_EXCLUDED_ACCOUNTS", "12345"),
            ("CONNECTOR_MEMBER_ROLE", "bad role"),
            ("CONNECTOR_OPT_OUT_TAG", "aws:reserved"),
            ("CONNECTOR_DRY_RUN", "maybe"),
            ("INSTANCE_PROFILE_NAME", "path/name"),
            ("ATTACH_POLICY_TO_EXISTING_ROLES", "2"),
            ("CONNECTOR_CONCURRENCY", "0"),
        ];
        for (name, value) in cases {
            let err = parse(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(name), "{name}={value:?} gave {err}");
        }
    }
}
