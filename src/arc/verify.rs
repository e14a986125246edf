//! What Azure says, before and after a unit is provisioned: the Arc machines of the account's
//! resource group (listed once per run and group, with the onboarding application's token, whose
//! role reads machines) and the inventory's entries of the account, which together say which
//! instances are covered; and, after the commands, what the instances reported in this run's own
//! commands, recorded in the inventory only when Resource Manager shows a `Connected` machine of
//! that name with that `vmId`.

use std::collections::HashMap;
use std::sync::Arc;

use super::azure::inventory::{Entry, now};
use super::azure::resource_manager::{ArcMachine, ResourceManager};
use super::job::{ArcProvisioner, RunCredential};
use super::outcome::Reported;
use super::rights::with_token;
use super::secret::Secret;
use super::state::AzureView;
use crate::error::Failure;
use crate::report::{Item, Outcome, Status};

impl ArcProvisioner {
    /// The unit's view of Azure: its candidates' machines and the account's inventory. A few
    /// candidates (a hand-off, a reprovision by ids) are read one by one; more take the group's
    /// list, once per run and group, whichever is fewer requests in the common case.
    pub(super) async fn azure_view(
        &self,
        account_id: &str,
        candidates: &[String],
        run: &RunCredential,
    ) -> Result<AzureView, Failure> {
        let obtained = self.credential_for(account_id, run).await?;
        let target = &self.settings().target;
        let group = target.group(account_id);
        let manager = with_token(target, &obtained.token)?;
        let cell = run.machines.lock().await.entry(group.to_ascii_lowercase()).or_default().clone();
        let machines = match cell.get() {
            None if candidates.len() <= READ_ONE_BY_ONE => {
                Arc::new(one_by_one(&manager, account_id, candidates).await?)
            }
            _ => {
                let listed = cell
                    .get_or_init(|| async {
                        let machines = manager.group_machines(&group).await?;
                        Ok(Arc::new(machines.into_iter().map(|m| (m.name.to_ascii_lowercase(), m)).collect()))
                    })
                    .await;
                let listed = listed.as_ref();
                listed
                    .map_err(|e| Failure::Precondition(format!("cannot list the Arc machines of {group}: {e}")))?
                    .clone()
            }
        };
        let inventory = self.inventory.account(account_id).await?;
        Ok(AzureView { machines, inventory, unreadable: None })
    }

    /// Records what instances reported in this run's commands, each once Resource Manager shows a
    /// `Connected` machine of its name with the `vmId` it reported; a claim Azure does not bear out
    /// fails its item. An entry that cannot be written is recorded by the next run (Azure shows the
    /// machine, the inventory does not: the agent is asked again and adopted).
    pub(super) async fn record(
        &self,
        account_id: &str,
        region: &str,
        (reported, view): (Vec<(String, Reported)>, &AzureView),
        items: &mut [Item],
        token: &Secret,
    ) {
        // A connected answer that names no Arc machine proves nothing (root on the instance can
        // print one): it does not count.
        for item in
            items.iter_mut().filter(|i| claims_connected(i) && !reported.iter().any(|(id, _)| *id == i.resource_id))
        {
            let reason = format!("{}, but the result line names no Arc machine: not counted", item.reason);
            *item = failed(item, reason);
        }
        if reported.is_empty() {
            return;
        }
        let manager = match with_token(&self.settings().target, token) {
            Ok(manager) => manager,
            Err(failure) => return note_all(items, &reported, &failure),
        };
        let group = self.settings().target.group(account_id);
        // The fewest reads: the group's list again (a page per 100 machines) when that is fewer
        // requests than one read per instance.
        let relisted = if reported.len() > (view.machines.len() / 100 + 1).max(READ_ONE_BY_ONE) {
            match manager.group_machines(&group).await {
                Ok(machines) => Some(machines.into_iter().map(|m| (m.name.to_ascii_lowercase(), m)).collect()),
                Err(failure) => return note_all(items, &reported, &failure),
            }
        } else {
            None
        };
        let recorded = &view.inventory;
        let mut by_instance: HashMap<String, &mut Item> =
            items.iter_mut().map(|item| (item.resource_id.clone(), item)).collect();
        for (instance, found) in reported {
            let Some(item) = by_instance.remove(&instance) else { continue };
            let read = Read { manager: &manager, relisted: relisted.as_ref(), account_id, region };
            let entry = match confirmed(&read, &instance, &found, self).await {
                Ok(entry) => entry,
                Err(reason) => {
                    *item = failed(item, reason);
                    continue;
                }
            };
            // Already recorded as it is (a forced run that found it connected): nothing to write.
            if recorded.get(&instance).is_some_and(|known| known.vm_id.eq_ignore_ascii_case(&entry.vm_id)) {
                continue;
            }
            if let Err(failure) = self.inventory.record(&entry).await {
                item.reason =
                    format!("{}; not recorded in the inventory ({failure}): the next run records it", item.reason);
                continue;
            }
            if entry.adopted {
                item.status = Status::Done;
                item.outcome = Some(Outcome::Adopted);
                item.reason = format!(
                    "adopted into the inventory: the agent was connected already and Azure shows {} Connected with vmId {}",
                    entry.resource_id, entry.vm_id
                );
            }
        }
    }
}

/// Candidates up to which a unit reads its machines one by one rather than listing the group.
const READ_ONE_BY_ONE: usize = 20;

/// The machines of `candidates` that Resource Manager holds, by name (lower case).
async fn one_by_one(
    manager: &ResourceManager,
    account_id: &str,
    candidates: &[String],
) -> Result<HashMap<String, ArcMachine>, Failure> {
    let mut out = HashMap::new();
    for id in candidates {
        if let Some(machine) = manager.machine(account_id, id).await? {
            out.insert(machine.name.to_ascii_lowercase(), machine);
        }
    }
    Ok(out)
}

/// Where the machines are read after the commands: the group listed again, or one by one.
struct Read<'a> {
    manager: &'a ResourceManager,
    relisted: Option<&'a HashMap<String, ArcMachine>>,
    account_id: &'a str,
    region: &'a str,
}

/// The inventory entry of what `instance` reported, once Resource Manager shows its machine
/// `Connected`, at the resource id reported, with the `vmId` reported (when the agent gave one).
async fn confirmed(read: &Read<'_>, instance: &str, found: &Reported, job: &ArcProvisioner) -> Result<Entry, String> {
    let (account_id, region) = (read.account_id, read.region);
    let machine = match read.relisted {
        Some(listed) => Ok(listed.get(&instance.to_ascii_lowercase()).cloned()),
        None => read.manager.machine(account_id, instance).await,
    };
    let machine: ArcMachine = match machine {
        Ok(Some(machine)) => machine,
        Ok(None) => {
            return Err(format!("the agent reported {} but Azure holds no machine {instance}", found.resource_id));
        }
        Err(failure) => return Err(format!("cannot read the Arc machine {instance} to record it: {failure}")),
    };
    let vm_id = machine.properties.vm_id.clone().unwrap_or_default();
    let status = machine.properties.status.clone().unwrap_or_default();
    let same_vm = found.vm_id.is_empty() || found.vm_id.eq_ignore_ascii_case(&vm_id);
    if !machine.id.eq_ignore_ascii_case(&found.resource_id) || !same_vm || vm_id.is_empty() || status != "Connected" {
        return Err(format!(
            "the agent reported {} (vmId {}) but Azure shows {} {status} with vmId {vm_id}: not recorded",
            found.resource_id, found.vm_id, machine.id
        ));
    }
    Ok(Entry {
        account_id: account_id.to_string(),
        region: region.to_string(),
        instance_id: instance.to_string(),
        resource_id: machine.id,
        vm_id,
        connector_id: job.settings().target.connector_id.clone(),
        command_id: found.command_id.clone(),
        onboarded_at: now(),
        azure_status: status,
        adopted: found.adopted,
    })
}

/// An item whose instance said it is connected.
fn claims_connected(item: &Item) -> bool {
    matches!(item.outcome, Some(Outcome::Connected | Outcome::AlreadyConnected))
}

fn failed(item: &Item, reason: String) -> Item {
    let mut out = item.clone();
    out.status = Status::Failed;
    out.outcome = Some(Outcome::Failed);
    out.reason = reason;
    out
}

fn note_all(items: &mut [Item], reported: &[(String, Reported)], failure: &Failure) {
    for item in items.iter_mut().filter(|i| reported.iter().any(|(id, _)| *id == i.resource_id)) {
        item.reason = format!("{}; not recorded in the inventory ({failure}): the next run records it", item.reason);
    }
}
