//! The run report every invocation returns and logs as one JSON line (docs/report.md).

pub use aws_lambda_events::sqs::BatchItemFailure;
use serde::Serialize;

/// The connector's version (the workspace's, as released; CHANGELOG.md): in every report, so a run
/// says which code produced it, also while an upgrade rolls out.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Outcome of one item of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The change was made.
    Done,
    /// Dry run: the change would have been made.
    Planned,
    /// Nothing to do, or deliberately left alone (the reason says which).
    Skipped,
    /// The change was needed and could not be made (the reason says what to do).
    Failed,
}

impl Status {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Planned => "planned",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// What a run did (or would have done) to a resource: the report's `action` (docs/report.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// profile-scan: nothing to change (compliant or left alone).
    None,
    /// profile-scan: the connector's instance profile associated.
    AssociateInstanceProfile,
    /// profile-scan: `AmazonSSMManagedInstanceCore` attached to a role.
    AttachRolePolicy,
    /// profile-scan: a whole unit or account.
    Scan,
    /// arc-provisioner: an instance or a whole unit.
    Provision,
    /// account-discovery: missing stack instances created.
    CreateStackInstances,
    /// account-discovery: unhealthy stack instances re-deployed.
    UpdateStackInstances,
    /// account-discovery: stack instances deleted.
    DeleteStackInstances,
    /// account-discovery: a finding.
    Check,
    /// account-discovery: the run failed as a whole.
    Reconcile,
    /// account-discovery: organizations (trusted) access activated for StackSets.
    ActivateOrganizationsAccess,
    /// account-discovery: member-connector records published.
    PublishRecords,
    /// account-discovery: the answer to the deploy's custom resource.
    CustomResource,
    /// Listing the organization's accounts.
    ListAccounts,
    /// A unit sent to the work queue.
    Enqueue,
    /// profile-scan: fixed instances not handed to arc-provisioner.
    HandOff,
    /// account-discovery: a delayed re-check of pending StackSet work.
    Recheck,
    /// arc-provisioner: one Arc machine judged by the sweep (deleted, repaired or kept).
    SweepArcMachine,
    /// arc-provisioner: one (account, region)'s coverage, as the last run of that unit left it.
    Coverage,
    /// Every function: one prerequisite of its job checked by `{"action":"preflight"}`.
    Preflight,
    /// profile-scan: Default Host Management Configuration turned on in an (account, region).
    RegisterDhmc,
    /// profile-scan: Default Host Management Configuration turned off where the connector turned it on.
    ReleaseDhmc,
}

impl Action {
    /// Every action, for documentation checks.
    pub const ALL: [Action; 22] = [
        Action::None,
        Action::AssociateInstanceProfile,
        Action::AttachRolePolicy,
        Action::Scan,
        Action::Provision,
        Action::CreateStackInstances,
        Action::UpdateStackInstances,
        Action::DeleteStackInstances,
        Action::Check,
        Action::Reconcile,
        Action::ActivateOrganizationsAccess,
        Action::PublishRecords,
        Action::CustomResource,
        Action::ListAccounts,
        Action::Enqueue,
        Action::HandOff,
        Action::Recheck,
        Action::SweepArcMachine,
        Action::Coverage,
        Action::Preflight,
        Action::RegisterDhmc,
        Action::ReleaseDhmc,
    ];

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::AssociateInstanceProfile => "associate-instance-profile",
            Action::AttachRolePolicy => "attach-role-policy",
            Action::Scan => "scan",
            Action::Provision => "provision",
            Action::CreateStackInstances => "create-stack-instances",
            Action::UpdateStackInstances => "update-stack-instances",
            Action::DeleteStackInstances => "delete-stack-instances",
            Action::Check => "check",
            Action::Reconcile => "reconcile",
            Action::ActivateOrganizationsAccess => "activate-organizations-access",
            Action::PublishRecords => "publish-records",
            Action::CustomResource => "custom-resource",
            Action::ListAccounts => "list-accounts",
            Action::Enqueue => "enqueue",
            Action::HandOff => "hand-off",
            Action::Recheck => "recheck",
            Action::SweepArcMachine => "sweep-arc-machine",
            Action::Coverage => "coverage",
            Action::Preflight => "preflight",
            Action::RegisterDhmc => "register-dhmc",
            Action::ReleaseDhmc => "release-dhmc",
        }
    }
}

/// The finer outcome of one instance (arc-provisioner's, and profile-scan's IAM propagation wait):
/// the report's `outcome` (docs/report.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The agent was connected by this run.
    Connected,
    /// The agent was already connected to this connector's target.
    AlreadyConnected,
    /// The agent is connected to another target and was left alone.
    ConnectedElsewhere,
    /// The onboarding failed.
    Failed,
    /// The command did not finish in time.
    TimedOut,
    /// The command is still running.
    InProgress,
    /// arc-provisioner: the sealed credential was delivered `ARC_MAX_DELIVERIES` times and each
    /// delivery failed the same way; nothing more is sent until a forced reprovision.
    NeedsAttention,
    /// Systems Manager does not manage the instance.
    NotManaged,
    /// profile-scan: EC2 does not see the instance profile IAM just created yet; the instance is
    /// retried through the work queue after a delay.
    AwaitingIamPropagation,
    /// arc-provisioner's sweep: the Arc machine of an instance that no longer exists is deleted
    /// (or would be, in a dry run).
    Deleted,
    /// arc-provisioner's sweep: a disconnected agent on a managed instance is re-provisioned.
    Repaired,
    /// arc-provisioner's sweep: the Arc machine is kept (connected, within its grace period, or
    /// nothing can be done from here).
    Kept,
    /// arc-provisioner: the agent was connected by an earlier version of the connector; its own
    /// command and Azure agree, and the machine is now in the inventory.
    Adopted,
    /// arc-provisioner: Azure shows the instance's recorded machine `Disconnected` (or expired):
    /// the sweep repairs it.
    Disconnected,
    /// arc-provisioner's sweep: the Arc machine is not in the connector's inventory (whatever its
    /// tags say): never deleted.
    NotOurs,
    /// arc-provisioner: an instance handed off by profile-scan that Systems Manager does not list
    /// yet (its agent registers some time after the profile's credentials reach it); retried
    /// through the work queue after a delay, a bounded number of times.
    AwaitingRegistration,
    /// preflight: the prerequisite is in place.
    Ok,
    /// preflight: the prerequisite is not in place; the reason gives the command that fixes it.
    Missing,
    /// preflight: the prerequisite could not be read from the function's account; the reason
    /// gives the command a person runs to check it.
    Unchecked,
}

impl Outcome {
    /// Every outcome, for documentation checks.
    pub const ALL: [Outcome; 19] = [
        Outcome::Connected,
        Outcome::AlreadyConnected,
        Outcome::ConnectedElsewhere,
        Outcome::Failed,
        Outcome::TimedOut,
        Outcome::InProgress,
        Outcome::NeedsAttention,
        Outcome::NotManaged,
        Outcome::AwaitingIamPropagation,
        Outcome::Deleted,
        Outcome::Repaired,
        Outcome::Kept,
        Outcome::Adopted,
        Outcome::Disconnected,
        Outcome::NotOurs,
        Outcome::AwaitingRegistration,
        Outcome::Ok,
        Outcome::Missing,
        Outcome::Unchecked,
    ];

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Connected => "connected",
            Outcome::AlreadyConnected => "already-connected",
            Outcome::ConnectedElsewhere => "connected-elsewhere",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed-out",
            Outcome::InProgress => "in-progress",
            Outcome::NeedsAttention => "needs-attention",
            Outcome::NotManaged => "not-managed",
            Outcome::AwaitingIamPropagation => "awaiting-iam-propagation",
            Outcome::Deleted => "deleted",
            Outcome::Repaired => "repaired",
            Outcome::Kept => "kept",
            Outcome::Adopted => "adopted",
            Outcome::Disconnected => "disconnected",
            Outcome::NotOurs => "not-ours",
            Outcome::AwaitingRegistration => "awaiting-registration",
            Outcome::Ok => "ok",
            Outcome::Missing => "missing",
            Outcome::Unchecked => "unchecked",
        }
    }
}

macro_rules! spelled {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}
spelled!(Action);
spelled!(Outcome);

/// One resource considered by a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// Account the resource lives in.
    pub account_id: String,
    /// Region of the resource (`global` for IAM).
    pub region: String,
    /// Instance id, role ARN, or `*` for a whole work unit.
    pub resource_id: String,
    /// What was (or would have been) done.
    pub action: Action,
    /// Outcome.
    pub status: Status,
    /// Why, in words an operator can act on.
    pub reason: String,
    /// Finer outcome where a job has one (arc-provisioner's); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Stable code, `<action>/<cause>` (docs/report.md, "Codes"): what alarms and queries match,
    /// where the reason is words for people. Set by [`Report::new`] from the cause, else the
    /// outcome, else the status.
    pub code: String,
    /// The known cause ([`Item::with_cause`]), when there is one.
    #[serde(skip)]
    pub cause: Option<String>,
    /// profile-scan: how Systems Manager reaches the instance (`SSM_REACH`); absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reach: Option<Reach>,
}

/// How Systems Manager reaches an instance (profile-scan's `reach`, docs/report.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// Default Host Management Configuration: no instance profile, nothing written to the instance.
    Dhmc,
    /// The connector's instance profile, associated by the connector.
    Profile,
    /// A profile the instance already had (the customer's, or associated before).
    ExistingProfile,
    /// Not reached: the reason says why and what to do.
    None,
}

impl Reach {
    /// Every value, for documentation checks.
    pub const ALL: [Reach; 4] = [Reach::Dhmc, Reach::Profile, Reach::ExistingProfile, Reach::None];

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Dhmc => "dhmc",
            Reach::Profile => "profile",
            Reach::ExistingProfile => "existing-profile",
            Reach::None => "none",
        }
    }
}

/// Counts over a run's items.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// All items.
    pub items: usize,
    /// Items with status `done`.
    pub done: usize,
    /// Items with status `planned`.
    pub planned: usize,
    /// Items with status `skipped`.
    pub skipped: usize,
    /// Items with status `failed`.
    pub failed: usize,
    /// (account, region) work units attempted.
    pub work_units: usize,
    /// Work units that could not be completed.
    pub failed_work_units: usize,
}

/// The result of one invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Name of the job that produced it, e.g. `profile-scan`.
    pub job: String,
    /// The connector's version that produced it ([`VERSION`]).
    pub version: &'static str,
    /// True when no write call was made by design.
    pub dry_run: bool,
    /// Counts.
    pub summary: Summary,
    /// One entry per resource considered.
    pub items: Vec<Item>,
    /// Items left out of an answer that would exceed Lambda's response size (`crate::bound`);
    /// the summary still counts them, and the log has them all.
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted_items: usize,
    /// Job-specific metrics added to the run's metrics line (not part of the JSON report).
    #[serde(skip)]
    pub metrics: Vec<(&'static str, usize)>,
    /// For an invocation by the work queue's event source mapping: the records that failed and
    /// must be delivered again (`ReportBatchItemFailures`); absent otherwise.
    #[serde(rename = "batchItemFailures", skip_serializing_if = "Vec::is_empty")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

impl Item {
    /// An item without a finer outcome.
    pub fn new(
        account_id: impl Into<String>,
        region: impl Into<String>,
        resource_id: impl Into<String>,
        action: Action,
        status: Status,
        reason: impl Into<String>,
    ) -> Self {
        Item {
            account_id: account_id.into(),
            region: region.into(),
            resource_id: resource_id.into(),
            action,
            status,
            reason: reason.into(),
            outcome: None,
            code: String::new(),
            cause: None,
            reach: None,
        }
    }

    /// The same item with a finer outcome (arc-provisioner's `connected`, `not-managed`, ...).
    pub fn with_outcome(mut self, outcome: Option<Outcome>) -> Self {
        self.outcome = outcome;
        self
    }

    /// The same item with how Systems Manager reaches its instance.
    pub fn with_reach(mut self, reach: Reach) -> Self {
        self.reach = Some(reach);
        self
    }

    /// The same item with a known cause (a [`Cause`], `aws:<error code>`, `script:<reason>`).
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// The same item with `cause`, when there is one.
    pub fn with_known_cause(mut self, cause: Option<String>) -> Self {
        if cause.is_some() {
            self.cause = cause;
        }
        self
    }

    /// `<action>/<cause>`: the known cause, else the outcome, else the status.
    pub fn code_now(&self) -> String {
        let cause = self.cause.as_deref().unwrap_or_else(|| self.outcome.map_or(self.status.as_str(), Outcome::as_str));
        format!("{}/{cause}", self.action.as_str())
    }
}

/// The cause prefix of a stack instance's own status (`stack-instance:FAILED`, `...:CANCELLED`,
/// `...:OUTDATED`, `...:INOPERABLE`): StackSets' `StackInstanceStatus` / `StackInstanceDetailedStatus`
/// and operation result values, AWS's enumerations.
pub const STACK_INSTANCE_CAUSE: &str = "stack-instance:";

/// Causes with a code of their own, beyond an item's outcome or status (docs/report.md, "Codes").
/// Besides these, a cause may be `aws:<AWS error code>` (an AWS call refused or failed),
/// `script:<reason>` (the onboarding script's own reason, e.g. `script:prerequisite-missing:curl`)
/// or `stack-instance:<status>` ([`STACK_INSTANCE_CAUSE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Microsoft Entra refused the function's sign-in (federated credential, application, tenant).
    EntraSignInRefused,
    /// The onboarding application may do more than onboard, or its rights cannot be read.
    OnboardingRightsRefused,
    /// The account's onboarding document is missing in the region.
    DocumentMissing,
    /// The account's onboarding document is not the connector's (changed by someone).
    DocumentForeign,
    /// The account's onboarding document is an earlier release's: its member stack awaits update.
    DocumentPreviousRelease,
    /// A member role could not be assumed (the member template is missing or does not trust).
    AssumeRoleRefused,
    /// An AWS call failed without an error code (network, timeout).
    AwsCallFailed,
    /// Something AWS would refuse the work for is not in place (the reason says what).
    Precondition,
    /// AWS answered without what the connector needs.
    Unexpected,
    /// The account is out of scope (excluded, or outside the scope document).
    OutOfScope,
    /// EC2 does not see an instance profile IAM just created, after every retry.
    IamPropagation,
    /// Default Host Management Configuration is on with a role that is not the connector's: left alone.
    DhmcCustomerRole,
    /// `SSM_REACH=dhmc` and Default Host Management Configuration cannot serve the instance.
    DhmcCannotServe,
    /// DHMC is not turned on where it would reach instances out of scope (a pilot, opted-out ones).
    DhmcScopeConflict,
}

impl Cause {
    /// Every cause, for documentation checks.
    pub const ALL: [Cause; 14] = [
        Cause::EntraSignInRefused,
        Cause::OnboardingRightsRefused,
        Cause::DocumentMissing,
        Cause::DocumentForeign,
        Cause::DocumentPreviousRelease,
        Cause::AssumeRoleRefused,
        Cause::AwsCallFailed,
        Cause::Precondition,
        Cause::Unexpected,
        Cause::OutOfScope,
        Cause::IamPropagation,
        Cause::DhmcCustomerRole,
        Cause::DhmcCannotServe,
        Cause::DhmcScopeConflict,
    ];

    /// The spelling in codes.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::EntraSignInRefused => "entra-sign-in-refused",
            Cause::OnboardingRightsRefused => "onboarding-rights-refused",
            Cause::DocumentMissing => "document-missing",
            Cause::DocumentForeign => "document-foreign",
            Cause::DocumentPreviousRelease => "document-previous-release",
            Cause::AssumeRoleRefused => "assume-role-refused",
            Cause::AwsCallFailed => "aws-call-failed",
            Cause::Precondition => "precondition",
            Cause::Unexpected => "unexpected",
            Cause::OutOfScope => "out-of-scope",
            Cause::IamPropagation => "iam-propagation",
            Cause::DhmcCustomerRole => "dhmc-customer-role",
            Cause::DhmcCannotServe => "dhmc-cannot-serve",
            Cause::DhmcScopeConflict => "dhmc-scope-conflict",
        }
    }
}

impl From<Cause> for String {
    fn from(cause: Cause) -> String {
        cause.as_str().to_string()
    }
}

impl Report {
    /// Builds a report from items, computing the summary. Items are sorted for stable output.
    pub fn new(job: &str, dry_run: bool, mut items: Vec<Item>, work_units: usize, failed_work_units: usize) -> Self {
        for item in &mut items {
            item.code = item.code_now();
        }
        items.sort_by(|a, b| {
            (&a.account_id, &a.region, &a.resource_id, a.action.as_str()).cmp(&(
                &b.account_id,
                &b.region,
                &b.resource_id,
                b.action.as_str(),
            ))
        });
        let count = |s: Status| items.iter().filter(|i| i.status == s).count();
        let summary = Summary {
            items: items.len(),
            done: count(Status::Done),
            planned: count(Status::Planned),
            skipped: count(Status::Skipped),
            failed: count(Status::Failed),
            work_units,
            failed_work_units,
        };
        let (metrics, batch_item_failures) = (Vec::new(), Vec::new());
        Report {
            job: job.to_string(),
            version: VERSION,
            dry_run,
            summary,
            items,
            omitted_items: 0,
            metrics,
            batch_item_failures,
        }
    }

    /// This report and `other` as one (items, work units and failed records of both).
    pub(crate) fn merged(self, other: Report) -> Self {
        let mut items = self.items;
        items.extend(other.items);
        let units = self.summary.work_units + other.summary.work_units;
        let failed_units = self.summary.failed_work_units + other.summary.failed_work_units;
        let mut merged = Report::new(&self.job, self.dry_run || other.dry_run, items, units, failed_units);
        merged.batch_item_failures = self.batch_item_failures;
        merged.batch_item_failures.extend(other.batch_item_failures);
        merged
    }

    /// The same report naming the queue records to deliver again.
    pub(crate) fn with_failed_records(mut self, message_ids: Vec<String>) -> Self {
        self.batch_item_failures = message_ids.into_iter().map(batch_item_failure).collect();
        self
    }

    /// The same report with job-specific metrics for the metrics line.
    pub fn with_metrics(mut self, metrics: Vec<(&'static str, usize)>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The report as one JSON line, as logged.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"report not serializable: {e}\"}}"))
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One failed queue record: Lambda's partial batch response names it by message id.
fn batch_item_failure(message_id: String) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = message_id;
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(resource: &str, status: Status) -> Item {
        Item::new("111111111111", "eu-west-1", resource, Action::None, status, "")
    }

    #[test]
    fn summary_counts_each_status_and_items_are_sorted() {
        let r = Report::new(
            "profile-scan",
            false,
            vec![item("i-2", Status::Failed), item("i-1", Status::Done), item("i-3", Status::Skipped)],
            2,
            1,
        );
        assert_eq!(r.summary.items, 3);
        assert_eq!((r.summary.done, r.summary.failed, r.summary.skipped, r.summary.planned), (1, 1, 1, 0));
        assert_eq!(r.items[0].resource_id, "i-1");
        let json: serde_json::Value = serde_json::from_str(&r.to_json_line()).unwrap();
        assert_eq!(json["items"][0]["accountId"], "111111111111");
        assert_eq!(json["items"][1]["status"], "failed");
        assert_eq!(json["summary"]["failedWorkUnits"], 1);
    }

    #[test]
    fn every_item_has_a_code_from_its_cause_else_its_outcome_else_its_status() {
        let plain = Item::new("1", "r", "i-1", Action::Scan, Status::Failed, "why");
        let outcome =
            Item::new("1", "r", "i-2", Action::Provision, Status::Skipped, "").with_outcome(Some(Outcome::NotManaged));
        let caused = Item::new("1", "r", "i-3", Action::Provision, Status::Failed, "")
            .with_cause(Cause::EntraSignInRefused)
            .with_outcome(Some(Outcome::Failed));
        let report = Report::new("arc-provisioner", false, vec![plain, outcome, caused], 1, 0);
        let codes: Vec<&str> = report.items.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, ["scan/failed", "provision/not-managed", "provision/entra-sign-in-refused"]);
        let json: serde_json::Value = serde_json::from_str(&report.to_json_line()).unwrap();
        assert_eq!(json["items"][2]["code"], "provision/entra-sign-in-refused");
        assert!(json["items"][2].get("cause").is_none(), "the code carries the cause");
    }

    #[test]
    fn actions_and_outcomes_serialize_as_their_spelling() {
        for action in Action::ALL {
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
        }
        for outcome in Outcome::ALL {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
        }
    }
}
