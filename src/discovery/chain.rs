//! What follows an account's onboarding: it is reported once its stack instances are `CURRENT`,
//! by whichever invocation sees that (the one that sent the operation, or a re-check carrying the
//! operations still running), and its existing instances are handed on at once instead of waiting
//! for the schedules: to profile-scan (instances without a working profile; it hands what it fixes
//! to arc-provisioner) and to arc-provisioner (instances Systems Manager already manages).
//!
//! The hand-off is one work unit per (account, region the account was onboarded in) and function,
//! sent to the function's work queue with a delay: IAM is eventually consistent ("changes are not
//! always immediately visible", IAM User Guide, troubleshooting), and the member role and the
//! connector's instance profile were created seconds ago by the stack instance. SQS allows a delay
//! of at most 900 seconds ("DelaySeconds ... Maximum: 15 minutes").

use std::collections::{BTreeMap, BTreeSet};

use super::apply::Onboarding;
use super::state::StackInstance;
use crate::queue::{UnitMessage, WorkQueue};
use crate::report::{Action, Item, Status};

/// Accounts onboarded, each with the operation that did it and its regions.
pub(crate) type Onboarded = BTreeMap<String, (String, BTreeSet<String>)>;

/// Settles the accounts a re-check carried (`awaiting`: account → operation): those this run did
/// not touch and whose every stack instance is now healthy are onboarded; those still deploying
/// stay awaited; the others (failed, or gone) are left to the reconcile's own findings.
pub(crate) fn settle(onboarding: &mut Onboarding, awaiting: &BTreeMap<String, String>, instances: &[StackInstance]) {
    for (account, op) in awaiting {
        let touched = onboarding.succeeded.contains_key(account)
            || onboarding.unfinished.contains(account)
            || onboarding.awaiting.contains_key(account);
        if touched {
            continue;
        }
        let own: Vec<&StackInstance> = instances.iter().filter(|i| &i.account == account).collect();
        if own.is_empty() {
            continue;
        }
        if own.iter().all(|i| i.healthy()) {
            let regions = own.iter().map(|i| i.region.clone()).collect();
            onboarding.succeeded.insert(account.clone(), (op.clone(), regions));
        } else if own.iter().any(|i| i.in_flight()) {
            onboarding.awaiting.insert(account.clone(), op.clone());
        }
    }
}

/// Sends `job` one unit per (account, region) onboarded through its `queue`, `delay_seconds`
/// later; one item per account.
pub(crate) async fn hand_off(job: &str, queue: &WorkQueue, onboarded: &Onboarded, delay_seconds: i32) -> Vec<Item> {
    let mut items = Vec::new();
    for (account, (_, regions)) in onboarded {
        let bodies: Vec<String> =
            regions.iter().map(|region| UnitMessage::unit(job, account.clone(), region.clone()).body()).collect();
        let failures: Vec<String> = queue
            .send(&bodies, delay_seconds)
            .await
            .into_iter()
            .filter_map(Result::err)
            .map(|f| f.to_string())
            .collect();
        let listed = regions.iter().cloned().collect::<Vec<_>>().join(", ");
        let (status, reason) = if failures.is_empty() {
            let reason = format!(
                "handed to {job} ({listed}) through {} in {delay_seconds} s, after IAM has propagated the new roles",
                queue.name()
            );
            (Status::Done, reason)
        } else {
            let reason =
                format!("cannot hand {listed} to {job}: {}; its next scheduled run covers it", failures.join("; "));
            (Status::Failed, reason)
        };
        items.push(Item::new(account, "*", queue.name(), Action::HandOff, status, reason));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(account: &str, region: &str, status: &str, detail: Option<&str>) -> StackInstance {
        StackInstance {
            account: account.into(),
            region: region.into(),
            status: status.into(),
            detailed_status: detail.map(String::from),
            reason: None,
        }
    }

    #[test]
    fn an_awaited_account_is_onboarded_once_every_instance_is_current() {
        let awaiting: BTreeMap<String, String> =
            [("200000000001", "op-1"), ("200000000002", "op-2"), ("200000000003", "op-3"), ("200000000004", "op-4")]
                .map(|(a, o)| (a.to_string(), o.to_string()))
                .into();
        let instances = vec![
            instance("200000000001", "eu-west-1", "CURRENT", Some("SUCCEEDED")),
            instance("200000000001", "us-east-1", "CURRENT", None),
            instance("200000000002", "eu-west-1", "CURRENT", Some("SUCCEEDED")),
            instance("200000000002", "us-east-1", "OUTDATED", Some("RUNNING")),
            instance("200000000003", "eu-west-1", "OUTDATED", Some("FAILED")),
        ];
        let mut onboarding = Onboarding::default();
        onboarding.unfinished.insert("200000000004".into());
        settle(&mut onboarding, &awaiting, &instances);
        let done = onboarding.onboarded();
        assert_eq!(done.keys().collect::<Vec<_>>(), ["200000000001"]);
        assert_eq!(done["200000000001"].0, "op-1", "the record's key names the operation that onboarded it");
        assert_eq!(done["200000000001"].1.len(), 2);
        assert_eq!(onboarding.awaiting.keys().collect::<Vec<_>>(), ["200000000002"], "still deploying");
    }
}
