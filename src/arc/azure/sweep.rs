//! The sweep's judgement of one Arc machine (pure): what the estate says of the instance behind
//! it, and so whether the machine is deleted, its agent repaired, or the machine kept.
//!
//! The reference product removes "the respective Azure Arc servers for EC2 instances ... that no
//! longer exist (and the respective Azure Arc servers with a status of Disconnected or Expired) ...
//! after 7 days". Here:
//! - never a machine the connector's inventory does not record (resource id, name and `vmId`;
//!   tags prove nothing), nor one whose account is out of scope or unreadable, nor one whose
//!   instance lives in a region out of scope;
//! - instance gone (terminated, or in no enabled region of its account) and the agent silent for
//!   the grace period (since its `lastStatusChange` to `Disconnected`/`Expired`): deleted;
//! - instance alive, managed by Systems Manager, agent `Expired`, or `Disconnected` for the grace
//!   period: its stale machine deleted and the instance re-provisioned; a younger `Disconnected`
//!   is only reported (the agent may come back);
//! - instance alive but not managed: kept and reported (nothing can reach it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::resource_manager::ArcMachine;
use crate::validate::{is_account_id, is_instance_id};

/// The tag naming the connector that created a machine.
pub(crate) const CONNECTOR_TAG: &str = "MDFCSecurityConnector";

/// What the estate says of one account of the machines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AccountView {
    /// Every enabled region was read.
    Read,
    /// Out of scope (not an ACTIVE member, excluded): never touched.
    OutOfScope(String),
    /// Could not be read: nothing is decided about its machines.
    Unreadable(String),
}

/// Where and how the instance behind a machine was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Running or stopped in `region`; `managed` by Systems Manager; `in_scope` is the region's.
    Alive { region: String, managed: bool, in_scope: bool },
    /// Terminated (or shutting down) in `region`.
    Ended { region: String },
    /// In no enabled region of its account.
    Nowhere,
}

/// The sweep's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Delete the machine.
    Delete,
    /// Re-provision the instance (`region`).
    Repair { region: String },
    /// Keep it; nothing to do or nothing possible.
    Keep,
    /// Not this connector's, or out of scope: not touched.
    Skip,
    /// The estate could not be read: nothing decided.
    Unknown,
}

/// A machine's tags read as (account, instance), when both are well formed: only where to look in
/// the inventory, never proof of ownership (anyone with an onboarding token writes tags).
pub(crate) fn owner(machine: &ArcMachine) -> Option<(String, String)> {
    let account = machine.tags.get("AccountId").filter(|a| is_account_id(a))?;
    let instance = machine.tags.get("InstanceId").filter(|i| is_instance_id(i))?;
    Some((account.clone(), instance.clone()))
}

fn silent(machine: &ArcMachine) -> bool {
    matches!(machine.properties.status.as_deref(), Some("Disconnected" | "Expired"))
}

/// Seconds since the Unix epoch of the machine's `lastStatusChange`.
fn since(machine: &ArcMachine) -> Option<u64> {
    let text = machine.properties.last_status_change.as_deref()?;
    let at = azure_core::time::parse_rfc3339(text).ok()?;
    u64::try_from(at.unix_timestamp()).ok()
}

/// The verdict on a machine of this connector whose account was read, and why.
pub(crate) fn judge(machine: &ArcMachine, found: &Found, now: SystemTime, grace: Duration) -> (Verdict, String) {
    let status = machine.properties.status.as_deref().unwrap_or("unknown");
    match found {
        Found::Alive { in_scope: false, region, .. } => {
            (Verdict::Skip, format!("its instance runs in {region}, a region outside CONNECTOR_REGIONS"))
        }
        Found::Alive { managed: true, region, .. } if silent(machine) => repair_or_wait(machine, region, now, grace),
        Found::Alive { managed: false, .. } if silent(machine) => (
            Verdict::Keep,
            format!("the agent is {status} and Systems Manager does not manage the instance: kept, nothing sent"),
        ),
        Found::Alive { .. } => (Verdict::Keep, format!("the instance exists and the agent is {status}")),
        Found::Ended { .. } | Found::Nowhere => stale(machine, found, now, grace),
    }
}

/// However short the grace period (0 included), a `Disconnected` agent on a live instance is given
/// a day to report again before its machine is deleted and the agent connected anew (a reboot or a
/// network change disconnects it for minutes: "within 15 to 30 minutes" of missed heartbeats).
const MIN_REPAIR_SILENCE: Duration = Duration::from_secs(86_400);

/// A silent agent on a managed instance: repaired when expired ("An expired machine can't be
/// managed through Azure Arc until a server administrator disconnects and then reconnects it") or
/// silent for the grace period; until then only reported, as a `Disconnected` agent comes back by
/// itself ("When the service receives a subsequent heartbeat message ... the status automatically
/// changes back to Connected").
fn repair_or_wait(machine: &ArcMachine, region: &str, now: SystemTime, grace: Duration) -> (Verdict, String) {
    let status = machine.properties.status.as_deref().unwrap_or("unknown");
    let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let silent_for = since(machine).map(|since| now.saturating_sub(since));
    let wait = grace.max(MIN_REPAIR_SILENCE);
    if status == "Expired" || silent_for.is_some_and(|s| s >= wait.as_secs()) {
        return (
            Verdict::Repair { region: region.to_string() },
            format!("the agent is {status} on a managed instance"),
        );
    }
    let hours = silent_for.map_or("an unknown time".to_string(), |s| format!("{} hours", s / 3600));
    (
        Verdict::Keep,
        format!(
            "the agent is {status} on a managed instance since {hours}: repaired once silent for {} hours, unless it reports again",
            wait.as_secs() / 3600
        ),
    )
}

/// The verdict on a machine whose instance is gone: deleted once the agent has been silent for
/// the grace period.
fn stale(machine: &ArcMachine, found: &Found, now: SystemTime, grace: Duration) -> (Verdict, String) {
    let gone = match found {
        Found::Ended { region } => format!("the instance is terminated ({region})"),
        _ => "the instance is in no enabled region of its account".to_string(),
    };
    if !silent(machine) {
        let status = machine.properties.status.as_deref().unwrap_or("unknown");
        return (Verdict::Keep, format!("{gone}, but the agent is still {status}: kept until it stops reporting"));
    }
    let Some(since) = since(machine) else {
        return (Verdict::Keep, format!("{gone}, but the machine has no lastStatusChange: kept"));
    };
    let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let silent_for = now.saturating_sub(since);
    if silent_for >= grace.as_secs() {
        let days = silent_for / 86_400;
        return (
            Verdict::Delete,
            format!("{gone} and the agent has been silent for {days} days (grace {} days)", grace.as_secs() / 86_400),
        );
    }
    let left = (grace.as_secs() - silent_for).div_ceil(3600);
    (Verdict::Keep, format!("{gone}; deleted once the grace period ends, in {left} hours"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arc::azure::resource_manager::MachineProperties;

    const DAY: u64 = 86_400;

    fn machine(status: &str, changed: &str) -> ArcMachine {
        ArcMachine {
            id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m".into(),
            name: "m".into(),
            tags: [
                ("MDFCSecurityConnector", "c1"),
                ("AccountId", "111111111111"),
                ("InstanceId", "i-0123456789abcdef0"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            properties: MachineProperties {
                status: Some(status.into()),
                last_status_change: Some(changed.into()),
                vm_id: None,
            },
        }
    }

    #[test]
    fn a_gone_instance_is_deleted_after_the_grace_period_and_never_before() {
        // 2026-01-01T00:00:00Z
        let changed = "2026-01-01T00:00:00Z";
        let at = |days: u64, hours: u64| UNIX_EPOCH + Duration::from_secs(1_767_225_600 + days * DAY + hours * 3600);
        let grace = Duration::from_secs(7 * DAY);
        for found in [Found::Nowhere, Found::Ended { region: "eu-west-1".into() }] {
            assert_eq!(judge(&machine("Disconnected", changed), &found, at(6, 23), grace).0, Verdict::Keep);
            assert_eq!(judge(&machine("Disconnected", changed), &found, at(7, 0), grace).0, Verdict::Delete);
            assert_eq!(judge(&machine("Expired", changed), &found, at(30, 0), grace).0, Verdict::Delete);
            assert_eq!(
                judge(&machine("Connected", changed), &found, at(30, 0), grace).0,
                Verdict::Keep,
                "still reporting"
            );
        }
        assert_eq!(
            judge(&machine("Disconnected", changed), &Found::Nowhere, at(0, 0), Duration::ZERO).0,
            Verdict::Delete
        );
    }

    #[test]
    fn live_instances_are_repaired_when_managed_and_otherwise_kept() {
        let now = SystemTime::now();
        let alive = |managed, in_scope| Found::Alive { region: "eu-west-1".into(), managed, in_scope };
        let grace = Duration::from_secs(7 * DAY);
        let disconnected = machine("Disconnected", "2020-01-01T00:00:00Z");
        let repaired = judge(&disconnected, &alive(true, true), now, grace).0;
        assert_eq!(repaired, Verdict::Repair { region: "eu-west-1".into() });
        assert_eq!(judge(&disconnected, &alive(false, true), now, grace).0, Verdict::Keep);
        assert_eq!(judge(&disconnected, &alive(true, false), now, grace).0, Verdict::Skip, "region out of scope");
        assert_eq!(
            judge(&machine("Connected", "2020-01-01T00:00:00Z"), &alive(true, true), now, grace).0,
            Verdict::Keep
        );
    }

    #[test]
    fn tags_name_an_account_to_look_up_only_when_well_formed() {
        let mut m = machine("Disconnected", "2020-01-01T00:00:00Z");
        assert_eq!(owner(&m), Some(("111111111111".into(), "i-0123456789abcdef0".into())));
        m.tags.insert("InstanceId".into(), "i-1; rm -rf /".into());
        assert_eq!(owner(&m), None);
    }
}
