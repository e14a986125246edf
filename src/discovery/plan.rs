//! The pure reconcile planner: target = ACTIVE members the scope admits, times the StackSet
//! regions; missing instances are created in as few operations as possible (one per set of
//! regions). Instances of ACTIVE accounts that left the scope are reported, and deleted only when
//! the request says `leaveScope` (after a dry run has listed them).

use std::collections::{BTreeMap, BTreeSet};

use super::state::{Estate, ManagementStack, PermissionModel};
use crate::org_scope::{OrgScope, OutOfScope};
use crate::report::{Action, Cause, Item, STACK_INSTANCE_CAUSE, Status};

/// Report actions.
pub(crate) mod action {
    use crate::report::Action;
    /// Create stack instances.
    pub(crate) const CREATE: Action = Action::CreateStackInstances;
    /// Re-deploy instances that are outdated or failed.
    pub(crate) const RETRY: Action = Action::UpdateStackInstances;
    /// Delete instances of accounts that left.
    pub(crate) const REMOVE: Action = Action::DeleteStackInstances;
    /// Check only.
    pub(crate) const CHECK: Action = Action::Check;
}

/// One StackSet operation: these accounts in these regions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Accounts, sorted.
    pub accounts: Vec<String>,
    /// Regions, sorted.
    pub regions: Vec<String>,
    /// Parent OUs of the accounts (service-managed targets), sorted.
    pub ous: Vec<String>,
}

/// The plan: writes to make and items to report as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Missing instances, batched.
    pub create: Vec<Batch>,
    /// Outdated or failed instances to re-deploy (only when retrying is configured).
    pub retry: Vec<Batch>,
    /// Instances of departed accounts to delete (only when removal is configured).
    pub remove: Vec<Batch>,
    /// Instances of ACTIVE accounts out of scope to delete with their stacks (`leaveScope`).
    pub leave: Vec<Batch>,
    /// Findings that need no write.
    pub findings: Vec<Item>,
    /// Findings whose StackSet work is still running (checked again later).
    pub pending: usize,
}

/// Configuration the planner needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rules<'a> {
    /// Where the StackSet deploys.
    pub regions: &'a [String],
    /// The accounts the run may touch (exclusions, the scope parameter's document).
    pub scope: &'a OrgScope,
    /// Delete the stack instances of ACTIVE accounts out of scope (`"leaveScope": true`).
    pub leave_scope: bool,
    /// Re-deploy OUTDATED / INOPERABLE / failed instances.
    pub retry_failed: bool,
    /// Delete instances of accounts that left or closed.
    pub remove_departed: bool,
    /// Only these accounts (an event); `None` for the whole organization.
    pub only: Option<&'a [String]>,
}

/// What an `INOPERABLE` instance needs. StackInstance reference: "INOPERABLE: A
/// DeleteStackInstances operation has failed and left the stack in an unstable state. Stacks in
/// this state are excluded from further UpdateStackSet operations. You might need to perform a
/// DeleteStackInstances operation, with RetainStacks set to true, to delete the stack instance,
/// and then delete the stack manually." Re-sending it (`STACKSET_RETRY_FAILED`) could never work.
pub(crate) const INOPERABLE: &str = "stack instance is INOPERABLE (a DeleteStackInstances failed and left its stack unstable; StackSets excludes it from updates, so it is never re-sent): delete the instance with --retain-stacks (aws cloudformation delete-stack-instances --retain-stacks ...), delete its stack in the account by hand, and the next reconcile creates it again";

/// `INOPERABLE`: excluded from updates; deleted only with `RetainStacks=true`.
pub(super) fn inoperable(i: &super::state::StackInstance) -> bool {
    i.status == "INOPERABLE"
}

/// Why a region of `STACKSET_REGIONS` is skipped for an account.
pub(crate) const NOT_ENABLED: &str = "region not enabled in this account (an opt-in region it has not enabled): nothing is deployed there; once the account enables it, the next reconcile onboards it";

/// (account, regions) to write, per kind of operation.
type Targets = BTreeMap<String, BTreeSet<String>>;

/// Plans a reconcile.
pub(crate) fn plan(estate: &Estate, rules: &Rules<'_>) -> Plan {
    let mut out = Plan::default();
    let in_scope = |a: &str| rules.only.is_none_or(|only| only.iter().any(|o| o == a));
    let (mut missing, mut retry, mut remove, mut leave) =
        (Targets::new(), Targets::new(), Targets::new(), Targets::new());
    for account in estate.accounts.iter().filter(|a| in_scope(&a.id)) {
        let finding = |status: Status, reason: String| item(&account.id, "*", action::CHECK, status, reason);
        if account.id == estate.management {
            let (status, reason) = management_finding(&estate.management_stack);
            out.findings.push(finding(status, reason));
        } else if let Some(out_of_scope) = rules.scope.leaves_out(&account.id) {
            out.findings.push(finding(Status::Skipped, out_of_scope.reason().into()).with_cause(Cause::OutOfScope));
        } else if account.state != "ACTIVE" {
            let reason = format!("account is {}, not ACTIVE: not onboarded", account.state);
            out.findings.push(finding(Status::Skipped, reason));
        } else {
            for region in rules.regions {
                if !estate.enabled_regions.allows(&account.id, region) {
                    out.findings.push(item(&account.id, region, action::CHECK, Status::Skipped, NOT_ENABLED.into()));
                    continue;
                }
                let existing = estate.instances.iter().find(|i| i.account == account.id && &i.region == region);
                match existing {
                    None => _ = missing.entry(account.id.clone()).or_default().insert(region.clone()),
                    Some(i) if !healthy(i) && !in_flight(i) && rules.retry_failed && !inoperable(i) => {
                        retry.entry(account.id.clone()).or_default().insert(region.clone());
                    }
                    Some(i) => plan_existing(i, &mut out),
                }
            }
        }
    }
    let state: BTreeMap<&str, &str> = estate.accounts.iter().map(|a| (a.id.as_str(), a.state.as_str())).collect();
    for instance in estate.instances.iter().filter(|i| in_scope(&i.account)) {
        let account_state = state.get(instance.account.as_str()).copied();
        let out_of_scope = rules.scope.leaves_out(&instance.account);
        match (account_state, out_of_scope) {
            (Some("ACTIVE"), Some(_)) if rules.leave_scope => {
                leave.entry(instance.account.clone()).or_default().insert(instance.region.clone());
                continue;
            }
            (Some("ACTIVE"), Some(why)) => {
                out.findings.push(left_in_place(instance, why));
                continue;
            }
            (Some("ACTIVE"), None) | (_, Some(_)) => continue,
            _ => {}
        }
        let removable = rules.remove_departed && estate.stack_set.model == PermissionModel::SelfManaged;
        match (account_state, removable) {
            (None, true) => _ = remove.entry(instance.account.clone()).or_default().insert(instance.region.clone()),
            (state, _) => out.findings.push(kept(instance, state)),
        }
    }
    let parent: BTreeMap<&str, Option<&str>> =
        estate.accounts.iter().map(|a| (a.id.as_str(), a.parent.as_deref())).collect();
    out.create = batches(missing, &parent);
    out.retry = batches(retry, &parent);
    out.remove = batches(remove, &parent);
    out.leave = batches(leave, &parent);
    out
}

/// The management account's finding: StackSets never deploy there.
fn management_finding(stack: &ManagementStack) -> (Status, String) {
    match stack {
        ManagementStack::Deployed(how) => {
            (Status::Skipped, format!("management account: member template deployed ({how})"))
        }
        ManagementStack::Missing => (
            Status::Failed,
            "management account: the onboarding StackSet never deploys here, and the member template is not deployed: run sam deploy (it creates the <STACKSET_NAME>-management StackSet) or deploy cfn/member.yaml as a plain stack".into(),
        ),
        ManagementStack::Unreadable(why) => (
            Status::Failed,
            format!("management account: StackSets never deploy here, and its member template cannot be checked: {why}"),
        ),
        ManagementStack::NotChecked(why) => (
            Status::Skipped,
            format!("management account: StackSets never deploy here; its member template is not checked ({why})"),
        ),
    }
}

/// The finding for an existing instance of an ACTIVE member that is not re-deployed: current,
/// pending (counted), or unhealthy (re-deployed only with `STACKSET_RETRY_FAILED`).
fn plan_existing(i: &super::state::StackInstance, out: &mut Plan) {
    let (account, region) = (&i.account, &i.region);
    let finding = if healthy(i) {
        item(account, region, action::CHECK, Status::Skipped, "stack instance is CURRENT".into())
    } else if inoperable(i) {
        item(account, region, action::CHECK, Status::Failed, INOPERABLE.into())
            .with_cause(format!("{STACK_INSTANCE_CAUSE}INOPERABLE"))
    } else if in_flight(i) {
        out.pending += 1;
        let running = i.detailed_status.as_deref().unwrap_or("running");
        let reason =
            format!("pending: a StackSet operation on this instance is {running}; the next reconcile checks it");
        item(account, region, action::CHECK, Status::Skipped, reason)
    } else {
        let reason = format!(
            "stack instance is {}{}: {}; set STACKSET_RETRY_FAILED=true to re-deploy it",
            i.status,
            i.detailed_status.as_deref().map(|d| format!("/{d}")).unwrap_or_default(),
            i.reason.as_deref().unwrap_or("no reason given")
        );
        let status = i.detailed_status.as_deref().filter(|d| *d != "SUCCEEDED").unwrap_or(&i.status);
        item(account, region, action::RETRY, Status::Failed, reason)
            .with_cause(format!("{STACK_INSTANCE_CAUSE}{status}"))
    };
    out.findings.push(finding);
}

/// The finding for the instance of an ACTIVE account out of scope, kept until a `leaveScope`
/// request.
fn left_in_place(instance: &super::state::StackInstance, why: OutOfScope) -> Item {
    let reason = format!(
        "account is out of scope ({}) but its stack instance remains: {{\"action\":\"reconcile\",\"leaveScope\":true}} deletes it (list what goes first with \"dryRun\":true; docs/operate.md#leaving-the-scope)",
        why.reason()
    );
    item(&instance.account, &instance.region, action::REMOVE, Status::Skipped, reason).with_cause(Cause::OutOfScope)
}

/// The finding for an instance kept in an account that is not ACTIVE (`state`) or has left the
/// organization (`None`).
fn kept(instance: &super::state::StackInstance, state: Option<&str>) -> Item {
    let reason = match state {
        // Still in the organization but suspended or closing: StackSets skips such accounts
        // (detailed status SKIPPED_SUSPENDED_ACCOUNT), so a delete would be re-sent every run.
        Some(inactive) => format!(
            "account is {inactive}: its stack instance is kept and never written (StackSets skips suspended accounts)"
        ),
        None => "account left the organization or is not ACTIVE; its stack instance is kept (set STACKSET_REMOVE_DEPARTED=true to delete it; self-managed StackSets only)".into(),
    };
    item(&instance.account, &instance.region, action::REMOVE, Status::Skipped, reason)
}

fn healthy(i: &super::state::StackInstance) -> bool {
    i.healthy()
}

/// An operation is deploying it right now (see `StackInstance::in_flight`).
fn in_flight(i: &super::state::StackInstance) -> bool {
    i.in_flight()
}

/// OUs one stack-instance operation may target. CreateStackInstances API reference: "The maximum
/// number of organizational unit (OUs) supported by a CreateStackInstances operation is 50." (the
/// same sentence for UpdateStackInstances and DeleteStackInstances). The reference gives no
/// maximum for `Accounts` or `Regions`, so self-managed batches are not split.
pub(crate) const MAX_OUS_PER_OPERATION: usize = 50;

/// Groups accounts by identical region sets: one operation per set, split so that no operation
/// targets more than [`MAX_OUS_PER_OPERATION`] parent OUs (service-managed targets).
pub(crate) fn batches(wanted: BTreeMap<String, BTreeSet<String>>, parent: &BTreeMap<&str, Option<&str>>) -> Vec<Batch> {
    let mut by_regions: BTreeMap<Vec<String>, BTreeMap<Option<String>, Vec<String>>> = BTreeMap::new();
    for (account, regions) in wanted {
        let ou = parent.get(account.as_str()).copied().flatten().map(String::from);
        by_regions.entry(regions.into_iter().collect()).or_default().entry(ou).or_default().push(account);
    }
    let mut out = Vec::new();
    for (regions, by_ou) in by_regions {
        let mut current = Batch { accounts: Vec::new(), regions: regions.clone(), ous: Vec::new() };
        for (ou, accounts) in by_ou {
            if ou.is_some() && current.ous.len() == MAX_OUS_PER_OPERATION {
                out.push(std::mem::replace(
                    &mut current,
                    Batch { accounts: Vec::new(), regions: regions.clone(), ous: Vec::new() },
                ));
            }
            current.ous.extend(ou);
            current.accounts.extend(accounts);
        }
        current.accounts.sort();
        out.push(current);
    }
    out
}

/// Resource id of stack-instance items.
pub(crate) const STACK_INSTANCE: &str = "stack-instance";

fn item(account: &str, region: &str, action: Action, status: Status, reason: String) -> Item {
    Item::new(account, region, STACK_INSTANCE, action, status, reason)
}

#[cfg(test)]
mod tests {
    use super::super::state::{Account, StackInstance, StackSet};
    use super::*;

    const MGMT: &str = "111111111111";

    fn account(id: &str, state: &str, parent: &str) -> Account {
        Account { id: id.into(), state: state.into(), parent: Some(parent.into()) }
    }

    fn instance(account: &str, region: &str, status: &str) -> StackInstance {
        StackInstance {
            account: account.into(),
            region: region.into(),
            status: status.into(),
            detailed_status: None,
            reason: Some(
                "ResourceLogicalId:InstanceRole, ResourceType:AWS::IAM::Role, ResourceStatusReason:already exists"
                    .into(),
            ),
        }
    }

    fn estate(accounts: Vec<Account>, instances: Vec<StackInstance>) -> Estate {
        Estate {
            stack_set: StackSet { name: "s".into(), model: PermissionModel::SelfManaged, managed_execution: false },
            instances,
            accounts,
            management: MGMT.into(),
            management_stack: ManagementStack::Missing,
            enabled_regions: Default::default(),
            scope: OrgScope::default(),
        }
    }

    fn regions() -> Vec<String> {
        vec!["eu-west-1".into(), "us-east-1".into()]
    }

    fn rules<'a>(regions: &'a [String], scope: &'a OrgScope) -> Rules<'a> {
        Rules { regions, scope, leave_scope: false, retry_failed: false, remove_departed: false, only: None }
    }

    #[test]
    fn many_new_accounts_are_created_in_one_operation_per_region_set() {
        let mut accounts = vec![account(MGMT, "ACTIVE", "r-root")];
        accounts.extend((0..50).map(|i| account(&format!("2000000000{i:02}"), "ACTIVE", "ou-a")));
        accounts.push(account("300000000000", "ACTIVE", "ou-b"));
        let e = estate(accounts, vec![instance("300000000000", "eu-west-1", "CURRENT")]);
        let r = regions();
        let excluded = OrgScope::default();
        let p = plan(&e, &rules(&r, &excluded));
        assert_eq!(p.create.len(), 2, "{:?}", p.create);
        let big = p.create.iter().find(|b| b.accounts.len() == 50).expect("the 50 new accounts together");
        assert_eq!(big.regions, r);
        assert_eq!(big.ous, vec!["ou-a".to_string()]);
        let partial =
            p.create.iter().find(|b| b.accounts == vec!["300000000000".to_string()]).expect("partial account");
        assert_eq!(partial.regions, vec!["us-east-1".to_string()]);
    }

    #[test]
    fn management_excluded_and_inactive_accounts_are_reported_not_targeted() {
        let e = estate(
            vec![
                account(MGMT, "ACTIVE", "r-root"),
                account("200000000001", "ACTIVE", "ou-a"),
                account("200000000002", "SUSPENDED", "ou-a"),
                account("200000000003", "CLOSED", "ou-a"),
            ],
            vec![],
        );
        let r = regions();
        let excluded = OrgScope::excluding(&["200000000001".to_string()].into());
        let p = plan(&e, &rules(&r, &excluded));
        assert!(p.create.is_empty());
        let reason =
            |a: &str| p.findings.iter().find(|f| f.account_id == a).map(|f| f.reason.clone()).unwrap_or_default();
        assert!(reason(MGMT).contains("plain stack"));
        assert!(reason("200000000001").contains("excluded"));
        assert!(reason("200000000002").contains("SUSPENDED"));
        assert!(reason("200000000003").contains("CLOSED"));
    }

    #[test]
    fn unhealthy_instances_are_reported_with_their_reason_or_retried_when_configured() {
        let mut failed = instance("200000000001", "us-east-1", "CURRENT");
        failed.detailed_status = Some("FAILED".into());
        let e = estate(
            vec![account(MGMT, "ACTIVE", "r"), account("200000000001", "ACTIVE", "ou-a")],
            vec![instance("200000000001", "eu-west-1", "OUTDATED"), failed],
        );
        let r = regions();
        let excluded = OrgScope::default();
        let p = plan(&e, &rules(&r, &excluded));
        let reported: Vec<_> =
            p.findings.iter().filter(|f| f.status == Status::Failed && f.account_id != MGMT).collect();
        assert_eq!(reported.len(), 2);
        assert!(
            reported.iter().all(|f| f.reason.contains("already exists") && f.reason.contains("STACKSET_RETRY_FAILED"))
        );
        let p = plan(&e, &Rules { retry_failed: true, ..rules(&r, &excluded) });
        assert_eq!(p.retry.len(), 1);
        assert_eq!(p.retry[0].regions, r);
    }

    #[test]
    fn inoperable_instances_are_never_re_sent_and_say_what_to_do() {
        let e = estate(
            vec![account(MGMT, "ACTIVE", "r"), account("200000000001", "ACTIVE", "ou-a")],
            vec![instance("200000000001", "eu-west-1", "INOPERABLE"), instance("200000000001", "us-east-1", "CURRENT")],
        );
        let (r, excluded) = (regions(), OrgScope::default());
        let p = plan(&e, &Rules { retry_failed: true, ..rules(&r, &excluded) });
        assert!(p.retry.is_empty() && p.create.is_empty(), "StackSets excludes INOPERABLE instances from updates");
        let finding = p.findings.iter().find(|f| f.region == "eu-west-1").expect("finding");
        assert_eq!(finding.status, Status::Failed);
        assert!(finding.reason.contains("--retain-stacks"), "{}", finding.reason);
        assert_eq!(finding.code_now(), "check/stack-instance:INOPERABLE");
    }

    #[test]
    fn instances_of_accounts_out_of_scope_are_reported_and_deleted_only_on_leave_scope() {
        let e = estate(
            vec![account(MGMT, "ACTIVE", "r"), account("200000000001", "ACTIVE", "ou-a")],
            vec![instance("200000000001", "eu-west-1", "CURRENT")],
        );
        let (r, scope) = (regions(), OrgScope::excluding(&["200000000001".to_string()].into()));
        let p = plan(&e, &rules(&r, &scope));
        assert!(p.remove.is_empty() && p.create.is_empty());
        let left = p.findings.iter().find(|f| f.region == "eu-west-1").expect("the instance is reported");
        assert!(left.reason.contains("leaveScope") && left.reason.contains("CONNECTOR_EXCLUDED_ACCOUNTS"));
        assert_eq!(left.code_now(), "delete-stack-instances/out-of-scope");
        let p = plan(&e, &Rules { leave_scope: true, ..rules(&r, &scope) });
        assert!(p.remove.is_empty(), "not a departed account's removal (which keeps the stack)");
        assert_eq!(
            (p.leave[0].accounts.clone(), p.leave[0].ous.clone()),
            (vec!["200000000001".into()], vec!["ou-a".into()])
        );
    }

    #[test]
    fn departed_accounts_are_reported_by_default_and_removed_only_when_configured() {
        let e = estate(vec![account(MGMT, "ACTIVE", "r")], vec![instance("200000000009", "eu-west-1", "CURRENT")]);
        let r = regions();
        let excluded = OrgScope::default();
        let p = plan(&e, &rules(&r, &excluded));
        assert!(p.remove.is_empty());
        assert!(
            p.findings.iter().any(|f| f.account_id == "200000000009" && f.reason.contains("STACKSET_REMOVE_DEPARTED"))
        );
        let p = plan(&e, &Rules { remove_departed: true, ..rules(&r, &excluded) });
        assert_eq!(p.remove.len(), 1);
    }

    #[test]
    fn no_operation_targets_more_than_50_ous() {
        let mut accounts = vec![account(MGMT, "ACTIVE", "r-root")];
        // 120 accounts under 60 OUs, two per OU.
        accounts.extend((0..120).map(|i| account(&format!("2000000{i:05}"), "ACTIVE", &format!("ou-{:03}", i / 2))));
        let mut e = estate(accounts, vec![]);
        e.stack_set.model = PermissionModel::ServiceManaged;
        let r = regions();
        let excluded = OrgScope::default();
        let p = plan(&e, &rules(&r, &excluded));
        assert_eq!(p.create.len(), 2, "60 OUs need two operations");
        assert!(p.create.iter().all(|b| b.ous.len() <= MAX_OUS_PER_OPERATION));
        let targeted: BTreeSet<&String> = p.create.iter().flat_map(|b| &b.accounts).collect();
        assert_eq!(targeted.len(), 120, "every account exactly once");
        for batch in &p.create {
            let ous: BTreeSet<String> = batch
                .accounts
                .iter()
                .map(|a| e.accounts.iter().find(|x| &x.id == a).and_then(|x| x.parent.clone()).unwrap())
                .collect();
            assert_eq!(ous.into_iter().collect::<Vec<_>>(), batch.ous, "a batch's OUs are its accounts' parents");
        }
    }

    #[test]
    fn in_flight_instances_are_pending_not_failed_and_suspended_accounts_are_never_written() {
        let mut running = instance("200000000001", "us-east-1", "OUTDATED");
        running.detailed_status = Some("RUNNING".into());
        let e = estate(
            vec![
                account(MGMT, "ACTIVE", "r"),
                account("200000000001", "ACTIVE", "ou-a"),
                account("200000000002", "SUSPENDED", "ou-a"),
            ],
            vec![
                running,
                instance("200000000001", "eu-west-1", "CURRENT"),
                instance("200000000002", "eu-west-1", "CURRENT"),
            ],
        );
        let r = regions();
        let excluded = OrgScope::default();
        let p = plan(&e, &Rules { retry_failed: true, remove_departed: true, ..rules(&r, &excluded) });
        assert!(p.retry.is_empty() && p.create.is_empty() && p.remove.is_empty(), "{p:?}");
        let running = p.findings.iter().find(|f| f.account_id == "200000000001" && f.region == "us-east-1").unwrap();
        assert_eq!(running.status, Status::Skipped);
        assert!(running.reason.contains("StackSet operation on this instance is RUNNING"), "{}", running.reason);
        assert_eq!(p.pending, 1, "the in-flight instance is counted as pending work");
        let suspended = p.findings.iter().find(|f| f.account_id == "200000000002" && f.region == "eu-west-1").unwrap();
        assert!(suspended.reason.contains("SUSPENDED") && suspended.reason.contains("never written"));
    }

    #[test]
    fn an_event_narrows_the_plan_to_its_account() {
        let e = estate(
            vec![
                account(MGMT, "ACTIVE", "r"),
                account("200000000001", "ACTIVE", "ou"),
                account("200000000002", "ACTIVE", "ou"),
            ],
            vec![],
        );
        let r = regions();
        let excluded = OrgScope::default();
        let only = vec!["200000000002".to_string()];
        let p = plan(&e, &Rules { only: Some(&only), ..rules(&r, &excluded) });
        assert_eq!(p.create.len(), 1);
        assert_eq!(p.create[0].accounts, only);
    }
}
