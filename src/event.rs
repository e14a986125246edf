//! Events accepted by the functions (DESIGN.md §2), parsed into one [`Trigger`].
//!
//! EventBridge events are recognised by `source` and `detail-type`; manual requests by `action`,
//! validated strictly (unknown fields and malformed identifiers are errors naming the value).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::error::EventError;
use crate::validate::{is_account_id, is_instance_id, is_region, is_tag_key};

/// What an invocation was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// EventBridge `Scheduled Event`: the function's periodic job.
    Scheduled,
    /// `EC2 Instance State-change Notification`.
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
    /// Manual request.
    Manual(ManualRequest),
    /// `EC2 Command Invocation Status-change Notification` (source `aws.ssm`): one instance's part
    /// of a Run Command reached a new status.
    CommandStatusChange {
        /// Account of the instance (the event's `account`).
        account_id: String,
        /// Region of the instance.
        region: String,
        /// The command.
        command_id: String,
        /// The instance.
        instance_id: String,
        /// Document the command ran.
        document_name: String,
        /// New invocation status (`Success`, `Failed`, `TimedOut`, ...).
        status: String,
    },
    /// A profile-scan run's report delivered by its Lambda on-success destination: the
    /// (account, region, instance) triples it gave a profile or fixed the role of.
    ProfileScanCompleted {
        /// Instances whose profile or role changed, as (account, region, instance id).
        instances: Vec<(String, String, String)>,
    },
    /// Any other EventBridge event (Organizations, SSM); handled by the function it is meant for.
    Other {
        /// `source` of the event.
        source: String,
        /// `detail-type` of the event.
        detail_type: String,
    },
}

/// Manual JSON request, camelCase, unknown fields rejected.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum ManualRequest {
    /// `{"action":"scan","accountIds":[...],"regions":[...],"dryRun":true}`
    Scan {
        /// Limit the scan to these accounts (default: all in scope).
        #[serde(default)]
        account_ids: Option<Vec<String>>,
        /// Limit the scan to these regions (default: all configured).
        #[serde(default)]
        regions: Option<Vec<String>>,
        /// Plan only.
        #[serde(default)]
        dry_run: bool,
    },
    /// `{"action":"reconcile","dryRun":false}`
    Reconcile {
        /// Plan only.
        #[serde(default)]
        dry_run: bool,
    },
    /// `{"action":"reprovision","accountId":"...","region":"...","instanceIds":["i-..."],"force":true}`
    Reprovision {
        /// Account of the instances.
        account_id: String,
        /// Region of the instances.
        region: String,
        /// Instances to re-provision (default: every candidate).
        #[serde(default)]
        instance_ids: Option<Vec<String>>,
        /// Instead of ids: every instance carrying this tag (and value, when given).
        #[serde(default)]
        tag: Option<TagSelector>,
        /// Send even where the current document version already succeeded, and re-connect agents
        /// connected elsewhere.
        #[serde(default)]
        force: bool,
        /// Plan only.
        #[serde(default)]
        dry_run: bool,
    },
}

/// `{"key": "...", "value": "..."}`: instances carrying the tag key (with that value, when given).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSelector {
    /// Tag key.
    pub key: String,
    /// Tag value; any value when absent.
    #[serde(default)]
    pub value: Option<String>,
}

/// Parses an invocation payload.
pub fn parse(payload: &Value) -> Result<Trigger, EventError> {
    let Some(object) = payload.as_object() else {
        return Err(EventError::Unrecognized(format!("expected a JSON object, got {}", kind(payload))));
    };
    if object.contains_key("action") {
        let request: ManualRequest =
            serde_json::from_value(payload.clone()).map_err(|e| EventError::InvalidRequest(e.to_string()))?;
        validate(&request)?;
        return Ok(Trigger::Manual(request));
    }
    if let (Some(context), Some(response)) = (object.get("requestContext"), object.get("responsePayload")) {
        return destination(context, response);
    }
    if !object.contains_key("detail-type") {
        return Err(EventError::Unrecognized(
            "expected an EventBridge event (with source and detail-type) or a manual request (with action)".into(),
        ));
    }
    let event: EventBridgeEvent<Value> = serde_json::from_value(payload.clone())
        .map_err(|e| EventError::Unrecognized(format!("malformed EventBridge event: {e}")))?;
    match (event.source.as_str(), event.detail_type.as_str()) {
        ("aws.events", "Scheduled Event") => Ok(Trigger::Scheduled),
        ("aws.ec2", "EC2 Instance State-change Notification") => instance_state_change(&event),
        ("aws.ssm", "EC2 Command Invocation Status-change Notification") => command_status_change(&event),
        (source, detail_type) => Ok(Trigger::Other { source: source.into(), detail_type: detail_type.into() }),
    }
}

fn instance_state_change(event: &EventBridgeEvent<Value>) -> Result<Trigger, EventError> {
    let field = |name: &str| event.detail.get(name).and_then(Value::as_str).map(str::to_string);
    let bad = |what: &str| EventError::Unrecognized(format!("EC2 Instance State-change Notification: {what}"));
    let (account_id, region, instance_id) = envelope(event, &bad)?;
    let state = field("state").ok_or_else(|| bad("missing detail.state"))?;
    Ok(Trigger::InstanceStateChange { account_id, region, instance_id, state })
}

/// Account, region and `detail.instance-id` of an event about one instance, validated.
fn envelope(
    event: &EventBridgeEvent<Value>,
    bad: &dyn Fn(&str) -> EventError,
) -> Result<(String, String, String), EventError> {
    let account_id =
        event.account.clone().filter(|a| is_account_id(a)).ok_or_else(|| bad("missing or malformed account"))?;
    let region = event.region.clone().filter(|r| is_region(r)).ok_or_else(|| bad("missing or malformed region"))?;
    let instance_id = event
        .detail
        .get("instance-id")
        .and_then(Value::as_str)
        .filter(|i| is_instance_id(i))
        .ok_or_else(|| bad("missing or malformed detail.instance-id"))?
        .to_string();
    Ok((account_id, region, instance_id))
}

fn command_status_change(event: &EventBridgeEvent<Value>) -> Result<Trigger, EventError> {
    let field = |name: &str| event.detail.get(name).and_then(Value::as_str).map(str::to_string);
    let bad =
        |what: &str| EventError::Unrecognized(format!("EC2 Command Invocation Status-change Notification: {what}"));
    let (account_id, region, instance_id) = envelope(event, &bad)?;
    let command_id = field("command-id")
        .filter(|c| is_command_id(c))
        .ok_or_else(|| bad("missing or malformed detail.command-id"))?;
    let document_name = field("document-name").ok_or_else(|| bad("missing detail.document-name"))?;
    let status = field("status").ok_or_else(|| bad("missing detail.status"))?;
    Ok(Trigger::CommandStatusChange { account_id, region, command_id, instance_id, document_name, status })
}

/// A Lambda destination record (`requestContext`, `responsePayload`): only profile-scan's reports
/// are understood; their `done` instance items name the instances to provision next.
fn destination(context: &Value, response: &Value) -> Result<Trigger, EventError> {
    let bad = |what: &str| EventError::Unrecognized(format!("Lambda destination record: {what}"));
    if context.get("condition").and_then(Value::as_str) != Some("Success") {
        return Err(bad("only on-success records are handled"));
    }
    if response.get("job").and_then(Value::as_str) != Some("profile-scan") {
        return Err(bad("responsePayload is not a profile-scan report"));
    }
    let items = response.get("items").and_then(Value::as_array).ok_or_else(|| bad("responsePayload.items missing"))?;
    let mut instances = Vec::new();
    for item in items {
        let text = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default();
        let (account, region, resource) = (text("accountId"), text("region"), text("resourceId"));
        if text("status") == "done" && is_account_id(account) && is_region(region) && is_instance_id(resource) {
            instances.push((account.to_string(), region.to_string(), resource.to_string()));
        }
    }
    Ok(Trigger::ProfileScanCompleted { instances })
}

/// True for a Run Command id (a UUID).
pub fn is_command_id(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() })
}

fn validate(request: &ManualRequest) -> Result<(), EventError> {
    let check = |values: &[String], ok: fn(&str) -> bool, field: &str, expected: &str| -> Result<(), EventError> {
        let bad: Vec<String> = values.iter().filter(|v| !ok(v)).map(|v| format!("{v:?}")).collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(EventError::InvalidRequest(format!("{field}: {} not {expected}", bad.join(", "))))
        }
    };
    match request {
        ManualRequest::Scan { account_ids, regions, .. } => {
            check(account_ids.as_deref().unwrap_or_default(), is_account_id, "accountIds", "a 12-digit account id")?;
            check(regions.as_deref().unwrap_or_default(), is_region, "regions", "a region name")
        }
        ManualRequest::Reconcile { .. } => Ok(()),
        ManualRequest::Reprovision { account_id, region, instance_ids, tag, .. } => {
            check(std::slice::from_ref(account_id), is_account_id, "accountId", "a 12-digit account id")?;
            check(std::slice::from_ref(region), is_region, "region", "a region name")?;
            check(instance_ids.as_deref().unwrap_or_default(), is_instance_id, "instanceIds", "an instance id")?;
            if instance_ids.as_ref().is_some_and(Vec::is_empty) {
                return Err(EventError::InvalidRequest("instanceIds: empty; omit it to cover every instance".into()));
            }
            if let Some(tag) = tag {
                if instance_ids.is_some() {
                    return Err(EventError::InvalidRequest("give instanceIds or tag, not both".into()));
                }
                check(std::slice::from_ref(&tag.key), is_tag_key, "tag.key", "a tag key (1-128 characters, not aws:)")?;
                let value_ok = |v: &str| v.chars().count() <= 256 && !v.chars().any(char::is_control);
                check(tag.value.as_slice(), value_ok, "tag.value", "a tag value (at most 256 characters)")?;
            }
            Ok(())
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manual_scan_with_defaults_and_with_every_field() {
        assert_eq!(
            parse(&json!({"action":"scan"})).unwrap(),
            Trigger::Manual(ManualRequest::Scan { account_ids: None, regions: None, dry_run: false })
        );
        assert_eq!(
            parse(&json!({"action":"scan","accountIds":["111111111111"],"regions":["eu-west-1"],"dryRun":true}))
                .unwrap(),
            Trigger::Manual(ManualRequest::Scan {
                account_ids: Some(vec!["111111111111".into()]),
                regions: Some(vec!["eu-west-1".into()]),
                dry_run: true
            })
        );
    }

    #[test]
    fn manual_requests_are_strict() {
        let cases = [
            (json!({"action":"scan","dryrun":true}), "unknown field"),
            (json!({"action":"scan","accountIds":["1234"]}), "\"1234\""),
            (json!({"action":"scan","regions":["eu-west-1","$(reboot)"]}), "$(reboot)"),
            (json!({"action":"scan","dryRun":"yes"}), "invalid type"),
            (json!({"action":"explode"}), "unknown variant"),
            (
                json!({"action":"reprovision","accountId":"111111111111","region":"eu-west-1","instanceIds":["i-1;id"]}),
                "i-1;id",
            ),
            (json!({"action":"reprovision","region":"eu-west-1"}), "accountId"),
            (json!({"action":"reprovision","accountId":"111111111111","region":"eu-west-1","instanceIds":[]}), "empty"),
            (
                json!({"action":"reprovision","accountId":"111111111111","region":"eu-west-1",
                       "instanceIds":["i-01234567"],"tag":{"key":"a"}}),
                "not both",
            ),
            (
                json!({"action":"reprovision","accountId":"111111111111","region":"eu-west-1",
                       "tag":{"key":"aws:x"}}),
                "tag.key",
            ),
            (
                json!({"action":"reprovision","accountId":"111111111111","region":"eu-west-1",
                       "tag":{"key":"team","value":"a\nb"}}),
                "tag.value",
            ),
        ];
        for (payload, needle) in cases {
            let err = parse(&payload).unwrap_err();
            assert!(matches!(err, EventError::InvalidRequest(_)), "{payload}: {err}");
            assert!(err.to_string().contains(needle), "{payload}: {err}");
        }
    }

    #[test]
    fn profile_scan_destination_records_name_the_fixed_instances() {
        let record = json!({
            "version": "1.0",
            "requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:eu-west-1:1:function:x",
                               "condition": "Success", "approximateInvokeCount": 1},
            "requestPayload": {},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "responsePayload": {"job": "profile-scan", "dryRun": false, "summary": {}, "items": [
                {"accountId": "111111111111", "region": "eu-west-1", "resourceId": "i-01234567",
                 "action": "associate-profile", "status": "done", "reason": ""},
                {"accountId": "111111111111", "region": "eu-west-1", "resourceId": "i-89abcdef",
                 "action": "associate-profile", "status": "failed", "reason": ""},
                {"accountId": "111111111111", "region": "global", "resourceId": "arn:aws:iam::1:role/r",
                 "action": "attach-policy", "status": "done", "reason": ""}
            ]}
        });
        assert_eq!(
            parse(&record).unwrap(),
            Trigger::ProfileScanCompleted {
                instances: vec![("111111111111".into(), "eu-west-1".into(), "i-01234567".into())]
            }
        );
        let mut other = record.clone();
        other["responsePayload"]["job"] = json!("account-discovery");
        assert!(matches!(parse(&other), Err(EventError::Unrecognized(_))));
    }

    #[test]
    fn other_shapes_are_unrecognized() {
        for payload in [json!([]), json!("scan"), json!({"hello":"world"}), json!({"detail-type":"x"})] {
            assert!(matches!(parse(&payload), Err(EventError::Unrecognized(_))), "{payload}");
        }
    }
}
