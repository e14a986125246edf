//! Plain structs holding what the reader found in AWS: the planner's input.

use std::collections::HashMap;

/// An EC2 instance as far as remediation cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// `i-...`
    pub id: String,
    /// `running`, `stopped`, `pending`, `stopping`.
    pub state: String,
    /// Carries the opt-out tag.
    pub opted_out: bool,
    /// Its current profile, if any.
    pub profile: Option<AttachedProfile>,
}

/// The profile associated with an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedProfile {
    /// Instance profile ARN (may carry a path).
    pub arn: String,
    /// State of the association (`associated`, `associating`, `disassociating`), when known.
    pub association_state: Option<String>,
}

impl AttachedProfile {
    /// Profile name: the last segment of the ARN, whatever the path.
    pub fn name(&self) -> &str {
        profile_name_from_arn(&self.arn)
    }
}

/// Last segment of an instance profile ARN (`arn:aws:iam::1:instance-profile/team/x/name` gives `name`).
pub fn profile_name_from_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What IAM said about an instance profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileLookup {
    /// It exists.
    Found(Profile),
    /// `NoSuchEntity`.
    Missing,
    /// Could not be read (access denied, throttled beyond retries); the reason.
    Unreadable(String),
}

/// An instance profile with its role (IAM allows one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Roles in the profile (zero or one).
    pub roles: Vec<Role>,
}

/// A role and whether it carries the SSM policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// Role name (no path): what `AttachRolePolicy` takes.
    pub name: String,
    /// Role ARN (with path).
    pub arn: String,
    /// Whether `AmazonSSMManagedInstanceCore` is attached.
    pub policy: PolicyState,
}

/// Whether a role carries `AmazonSSMManagedInstanceCore`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyState {
    /// Attached.
    Attached,
    /// Not attached.
    Missing,
    /// Its policies could not be listed; the reason.
    Unknown(String),
}

/// Everything the planner needs for one (account, region).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitState {
    /// Instances in scope.
    pub instances: Vec<Instance>,
    /// Profiles referenced by the instances, and the connector's own profile when needed, by name.
    pub profiles: HashMap<String, ProfileLookup>,
}
