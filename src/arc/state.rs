//! What arc-provisioner reads about one (account, region), as plain data.

use std::collections::HashMap;

use super::azure::inventory::Entry;
use super::azure::resource_manager::ArcMachine;
use super::outcome::ScriptResult;

/// Operating system family, as SSM reports it; one document per platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Platform {
    /// `aws:runShellScript`.
    Linux,
    /// `aws:runPowerShellScript`.
    Windows,
}

/// An EC2 instance that is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ec2Instance {
    /// Instance id.
    pub id: String,
    /// Tags, key to value.
    pub tags: HashMap<String, String>,
    /// ARN of its instance profile, if any.
    pub profile_arn: Option<String>,
}

/// An instance as Systems Manager sees it (`DescribeInstanceInformation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ManagedInstance {
    /// Instance id.
    pub id: String,
    /// `Online`, `ConnectionLost`, `Inactive`.
    pub ping_status: String,
    /// `Linux` or `Windows`; `None` for platforms without a document (macOS).
    pub platform: Option<Platform>,
}

/// The latest run of one of the connector's documents on an instance (last 30 days).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LastRun {
    /// Command id.
    pub command_id: String,
    /// Document it ran.
    pub document_name: String,
    /// Document version it ran.
    pub document_version: String,
    /// The command's comment (carries the target fingerprint).
    pub comment: String,
    /// SSM invocation status.
    pub status: String,
    /// The script's result line, when the output had one.
    pub result: Option<ScriptResult>,
    /// Connect commands (sealed credentials delivered) that failed in a row, newest first, with
    /// the same failure as the newest one.
    pub failed_deliveries: u32,
}

/// Whether the role of an instance profile lets Systems Manager in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProfileDiagnosis {
    /// The role carries `AmazonSSMManagedInstanceCore`.
    PolicyAttached,
    /// No role, or its role lacks the policy; the detail.
    PolicyMissing(String),
    /// Could not tell; the reason.
    Unknown(String),
}

/// A platform document found in an account that is not this version's (the document check, `verify`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AlteredDocument {
    /// Its default version, as read.
    pub version: String,
    /// An earlier release's, or what differs.
    pub mismatch: Mismatch,
}

/// Why a document found in an account is not this build's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// An earlier release's document, unchanged: its member stack is not updated yet.
    Previous(String),
    /// Anything else: what differs.
    Differs(String),
}

/// Everything the planner needs for one (account, region).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UnitState {
    /// Running EC2 instances (those selected).
    pub instances: Vec<Ec2Instance>,
    /// Instances registered with Systems Manager, by id.
    pub managed: HashMap<String, ManagedInstance>,
    /// Latest run of a connector document per instance.
    pub history: HashMap<String, LastRun>,
    /// Default version of each platform's document, when it runs exactly the connector's script;
    /// absent when the document does not exist or is altered.
    pub document_versions: HashMap<Platform, String>,
    /// Platforms whose document exists but is not this version's: an earlier release's, or what
    /// differs.
    pub altered_documents: HashMap<Platform, AlteredDocument>,
    /// Diagnosis of each instance profile referenced by an unmanaged instance, by ARN.
    pub profiles: HashMap<String, ProfileDiagnosis>,
    /// What Azure and the inventory say of the unit's instances (read only when one may need a
    /// command).
    pub azure: AzureView,
}

/// The Arc machines of the account's resource group (Resource Manager) and the inventory's entries
/// of the account, both by instance id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AzureView {
    /// Arc machines by name (lower case), as Resource Manager lists them now (shared by the
    /// units of one group in a run).
    pub machines: std::sync::Arc<HashMap<String, ArcMachine>>,
    /// The inventory's entries by instance id.
    pub inventory: HashMap<String, Entry>,
    /// Why Azure or the inventory could not be read (nothing is sent then: without a credential
    /// whose rights were checked, or without knowing what is covered).
    pub unreadable: Option<String>,
}

/// Whether Azure shows an instance covered, read from the inventory and Resource Manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Coverage {
    /// Its inventory entry matches a `Connected` machine: covered.
    Covered(Entry),
    /// Its inventory entry matches a machine whose agent stopped reporting (its status).
    Silent(Entry, String),
    /// Azure holds no machine of its name: it is (again) to be onboarded, with force (an agent that
    /// believes itself connected checks Azure).
    Missing,
    /// A machine of its name exists, but the inventory has no entry matching it: the agent is asked
    /// (an earlier version's onboarding is adopted from its answer).
    Unrecorded,
    /// Azure or the inventory could not be read: why.
    Unknown(String),
}

impl AzureView {
    /// What Azure and the inventory say of `instance_id`.
    pub(crate) fn coverage(&self, instance_id: &str) -> Coverage {
        if let Some(reason) = &self.unreadable {
            return Coverage::Unknown(reason.clone());
        }
        let Some(machine) = self.machines.get(&instance_id.to_ascii_lowercase()) else {
            return Coverage::Missing;
        };
        match (
            self.inventory.get(instance_id).filter(|entry| entry.matches(machine)),
            machine.properties.status.as_deref(),
        ) {
            (Some(entry), Some("Connected")) => Coverage::Covered(entry.clone()),
            // What the sweep repairs (`super::azure::sweep`): an agent that stopped reporting.
            (Some(entry), Some(status @ ("Disconnected" | "Expired"))) => {
                Coverage::Silent(entry.clone(), status.into())
            }
            // Not recorded, or in another state (`Error`): the agent is asked, and the item says
            // what Azure shows.
            _ => Coverage::Unrecorded,
        }
    }
}
