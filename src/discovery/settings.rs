//! account-discovery's settings: [`Common`], the onboarding StackSet (required: the function stops
//! at cold start without it) and how it is managed. Read once at cold start; only these variables
//! are read.

use crate::config::{COMMON_VARIABLES, Common, Env, Variable, WORK_QUEUE_URL, join};
use crate::error::ConfigError;
use crate::queue::is_queue_url;
use crate::validate::is_region;

/// `STACKSET_NAME`.
pub(crate) const STACKSET_NAME: Variable = Variable {
    name: "STACKSET_NAME",
    meaning: "the onboarding StackSet",
    default: "**required**",
    accepted: "a letter, then letters, digits and hyphens, at most 128",
    example: "mdc-connector-members",
    refused: &["1bad", "a_b", "a b"],
};
/// `STACKSET_REGIONS`.
pub(crate) const STACKSET_REGIONS: Variable = Variable {
    name: "STACKSET_REGIONS",
    meaning: "regions the StackSet deploys to",
    default: "**required**",
    accepted: "comma-separated region names",
    example: "eu-west-1,us-east-1",
    refused: &["mars-1", ","],
};
/// `STACKSET_RETRY_FAILED`.
pub(crate) const STACKSET_RETRY_FAILED: Variable = Variable {
    name: "STACKSET_RETRY_FAILED",
    meaning: "re-deploy `OUTDATED`, `INOPERABLE` or failed instances (`UpdateStackInstances`)",
    default: "`false`",
    accepted: "boolean",
    example: "true",
    refused: &["sometimes"],
};
/// `STACKSET_REMOVE_DEPARTED`.
pub(crate) const STACKSET_REMOVE_DEPARTED: Variable = Variable {
    name: "STACKSET_REMOVE_DEPARTED",
    meaning: "remove the instances of accounts that left the organization from the StackSet (self-managed StackSets; the stacks, and so the instance role and profile, are retained in the account; suspended accounts are never written)",
    default: "`false`",
    accepted: "boolean",
    example: "true",
    refused: &["2"],
};
/// `STACKSET_CALL_AS`.
pub(crate) const STACKSET_CALL_AS: Variable = Variable {
    name: "STACKSET_CALL_AS",
    meaning: "`DELEGATED_ADMIN` when running in a StackSets delegated administrator account",
    default: "`SELF`",
    accepted: "`SELF` or `DELEGATED_ADMIN`",
    example: "DELEGATED_ADMIN",
    refused: &["ROOT", "self"],
};
/// `STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS`.
pub(crate) const STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS: Variable = Variable {
    name: "STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS",
    meaning: "activate organizations (trusted) access for a service-managed StackSet when it is off (otherwise the run fails with the remediation)",
    default: "`false`",
    accepted: "boolean; not `true` with `STACKSET_CALL_AS=DELEGATED_ADMIN` (only the management account can activate it)",
    example: "false",
    refused: &["on"],
};
/// `MANAGEMENT_STACK_NAME`.
pub(crate) const MANAGEMENT_STACK_NAME: Variable = Variable {
    name: "MANAGEMENT_STACK_NAME",
    meaning: "the member template's plain stack in the management account, reported on",
    default: "`mdc-connector-member`",
    accepted: "a stack name",
    example: "mdc-connector-member",
    refused: &["1stack", "a b"],
};
/// `CONNECTOR_EVENT_BUS`.
pub(crate) const EVENT_BUS: Variable = Variable {
    name: "CONNECTOR_EVENT_BUS",
    meaning: "EventBridge bus that receives member-connector records",
    default: "none (no records)",
    accepted: "a bus name or ARN: letters, digits, `. - _ / :`",
    example: "mdc-connector-records",
    refused: &["bus with spaces", "a;b"],
};

/// `CONNECTOR_STACK_ID`.
pub(crate) const STACK_ID: Variable = Variable {
    name: "CONNECTOR_STACK_ID",
    meaning: "the deploy's own stack (`AWS::StackId`, set by the template): the teardown custom resource acts on a `Delete` only from this stack, and only while CloudFormation deletes it",
    default: "none: a `Delete` request is answered without deleting anything",
    accepted: "a CloudFormation stack id (`arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>`)",
    example: "arn:aws:cloudformation:us-east-1:123456789012:stack/mdc-connector/5b9c1d70-0000-0000-0000-000000000000",
    refused: &["mdc-connector", "arn:aws:cloudformation:us-east-1:123456789012:stackset/x:1", "arn:aws:s3:::b"],
};

/// `PROFILE_SCAN_QUEUE_URL`.
pub(crate) const PROFILE_SCAN_QUEUE_URL: Variable = Variable {
    name: "PROFILE_SCAN_QUEUE_URL",
    meaning: "profile-scan's work queue: each account onboarded (its stack instances `CURRENT`) is handed on at once, one profile-scan unit per region it was onboarded in, instead of waiting for the 30-day scan",
    default: "none (no hand-off)",
    accepted: "an SQS queue URL",
    example: "https://sqs.us-east-1.amazonaws.com/123456789012/mdc-connector-profile-scan-work",
    refused: &["not-a-url", "https://example.com/q"],
};

/// `ARC_PROVISIONER_QUEUE_URL`.
pub(crate) const ARC_PROVISIONER_QUEUE_URL: Variable = Variable {
    name: "ARC_PROVISIONER_QUEUE_URL",
    meaning: "arc-provisioner's work queue: each account onboarded is handed on at the same moment as to profile-scan, one unit per region, so the instances Systems Manager already manages there are connected to Azure Arc without waiting for the hourly run",
    default: "none (no hand-off)",
    accepted: "an SQS queue URL",
    example: "https://sqs.us-east-1.amazonaws.com/123456789012/mdc-connector-arc-provisioner-work",
    refused: &["not-a-url", "https://example.com/q"],
};

/// `PROFILE_SCAN_DELAY_SECONDS`.
pub(crate) const PROFILE_SCAN_DELAY_SECONDS: Variable = Variable {
    name: "PROFILE_SCAN_DELAY_SECONDS",
    meaning: "how long the hand-offs to profile-scan and arc-provisioner wait, for IAM to propagate the member roles and instance profile the stack instance just created",
    default: "`120`",
    accepted: "seconds, 0 to 900 (SQS's longest delay)",
    example: "60",
    refused: &["901", "-1", "2m"],
};

/// Every variable account-discovery reads.
pub const VARIABLES: [Variable; 16] = join(
    COMMON_VARIABLES,
    [
        WORK_QUEUE_URL,
        STACKSET_NAME,
        STACKSET_REGIONS,
        STACKSET_RETRY_FAILED,
        STACKSET_REMOVE_DEPARTED,
        STACKSET_CALL_AS,
        STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS,
        MANAGEMENT_STACK_NAME,
        EVENT_BUS,
        STACK_ID,
        PROFILE_SCAN_QUEUE_URL,
        ARC_PROVISIONER_QUEUE_URL,
        PROFILE_SCAN_DELAY_SECONDS,
    ],
);

/// Plain stack of the member template in the management account when `MANAGEMENT_STACK_NAME` is not set.
pub const DEFAULT_MANAGEMENT_STACK: &str = "mdc-connector-member";

/// Validated settings of account-discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// Excluded accounts, dry run.
    pub common: Common,
    /// `STACKSET_NAME`: the onboarding StackSet.
    pub stackset_name: String,
    /// `STACKSET_REGIONS`: regions the StackSet deploys to.
    pub stackset_regions: Vec<String>,
    /// `STACKSET_RETRY_FAILED`: re-deploy OUTDATED, INOPERABLE or failed instances.
    pub retry_failed: bool,
    /// `STACKSET_REMOVE_DEPARTED`: delete instances of accounts that left or closed.
    pub remove_departed: bool,
    /// `STACKSET_CALL_AS=DELEGATED_ADMIN`: call StackSets as a delegated administrator.
    pub delegated_admin: bool,
    /// `STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS`: activate organizations (trusted) access for
    /// service-managed StackSets when it is off.
    pub activate_organizations_access: bool,
    /// `MANAGEMENT_STACK_NAME`: the member template's plain stack in the management account.
    pub management_stack_name: String,
    /// `CONNECTOR_EVENT_BUS`: EventBridge bus (name or ARN) that receives member-connector records.
    pub event_bus: Option<String>,
    /// `WORK_QUEUE_URL`: the function's own queue; StackSet work still pending when an invocation
    /// ends is re-checked through a delayed message there instead of waiting for the daily run.
    pub work_queue_url: Option<String>,
    /// `CONNECTOR_STACK_ID`: the deploy's own stack, the only one whose deletion empties the
    /// member StackSet.
    pub stack_id: Option<String>,
    /// `PROFILE_SCAN_QUEUE_URL`: where onboarded accounts are handed to profile-scan.
    pub profile_scan_queue_url: Option<String>,
    /// `ARC_PROVISIONER_QUEUE_URL`: where onboarded accounts are handed to arc-provisioner.
    pub arc_provisioner_queue_url: Option<String>,
    /// `PROFILE_SCAN_DELAY_SECONDS`: the hand-offs' delay (IAM propagation).
    pub profile_scan_delay_seconds: i32,
}

/// Hand-off delay when `PROFILE_SCAN_DELAY_SECONDS` is not set: IAM propagation of roles created
/// seconds before takes up to about two minutes in field reports.
pub(crate) const DEFAULT_PROFILE_SCAN_DELAY_SECONDS: i32 = 120;

impl DiscoverySettings {
    /// Settings for `stackset_name` deployed to `stackset_regions`, everything else at its default.
    pub fn new(stackset_name: &str, stackset_regions: &[&str]) -> Self {
        DiscoverySettings {
            common: Common::default(),
            stackset_name: stackset_name.into(),
            stackset_regions: stackset_regions.iter().map(|r| r.to_string()).collect(),
            retry_failed: false,
            remove_departed: false,
            delegated_admin: false,
            activate_organizations_access: false,
            management_stack_name: DEFAULT_MANAGEMENT_STACK.into(),
            event_bus: None,
            work_queue_url: None,
            stack_id: None,
            profile_scan_queue_url: None,
            arc_provisioner_queue_url: None,
            profile_scan_delay_seconds: DEFAULT_PROFILE_SCAN_DELAY_SECONDS,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`; `STACKSET_NAME` and `STACKSET_REGIONS` are required.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let required = |name: &'static str| ConfigError::missing(name, "account-discovery");
        let call_as = env.single(&STACKSET_CALL_AS, |v| v == "SELF" || v == "DELEGATED_ADMIN")?;
        let settings = DiscoverySettings {
            common: Common::read(&env)?,
            stackset_name: env.single(&STACKSET_NAME, is_stack_name)?.ok_or_else(|| required(STACKSET_NAME.name))?,
            stackset_regions: env.list(&STACKSET_REGIONS, is_region)?.ok_or_else(|| required(STACKSET_REGIONS.name))?,
            retry_failed: env.boolean(&STACKSET_RETRY_FAILED, false)?,
            remove_departed: env.boolean(&STACKSET_REMOVE_DEPARTED, false)?,
            delegated_admin: call_as.as_deref() == Some("DELEGATED_ADMIN"),
            activate_organizations_access: env.boolean(&STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS, false)?,
            management_stack_name: env
                .single(&MANAGEMENT_STACK_NAME, is_stack_name)?
                .unwrap_or_else(|| DEFAULT_MANAGEMENT_STACK.into()),
            event_bus: env.single(&EVENT_BUS, is_bus)?,
            work_queue_url: env.single(&WORK_QUEUE_URL, is_queue_url)?,
            stack_id: env.single(&STACK_ID, is_stack_id)?,
            profile_scan_queue_url: env.single(&PROFILE_SCAN_QUEUE_URL, is_queue_url)?,
            arc_provisioner_queue_url: env.single(&ARC_PROVISIONER_QUEUE_URL, is_queue_url)?,
            profile_scan_delay_seconds: env
                .single(&PROFILE_SCAN_DELAY_SECONDS, is_delay)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_PROFILE_SCAN_DELAY_SECONDS),
        };
        if settings.delegated_admin && settings.activate_organizations_access {
            // ActivateOrganizationsAccess is the management account's action; a delegated
            // administrator's call is refused.
            return Err(ConfigError::invalid(
                "STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS",
                "true",
                "cannot be true with STACKSET_CALL_AS=DELEGATED_ADMIN: only the management account can activate trusted access (run `aws cloudformation activate-organizations-access` there)",
            ));
        }
        Ok(settings)
    }
}

/// An SQS delay: 0 to 900 seconds.
fn is_delay(s: &str) -> bool {
    s.len() <= 3 && s.parse::<u16>().is_ok_and(|n| n <= 900)
}

fn is_bus(s: &str) -> bool {
    !s.is_empty() && s.len() <= 1600 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b))
}

/// `arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>`.
fn is_stack_id(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else { return false };
    let mut path = resource.splitn(3, '/');
    let (kind, name, id) = (path.next(), path.next(), path.next());
    arn == "arn"
        && partition.starts_with("aws")
        && service == "cloudformation"
        && is_region(region)
        && crate::validate::is_account_id(account)
        && kind == Some("stack")
        && name.is_some_and(is_stack_name)
        && id.is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn is_stack_name(s: &str) -> bool {
    s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<DiscoverySettings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DiscoverySettings::from_lookup(|k| map.get(k).cloned())
    }

    const REQUIRED: [(&str, &str); 2] = [("STACKSET_NAME", "mdc-connector-members"), ("STACKSET_REGIONS", "eu-west-1")];

    #[test]
    fn the_stackset_is_required_and_named_in_the_error() {
        let err = parse(&[REQUIRED[1]]).unwrap_err();
        assert_eq!(err.variable, "STACKSET_NAME");
        assert!(err.to_string().contains("required by account-discovery"), "{err}");
        assert_eq!(parse(&[REQUIRED[0]]).unwrap_err().variable, "STACKSET_REGIONS");
        assert_eq!(parse(&REQUIRED).unwrap(), DiscoverySettings::new("mdc-connector-members", &["eu-west-1"]));
    }

    #[test]
    fn bad_values_name_the_variable_and_other_functions_variables_are_not_read() {
        for (name, value) in [
            ("STACKSET_NAME", "1bad"),
            ("STACKSET_REGIONS", "mars-1"),
            ("STACKSET_CALL_AS", "ROOT"),
            ("STACKSET_RETRY_FAILED", "sometimes"),
            ("CONNECTOR_EVENT_BUS", "bus with spaces"),
        ] {
            let mut vars = REQUIRED.to_vec();
            vars.push((name, value));
            let err = parse(&vars).unwrap_err().to_string();
            assert!(err.starts_with(name), "{name}={value:?} gave {err}");
        }
        let mut both = REQUIRED.to_vec();
        both.extend([("STACKSET_CALL_AS", "DELEGATED_ADMIN"), ("STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS", "true")]);
        let err = parse(&both).unwrap_err();
        assert_eq!(err.variable, "STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS", "activation is the management account's");
        let mut vars = REQUIRED.to_vec();
        vars.extend([("ARC_TENANT_ID", "x"), ("CONNECTOR_REGIONS", "mars"), ("INSTANCE_PROFILE_NAME", "a/b")]);
        assert!(parse(&vars).is_ok());
    }
}
