//! Member-connector records: after a reconcile, one EventBridge event per account this run
//! actually onboarded (every one of its stack instances reported `SUCCEEDED` by the operation's
//! per-instance results), plus one for the management account, carrying the security connector's
//! organizational data, so the security service creates member connectors at once instead of
//! discovering them within 24 hours. Accounts that failed or are still pending get no record: the
//! reconcile that onboards them sends it.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::{Value, json};

use super::plan::action;
use crate::error::Failure;
use crate::report::{Item, Status};

/// `source` of the records.
pub(crate) const SOURCE: &str = "mdc-connector";
/// `detail-type` of the records.
pub(crate) const DETAIL_TYPE: &str = "Member Connector Record";
/// PutEvents takes at most this many entries per call.
const BATCH: usize = 10;

/// The records' `detail` objects for a reconcile's items: none when no account was onboarded (a
/// dry run, a compliant organization, or only failures and pending work).
pub(crate) fn records(items: &[Item], management: &str, stack_set: &str, excluded: &BTreeSet<String>) -> Vec<Value> {
    let mut per_account: BTreeMap<&str, (Vec<&str>, Status)> = BTreeMap::new();
    for item in items.iter().filter(|i| i.action == action::CREATE || i.action == action::RETRY) {
        if item.status == Status::Planned {
            continue;
        }
        let entry = per_account.entry(&item.account_id).or_insert((Vec::new(), Status::Done));
        entry.0.push(&item.region);
        let worse = matches!(
            (entry.1, item.status),
            (Status::Done, Status::Skipped | Status::Failed) | (Status::Skipped, Status::Failed)
        );
        if worse {
            entry.1 = item.status;
        }
    }
    let mut out = vec![json!({
        "accountId": management,
        "status": "organization",
        "organizationalData": {
            "organizationMembershipType": "Organization",
            "stacksetName": stack_set,
            "excludedAccountIds": excluded.iter().collect::<Vec<_>>(),
        }
    })];
    for (account, (regions, status)) in per_account {
        if status != Status::Done {
            continue;
        }
        out.push(json!({
            "accountId": account,
            "status": "onboarded",
            "regions": regions,
            "organizationalData": {"organizationMembershipType": "Member", "parentHierarchyId": management},
        }));
    }
    if out.len() == 1 {
        // no account changed (or a dry run): nothing to tell the security service
        out.clear();
    }
    out
}

/// Publishes records to `bus` (name or ARN), ten per call; returns how many were accepted.
pub(crate) async fn publish(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    records: &[Value],
) -> Result<usize, Failure> {
    let mut sent = 0;
    for chunk in records.chunks(BATCH) {
        let entries: Vec<PutEventsRequestEntry> = chunk
            .iter()
            .map(|detail| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(SOURCE)
                    .detail_type(DETAIL_TYPE)
                    .detail(detail.to_string())
                    .build()
            })
            .collect();
        let out = client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| Failure::aws(format!("cannot publish member-connector records to {bus}"), &e))?;
        let failed = out.failed_entry_count();
        if failed > 0 {
            let why: Vec<String> = out.entries().iter().filter_map(|e| e.error_message()).map(String::from).collect();
            return Err(Failure::Unexpected(format!(
                "{failed} member-connector records rejected by {bus}: {}",
                why.join("; ")
            )));
        }
        sent += chunk.len();
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(account: &str, region: &str, status: Status) -> Item {
        let reason = if status == Status::Done { "created" } else { "busy" };
        Item::new(account, region, "stack-instance", action::CREATE, status, reason)
    }

    #[test]
    fn records_only_for_accounts_onboarded_in_every_region_plus_the_organization() {
        let items = vec![
            item("200000000001", "eu-west-1", Status::Done),
            item("200000000001", "us-east-1", Status::Done),
            item("200000000002", "eu-west-1", Status::Done),
            item("200000000002", "us-east-1", Status::Failed),
            item("200000000003", "eu-west-1", Status::Skipped),
        ];
        let excluded: BTreeSet<String> = ["200000000009".to_string()].into();
        let r = records(&items, "111111111111", "members", &excluded);
        assert_eq!(r.len(), 2, "the organization and the one account onboarded everywhere: {r:?}");
        assert_eq!(r[0]["organizationalData"]["organizationMembershipType"], "Organization");
        assert_eq!(r[0]["organizationalData"]["stacksetName"], "members");
        assert_eq!(r[0]["organizationalData"]["excludedAccountIds"][0], "200000000009");
        let status = |a: &str| r.iter().find(|x| x["accountId"] == a).map(|x| x["status"].clone());
        assert_eq!(status("200000000001"), Some("onboarded".into()));
        assert_eq!(status("200000000002"), None, "a failed region: not onboarded");
        assert_eq!(status("200000000003"), None, "pending: not onboarded");
        assert_eq!(r[1]["organizationalData"]["parentHierarchyId"], "111111111111");
    }

    #[test]
    fn a_dry_run_publishes_nothing() {
        let items = vec![item("200000000001", "eu-west-1", Status::Planned)];
        assert!(records(&items, "111111111111", "members", &BTreeSet::new()).is_empty());
    }
}
