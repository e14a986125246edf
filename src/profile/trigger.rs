//! What profile-scan accepts: its schedule, an instance's state change, and the manual `scan`.
//! Everything else is refused by `crate::event::refuse`, naming the function it belongs to.

use serde::Deserialize;
use serde_json::Value;

use crate::error::EventError;
use crate::event::{Incoming, InstanceEvent, check, detail_text, is_termination, manual, recognise, refuse};
use crate::preflight;
use crate::queue::QueueRecord;
use crate::validate::{is_account_id, is_region};

/// What a profile-scan invocation was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileTrigger {
    /// EventBridge `Scheduled Event`: the full scan.
    Scheduled,
    /// `EC2 Instance State-change Notification`: one instance.
    InstanceStateChange {
        /// Account of the instance (the event's `account`).
        account_id: String,
        /// Region of the instance.
        region: String,
        /// The instance.
        instance_id: String,
        /// New state (`running`, `stopped`, ...).
        state: String,
    },
    /// `{"action":"scan","accountIds":[...],"regions":[...],"dryRun":true}`.
    Scan(ScanCommand),
    /// Work units from the function's work queue (one (account, region) per record).
    Queue(Vec<QueueRecord>),
    /// `{"action":"preflight"}`: the job's prerequisites checked (`crate::preflight`).
    Preflight,
}

/// The manual `scan` request, camelCase, unknown fields rejected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanCommand {
    /// Limit the scan to these accounts (default: all in scope).
    #[serde(default)]
    pub account_ids: Option<Vec<String>>,
    /// Limit the scan to these regions (default: all configured).
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    /// Plan only.
    #[serde(default)]
    pub dry_run: bool,
    /// Instead of scanning: turn Default Host Management Configuration off where its role is the
    /// connector's (the connector's removal); run inline, never through the work queue.
    #[serde(default)]
    pub release_dhmc: bool,
}

/// Parses a profile-scan payload.
pub fn parse(payload: &Value) -> Result<ProfileTrigger, EventError> {
    let incoming = recognise(payload)?;
    match &incoming {
        Incoming::Manual { action, payload } if action == "scan" => {
            let command: ScanCommand = manual(payload)?;
            check(
                command.account_ids.as_deref().unwrap_or_default(),
                is_account_id,
                "accountIds",
                "a 12-digit account id",
            )?;
            check(command.regions.as_deref().unwrap_or_default(), is_region, "regions", "a region name")?;
            Ok(ProfileTrigger::Scan(command))
        }
        Incoming::Manual { action, payload } if action == preflight::ACTION => {
            preflight::parse(payload).map(|()| ProfileTrigger::Preflight)
        }
        _ if incoming.is_schedule() => Ok(ProfileTrigger::Scheduled),
        Incoming::Queue(records) => Ok(ProfileTrigger::Queue(records.clone())),
        Incoming::Event(event)
            if incoming.event_kind() == Some(("aws.ec2", "EC2 Instance State-change Notification"))
                && !is_termination(event) =>
        {
            let bad = |what: &str| EventError::Unrecognized(format!("EC2 Instance State-change Notification: {what}"));
            let InstanceEvent { account_id, region, instance_id } = InstanceEvent::read(event, &bad)?;
            let state = detail_text(event, "state").ok_or_else(|| bad("missing detail.state"))?;
            Ok(ProfileTrigger::InstanceStateChange { account_id, region, instance_id, state })
        }
        _ => Err(refuse(&incoming)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manual_scan_with_defaults_and_with_every_field() {
        assert_eq!(parse(&json!({"action":"scan"})).unwrap(), ProfileTrigger::Scan(ScanCommand::default()));
        let ProfileTrigger::Scan(full) =
            parse(&json!({"action":"scan","accountIds":["111111111111"],"regions":["eu-west-1"],"dryRun":true}))
                .unwrap()
        else {
            panic!("not a scan");
        };
        assert_eq!(full.account_ids, Some(vec!["111111111111".to_string()]));
        assert_eq!(full.regions, Some(vec!["eu-west-1".to_string()]));
        assert!(full.dry_run);
    }

    #[test]
    fn manual_scans_are_strict() {
        let cases = [
            (json!({"action":"scan","dryrun":true}), "unknown field"),
            (json!({"action":"scan","accountIds":["1234"]}), "\"1234\""),
            (json!({"action":"scan","regions":["eu-west-1","$(reboot)"]}), "$(reboot)"),
            (json!({"action":"scan","dryRun":"yes"}), "invalid type"),
            (json!({"action":"explode"}), "unknown action"),
        ];
        for (payload, needle) in cases {
            let err = parse(&payload).unwrap_err();
            assert!(matches!(err, EventError::InvalidRequest(_)), "{payload}: {err}");
            assert!(err.to_string().contains(needle), "{payload}: {err}");
        }
    }

    #[test]
    fn requests_for_other_functions_are_refused_naming_them() {
        let err = parse(&json!({"action":"reconcile"})).unwrap_err();
        assert!(matches!(err, EventError::NotHandled(_)));
        assert!(err.to_string().contains("account-discovery"), "{err}");
    }
}
