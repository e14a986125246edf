//! Invocation payloads recognised by shape, before a function interprets them.
//!
//! [`recognise`] sorts a payload into a manual request (`action`), an EventBridge event, a
//! Lambda destination record, work-queue records or a CloudFormation custom resource request. Each function then parses what it accepts into its own trigger
//! type (`profile::trigger`, `discovery::trigger`, `arc::trigger`) and hands everything else to
//! [`refuse`]: the one place that knows which function an event belongs to (by the binary names of
//! the contract, docs/events.md) and says so. Offending values are quoted at most
//! [`crate::error::QUOTE_LIMIT`] characters long.

use aws_lambda_events::cloudformation::CloudFormationCustomResourceRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{EventError, quote};
use crate::queue::{QueueRecord, records};
use crate::validate::{is_account_id, is_instance_id, is_region};

/// A payload sorted by shape.
#[derive(Clone, Debug)]
pub(crate) enum Incoming {
    /// A manual JSON request; `action` names it.
    Manual {
        /// The `action` field.
        action: String,
        /// The whole request.
        payload: Value,
    },
    /// An EventBridge event.
    Event(Box<EventBridgeEvent<Value>>),
    /// Records of the function's work queue (Lambda's SQS event source mapping).
    Queue(Vec<QueueRecord>),
    /// A Lambda destination record (`requestContext`, `responsePayload`).
    Destination {
        /// `requestContext.condition` (`Success`, `RetriesExhausted`, ...).
        condition: String,
        /// `responsePayload`: the source function's answer.
        response: Value,
    },
    /// A CloudFormation custom resource request (`RequestType`, `ResponseURL`).
    CustomResource(Box<CustomResourceRequest>),
}

/// What a CloudFormation custom resource request asks (its `RequestType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// The resource is created.
    Create,
    /// The resource is updated.
    Update,
    /// The resource is deleted.
    Delete,
}

impl RequestKind {
    /// The `RequestType` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Create => "Create",
            RequestKind::Update => "Update",
            RequestKind::Delete => "Delete",
        }
    }
}

/// A CloudFormation custom resource request (parsed as `aws_lambda_events`'
/// `CloudFormationCustomResourceRequest`), with the fields a response needs ("Custom resource
/// request objects": RequestType, ResponseURL, StackId, RequestId, LogicalResourceId,
/// PhysicalResourceId for Update and Delete, ResourceProperties).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomResourceRequest {
    /// `Create`, `Update` or `Delete`.
    pub kind: RequestKind,
    /// The pre-signed S3 URL the response is `PUT` to.
    pub response_url: String,
    /// The stack's id.
    pub stack_id: String,
    /// The request's id.
    pub request_id: String,
    /// The resource's logical id in the template.
    pub logical_resource_id: String,
    /// The resource's physical id (Update and Delete).
    pub physical_resource_id: Option<String>,
    /// The resource's properties (`ServiceToken` included).
    pub resource_properties: Value,
    /// The function CloudFormation invoked (the resource's `ServiceToken`).
    pub service_token: Option<String>,
}

impl TryFrom<CloudFormationCustomResourceRequest> for CustomResourceRequest {
    type Error = EventError;

    fn try_from(request: CloudFormationCustomResourceRequest) -> Result<Self, EventError> {
        let common = |kind, url, stack, id, logical, physical, properties, token| CustomResourceRequest {
            service_token: token,
            kind,
            response_url: url,
            stack_id: stack,
            request_id: id,
            logical_resource_id: logical,
            physical_resource_id: physical,
            resource_properties: properties,
        };
        Ok(match request {
            CloudFormationCustomResourceRequest::Create(r) => common(
                RequestKind::Create,
                r.response_url,
                r.stack_id,
                r.request_id,
                r.logical_resource_id,
                None,
                r.resource_properties,
                r.service_token,
            ),
            CloudFormationCustomResourceRequest::Update(r) => common(
                RequestKind::Update,
                r.response_url,
                r.stack_id,
                r.request_id,
                r.logical_resource_id,
                Some(r.physical_resource_id),
                r.resource_properties,
                r.service_token,
            ),
            CloudFormationCustomResourceRequest::Delete(r) => common(
                RequestKind::Delete,
                r.response_url,
                r.stack_id,
                r.request_id,
                r.logical_resource_id,
                Some(r.physical_resource_id),
                r.resource_properties,
                r.service_token,
            ),
            _ => {
                return Err(EventError::Unrecognized(
                    "a CloudFormation custom resource request of an unknown type".into(),
                ));
            }
        })
    }
}

impl Incoming {
    /// `(source, detail-type)` of an EventBridge event.
    pub(crate) fn event_kind(&self) -> Option<(&str, &str)> {
        match self {
            Incoming::Event(e) => Some((e.source.as_str(), e.detail_type.as_str())),
            _ => None,
        }
    }

    /// True for EventBridge's `Scheduled Event`: each function's own periodic job.
    pub(crate) fn is_schedule(&self) -> bool {
        self.event_kind() == Some(("aws.events", "Scheduled Event"))
    }
}

/// Sorts a payload by shape; anything else is [`EventError::Unrecognized`].
pub(crate) fn recognise(payload: &Value) -> Result<Incoming, EventError> {
    let Some(object) = payload.as_object() else {
        return Err(EventError::Unrecognized(format!("expected a JSON object, got {}", kind(payload))));
    };
    if let Some(records) = records(payload) {
        return Ok(Incoming::Queue(records?));
    }
    if let Some(action) = object.get("action") {
        let Some(action) = action.as_str() else {
            return Err(EventError::InvalidRequest("action: expected a string such as \"scan\"".into()));
        };
        return Ok(Incoming::Manual { action: action.to_string(), payload: payload.clone() });
    }
    if object.contains_key("RequestType") && object.contains_key("ResponseURL") {
        let request: CloudFormationCustomResourceRequest = serde_json::from_value(payload.clone())
            .map_err(|e| EventError::Unrecognized(format!("malformed CloudFormation custom resource request: {e}")))?;
        return Ok(Incoming::CustomResource(Box::new(request.try_into()?)));
    }
    if let (Some(context), Some(response)) = (object.get("requestContext"), object.get("responsePayload")) {
        let condition = context.get("condition").and_then(Value::as_str).unwrap_or_default().to_string();
        return Ok(Incoming::Destination { condition, response: response.clone() });
    }
    if !object.contains_key("detail-type") {
        return Err(EventError::Unrecognized(
            "expected an EventBridge event (with source and detail-type) or a manual request (with action)".into(),
        ));
    }
    let event: EventBridgeEvent<Value> = serde_json::from_value(payload.clone())
        .map_err(|e| EventError::Unrecognized(format!("malformed EventBridge event: {e}")))?;
    Ok(Incoming::Event(Box::new(event)))
}

/// The function a payload belongs to, by the contract's binary names; `None` when no function
/// handles it (or, for the schedule, every function does).
fn owner(incoming: &Incoming) -> Option<&'static str> {
    match incoming {
        Incoming::Manual { action, .. } => match action.as_str() {
            "scan" => Some("profile-scan"),
            "reconcile" => Some("account-discovery"),
            "reprovision" | "sweep" | "coverage" => Some("arc-provisioner"),
            _ => None,
        },
        Incoming::Destination { .. } => Some("arc-provisioner"),
        Incoming::CustomResource(_) => Some("account-discovery"),
        Incoming::Queue(_) => None,
        Incoming::Event(e) => match (e.source.as_str(), e.detail_type.as_str()) {
            // A terminated instance's Arc machine is arc-provisioner's; every other state (a
            // launch to remediate) is profile-scan's.
            ("aws.ec2", "EC2 Instance State-change Notification") if is_termination(e) => Some("arc-provisioner"),
            ("aws.ec2", "EC2 Instance State-change Notification") => Some("profile-scan"),
            ("aws.ssm", "EC2 Command Invocation Status-change Notification") => Some("arc-provisioner"),
            ("aws.organizations" | "aws.controltower", _) => Some("account-discovery"),
            ("aws.account", "Region Opt-In Status Change") => Some("account-discovery"),
            _ => None,
        },
    }
}

/// True for an `EC2 Instance State-change Notification` whose state is `terminated`.
pub(crate) fn is_termination(event: &EventBridgeEvent<Value>) -> bool {
    event.detail.get("state").and_then(Value::as_str) == Some("terminated")
}

/// The error for a payload the function does not accept: names the function it belongs to.
pub(crate) fn refuse(incoming: &Incoming) -> EventError {
    let what = match incoming {
        Incoming::Manual { action, .. } => format!("the manual action {}", quote(action)),
        Incoming::Destination { .. } => "Lambda destination records".to_string(),
        Incoming::CustomResource(r) => {
            format!("CloudFormation custom resource requests ({})", quote(&r.logical_resource_id))
        }
        Incoming::Queue(_) => "work-queue records".to_string(),
        Incoming::Event(e) => format!("{} events from {}", quote(&e.detail_type), quote(&e.source)),
    };
    match (incoming, owner(incoming)) {
        (_, Some(function)) => EventError::NotHandled(format!("{what} (send it to {function})")),
        (Incoming::Manual { .. }, None) => EventError::InvalidRequest(format!(
            "unknown action {what}; the actions are scan (profile-scan), reconcile (account-discovery), reprovision, sweep and coverage (arc-provisioner), and preflight (every function)"
        )),
        (_, None) => EventError::NotHandled(what),
    }
}

/// A manual request's fields other than `action`, parsed strictly into `T` (unknown fields are
/// errors).
pub(crate) fn manual<T: DeserializeOwned>(payload: &Value) -> Result<T, EventError> {
    let mut fields = payload.clone();
    if let Some(object) = fields.as_object_mut() {
        object.remove("action");
    }
    serde_json::from_value(fields).map_err(|e| EventError::InvalidRequest(e.to_string()))
}

/// Fails naming `field` and the offending values (each quoted, cut) unless every value passes `ok`.
pub(crate) fn check(values: &[String], ok: fn(&str) -> bool, field: &str, expected: &str) -> Result<(), EventError> {
    let bad: Vec<String> = values.iter().filter(|v| !ok(v)).take(5).map(|v| quote(v)).collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(EventError::InvalidRequest(format!("{field}: {} not {expected}", bad.join(", "))))
    }
}

/// An EventBridge event about one instance: its account, region and `detail.instance-id`,
/// validated; `bad` words the error.
pub(crate) struct InstanceEvent {
    /// The event's `account`.
    pub(crate) account_id: String,
    /// The event's `region`.
    pub(crate) region: String,
    /// `detail.instance-id`.
    pub(crate) instance_id: String,
}

impl InstanceEvent {
    /// Reads and validates the envelope of an event about one instance.
    pub(crate) fn read(event: &EventBridgeEvent<Value>, bad: &dyn Fn(&str) -> EventError) -> Result<Self, EventError> {
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
        Ok(InstanceEvent { account_id, region, instance_id })
    }
}

/// A string field of an event's `detail`.
pub(crate) fn detail_text(event: &EventBridgeEvent<Value>, name: &str) -> Option<String> {
    event.detail.get(name).and_then(Value::as_str).map(str::to_string)
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

    fn event(source: &str, detail_type: &str) -> Value {
        json!({"version":"0","id":"1","detail-type":detail_type,"source":source,"account":"111111111111",
               "time":"2026-01-01T00:00:00Z","region":"eu-west-1","resources":[],"detail":{}})
    }

    #[test]
    fn other_shapes_are_unrecognized() {
        for payload in [json!([]), json!("scan"), json!({"hello":"world"}), json!({"detail-type":"x"})] {
            assert!(matches!(recognise(&payload), Err(EventError::Unrecognized(_))), "{payload}");
        }
    }

    #[test]
    fn refusals_name_the_function_an_event_belongs_to() {
        let cases = [
            (json!({"action":"scan"}), "profile-scan"),
            (json!({"action":"reconcile"}), "account-discovery"),
            (json!({"action":"reprovision"}), "arc-provisioner"),
            (event("aws.ec2", "EC2 Instance State-change Notification"), "profile-scan"),
            (event("aws.ssm", "EC2 Command Invocation Status-change Notification"), "arc-provisioner"),
            (event("aws.organizations", "AWS Service Event via CloudTrail"), "account-discovery"),
            (event("aws.controltower", "AWS Service Event via CloudTrail"), "account-discovery"),
            (json!({"requestContext":{"condition":"Success"},"responsePayload":{}}), "arc-provisioner"),
        ];
        for (payload, function) in cases {
            let err = refuse(&recognise(&payload).unwrap());
            assert!(matches!(err, EventError::NotHandled(_)), "{payload}: {err}");
            assert!(err.to_string().contains(&format!("send it to {function}")), "{payload}: {err}");
        }
        let unknown = refuse(&recognise(&json!({"action":"explode"})).unwrap());
        assert!(matches!(unknown, EventError::InvalidRequest(_)), "{unknown}");
        let other = refuse(&recognise(&event("aws.s3", "Object Created")).unwrap());
        assert!(matches!(other, EventError::NotHandled(_)), "{other}");
    }

    #[test]
    fn offending_values_are_quoted_short() {
        let long = format!("i-{}", "0".repeat(5000));
        let err = check(&[long], is_instance_id, "instanceIds", "an instance id").unwrap_err().to_string();
        assert!(err.len() < 250, "{err}");
        let action = refuse(&recognise(&json!({"action": "x".repeat(5000)})).unwrap()).to_string();
        assert!(action.len() < 400, "{action}");
    }
}
