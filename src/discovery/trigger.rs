//! What account-discovery accepts: its schedule, the manual `reconcile`, and Organizations and
//! Control Tower events (classified once, by [`classify`]). Everything else is refused by
//! `crate::event::refuse`, naming the function it belongs to.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::events::{OrgEvent, REGION_OPT_IN_CHANGE, classify, classify_region};
use crate::error::EventError;
pub use crate::event::{CustomResourceRequest, RequestKind};
use crate::event::{Incoming, manual, recognise, refuse};
use crate::preflight;
use crate::validate::is_account_id;

/// A StackSet operation id as the connector sends them (CreateStackInstances `OperationId`:
/// "[a-zA-Z0-9][-a-zA-Z0-9]*", at most 128 characters).
fn is_operation_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Name of the job in reports, and of the function whose events this module accepts.
pub const JOB: &str = "account-discovery";

/// What an account-discovery invocation was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscoveryTrigger {
    /// EventBridge `Scheduled Event`: the daily reconcile.
    Scheduled,
    /// `{"action":"reconcile","dryRun":false,"leaveScope":false}`.
    Reconcile(ReconcileCommand),
    /// A delayed re-check of StackSet work left pending (from the function's own queue); how many
    /// re-checks came before it.
    Recheck {
        /// Re-checks before this one (the chain stops after `MAX_RECHECKS`).
        attempt: u32,
        /// Accounts whose onboarding operation was still running: account → operation id.
        awaiting: BTreeMap<String, String>,
    },
    /// The deploy's custom resource (`Custom::MemberStackSetInstances`, cfn/template.yaml): on
    /// `Delete`, every instance of the StackSet is deleted so that `sam delete` can delete it.
    CustomResource(Box<CustomResourceRequest>),
    /// `{"action":"preflight"}`: the job's prerequisites checked (`crate::preflight`).
    Preflight,
    /// An `aws.organizations` or `aws.controltower` event, or Account Management's region opt-in
    /// change.
    Organizations {
        /// What it means for onboarding.
        event: OrgEvent,
        /// Its `detail-type`, for the report.
        detail_type: String,
        /// The event's `account` (the management account), for the report.
        account: Option<String>,
    },
}

/// The manual `reconcile` request, camelCase, unknown fields rejected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconcileCommand {
    /// Plan only.
    #[serde(default)]
    pub dry_run: bool,
    /// Also delete the stack instances of ACTIVE accounts that are out of scope (run it with
    /// `dryRun` first: the report lists each instance that would go).
    #[serde(default)]
    pub leave_scope: bool,
}

/// Re-checks chained after one another at most (150 to 449 s apart, `super::recheck`):
/// after that, the daily reconcile takes what is still pending.
pub(crate) const MAX_RECHECKS: u32 = 12;

/// The body of a re-check message.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecheckMessage {
    /// Always `account-discovery`.
    pub(crate) job: String,
    /// Re-checks before this one.
    #[serde(default)]
    pub(crate) attempt: u32,
    /// Accounts whose onboarding operation was still running: account → operation id (their
    /// record and hand-off follow once a re-check reads them `CURRENT`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) awaiting: BTreeMap<String, String>,
}

/// Parses an account-discovery payload.
pub fn parse(payload: &Value) -> Result<DiscoveryTrigger, EventError> {
    let incoming = recognise(payload)?;
    match &incoming {
        Incoming::Manual { action, payload } if action == "reconcile" => {
            Ok(DiscoveryTrigger::Reconcile(manual(payload)?))
        }
        Incoming::Manual { action, payload } if action == preflight::ACTION => {
            preflight::parse(payload).map(|()| DiscoveryTrigger::Preflight)
        }
        _ if incoming.is_schedule() => Ok(DiscoveryTrigger::Scheduled),
        Incoming::CustomResource(request) => Ok(DiscoveryTrigger::CustomResource(request.clone())),
        Incoming::Queue(records) => {
            let messages: Vec<RecheckMessage> = records
                .iter()
                .filter_map(|r| serde_json::from_str::<RecheckMessage>(&r.body).ok())
                .filter(|m| m.job == JOB && m.awaiting.iter().all(|(a, op)| is_account_id(a) && is_operation_id(op)))
                .collect();
            let attempt = messages.iter().map(|m| m.attempt).max().ok_or_else(|| {
                EventError::Unrecognized("queue records without an account-discovery re-check".into())
            })?;
            let awaiting = messages.into_iter().flat_map(|m| m.awaiting).collect();
            Ok(DiscoveryTrigger::Recheck { attempt, awaiting })
        }
        Incoming::Event(event) if event.source == "aws.account" && event.detail_type == REGION_OPT_IN_CHANGE => {
            Ok(DiscoveryTrigger::Organizations {
                event: classify_region(&event.detail),
                detail_type: event.detail_type.clone(),
                account: event.account.clone(),
            })
        }
        Incoming::Event(event) if event.source == "aws.organizations" || event.source == "aws.controltower" => {
            Ok(DiscoveryTrigger::Organizations {
                event: classify(&event.detail),
                detail_type: event.detail_type.clone(),
                account: event.account.clone(),
            })
        }
        _ => Err(refuse(&incoming)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reconcile_is_strict_and_other_requests_name_their_function() {
        assert_eq!(
            parse(&json!({"action":"reconcile","dryRun":true})).unwrap(),
            DiscoveryTrigger::Reconcile(ReconcileCommand { dry_run: true, leave_scope: false })
        );
        assert!(matches!(parse(&json!({"action":"reconcile","force":true})), Err(EventError::InvalidRequest(_))));
        let err = parse(&json!({"action":"scan"})).unwrap_err().to_string();
        assert!(err.contains("profile-scan"), "{err}");
    }
}
