//! Organizations and Control Tower events delivered through CloudTrail: which account each is
//! about and whether it calls for onboarding. Parsed leniently (only the fields used are read;
//! CloudTrail's timestamps such as "Nov 28, 2026 9:00:00 AM" are never parsed).

use serde_json::Value;

use crate::validate::is_account_id;

/// What an Organizations event means for onboarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrgEvent {
    /// An account joined or was created: onboard it.
    Joined {
        /// The account.
        account_id: String,
        /// The event name, for the report.
        event: String,
    },
    /// An account moved between OUs: re-evaluate it.
    Moved {
        /// The account.
        account_id: String,
    },
    /// An account left or closed: apply the removal policy.
    Left {
        /// The account.
        account_id: String,
        /// The event name.
        event: String,
    },
    /// An account enabled an opt-in region (Account Management `Region Opt-In Status Change`,
    /// `ENABLED`): reconcile it, so the region is onboarded now.
    RegionEnabled {
        /// The account.
        account_id: String,
        /// The region it enabled.
        region: String,
    },
    /// Creation did not succeed, or the event needs nothing: report only.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// The `aws.organizations` event names [`classify`] acts on: the template's Organizations rule
/// matches exactly these (`tests/contracts.rs`, `tests/script/test_contracts.py`).
pub const ORGANIZATIONS_EVENTS: [&str; 7] = [
    "CreateAccountResult",
    "AcceptHandshake",
    "AccountJoinedOrganization",
    "AccountDepartedOrganization",
    "MoveAccount",
    "RemoveAccountFromOrganization",
    "CloseAccount",
];
/// The `aws.controltower` event names [`classify`] acts on (the Control Tower rule's).
pub const CONTROL_TOWER_EVENTS: [&str; 2] = ["CreateManagedAccount", "UpdateManagedAccount"];

/// `detail-type` of Account Management's region event ("AWS Account Management events",
/// EventBridge events reference; sent in the account whose region changed).
pub const REGION_OPT_IN_CHANGE: &str = "Region Opt-In Status Change";

/// Reads the `detail` of an `aws.account` `Region Opt-In Status Change` event: `accountId`,
/// `regionName`, `status` (`ENABLING`, `ENABLED`, `DISABLING`, `DISABLED`); only `ENABLED` needs
/// work (the rule matches only it).
pub fn classify_region(detail: &Value) -> OrgEvent {
    let text = |key: &str| detail.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let (account_id, region, status) = (text("accountId"), text("regionName"), text("status"));
    if !is_account_id(&account_id) || !crate::validate::is_region(&region) {
        return OrgEvent::Ignored {
            reason: format!("{REGION_OPT_IN_CHANGE} event without a valid accountId and regionName"),
        };
    }
    if status != "ENABLED" {
        return OrgEvent::Ignored { reason: format!("region {region} of {account_id} is {status}, not ENABLED") };
    }
    OrgEvent::RegionEnabled { account_id, region }
}

/// Reads the `detail` of an `aws.organizations` / `aws.controltower` CloudTrail event.
pub fn classify(detail: &Value) -> OrgEvent {
    let name = detail.get("eventName").and_then(Value::as_str).unwrap_or_default().to_string();
    let text = |path: &[&str]| {
        let mut v = detail;
        for p in path {
            v = v.get(p)?;
        }
        v.as_str().map(String::from)
    };
    let account = |found: Option<String>| found.filter(|a| is_account_id(a));
    let missing = |what: &str| OrgEvent::Ignored { reason: format!("{name} event without a valid {what}") };
    match name.as_str() {
        "CreateAccountResult" => {
            let state = text(&["serviceEventDetails", "createAccountStatus", "state"]).unwrap_or_default();
            match account(text(&["serviceEventDetails", "createAccountStatus", "accountId"])) {
                Some(account_id) if state == "SUCCEEDED" => OrgEvent::Joined { account_id, event: name },
                Some(account_id) => {
                    OrgEvent::Ignored { reason: format!("account {account_id} creation is {state}, not SUCCEEDED") }
                }
                None if state != "SUCCEEDED" => {
                    OrgEvent::Ignored { reason: format!("account creation is {state}, not SUCCEEDED") }
                }
                None => missing("createAccountStatus.accountId"),
            }
        }
        // Control Tower lifecycle events: each carries its own status object
        // (`createManagedAccountStatus`, `updateManagedAccountStatus`).
        "CreateManagedAccount" | "UpdateManagedAccount" => {
            let field = if name == "CreateManagedAccount" {
                "createManagedAccountStatus"
            } else {
                "updateManagedAccountStatus"
            };
            let state = text(&["serviceEventDetails", field, "state"]).unwrap_or_default();
            match account(text(&["serviceEventDetails", field, "account", "accountId"])) {
                Some(account_id) if state == "SUCCEEDED" => OrgEvent::Joined { account_id, event: name },
                _ if state != "SUCCEEDED" => {
                    OrgEvent::Ignored { reason: format!("Control Tower {name} is {state}, not SUCCEEDED") }
                }
                _ => missing(&format!("{field}.account.accountId")),
            }
        }
        // AcceptHandshake API reference: "When a handshake is accepted, Organizations logs
        // membership events in CloudTrail, available only in the management account's event
        // history. [...] an AccountJoinedOrganization event is logged with joinedMethod:INVITED
        // and joinedTime fields." The member's own AcceptHandshake never reaches the management
        // account's trail. The account is read leniently from `serviceEventDetails`.
        "AccountJoinedOrganization" => match account(service_account(detail)) {
            Some(account_id) => OrgEvent::Joined { account_id, event: name },
            None => missing("serviceEventDetails account id"),
        },
        "AccountDepartedOrganization" => match account(service_account(detail)) {
            Some(account_id) => OrgEvent::Left { account_id, event: name },
            None => missing("serviceEventDetails account id"),
        },
        "AcceptHandshake" => {
            let parties = detail.pointer("/responseElements/handshake/parties").and_then(Value::as_array);
            let from_parties = parties.and_then(|ps| {
                ps.iter()
                    .filter(|p| p.get("type").and_then(Value::as_str) == Some("ACCOUNT"))
                    .filter_map(|p| p.get("id").and_then(Value::as_str))
                    .find(|id| is_account_id(id))
                    .map(String::from)
            });
            match account(from_parties.or_else(|| text(&["userIdentity", "accountId"]))) {
                Some(account_id) => OrgEvent::Joined { account_id, event: name },
                None => missing("invited account"),
            }
        }
        "MoveAccount" => match account(text(&["requestParameters", "accountId"])) {
            Some(account_id) => OrgEvent::Moved { account_id },
            None => missing("requestParameters.accountId"),
        },
        "RemoveAccountFromOrganization" | "CloseAccount" => match account(text(&["requestParameters", "accountId"])) {
            Some(account_id) => OrgEvent::Left { account_id, event: name },
            None => missing("requestParameters.accountId"),
        },
        other => OrgEvent::Ignored { reason: format!("Organizations event {other:?} needs no onboarding") },
    }
}

/// The account a service event of Organizations is about: the first 12-digit `accountId` in
/// `serviceEventDetails` (at any depth), else the event's `recipientAccountId` is not used (that is
/// the management account).
fn service_account(detail: &Value) -> Option<String> {
    fn find(v: &Value) -> Option<String> {
        match v {
            Value::Object(map) => {
                if let Some(id) = map.get("accountId").and_then(Value::as_str).filter(|a| is_account_id(a)) {
                    return Some(id.to_string());
                }
                map.values().find_map(find)
            }
            Value::Array(items) => items.iter().find_map(find),
            _ => None,
        }
    }
    detail.get("serviceEventDetails").and_then(find)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_listed_event_names_are_acted_on() {
        let acted_on = |name: &str| {
            let detail = serde_json::json!({"eventName": name});
            !matches!(classify(&detail), OrgEvent::Ignored { reason } if reason.contains("needs no onboarding"))
        };
        for name in ORGANIZATIONS_EVENTS.iter().chain(&CONTROL_TOWER_EVENTS) {
            assert!(acted_on(name), "{name} is listed but not classified");
        }
        for name in ["InviteAccountToOrganization", "CreateOrganizationalUnit", "LeaveOrganization", ""] {
            assert!(!acted_on(name), "{name} is classified but not listed");
        }
    }
    use serde_json::json;

    #[test]
    fn create_account_result_onboards_only_when_succeeded() {
        let ok = json!({"eventName":"CreateAccountResult","serviceEventDetails":{"createAccountStatus":{"state":"SUCCEEDED","accountId":"210987654321","requestedTimestamp":"Nov 28, 2026 8:59:58 AM"}}});
        assert_eq!(
            classify(&ok),
            OrgEvent::Joined { account_id: "210987654321".into(), event: "CreateAccountResult".into() }
        );
        let failed = json!({"eventName":"CreateAccountResult","serviceEventDetails":{"createAccountStatus":{"state":"FAILED","failureReason":"EMAIL_ALREADY_EXISTS"}}});
        assert!(matches!(classify(&failed), OrgEvent::Ignored { reason } if reason.contains("FAILED")));
    }

    #[test]
    fn control_tower_handshake_move_remove_and_close() {
        let ct = json!({"eventName":"CreateManagedAccount","serviceEventDetails":{"createManagedAccountStatus":{"state":"SUCCEEDED","account":{"accountId":"210987654321"}}}});
        assert!(matches!(classify(&ct), OrgEvent::Joined { .. }));
        let hs = json!({"eventName":"AcceptHandshake","userIdentity":{"accountId":"210987654321"},"responseElements":{"handshake":{"parties":[{"type":"ORGANIZATION","id":"o-abc"},{"type":"ACCOUNT","id":"210987654321"}]}}});
        assert_eq!(
            classify(&hs),
            OrgEvent::Joined { account_id: "210987654321".into(), event: "AcceptHandshake".into() }
        );
        let mv = json!({"eventName":"MoveAccount","requestParameters":{"accountId":"210987654321","sourceParentId":"r-1","destinationParentId":"ou-1"}});
        assert_eq!(classify(&mv), OrgEvent::Moved { account_id: "210987654321".into() });
        for name in ["RemoveAccountFromOrganization", "CloseAccount"] {
            let e = json!({"eventName": name, "requestParameters":{"accountId":"210987654321"}});
            assert!(matches!(classify(&e), OrgEvent::Left { .. }), "{name}");
        }
        let update = json!({"eventName":"UpdateManagedAccount","serviceEventDetails":{"updateManagedAccountStatus":{"state":"SUCCEEDED","account":{"accountId":"210987654321"}}}});
        assert_eq!(
            classify(&update),
            OrgEvent::Joined { account_id: "210987654321".into(), event: "UpdateManagedAccount".into() }
        );
        let failed_update = json!({"eventName":"UpdateManagedAccount","serviceEventDetails":{"updateManagedAccountStatus":{"state":"FAILED","account":{"accountId":"210987654321"}}}});
        assert!(matches!(classify(&failed_update), OrgEvent::Ignored { reason } if reason.contains("FAILED")));
        let joined = json!({"eventName":"AccountJoinedOrganization","recipientAccountId":"123456789012","serviceEventDetails":{"accountId":"210987654321","joinedMethod":"INVITED"}});
        assert_eq!(
            classify(&joined),
            OrgEvent::Joined { account_id: "210987654321".into(), event: "AccountJoinedOrganization".into() }
        );
        let departed = json!({"eventName":"AccountDepartedOrganization","serviceEventDetails":{"accountDepartedOrganizationDetails":{"accountId":"210987654321","departureMethod":"LEFT"}}});
        assert!(matches!(classify(&departed), OrgEvent::Left { .. }));
        let bad = json!({"eventName":"MoveAccount","requestParameters":{"accountId":"$(id)"}});
        assert!(matches!(classify(&bad), OrgEvent::Ignored { .. }));
    }
}
