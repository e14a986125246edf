//! The pure planner: which instances get a command, which are skipped and why.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::outcome::is_final;
use super::state::{AlteredDocument, Coverage, Ec2Instance, LastRun, Mismatch, Platform, ProfileDiagnosis, UnitState};
use super::trigger::TagSelector;
use crate::config::Fleet;
use crate::report::{Action, Cause, Item, Outcome, Status, VERSION};

/// SendCommand takes at most 50 instance ids.
pub(crate) const MAX_IDS_PER_COMMAND: usize = 50;
/// Tries of a handed-off instance that Systems Manager does not list yet, [`REGISTRATION_RETRY_DELAY_SECONDS`]
/// apart (about 10 minutes): "it can take a few minutes for the managed node to be added to the
/// list" after an instance profile is attached (Systems Manager user guide, troubleshooting Run
/// Command).
pub(crate) const MAX_REGISTRATION_RETRIES: u32 = 10;
/// Delay between those tries: a minute, as the agent's registration is a matter of minutes.
pub(crate) const REGISTRATION_RETRY_DELAY_SECONDS: i32 = 60;

/// Report action of every arc-provisioner item.
pub(crate) const PROVISION: Action = Action::Provision;

/// Which instances of a unit a run covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    /// Only these ids.
    pub ids: Option<BTreeSet<String>>,
    /// Only instances carrying this tag.
    pub tag: Option<TagSelector>,
}

/// Settings the planner applies.
#[derive(Clone, Debug)]
pub(crate) struct Policy<'a> {
    /// Account of the unit.
    pub account_id: &'a str,
    /// Region of the unit.
    pub region: &'a str,
    /// The fleet settings: the opt-out tag, and a pilot's opt-in tag.
    pub fleet: &'a Fleet,
    /// Send even where already provisioned.
    pub force: bool,
    /// Fingerprint of the Azure target (in each command's comment).
    pub fingerprint: &'a str,
    /// Document per platform.
    pub documents: &'a HashMap<Platform, String>,
    /// `ARC_MAX_DELIVERIES`: an instance whose last this many deliveries failed the same way is
    /// not sent another unless forced.
    pub max_deliveries: u32,
    /// A hand-off that may be tried again (the tries so far): an instance Systems Manager does not
    /// list yet is `awaiting-registration`, not `not-managed`.
    pub retry_registration: Option<u32>,
}

/// One SendCommand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Platform of every instance in it.
    pub platform: Platform,
    /// Document name.
    pub document: String,
    /// Document version pinned (the default version read this run).
    pub document_version: String,
    /// At most [`MAX_IDS_PER_COMMAND`] ids.
    pub instance_ids: Vec<String>,
    /// The `force` parameter: a re-provision asked for, or Azure holds no machine for these
    /// instances (an agent that believes itself connected checks Azure, and connects again).
    pub force: bool,
}

/// The plan for one unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Commands to send.
    pub batches: Vec<Batch>,
    /// Instances not sent, with why.
    pub items: Vec<Item>,
}

/// The platform document's version to send, or why none can be: it is missing, an earlier
/// release's (the member stack is not updated yet: skipped, as during a StackSet rollout), or not
/// the connector's (read.rs compared its content).
fn document_version<'a>(state: &'a UnitState, policy: &Policy, platform: Platform) -> Result<&'a String, Decision> {
    let document = policy.documents.get(&platform).cloned().unwrap_or_default();
    let (account, region) = (policy.account_id, policy.region);
    let failed = |reason: String, cause| Decision::Caused(Status::Failed, Some(Outcome::Failed), reason, cause);
    match state.altered_documents.get(&platform) {
        Some(AlteredDocument { version, mismatch: Mismatch::Previous(release) }) => {
            let reason = format!(
                "document {document} in {account} {region} is release {release}'s (version {version}): this account's member stack is not updated to {VERSION} yet, and nothing is sent until it is (the member StackSet's rollout; account-discovery's {{\"action\":\"reconcile\"}} re-deploys it)"
            );
            return Err(Decision::Caused(Status::Skipped, None, reason, Cause::DocumentPreviousRelease));
        }
        Some(AlteredDocument { version, mismatch: Mismatch::Differs(difference) }) => {
            return Err(failed(
                format!(
                    "document {document} in {account} {region} is not the connector's (version {version}: {difference}): nothing sent with it; deploy cfn/member.yaml again (update the member StackSet)"
                ),
                Cause::DocumentForeign,
            ));
        }
        None => {}
    }
    state.document_versions.get(&platform).ok_or_else(|| {
        failed(
            format!("document {document} not found in {account} {region}: deploy cfn/member.yaml to this region"),
            Cause::DocumentMissing,
        )
    })
}

/// What becomes of one selected instance.
enum Decision {
    /// Send it the document of this platform, at this version, forced or not.
    Send(Platform, String, bool),
    /// Not sent: (status, outcome, why).
    Report(Status, Option<Outcome>, String),
    /// Not sent, for a cause with a code of its own: (status, outcome, why, cause).
    Caused(Status, Option<Outcome>, String, Cause),
}

/// Plans one unit.
pub(crate) fn plan(state: &UnitState, selection: &Selection, policy: &Policy) -> Plan {
    let item = |id: &str, status: Status, outcome: Option<Outcome>, reason: String| {
        Item::new(policy.account_id, policy.region, id, PROVISION, status, reason).with_outcome(outcome)
    };
    let mut out = Plan::default();
    if let Some(ids) = &selection.ids {
        for id in ids.iter().filter(|id| !state.instances.iter().any(|i| &i.id == *id)) {
            out.items.push(item(id, Status::Skipped, None, "instance not found or not running".into()));
        }
    }
    let mut queued: BTreeMap<(Platform, String, bool), Vec<String>> = BTreeMap::new();
    let mut instances: Vec<_> = state.instances.iter().filter(|i| selected(i, selection)).collect();
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    for instance in instances {
        match decide(instance, state, policy) {
            Decision::Send(platform, version, force) => {
                queued.entry((platform, version, force)).or_default().push(instance.id.clone())
            }
            Decision::Report(status, outcome, reason) => out.items.push(item(&instance.id, status, outcome, reason)),
            Decision::Caused(status, outcome, reason, cause) => {
                out.items.push(item(&instance.id, status, outcome, reason).with_cause(cause))
            }
        }
    }
    out.batches = batches(queued, policy);
    out
}

/// Whether the selection covers the instance (its ids, its tag).
fn selected(instance: &Ec2Instance, selection: &Selection) -> bool {
    if selection.ids.as_ref().is_some_and(|ids| !ids.contains(&instance.id)) {
        return false;
    }
    match &selection.tag {
        None => true,
        Some(tag) => match (instance.tags.get(&tag.key), &tag.value) {
            (Some(v), Some(wanted)) => v == wanted,
            (Some(_), None) => true,
            (None, _) => false,
        },
    }
}

/// Whether one selected instance gets a command, and if not, why.
fn decide(instance: &Ec2Instance, state: &UnitState, policy: &Policy) -> Decision {
    let id = instance.id.as_str();
    if let Some(reason) = policy.fleet.tags_admit(instance.tags.keys().map(String::as_str)).left_alone(policy.fleet) {
        return Decision::Report(Status::Skipped, None, reason);
    }
    let Some(managed) = state.managed.get(id) else {
        let reason = unmanaged_cause(instance.profile_arn.as_deref(), &state.profiles);
        if let Some(tries) = policy.retry_registration {
            let reason = format!(
                "{reason}; just given its profile, it registers with Systems Manager within minutes: tried again in {} s through the work queue (try {} of {})",
                REGISTRATION_RETRY_DELAY_SECONDS,
                tries + 1,
                MAX_REGISTRATION_RETRIES
            );
            return Decision::Report(Status::Skipped, Some(Outcome::AwaitingRegistration), reason);
        }
        return Decision::Report(Status::Skipped, Some(Outcome::NotManaged), reason);
    };
    if managed.ping_status != "Online" {
        let reason = format!(
            "not managed now: the SSM agent is not reporting (ping status {}); check that it runs and reaches SSM",
            managed.ping_status
        );
        return Decision::Report(Status::Skipped, Some(Outcome::NotManaged), reason);
    }
    let Some(platform) = managed.platform else {
        return Decision::Report(Status::Skipped, None, "platform has no Azure Arc onboarding document".into());
    };
    // What Azure and the inventory show comes first: SSM's history (which anyone who can send
    // commands to the instance can add to) never makes a covered instance look uncovered, and a
    // covered instance stays covered while its account's member stack awaits an update.
    if !policy.force
        && let Some(decision @ Decision::Report(..)) = covered_or_silent(id, state)
    {
        return decision;
    }
    let version = match document_version(state, policy, platform) {
        Ok(version) => version,
        Err(decision) => return decision,
    };
    // The bound holds whatever the newest command was (a command of someone else's cannot reset it).
    if let Some(reason) = state.history.get(id).and_then(|l| needs_attention(l, policy)) {
        return Decision::Report(Status::Skipped, Some(Outcome::NeedsAttention), reason);
    }
    // SSM's history only stops a second send while a command is in flight.
    if let Some(last) = state.history.get(id).filter(|l| !is_final(&l.status)) {
        let reason = format!("command {} is still running", last.command_id);
        return Decision::Report(Status::Skipped, Some(Outcome::InProgress), reason);
    }
    if let (true, Some(reason)) = (policy.force, &state.azure.unreadable) {
        return Decision::Report(Status::Failed, Some(Outcome::Failed), reason.clone());
    }
    if policy.force {
        return Decision::Send(platform, version.clone(), true);
    }
    covered(id, state, policy, version).unwrap_or_else(|force| Decision::Send(platform, version.clone(), force))
}

/// The report of an instance Azure shows covered, or silent (left to the sweep); `None` otherwise.
fn covered_or_silent(id: &str, state: &UnitState) -> Option<Decision> {
    match state.azure.coverage(id) {
        Coverage::Covered(entry) => Some(Decision::Report(
            Status::Skipped,
            Some(Outcome::AlreadyConnected),
            format!(
                "Azure shows {} Connected with vmId {} (recorded from command {})",
                entry.resource_id, entry.vm_id, entry.command_id
            ),
        )),
        Coverage::Silent(entry, status) => Some(Decision::Report(
            Status::Skipped,
            Some(Outcome::Disconnected),
            format!(
                "Azure shows {} {status}: the agent stopped reporting; the sweep repairs it (the stale machine deleted, then onboarded again)",
                entry.resource_id
            ),
        )),
        _ => None,
    }
}

/// Why an instance Azure does not show covered gets no command (connected elsewhere; Azure or the
/// inventory unreadable); otherwise whether its command is forced (Azure holds no machine of its
/// name, so an agent that believes itself connected checks Azure).
fn covered(id: &str, state: &UnitState, policy: &Policy, version: &str) -> Result<Decision, bool> {
    match state.azure.coverage(id) {
        // Covered and silent instances were reported before the history was looked at.
        Coverage::Covered(_) | Coverage::Silent(..) | Coverage::Unrecorded => Err(false),
        Coverage::Missing => {
            // An agent connected to another target is reported, not moved, unless forced.
            let last = state
                .history
                .get(id)
                .filter(|l| l.document_version == version && l.comment.contains(policy.fingerprint));
            match last.and_then(elsewhere) {
                Some(reason) => Ok(Decision::Report(Status::Skipped, Some(Outcome::ConnectedElsewhere), reason)),
                None => Err(true),
            }
        }
        Coverage::Unknown(reason) => Ok(Decision::Report(Status::Failed, Some(Outcome::Failed), reason)),
    }
}

/// Why an instance gets no more deliveries (`ARC_MAX_DELIVERIES` failed in a row), unless forced.
fn needs_attention(last: &LastRun, policy: &Policy) -> Option<String> {
    if policy.force || last.failed_deliveries < policy.max_deliveries {
        return None;
    }
    let failure = last.result.as_ref().map_or(last.status.as_str(), |r| r.reason.as_str());
    Some(format!(
        "sent a sealed credential {} times in a row without success (last: {failure}, command {}): fix the cause on the instance, then reprovision with force",
        last.failed_deliveries, last.command_id
    ))
}

/// The commands: per platform, document version and force, at most [`MAX_IDS_PER_COMMAND`] ids each.
fn batches(queued: BTreeMap<(Platform, String, bool), Vec<String>>, policy: &Policy) -> Vec<Batch> {
    let mut out = Vec::new();
    for ((platform, version, force), ids) in queued {
        let document = policy.documents.get(&platform).cloned().unwrap_or_default();
        for chunk in ids.chunks(MAX_IDS_PER_COMMAND) {
            out.push(Batch {
                platform,
                document: document.clone(),
                document_version: version.clone(),
                instance_ids: chunk.to_vec(),
                force,
            });
        }
    }
    out
}

/// Why an instance is not sent again: its agent answered, in the connector's last command, that
/// it is connected to another target.
fn elsewhere(last: &LastRun) -> Option<String> {
    let result = last.result.as_ref().filter(|r| r.status == "connected-elsewhere")?;
    Some(format!(
        "agent connected to {}, not the configured target (command {}); reprovision with force to move it",
        result.detail, last.command_id
    ))
}

fn unmanaged_cause(profile_arn: Option<&str>, profiles: &HashMap<String, ProfileDiagnosis>) -> String {
    let prefix = "not managed by Systems Manager";
    match profile_arn.map(|arn| (arn, profiles.get(arn))) {
        None => format!("{prefix}: no instance profile (profile-scan gives it one)"),
        Some((_, Some(ProfileDiagnosis::PolicyMissing(detail)))) => {
            format!("{prefix}: {detail}")
        }
        Some((_, Some(ProfileDiagnosis::Unknown(reason)))) => {
            format!("{prefix}; its instance profile could not be read: {reason}")
        }
        Some((arn, _)) => format!(
            "{prefix}: its profile {arn} carries the SSM policy, so the SSM agent is not reporting \
             (not installed, not running, or no network path to the SSM endpoints; a new profile takes effect within minutes)"
        ),
    }
}

/// A report item of arc-provisioner.
pub(crate) fn item(
    account_id: &str,
    region: &str,
    resource: &str,
    status: Status,
    outcome: Option<Outcome>,
    reason: String,
) -> Item {
    Item::new(account_id, region, resource, PROVISION, status, reason).with_outcome(outcome)
}

#[cfg(test)]
mod tests {
    use super::super::azure::inventory::Entry;
    use super::super::azure::resource_manager::{ArcMachine, MachineProperties};
    use super::super::outcome::ScriptResult;
    use super::super::state::{Ec2Instance, ManagedInstance};
    use super::*;

    const FP: &str = "0123456789abcdef";

    fn documents() -> HashMap<Platform, String> {
        HashMap::from([(Platform::Linux, "Lin".to_string()), (Platform::Windows, "Win".to_string())])
    }

    fn ec2(id: &str, tags: &[(&str, &str)], profile: Option<&str>) -> Ec2Instance {
        Ec2Instance {
            id: id.into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            profile_arn: profile.map(str::to_string),
        }
    }

    fn managed(id: &str, platform: Platform) -> (String, ManagedInstance) {
        (id.into(), ManagedInstance { id: id.into(), ping_status: "Online".into(), platform: Some(platform) })
    }

    fn run(state: &UnitState, selection: &Selection, force: bool) -> Plan {
        run_in(state, selection, force, &Fleet { opt_out_tag: "opt-out".into(), ..Fleet::default() })
    }

    fn run_in(state: &UnitState, selection: &Selection, force: bool, fleet: &Fleet) -> Plan {
        let documents = documents();
        let policy = Policy {
            account_id: "111111111111",
            region: "eu-west-1",
            fleet,
            force,
            fingerprint: FP,
            documents: &documents,
            max_deliveries: 3,
            retry_registration: None,
        };
        plan(state, selection, &policy)
    }

    fn base() -> UnitState {
        UnitState {
            document_versions: HashMap::from([(Platform::Linux, "3".into()), (Platform::Windows, "1".into())]),
            ..UnitState::default()
        }
    }

    fn last(version: &str, comment: &str, status: &str, result: Option<&str>) -> LastRun {
        LastRun {
            command_id: "cmd-1".into(),
            document_name: "Lin".into(),
            document_version: version.into(),
            comment: comment.into(),
            status: status.into(),
            result: result.map(|s| ScriptResult {
                status: s.into(),
                reason: String::new(),
                detail: "sub/rg".into(),
                public_key: String::new(),
                resource_id: String::new(),
                vm_id: String::new(),
            }),
            failed_deliveries: 0,
        }
    }

    #[test]
    fn an_instance_that_failed_every_delivery_is_not_sent_again_unless_forced() {
        let mut state = base();
        state.instances.push(ec2("i-00000001", &[], Some("arn:p")));
        state.managed.extend([managed("i-00000001", Platform::Linux)]);
        let mut failing = last("3", &format!("mdc-connector arc-provisioner connect {FP}"), "Failed", Some("failed"));
        failing.failed_deliveries = 2;
        state.history.insert("i-00000001".into(), failing.clone());
        assert_eq!(run(&state, &Selection::default(), false).batches.len(), 1, "two failures: a third delivery");
        failing.failed_deliveries = 3;
        state.history.insert("i-00000001".into(), failing);
        let plan = run(&state, &Selection::default(), false);
        assert!(plan.batches.is_empty());
        assert_eq!(plan.items[0].outcome, Some(Outcome::NeedsAttention));
        assert!(plan.items[0].reason.contains("3 times"), "{}", plan.items[0].reason);
        assert_eq!(run(&state, &Selection::default(), true).batches.len(), 1, "force sends again");
    }

    #[test]
    fn batches_per_platform_of_at_most_fifty() {
        let mut state = base();
        for n in 0..120 {
            let id = format!("i-{n:08x}");
            state.instances.push(ec2(&id, &[], Some("arn:p")));
            let platform = if n < 110 { Platform::Linux } else { Platform::Windows };
            state.managed.extend([managed(&id, platform)]);
        }
        let plan = run(&state, &Selection::default(), false);
        let sizes: Vec<(Platform, usize)> = plan.batches.iter().map(|b| (b.platform, b.instance_ids.len())).collect();
        assert_eq!(
            sizes,
            vec![(Platform::Linux, 50), (Platform::Linux, 50), (Platform::Linux, 10), (Platform::Windows, 10)]
        );
        assert!(
            plan.batches.iter().all(|b| b.document_version == if b.platform == Platform::Linux { "3" } else { "1" })
        );
        assert!(plan.items.is_empty());
    }

    #[test]
    fn a_pilot_covers_only_instances_with_its_opt_in_tag_and_the_opt_out_tag_still_wins() {
        let mut state = base();
        state.instances = vec![
            ec2("i-00000001", &[("pilot", "")], None),
            ec2("i-00000002", &[], None),
            ec2("i-00000003", &[("pilot", ""), ("opt-out", "")], None),
        ];
        let ids = ["i-00000001", "i-00000002", "i-00000003"];
        state.managed.extend(ids.map(|id| managed(id, Platform::Linux)));
        let pilot = Fleet { opt_out_tag: "opt-out".into(), opt_in_tag: Some("pilot".into()), ..Fleet::default() };
        let plan = run_in(&state, &Selection::default(), false, &pilot);
        assert_eq!(plan.batches.iter().flat_map(|b| b.instance_ids.clone()).collect::<Vec<_>>(), ["i-00000001"]);
        let reason =
            |id: &str| plan.items.iter().find(|i| i.resource_id == id).map(|i| i.reason.clone()).unwrap_or_default();
        assert!(reason("i-00000002").contains("not opted in: a pilot covers only instances tagged pilot"));
        assert!(reason("i-00000003").contains("opted out by tag opt-out"));
        let everyone = run(&state, &Selection::default(), false);
        assert_eq!(
            everyone.batches.iter().map(|b| b.instance_ids.len()).sum::<usize>(),
            2,
            "no pilot: all but the opted out"
        );
    }

    #[test]
    fn unmanaged_instances_are_reported_with_the_probable_cause() {
        let mut state = base();
        state.instances = vec![
            ec2("i-00000001", &[], None),
            ec2("i-00000002", &[], Some("arn:nopolicy")),
            ec2("i-00000003", &[], Some("arn:ok")),
            ec2("i-00000004", &[], Some("arn:ok")),
            ec2("i-00000005", &[("opt-out", "")], None),
        ];
        state.profiles = HashMap::from([
            ("arn:nopolicy".to_string(), ProfileDiagnosis::PolicyMissing("role r lacks the policy".into())),
            ("arn:ok".to_string(), ProfileDiagnosis::PolicyAttached),
        ]);
        state.managed.extend([(
            "i-00000004".to_string(),
            ManagedInstance {
                id: "i-00000004".into(),
                ping_status: "ConnectionLost".into(),
                platform: Some(Platform::Linux),
            },
        )]);
        let plan = run(&state, &Selection::default(), false);
        assert!(plan.batches.is_empty());
        let reasons: Vec<&str> = plan.items.iter().map(|i| i.reason.as_str()).collect();
        assert!(reasons[0].contains("no instance profile"), "{reasons:?}");
        assert!(reasons[1].contains("role r lacks the policy"), "{reasons:?}");
        assert!(reasons[2].contains("SSM agent is not reporting"), "{reasons:?}");
        assert!(reasons[3].contains("ConnectionLost"), "{reasons:?}");
        assert!(reasons[4].contains("opted out"), "{reasons:?}");
        assert_eq!(plan.items.iter().filter(|i| i.outcome == Some(Outcome::NotManaged)).count(), 4);
    }

    fn machine(id: &str, status: &str, vm_id: &str) -> (String, ArcMachine) {
        let properties = MachineProperties {
            status: Some(status.into()),
            vm_id: Some(vm_id.into()),
            ..MachineProperties::default()
        };
        let machine = ArcMachine { id: format!("/m/{id}"), name: id.into(), tags: Default::default(), properties };
        (id.to_string(), machine)
    }

    fn entry(id: &str, vm_id: &str) -> (String, Entry) {
        let entry = Entry {
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            instance_id: id.into(),
            resource_id: format!("/m/{id}"),
            vm_id: vm_id.into(),
            connector_id: "c1".into(),
            command_id: "cmd-0".into(),
            onboarded_at: 0,
            azure_status: "Connected".into(),
            adopted: false,
        };
        (id.to_string(), entry)
    }

    #[test]
    fn covered_is_what_azure_and_the_inventory_say_and_history_only_stops_a_second_send() {
        let mut state = base();
        let ids = ["i-00000001", "i-00000002", "i-00000003", "i-00000004", "i-00000005", "i-00000006", "i-00000007"];
        for id in ids {
            state.instances.push(ec2(id, &[], Some("arn:p")));
            state.managed.extend([managed(id, Platform::Linux)]);
        }
        state.azure.machines = std::sync::Arc::new(HashMap::from([
            machine("i-00000001", "Connected", "vm-1"),
            machine("i-00000002", "Disconnected", "vm-2"),
            machine("i-00000004", "Connected", "vm-4"),
            machine("i-00000007", "Connected", "vm-recreated"),
        ]));
        state.azure.inventory =
            HashMap::from([entry("i-00000001", "vm-1"), entry("i-00000002", "vm-2"), entry("i-00000007", "vm-7")]);
        let comment = format!("mdc-connector arc-provisioner connect {FP}");
        state.history = HashMap::from([
            // A forged "connected" in SSM's history counts for nothing.
            ("i-00000003".to_string(), last("3", &comment, "Success", Some("connected"))),
            ("i-00000005".to_string(), last("3", &comment, "InProgress", None)),
            ("i-00000006".to_string(), last("3", &comment, "Success", Some("connected-elsewhere"))),
        ]);
        let plan = run(&state, &Selection::default(), false);
        let sent: Vec<(bool, Vec<String>)> = plan.batches.iter().map(|b| (b.force, b.instance_ids.clone())).collect();
        assert_eq!(
            sent,
            vec![
                (false, vec!["i-00000004".to_string(), "i-00000007".to_string()]),
                (true, vec!["i-00000003".to_string()])
            ],
            "no machine in Azure: forced; a machine without a matching entry (recreated: another vmId): asked"
        );
        let outcomes: Vec<_> =
            plan.items.iter().map(|i| (i.resource_id.as_str(), i.outcome.map(Outcome::as_str))).collect();
        assert_eq!(
            outcomes,
            vec![
                ("i-00000001", Some("already-connected")),
                ("i-00000002", Some("disconnected")),
                ("i-00000005", Some("in-progress")),
                ("i-00000006", Some("connected-elsewhere"))
            ]
        );
        let forced = run(&state, &Selection::default(), true);
        assert_eq!(forced.batches.iter().map(|b| b.instance_ids.len()).sum::<usize>(), 6, "all but the one in flight");
        assert!(forced.batches.iter().all(|b| b.force));
        state.azure.unreadable = Some("cannot list".into());
        let blind = run(&state, &Selection::default(), false);
        assert!(blind.batches.is_empty(), "nothing sent without knowing what Azure shows");
        assert!(blind.items.iter().filter(|i| i.status == Status::Failed).count() == 6, "{:?}", blind.items);
    }

    #[test]
    fn selection_by_ids_or_tag_and_missing_documents() {
        let mut state = base();
        state.document_versions.remove(&Platform::Windows);
        state.instances = vec![ec2("i-00000001", &[("team", "a")], None), ec2("i-00000002", &[("team", "b")], None)];
        state.managed.extend([managed("i-00000001", Platform::Windows), managed("i-00000002", Platform::Linux)]);
        let by_ids = Selection { ids: Some(["i-00000002".to_string(), "i-0000000f".to_string()].into()), tag: None };
        let plan = run(&state, &by_ids, false);
        assert_eq!(plan.batches[0].instance_ids, vec!["i-00000002"]);
        assert_eq!(plan.items[0].resource_id, "i-0000000f");
        let by_tag = Selection { ids: None, tag: Some(TagSelector { key: "team".into(), value: Some("a".into()) }) };
        let plan = run(&state, &by_tag, false);
        assert!(plan.batches.is_empty());
        assert_eq!(plan.items[0].status, Status::Failed);
        assert!(plan.items[0].reason.contains("document Win not found"), "{}", plan.items[0].reason);
    }

    #[test]
    fn an_altered_document_is_never_sent_and_its_instances_fail_saying_why() {
        let mut state = base();
        state.document_versions.remove(&Platform::Linux);
        let mismatch = Mismatch::Differs("its script differs".into());
        state.altered_documents.insert(Platform::Linux, AlteredDocument { version: "4".into(), mismatch });
        state.instances = vec![ec2("i-00000001", &[], None), ec2("i-00000002", &[], None)];
        state.managed.extend([managed("i-00000001", Platform::Linux), managed("i-00000002", Platform::Windows)]);
        let plan = run(&state, &Selection::default(), true);
        assert_eq!(plan.batches.len(), 1, "only the Windows document is sent");
        assert_eq!(plan.batches[0].instance_ids, vec!["i-00000002"]);
        let item = plan.items.iter().find(|i| i.resource_id == "i-00000001").expect("item");
        assert_eq!(item.status, Status::Failed);
        assert!(item.reason.contains("is not the connector's (version 4: its script differs)"), "{}", item.reason);
    }
}
