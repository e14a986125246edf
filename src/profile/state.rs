//! Plain structs holding what the reader found in AWS: the planner's input.

use std::collections::HashMap;

use crate::iam::{ProfileLookup, profile_name_from_arn};

/// An EC2 instance as far as remediation cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Instance {
    /// `i-...`
    pub id: String,
    /// `running`, `stopped`, `pending`, `stopping`.
    pub state: String,
    /// Why its tags leave it alone (the opt-out tag, or a pilot's opt-in tag missing); `None` when covered.
    pub left_alone: Option<String>,
    /// Its current profile, if any.
    pub profile: Option<AttachedProfile>,
    /// Its metadata options require IMDSv2 (`HttpTokens=required`), which DHMC needs.
    pub imds_v2_required: bool,
    /// When it was launched (seconds since the Unix epoch), when EC2 said.
    pub launched_at: Option<i64>,
}

/// The profile associated with an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AttachedProfile {
    /// Instance profile ARN (may carry a path).
    pub arn: String,
    /// State of the association (`associated`, `associating`, `disassociating`), when known.
    pub association_state: Option<String>,
}

impl AttachedProfile {
    /// Profile name: the last segment of the ARN, whatever the path.
    pub(crate) fn name(&self) -> &str {
        profile_name_from_arn(&self.arn)
    }
}

/// Everything the planner needs for one (account, region).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UnitState {
    /// Instances in scope.
    pub instances: Vec<Instance>,
    /// Profiles referenced by the instances, and the connector's own profile when needed, by name.
    pub profiles: HashMap<String, ProfileLookup>,
}
