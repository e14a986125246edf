//! Member-connector records: after a reconcile, one EventBridge event per account onboarded since
//! the last record (every stack instance it worked on `SUCCEEDED` by the operation's per-instance
//! results, or, for an operation that outlived the invocation, `CURRENT` when a re-check reads
//! them), plus one for the management account, carrying the security connector's organizational
//! data, so the security service creates member connectors at once instead of discovering them
//! within 24 hours. Accounts that failed or are still pending get no record yet. Delivery is at
//! least once: `recordKey` (`<account>/<operation id>`) is the same for every copy of one
//! onboarding, so a consumer drops duplicates by it.

use std::collections::BTreeSet;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::{Value, json};

use super::chain::Onboarded;
use crate::error::Failure;

/// `source` of the records.
pub(crate) const SOURCE: &str = "mdc-connector";
/// `detail-type` of the records.
pub(crate) const DETAIL_TYPE: &str = "Member Connector Record";
/// PutEvents takes at most this many entries per call.
const BATCH: usize = 10;

/// The records' `detail` objects for the accounts onboarded: none when there is none (a dry run,
/// a compliant organization, or only failures and pending work).
pub(crate) fn records(
    onboarded: &Onboarded,
    management: &str,
    stack_set: &str,
    excluded: &BTreeSet<String>,
) -> Vec<Value> {
    if onboarded.is_empty() {
        return Vec::new();
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
    for (account, (operation, regions)) in onboarded {
        out.push(json!({
            "accountId": account,
            "status": "onboarded",
            "regions": regions,
            "recordKey": format!("{account}/{operation}"),
            "organizationalData": {"organizationMembershipType": "Member", "parentHierarchyId": management},
        }));
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

    #[test]
    fn records_for_the_accounts_onboarded_plus_the_organization_each_with_its_key() {
        let onboarded: Onboarded = [(
            "200000000001".to_string(),
            ("op-1".to_string(), ["eu-west-1".to_string(), "us-east-1".to_string()].into()),
        )]
        .into();
        let excluded: BTreeSet<String> = ["200000000009".to_string()].into();
        let r = records(&onboarded, "111111111111", "members", &excluded);
        assert_eq!(r.len(), 2, "the organization and the one account onboarded: {r:?}");
        assert_eq!(r[0]["organizationalData"]["organizationMembershipType"], "Organization");
        assert_eq!(r[0]["organizationalData"]["stacksetName"], "members");
        assert_eq!(r[0]["organizationalData"]["excludedAccountIds"][0], "200000000009");
        assert_eq!(r[1]["status"], "onboarded");
        assert_eq!(r[1]["recordKey"], "200000000001/op-1");
        assert_eq!(r[1]["regions"], json!(["eu-west-1", "us-east-1"]));
        assert_eq!(r[1]["organizationalData"]["parentHierarchyId"], "111111111111");
    }

    #[test]
    fn nothing_onboarded_publishes_nothing() {
        assert!(records(&Onboarded::new(), "111111111111", "members", &BTreeSet::new()).is_empty());
    }
}
