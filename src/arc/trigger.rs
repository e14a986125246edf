//! What arc-provisioner accepts: its schedule, the manual `reprovision`, `sweep` and `coverage`, SSM command status
//! events and profile-scan's reports (its Lambda on-success destination). Everything else is
//! refused by `crate::event::refuse`, naming the function it belongs to.

use serde::Deserialize;
use serde_json::Value;

use crate::error::EventError;
use crate::event::{Incoming, InstanceEvent, check, detail_text, is_termination, manual, recognise, refuse};
use crate::preflight;
use crate::queue::QueueRecord;
use crate::validate::{is_account_id, is_instance_id, is_region, is_tag_key};

/// The job whose reports name instances to provision next.
const PROFILE_SCAN: &str = "profile-scan";

/// What an arc-provisioner invocation was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArcTrigger {
    /// EventBridge `Scheduled Event`: provision everything in scope.
    Scheduled,
    /// `{"action":"reprovision",...}`.
    Reprovision(ReprovisionCommand),
    /// `{"action":"sweep","dryRun":true}`: the Azure side reconciled with the estate (daily
    /// schedule, or by hand).
    Sweep(SweepCommand),
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
    /// `EC2 Instance State-change Notification` with state `terminated`: the instance's Arc
    /// machine is deleted at once when the grace period is 0, else left to the sweep.
    InstanceTerminated {
        /// Account of the instance (the event's `account`).
        account_id: String,
        /// Region of the instance.
        region: String,
        /// The instance.
        instance_id: String,
    },
    /// `{"action":"coverage"}`: the estate's coverage table, one item per (account, region), and
    /// its uncovered instances by cause.
    Coverage(CoverageCommand),
    /// `{"action":"preflight"}`: the job's prerequisites checked (`crate::preflight`).
    Preflight,
    /// Work units from the function's work queue (scheduled units and profile-scan's hand-offs).
    Queue(Vec<QueueRecord>),
    /// A sweep continuation delivered in the same batch as work units: both run.
    SweepAndQueue(SweepCommand, Vec<QueueRecord>),
    /// A profile-scan run's report delivered by its Lambda on-success destination: the
    /// (account, region, instance) triples it gave a profile or fixed the role of.
    ProfileScanCompleted {
        /// Instances whose profile or role changed, as (account, region, instance id).
        instances: Vec<(String, String, String)>,
    },
}

/// `{"action":"reprovision","accountId":"...","region":"...","instanceIds":["i-..."],"force":true}`,
/// camelCase, unknown fields rejected.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReprovisionCommand {
    /// Account of the instances.
    pub account_id: String,
    /// Region of the instances.
    pub region: String,
    /// Instances to re-provision (default: every candidate).
    #[serde(default)]
    pub instance_ids: Option<Vec<String>>,
    /// Instead of ids: every instance carrying this tag (and value, when given).
    #[serde(default)]
    pub tag: Option<TagSelector>,
    /// Send even where the current document version already succeeded, and re-connect agents
    /// connected elsewhere.
    #[serde(default)]
    pub force: bool,
    /// Plan only.
    #[serde(default)]
    pub dry_run: bool,
}

/// `{"action":"sweep","dryRun":false,"leaveScope":false}`, camelCase, unknown fields rejected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SweepCommand {
    /// Judge and report only: nothing deleted, nothing sent.
    #[serde(default)]
    pub dry_run: bool,
    /// Also delete the Arc machines the inventory records for ACTIVE accounts out of scope (run
    /// it with `dryRun` first: the report lists each machine that would go).
    #[serde(default)]
    pub leave_scope: bool,
    /// Continuations through the work queue before this one (never from a request).
    #[serde(skip)]
    pub continuation: u32,
}

/// `{"action":"coverage"}`: no other field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageCommand {}

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

/// Parses an arc-provisioner payload.
pub fn parse(payload: &Value) -> Result<ArcTrigger, EventError> {
    let incoming = recognise(payload)?;
    match &incoming {
        Incoming::Manual { action, payload } if action == "reprovision" => {
            let command: ReprovisionCommand = manual(payload)?;
            validate(&command)?;
            Ok(ArcTrigger::Reprovision(command))
        }
        Incoming::Manual { action, payload } if action == "sweep" => Ok(ArcTrigger::Sweep(manual(payload)?)),
        Incoming::Manual { action, payload } if action == "coverage" => Ok(ArcTrigger::Coverage(manual(payload)?)),
        Incoming::Manual { action, payload } if action == preflight::ACTION => {
            preflight::parse(payload).map(|()| ArcTrigger::Preflight)
        }
        _ if incoming.is_schedule() => Ok(ArcTrigger::Scheduled),
        Incoming::Queue(records) => Ok(queued(records)),
        Incoming::Event(event)
            if incoming.event_kind() == Some(("aws.ssm", "EC2 Command Invocation Status-change Notification")) =>
        {
            let bad = |what: &str| {
                EventError::Unrecognized(format!("EC2 Command Invocation Status-change Notification: {what}"))
            };
            let InstanceEvent { account_id, region, instance_id } = InstanceEvent::read(event, &bad)?;
            let command_id = detail_text(event, "command-id")
                .filter(|c| is_command_id(c))
                .ok_or_else(|| bad("missing or malformed detail.command-id"))?;
            let document_name =
                detail_text(event, "document-name").ok_or_else(|| bad("missing detail.document-name"))?;
            let status = detail_text(event, "status").ok_or_else(|| bad("missing detail.status"))?;
            Ok(ArcTrigger::CommandStatusChange { account_id, region, command_id, instance_id, document_name, status })
        }
        Incoming::Event(event)
            if incoming.event_kind() == Some(("aws.ec2", "EC2 Instance State-change Notification"))
                && is_termination(event) =>
        {
            let bad = |what: &str| EventError::Unrecognized(format!("EC2 Instance State-change Notification: {what}"));
            let InstanceEvent { account_id, region, instance_id } = InstanceEvent::read(event, &bad)?;
            Ok(ArcTrigger::InstanceTerminated { account_id, region, instance_id })
        }
        Incoming::Destination { condition, response } => destination(condition, response),
        _ => Err(refuse(&incoming)),
    }
}

/// Sweeps continued through the work queue in a row at most.
pub(crate) const MAX_SWEEP_CONTINUATIONS: u32 = 10;

/// The body of the `n`th continuation of a sweep that ran out of time.
pub(crate) fn sweep_continuation(n: u32) -> String {
    serde_json::json!({"job": "arc-provisioner", "action": "sweep", "continuation": n}).to_string()
}

/// Work-queue records: a sweep continuation (alone in its batch or not) is the sweep; the rest
/// are work units.
fn queued(records: &[QueueRecord]) -> ArcTrigger {
    let sweep_of = |r: &QueueRecord| {
        let body = serde_json::from_str::<Value>(&r.body).ok()?;
        (body.get("action").and_then(Value::as_str) == Some("sweep"))
            .then(|| body.get("continuation").and_then(Value::as_u64).unwrap_or(0))
    };
    let continuation = records.iter().filter_map(sweep_of).max();
    let units: Vec<QueueRecord> = records.iter().filter(|r| sweep_of(r).is_none()).cloned().collect();
    let Some(continuation) = continuation else { return ArcTrigger::Queue(units) };
    let continuation = u32::try_from(continuation).unwrap_or(u32::MAX);
    let command = SweepCommand { continuation, ..SweepCommand::default() };
    if units.is_empty() { ArcTrigger::Sweep(command) } else { ArcTrigger::SweepAndQueue(command, units) }
}

/// A Lambda destination record: only profile-scan's on-success reports are understood; their
/// `done` instance items name the instances to provision next.
fn destination(condition: &str, response: &Value) -> Result<ArcTrigger, EventError> {
    let bad = |what: &str| EventError::Unrecognized(format!("Lambda destination record: {what}"));
    if condition != "Success" {
        return Err(bad("only on-success records are handled"));
    }
    if response.get("job").and_then(Value::as_str) != Some(PROFILE_SCAN) {
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
    Ok(ArcTrigger::ProfileScanCompleted { instances })
}

/// True for a Run Command id (a UUID).
fn is_command_id(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() })
}

fn validate(command: &ReprovisionCommand) -> Result<(), EventError> {
    let ReprovisionCommand { account_id, region, instance_ids, tag, .. } = command;
    check(std::slice::from_ref(account_id), is_account_id, "accountId", "a 12-digit account id")?;
    check(std::slice::from_ref(region), is_region, "region", "a region name")?;
    check(instance_ids.as_deref().unwrap_or_default(), is_instance_id, "instanceIds", "an instance id")?;
    let narrowed = instance_ids.is_some() || tag.as_ref().is_some_and(|t| t.value.is_some());
    if command.force && !narrowed {
        // force re-connects agents connected elsewhere (possibly onboarded by the customer): never
        // for a whole region at once, and a tag key alone (any value) can cover one.
        return Err(EventError::InvalidRequest(
            "force needs instanceIds or a tag key and value: it re-connects agents connected elsewhere, never a whole region at once"
                .into(),
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reprovision_requests_are_strict() {
        let cases = [
            (
                json!({"action":"reprovision","accountId":"111111111111","region":"eu-west-1","instanceIds":["i-1;id"]}),
                "i-1;id",
            ),
            (json!({"action":"reprovision","region":"eu-west-1"}), "accountId"),
            (
                json!({"action":"reprovision","accountId":"111111111111","region":"eu-west-1","force":true}),
                "force needs",
            ),
            (
                json!({"action":"reprovision","accountId":"111111111111","region":"eu-west-1","force":true,
                       "tag":{"key":"team"}}),
                "force needs",
            ),
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
            ArcTrigger::ProfileScanCompleted {
                instances: vec![("111111111111".into(), "eu-west-1".into(), "i-01234567".into())]
            }
        );
        let mut other = record.clone();
        other["responsePayload"]["job"] = json!("account-discovery");
        assert!(matches!(parse(&other), Err(EventError::Unrecognized(_))));
    }

    #[test]
    fn sweep_continuations_come_only_from_the_queue_and_count() {
        let record = |id: &str, body: String| json!({"messageId": id, "eventSource": "aws:sqs", "body": body});
        let unit = json!({"job": "arc-provisioner", "accountId": "111111111111", "region": "eu-west-1"}).to_string();
        let batch = json!({"Records": [record("a", sweep_continuation(3)), record("b", unit)]});
        match parse(&batch).unwrap() {
            ArcTrigger::SweepAndQueue(command, units) => {
                assert_eq!((command.continuation, units.len(), units[0].message_id.as_str()), (3, 1, "b"));
            }
            other => panic!("{other:?}"),
        }
        let alone = json!({"Records": [record("a", sweep_continuation(1))]});
        assert_eq!(
            parse(&alone).unwrap(),
            ArcTrigger::Sweep(SweepCommand { continuation: 1, ..SweepCommand::default() })
        );
        let forged = json!({"action": "sweep", "continuation": 9});
        assert!(matches!(parse(&forged), Err(EventError::InvalidRequest(_))), "a request cannot set it");
    }

    #[test]
    fn command_ids_are_uuids() {
        assert!(is_command_id("e8d3c0e4-71f7-4491-898f-c9b35bee5f3b"));
        assert!(!is_command_id("x; reboot"));
    }
}
