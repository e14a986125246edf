//! What the reader found: the StackSet, its instances and the organization's accounts.

/// How the StackSet deploys (read from the StackSet itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PermissionModel {
    /// `SELF_MANAGED`: targets are account ids.
    SelfManaged,
    /// `SERVICE_MANAGED`: targets are OUs (narrowed to accounts with `AccountFilterType`).
    ServiceManaged,
}

/// The onboarding StackSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StackSet {
    /// Name.
    pub name: String,
    /// Permission model.
    pub model: PermissionModel,
    /// Managed (queued) execution is on: operations may be sent while one runs.
    pub managed_execution: bool,
}

/// One stack instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StackInstance {
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// `CURRENT`, `OUTDATED`, `INOPERABLE`.
    pub status: String,
    /// `SUCCEEDED`, `FAILED`, `RUNNING`, ... when known.
    pub detailed_status: Option<String>,
    /// Why it is not current, when AWS says.
    pub reason: Option<String>,
}

impl StackInstance {
    /// Deployed and up to date: `CURRENT` (and `SUCCEEDED` when the detail is known).
    pub(crate) fn healthy(&self) -> bool {
        self.status == "CURRENT" && self.detailed_status.as_deref().is_none_or(|d| d == "SUCCEEDED")
    }

    /// An operation is deploying it right now (`StackInstanceComprehensiveStatus.DetailedStatus`
    /// `PENDING` or `RUNNING`): neither failed nor to be re-sent.
    pub(crate) fn in_flight(&self) -> bool {
        matches!(self.detailed_status.as_deref(), Some("PENDING" | "RUNNING"))
    }
}

/// An account of the organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Account {
    /// Id.
    pub id: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`, ...
    pub state: String,
    /// Direct parent (root or OU id), needed for service-managed targets.
    pub parent: Option<String>,
}

/// Everything the planner needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Estate {
    /// The StackSet.
    pub stack_set: StackSet,
    /// Its instances.
    pub instances: Vec<StackInstance>,
    /// The organization's accounts (or only the one an event is about).
    pub accounts: Vec<Account>,
    /// The management account (never a StackSet target).
    pub management: String,
    /// The member template's plain stack in the management account.
    pub management_stack: ManagementStack,
    /// Regions each account that needs StackSet work has enabled.
    pub enabled_regions: EnabledRegions,
    /// The accounts this run may touch (read in the same run).
    pub scope: crate::org_scope::OrgScope,
}

/// Regions accounts have enabled (Account Management `ListRegions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EnabledRegions {
    /// Per account read; an account not listed was not read (every region is tried there).
    Known(std::collections::BTreeMap<String, std::collections::BTreeSet<String>>),
    /// The read was refused (why): every region is tried, as without it.
    Unknown(String),
}

impl Default for EnabledRegions {
    fn default() -> Self {
        EnabledRegions::Known(Default::default())
    }
}

impl EnabledRegions {
    /// False only when `account` is known not to have enabled `region`.
    pub(crate) fn allows(&self, account: &str, region: &str) -> bool {
        match self {
            EnabledRegions::Known(known) => known.get(account).is_none_or(|regions| regions.contains(region)),
            EnabledRegions::Unknown(_) => true,
        }
    }
}

/// What is known of the member template's plain stack in the management account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ManagementStack {
    /// It exists, with this status.
    Deployed(String),
    /// It does not exist (or was deleted).
    Missing,
    /// `DescribeStacks` failed (access denied, throttled beyond retries): the reason.
    Unreadable(String),
    /// Not checked from here (a delegated administrator cannot read the management account's
    /// stacks, and an event about another account does not need it): why.
    NotChecked(String),
}
