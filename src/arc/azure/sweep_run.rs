//! The sweep of the Azure side (`{"action":"sweep"}`, daily): list this resource group's Arc
//! machines, read the estate behind the ones this connector made, and delete, repair or keep each
//! (`super::sweep` judges). One report item (`sweep-arc-machine`) per machine.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use super::inventory::{Entry, Inventory};
use super::resource_manager::{ArcMachine, ResourceManager};
use super::sweep::{AccountView, Found, Verdict, judge, owner};
use crate::arc::credential::{resource_manager_credential, resource_manager_scope, sweep_off};
use crate::arc::job::{ArcProvisioner, ArcWork, JOB};
use crate::arc::plan::Selection;
use crate::arc::read::managed_instances;
use crate::arc::trigger::{MAX_SWEEP_CONTINUATIONS, SweepCommand, sweep_continuation};
use crate::budget::Budget;
use crate::error::{Failure, InvocationError};
use crate::report::{Action, Cause, Item, Outcome, Report, Status};
use crate::run::{self, FleetJob, Unit};
use crate::scope::ScopeRules;
use crate::sessions::{Sessions, enabled_regions};

/// Deletions in flight at once: Resource Manager's write limits are per principal and hour, and
/// a paced sweep leaves room for the onboarding scripts' reads.
const DELETE_CONCURRENCY: usize = 4;
/// `instance-id` filter values per `DescribeInstances` call.
const IDS_PER_CALL: usize = 200;

/// What the estate says of the machines' accounts: each account's view and where each
/// (account, instance) was found.
struct Estate {
    views: BTreeMap<String, AccountView>,
    found: HashMap<(String, String), Found>,
}

impl ArcProvisioner {
    /// Runs the sweep; a dry run deletes and sends nothing; `leave_scope` also deletes the
    /// machines of accounts out of scope.
    pub(in crate::arc) async fn sweep(
        &self,
        command: &SweepCommand,
        budget: &Budget,
    ) -> Result<Report, InvocationError> {
        let (dry_run, continuation) = (command.dry_run, command.continuation);
        let sessions = run::sessions(self).await?;
        let manager = match self.resource_manager(budget).await {
            Ok(Some(manager)) => manager,
            Ok(None) => return Ok(off(self)),
            Err(failure) => return Ok(whole_failure(failure)),
        };
        let (machines, pages) = match manager.machines().await {
            Ok(listed) => listed,
            Err(failure) => return Ok(whole_failure(failure)),
        };
        tracing::info!(machines = machines.len(), pages, "Arc machines listed");
        let (ours, mut items) = match self.owned(&sessions, machines).await {
            Ok(split) => split,
            Err(failure) => return Ok(whole_failure(failure)),
        };
        let estate = self.estate(&sessions, &ours).await;
        let (mut deletes, mut repairs) = (Vec::new(), Vec::new());
        for (machine, entry) in ours {
            let (item, verdict) = self.judged(&machine, &entry, &estate, command.leave_scope);
            match verdict {
                Verdict::Delete => deletes.push(Judged { machine, entry, item }),
                Verdict::Repair { .. } => repairs.push(Judged { machine, entry, item }),
                _ => items.push(item),
            }
        }
        items.extend(delete_all(&manager, &self.inventory, deletes, dry_run, budget).await);
        if budget.deferred() {
            items.extend(self.continue_later(continuation).await);
        }
        // A repair deletes the stale machine first, as Microsoft's remedy for AZCM0044 ("A resource
        // with the same name already exists") asks ("delete the existing Azure Arc-enabled server in
        // Azure and try again"), which the onboarding role cannot; then the instance is
        // re-provisioned with force (the agent clears its local configuration and connects again).
        let cleared = delete_all(&manager, &self.inventory, repairs, dry_run, budget).await;
        let units = repair_units(&cleared);
        items.extend(cleared.into_iter().map(|mut item| {
            if matches!(item.status, Status::Done | Status::Planned) {
                item.reason = format!("{}; re-provisioned with force (see its provision item)", item.reason);
            }
            item
        }));
        items.extend(self.repair(units, dry_run, budget).await?);
        Ok(Report::new(JOB, dry_run, items, 1, 0))
    }

    /// Splits the listed machines into those the inventory records (resource id, name and `vmId`
    /// all matching an entry) and the rest, reported `not-ours` and never touched, whatever their
    /// tags say (anyone holding an onboarding token can write tags). The inventory is read once
    /// per account that a machine's `AccountId` tag names and that is an ACTIVE member of the
    /// organization: junk machines cost one query per real account at most. Machines naming an
    /// account that is not a member are left alone, saying why.
    async fn owned(
        &self,
        sessions: &Sessions,
        machines: Vec<ArcMachine>,
    ) -> Result<(Vec<(ArcMachine, Entry)>, Vec<Item>), Failure> {
        let named: BTreeSet<String> = machines.iter().filter_map(owner).map(|(account, _)| account).collect();
        let named: Vec<String> = named.into_iter().collect();
        let mut refused = Vec::new();
        // Every ACTIVE member, in scope or not: `estate` reads the scope and marks the others,
        // whose machines only a `leaveScope` sweep deletes.
        let nobody = BTreeSet::new();
        let members_of_the_organization = ScopeRules { excluded: &nobody, parameter: None, ..self.rules() };
        let members = members_of_the_organization.members_only(sessions, &named, "*", &mut refused).await;
        let refused: HashMap<String, Item> = refused.into_iter().map(|i| (i.account_id.clone(), i)).collect();
        let mut inventory: HashMap<String, HashMap<String, Entry>> = HashMap::new();
        for account in members {
            let entries = self.inventory.account(&account).await?;
            inventory.insert(account, entries);
        }
        let connector = &self.settings().target.connector_id;
        let (mut ours, mut others) = (Vec::new(), Vec::new());
        for machine in machines {
            let account = owner(&machine).map(|(account, _)| account);
            if let Some(refusal) = account.as_ref().and_then(|a| refused.get(a)) {
                others.push(refused_account(&machine, refusal));
                continue;
            }
            let entry = account
                .and_then(|account| inventory.get(&account))
                .and_then(|entries| entries.get(&machine.name))
                .filter(|e| e.matches(&machine))
                .cloned();
            match entry {
                Some(entry) => ours.push((machine, entry)),
                None => others.push(not_ours(&machine, connector)),
            }
        }
        Ok((ours, others))
    }

    /// The sweep's Resource Manager client; `None` when the sweep is off.
    pub(in crate::arc) async fn resource_manager(&self, budget: &Budget) -> Result<Option<ResourceManager>, Failure> {
        let target = &self.settings().target;
        let Some(credential) = resource_manager_credential(self.identity_tokens(), target).await? else {
            return Ok(None);
        };
        // Signed in first: Resource Manager's pipeline would report Entra's refusal as any other
        // error, and the sign-in alarm matches the code entra-sign-in-refused.
        let scope = resource_manager_scope(&target.cloud);
        if let Err(e) = credential.get_token(&[scope], None).await {
            let answer = e.to_string().lines().next().unwrap_or_default().to_string();
            let sweeper = target.sweep_service_principal_id.as_deref().unwrap_or_default();
            return Err(Failure::Caused(
                Cause::EntraSignInRefused,
                format!(
                    "cannot obtain a Microsoft Entra access token for the sweep's application {sweeper} in tenant {}: {answer}; check ARC_SWEEP_SERVICE_PRINCIPAL_ID and its federated identity credential (docs/deploy.md)",
                    target.tenant_id
                ),
            ));
        }
        ResourceManager::new(target, credential, budget.left().unwrap_or(Duration::from_secs(300))).map(Some)
    }

    /// Reads, for every account of `machines` in scope, where their instances are.
    async fn estate(&self, sessions: &Sessions, machines: &[(ArcMachine, Entry)]) -> Estate {
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (_, entry) in machines {
            wanted.entry(entry.account_id.clone()).or_default().insert(entry.instance_id.clone());
        }
        // Every account here is an ACTIVE member: `owned` read the inventory of members only. A
        // scope that cannot be read decides nothing about any machine.
        let scope = self.rules().scope(sessions).await;
        let mut views: BTreeMap<String, AccountView> = BTreeMap::new();
        let mut readable = Vec::new();
        for (account, ids) in wanted {
            match scope.as_ref().map(|s| s.leaves_out(&account)) {
                Ok(Some(out_of_scope)) => {
                    _ = views.insert(account, AccountView::OutOfScope(out_of_scope.reason().into()))
                }
                Ok(None) => readable.push((account, ids)),
                Err(failure) => {
                    let why = format!("cannot read the scope: {failure}");
                    views.insert(account, AccountView::Unreadable(why));
                }
            }
        }
        let concurrency = self.parts().fleet.concurrency;
        let read = run::run_each(readable, concurrency, |(account, ids)| async move {
            let result = self.account_estate(sessions, &account, &ids).await;
            (account, result)
        })
        .await;
        let mut found = HashMap::new();
        for (account, result) in read {
            match result {
                Ok(instances) => {
                    found.extend(instances.into_iter().map(|(id, f)| ((account.clone(), id), f)));
                    views.insert(account, AccountView::Read);
                }
                Err(failure) => _ = views.insert(account, AccountView::Unreadable(failure.to_string())),
            }
        }
        Estate { views, found }
    }

    /// Where each of `ids` is in `account`: every enabled region is read (an instance in a region
    /// out of scope is found there, not taken for gone).
    pub(super) async fn account_estate(
        &self,
        sessions: &Sessions,
        account: &str,
        ids: &BTreeSet<String>,
    ) -> Result<HashMap<String, Found>, Failure> {
        let session = sessions.for_account(account).await?;
        let regions = enabled_regions(&session.ec2(self.home_region())).await?;
        let mut found: HashMap<String, Found> = ids.iter().map(|id| (id.clone(), Found::Nowhere)).collect();
        let rules = self.rules();
        for region in regions {
            let states = instance_states(&session.ec2(&region), ids).await?;
            if states.is_empty() {
                continue;
            }
            let in_scope = rules.excludes(account, &region).is_none();
            let alive = states.values().any(|s| !ended(s));
            let managed =
                if alive && in_scope { managed_instances(&session.ssm(&region)).await? } else { HashMap::new() };
            for (id, state) in states {
                let here = if ended(&state) {
                    Found::Ended { region: region.clone() }
                } else {
                    Found::Alive {
                        region: region.clone(),
                        managed: managed.get(&id).is_some_and(|m| m.ping_status == "Online"),
                        in_scope,
                    }
                };
                found.insert(id, here);
            }
        }
        Ok(found)
    }

    /// The item of one machine of this connector (its inventory entry), and the verdict.
    fn judged(&self, machine: &ArcMachine, entry: &Entry, estate: &Estate, leave_scope: bool) -> (Item, Verdict) {
        let (account, instance) = (entry.account_id.clone(), entry.instance_id.clone());
        let (verdict, reason) = match estate.views.get(&account) {
            Some(AccountView::Read) => {
                let found = estate.found.get(&(account.clone(), instance.clone())).cloned().unwrap_or(Found::Nowhere);
                judge(machine, &found, SystemTime::now(), self.settings().sweep_grace)
            }
            Some(AccountView::OutOfScope(why)) if leave_scope => (
                Verdict::Delete,
                format!(
                    "account out of scope ({why}), leaving scope: the machine is deleted; the agent stays installed on the instance until removed (docs/upgrade.md#removal)"
                ),
            ),
            Some(AccountView::OutOfScope(why)) => (
                Verdict::Skip,
                format!(
                    "account out of scope ({why}): not touched; {{\"action\":\"sweep\",\"leaveScope\":true}} deletes it (list first with \"dryRun\":true)"
                ),
            ),
            Some(AccountView::Unreadable(why)) => {
                (Verdict::Unknown, format!("the account cannot be read ({why}): nothing decided"))
            }
            None => (Verdict::Unknown, "the account was not read: nothing decided".to_string()),
        };
        let region = match estate.found.get(&(account.clone(), instance)) {
            Some(Found::Alive { region, .. } | Found::Ended { region }) => region.clone(),
            _ => "*".to_string(),
        };
        let (status, outcome) = match &verdict {
            Verdict::Delete => (Status::Done, Outcome::Deleted),
            Verdict::Repair { .. } => (Status::Done, Outcome::Repaired),
            Verdict::Keep | Verdict::Skip => (Status::Skipped, Outcome::Kept),
            Verdict::Unknown => (Status::Failed, Outcome::Kept),
        };
        (machine_item(&account, &region, machine, status, outcome, reason), verdict)
    }

    /// A sweep out of time continues through the work queue (as units do): one message, taken
    /// by the event source mapping a minute later, at most [`MAX_SWEEP_CONTINUATIONS`] in a row (a
    /// sweep whose reads alone outlast every invocation is left to the next daily run instead of
    /// looping); without a queue the next daily sweep takes it.
    async fn continue_later(&self, continuation: u32) -> Option<Item> {
        let queue = self.own_queue()?;
        let item = |status: Status, reason: String| Item::new("*", "*", queue.name(), Action::Enqueue, status, reason);
        if continuation >= MAX_SWEEP_CONTINUATIONS {
            let reason = format!("{MAX_SWEEP_CONTINUATIONS} continuations in a row: the next daily sweep continues");
            return Some(item(Status::Skipped, reason));
        }
        let body = sweep_continuation(continuation + 1);
        Some(match queue.send(&[body], 60).await.pop()? {
            Ok(()) => item(Status::Done, "the sweep continues from the work queue in 60 s".to_string()),
            Err(failure) => item(Status::Failed, format!("{failure}; the next daily sweep continues")),
        })
    }

    /// Re-provisions the instances of disconnected agents (`force`: whatever ran before).
    async fn repair(
        &self,
        repairs: BTreeMap<(String, String), BTreeSet<String>>,
        dry_run: bool,
        budget: &Budget,
    ) -> Result<Vec<Item>, InvocationError> {
        if repairs.is_empty() {
            return Ok(Vec::new());
        }
        let units = repairs
            .into_iter()
            .map(|((account_id, region), ids)| {
                let selection = Selection { ids: Some(ids), tag: None };
                let work = ArcWork { selection, force: true, dry_run, ..ArcWork::default() };
                Unit { account_id, region, work }
            })
            .collect();
        Ok(Box::pin(self.named(units, dry_run, budget)).await?.items)
    }
}

/// The units to re-provision: the instances whose stale machine was deleted (or would be), by
/// (account, region), as their sweep items name them (the machine's name is its instance id).
fn repair_units(items: &[Item]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut units: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for item in items.iter().filter(|i| matches!(i.status, Status::Done | Status::Planned)) {
        let unit = (item.account_id.clone(), item.region.clone());
        units.entry(unit).or_default().insert(item.resource_id.clone());
    }
    units
}

/// A machine of the inventory, its entry and its item.
struct Judged {
    machine: ArcMachine,
    entry: Entry,
    item: Item,
}

/// Deletes the stale machines, a few at a time, while the invocation has time, then forgets their
/// entries (25 to a `BatchWriteItem`); a dry run plans.
async fn delete_all(
    manager: &ResourceManager,
    inventory: &Inventory,
    deletes: Vec<Judged>,
    dry_run: bool,
    budget: &Budget,
) -> Vec<Item> {
    let done = run::run_each(deletes, DELETE_CONCURRENCY, |Judged { machine, entry, mut item }| async move {
        let key = (entry.account_id, entry.instance_id);
        if dry_run {
            item.status = Status::Planned;
            item.reason = format!("would delete: {}", item.reason);
        } else if !budget.may_start() {
            item.status = Status::Skipped;
            item.outcome = Some(Outcome::Kept);
            item.reason =
                format!("deferred: the invocation's time is spent; the next sweep deletes it ({})", item.reason);
        } else if let Err(failure) = manager.delete(&machine.id).await {
            item.status = Status::Failed;
            item.outcome = Some(Outcome::Kept);
            item.reason = format!("cannot delete: {failure}");
        } else {
            item.reason = format!("deleted: {}", item.reason);
            return (item, Some(key));
        }
        (item, None)
    })
    .await;
    let gone: Vec<(String, String)> = done.iter().filter_map(|(_, key)| key.clone()).collect();
    let kept: HashMap<(String, String), String> = inventory.forget_all(&gone).await.into_iter().collect();
    done.into_iter()
        .map(|(mut item, key)| {
            if let Some(why) = key.and_then(|k| kept.get(&k).cloned()) {
                item.reason = format!("{}; its inventory entry stays ({why})", item.reason);
            }
            item
        })
        .collect()
}

/// `DescribeInstances` state name of each of `ids` found in the region (terminated included).
async fn instance_states(
    ec2: &aws_sdk_ec2::Client,
    ids: &BTreeSet<String>,
) -> Result<HashMap<String, String>, Failure> {
    let ids: Vec<String> = ids.iter().cloned().collect();
    let mut out = HashMap::new();
    for chunk in ids.chunks(IDS_PER_CALL) {
        let filter = aws_sdk_ec2::types::Filter::builder().name("instance-id").set_values(Some(chunk.to_vec())).build();
        let mut pages = ec2.describe_instances().filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Failure::aws("DescribeInstances", &e))?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                let state = instance.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default();
                if let Some(id) = instance.instance_id() {
                    out.insert(id.to_string(), state);
                }
            }
        }
    }
    Ok(out)
}

fn ended(state: &str) -> bool {
    matches!(state, "terminated" | "shutting-down")
}

fn machine_item(
    account: &str,
    region: &str,
    machine: &ArcMachine,
    status: Status,
    outcome: Outcome,
    reason: String,
) -> Item {
    let mut item = Item::new(account, region, &machine.name, Action::SweepArcMachine, status, reason);
    item.outcome = Some(outcome);
    item
}

/// A machine whose `AccountId` tag names an account that is not an ACTIVE member, or cannot be
/// told: nothing decided about it.
fn refused_account(machine: &ArcMachine, refusal: &Item) -> Item {
    let (status, reason) = match refusal.status {
        Status::Failed => (Status::Failed, format!("the account cannot be read ({}): nothing decided", refusal.reason)),
        _ => (Status::Skipped, format!("account out of scope ({}): not touched", refusal.reason)),
    };
    machine_item(&refusal.account_id, "*", machine, status, Outcome::Kept, reason)
}

fn not_ours(machine: &ArcMachine, connector: &str) -> Item {
    let tag =
        machine.tags.get(super::sweep::CONNECTOR_TAG).map_or("no connector tag".to_string(), |v| format!("tagged {v}"));
    let reason = format!(
        "not in the inventory of this connector ({connector}) with this resource id, name and vmId ({tag}): never touched"
    );
    machine_item("*", "*", machine, Status::Skipped, Outcome::NotOurs, reason)
}

/// The sweep's report when it is off: one skipped item saying why.
fn off(job: &ArcProvisioner) -> Report {
    let reason = sweep_off(&job.settings().target).unwrap_or("the sweep is off").to_string();
    let item = Item::new("*", "*", "arc-machines", Action::SweepArcMachine, Status::Skipped, reason);
    Report::new(JOB, false, vec![item], 1, 0)
}

fn whole_failure(failure: Failure) -> Report {
    let item = Item::new("*", "*", "arc-machines", Action::SweepArcMachine, Status::Failed, failure.to_string())
        .with_cause(failure.cause());
    Report::new(JOB, false, vec![item], 1, 1)
}
