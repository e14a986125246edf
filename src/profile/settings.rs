//! profile-scan's settings: [`Common`], [`Fleet`], the member role it assumes, the connector's
//! instance profile and whether customers' roles get the policy. Read once at cold start; only
//! these variables are read.

use super::dhmc::Reach;
use crate::config::{Common, Env, FLEET_VARIABLES, Fleet, Variable, join};
use crate::error::ConfigError;
use crate::iam::InstancePolicy;
use crate::pace::EC2_ASSOCIATE;
use crate::queue::is_queue_url;
use crate::validate::{is_iam_name, is_role_ref};

/// `CONNECTOR_MEMBER_ROLE`.
pub(crate) const MEMBER_ROLE: Variable = Variable {
    name: "CONNECTOR_MEMBER_ROLE",
    meaning: "role profile-scan assumes in member accounts",
    default: "`MdcConnectorMemberRole`",
    accepted: "a role name or `path/name`",
    example: "team/ConnectorRole",
    refused: &["bad role", "a;b"],
};
/// `INSTANCE_PROFILE_NAME`.
pub(crate) const INSTANCE_PROFILE_NAME: Variable = Variable {
    name: "INSTANCE_PROFILE_NAME",
    meaning: "profile given to instances that have none",
    default: "`MdcConnectorInstanceProfile`",
    accepted: "an instance profile name (no path)",
    example: "MyProfile",
    refused: &["path/name", "a b"],
};
/// `ATTACH_POLICY_TO_EXISTING_ROLES`.
pub(crate) const ATTACH_POLICY_TO_EXISTING_ROLES: Variable = Variable {
    name: "ATTACH_POLICY_TO_EXISTING_ROLES",
    meaning: "attach the instance policy (`INSTANCE_POLICY`) to the roles of customers' profiles that lack it (otherwise reported)",
    default: "`true`",
    accepted: "boolean",
    example: "false",
    refused: &["2", "sometimes"],
};
/// `INSTANCE_POLICY`.
pub(crate) const INSTANCE_POLICY: Variable = Variable {
    name: "INSTANCE_POLICY",
    meaning: "what is attached to the role of a customer's profile that lacks it: `narrow` = `AmazonSSMManagedEC2InstanceDefaultPolicy` (Systems Manager without Parameter Store reads; the onboarding credential arrives sealed in the command, so instances read no parameter); `core` = `AmazonSSMManagedInstanceCore`, as the reference product asks (it also lets every process on the instance read every Parameter Store parameter of the account). Either makes a role compliant; the connector's own role carries the narrow one",
    default: "`narrow`",
    accepted: "`core` or `narrow`",
    example: "narrow",
    refused: &["Core", "all"],
};
/// `HANDOFF_QUEUE_URL`.
pub(crate) const HANDOFF_QUEUE_URL: Variable = Variable {
    name: "HANDOFF_QUEUE_URL",
    meaning: "arc-provisioner's work queue: the instances a queued profile-scan unit fixed are sent there (Lambda destinations do not fire for SQS-triggered invocations)",
    default: "none",
    accepted: "an SQS queue URL",
    example: "https://sqs.eu-west-1.amazonaws.com/123456789012/arc-work",
    refused: &["not a url"],
};
/// `EC2_WRITE_RATE`.
pub(crate) const EC2_WRITE_RATE: Variable = Variable {
    name: "EC2_WRITE_RATE",
    meaning: "associations per second per account and region: the connector spends a burst of 100 associations (20 seconds' worth), then writes at this rate, within EC2's per-API token bucket for `AssociateIamInstanceProfile` (100 and 5 per second are defaults to tune, not a quoted EC2 limit: `src/pace.rs`)",
    default: "`5`",
    accepted: "a number from 0 (unpaced) to 1000",
    example: "2.5",
    refused: &["-1", "1001", "fast"],
};
/// `SSM_REACH`.
pub(crate) const SSM_REACH: Variable = Variable {
    name: "SSM_REACH",
    meaning: "how Systems Manager reaches instances: `profiles` = the connector's instance profile on every instance without one; `dhmc` = Default Host Management Configuration turned on per account and region (with `DHMC_ROLE_NAME`, only where it is off) and no instance written: an instance it cannot serve (IMDSv1 allowed) is reported with the fix; `both` = DHMC, and the profile only for an instance DHMC cannot serve ([profile-scan.md](profile-scan.md#reach))",
    default: "`profiles`",
    accepted: "`profiles`, `dhmc` or `both`",
    example: "both",
    refused: &["DHMC", "all"],
};
/// `DHMC_ROLE_NAME`.
pub(crate) const DHMC_ROLE_NAME: Variable = Variable {
    name: "DHMC_ROLE_NAME",
    meaning: "the role the member template creates for Default Host Management Configuration (trusting `ssm.amazonaws.com`, carrying `AmazonSSMManagedEC2InstanceDefaultPolicy`), registered where DHMC is off",
    default: "`MdcConnectorDhmcRole`",
    accepted: "a role name (no path)",
    example: "MyDhmcRole",
    refused: &["path/name", "a b"],
};

/// Every variable profile-scan reads.
pub const VARIABLES: [Variable; 16] = join(
    FLEET_VARIABLES,
    [
        HANDOFF_QUEUE_URL,
        EC2_WRITE_RATE,
        MEMBER_ROLE,
        INSTANCE_PROFILE_NAME,
        ATTACH_POLICY_TO_EXISTING_ROLES,
        INSTANCE_POLICY,
        SSM_REACH,
        DHMC_ROLE_NAME,
    ],
);

/// Role assumed in member accounts when `CONNECTOR_MEMBER_ROLE` is not set (created by the member template).
pub const DEFAULT_MEMBER_ROLE: &str = "MdcConnectorMemberRole";
/// Role registered for Default Host Management Configuration when `DHMC_ROLE_NAME` is not set.
pub const DEFAULT_DHMC_ROLE: &str = "MdcConnectorDhmcRole";
/// Instance profile given to unprofiled instances when `INSTANCE_PROFILE_NAME` is not set.
pub const DEFAULT_INSTANCE_PROFILE: &str = "MdcConnectorInstanceProfile";

/// Validated settings of profile-scan.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileSettings {
    /// Excluded accounts, dry run.
    pub common: Common,
    /// Regions, opt-out tag, concurrency.
    pub fleet: Fleet,
    /// `CONNECTOR_MEMBER_ROLE`: role (name or `path/name`) assumed in member accounts.
    pub member_role: String,
    /// `INSTANCE_PROFILE_NAME`: profile given to instances that have none.
    pub instance_profile_name: String,
    /// `ATTACH_POLICY_TO_EXISTING_ROLES`: attach the SSM policy to the roles of customers' profiles.
    pub attach_policy_to_existing_roles: bool,
    /// `INSTANCE_POLICY`: what is attached to a customer's role that lacks it.
    pub instance_policy: InstancePolicy,
    /// `HANDOFF_QUEUE_URL`: arc-provisioner's work queue; the instances a queued unit fixed are sent
    /// there (Lambda destinations do not fire for SQS-triggered invocations).
    pub handoff_queue_url: Option<String>,
    /// `EC2_WRITE_RATE`: associations per second per account and region after a burst of 100 (a
    /// default to tune within EC2's per-API bucket, `crate::pace`); 0 sends unpaced.
    pub ec2_write_rate: f64,
    /// `SSM_REACH`: how Systems Manager reaches instances.
    pub ssm_reach: Reach,
    /// `DHMC_ROLE_NAME`: the role registered for Default Host Management Configuration.
    pub dhmc_role_name: String,
}

impl Default for ProfileSettings {
    fn default() -> Self {
        ProfileSettings {
            common: Common::default(),
            fleet: Fleet::default(),
            member_role: DEFAULT_MEMBER_ROLE.into(),
            instance_profile_name: DEFAULT_INSTANCE_PROFILE.into(),
            attach_policy_to_existing_roles: true,
            instance_policy: InstancePolicy::default(),
            handoff_queue_url: None,
            ec2_write_rate: EC2_ASSOCIATE.1,
            ssm_reach: Reach::Profiles,
            dhmc_role_name: DEFAULT_DHMC_ROLE.into(),
        }
    }
}

impl ProfileSettings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        Ok(ProfileSettings {
            common: Common::read(&env)?,
            fleet: Fleet::read(&env)?,
            member_role: env.single(&MEMBER_ROLE, is_role_ref)?.unwrap_or_else(|| DEFAULT_MEMBER_ROLE.into()),
            instance_profile_name: env
                .single(&INSTANCE_PROFILE_NAME, |s| is_iam_name(s, 128))?
                .unwrap_or_else(|| DEFAULT_INSTANCE_PROFILE.into()),
            attach_policy_to_existing_roles: env.boolean(&ATTACH_POLICY_TO_EXISTING_ROLES, true)?,
            instance_policy: env
                .single(&INSTANCE_POLICY, |v| InstancePolicy::parse(v).is_some())?
                .and_then(|v| InstancePolicy::parse(&v))
                .unwrap_or_default(),
            handoff_queue_url: env.single(&HANDOFF_QUEUE_URL, is_queue_url)?,
            ec2_write_rate: env
                .single(&EC2_WRITE_RATE, is_write_rate)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(EC2_ASSOCIATE.1),
            ssm_reach: env
                .single(&SSM_REACH, |v| Reach::parse(v).is_some())?
                .and_then(|v| Reach::parse(&v))
                .unwrap_or(Reach::Profiles),
            dhmc_role_name: env
                .single(&DHMC_ROLE_NAME, |s| is_iam_name(s, 64))?
                .unwrap_or_else(|| DEFAULT_DHMC_ROLE.into()),
        })
    }
}

/// A number of writes per second from 0 to 1000.
fn is_write_rate(value: &str) -> bool {
    value.parse::<f64>().is_ok_and(|rate| (0.0..=1000.0).contains(&rate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<ProfileSettings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ProfileSettings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_every_variable() {
        assert_eq!(parse(&[]).unwrap(), ProfileSettings::default());
        let s = parse(&[
            ("CONNECTOR_MEMBER_ROLE", "team/ConnectorRole"),
            ("INSTANCE_PROFILE_NAME", "MyProfile"),
            ("ATTACH_POLICY_TO_EXISTING_ROLES", "false"),
            ("CONNECTOR_REGIONS", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(s.member_role, "team/ConnectorRole");
        assert_eq!(s.instance_profile_name, "MyProfile");
        assert!(!s.attach_policy_to_existing_roles);
        assert_eq!(s.fleet.regions, Some(vec!["eu-west-1".to_string()]));
    }

    #[test]
    fn bad_values_name_the_variable_and_other_functions_variables_are_not_read() {
        for (name, value) in [
            ("CONNECTOR_MEMBER_ROLE", "bad role"),
            ("INSTANCE_PROFILE_NAME", "path/name"),
            ("ATTACH_POLICY_TO_EXISTING_ROLES", "2"),
        ] {
            let err = parse(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(name), "{name}={value:?} gave {err}");
        }
        let others = [("ARC_TENANT_ID", "not-a-guid"), ("STACKSET_CALL_AS", "ROOT"), ("ARC_PROXY_URL", "ftp://x")];
        assert_eq!(parse(&others).unwrap(), ProfileSettings::default());
    }
}
