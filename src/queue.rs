//! Work units through SQS: the messages a planner sends to a function's work queue, the records
//! Lambda's event source mapping hands back, and the answer that tells it which records failed.
//!
//! A broad run (the schedule, a scan of everything) lists its scope and sends one message per
//! (account, region) unit; the same function consumes its queue, each record one unit, and reports
//! only the failed records (`ReportBatchItemFailures`): SQS redelivers those and dead-letters a unit
//! that keeps failing. A unit that runs out of time sends a continuation of itself instead of
//! failing. Delivery is at least once: every unit is idempotent (it re-reads state and writes only
//! what is still missing), so a duplicated message causes no duplicate write.

use aws_config::{Region, SdkConfig};
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{EventError, Failure, quote};
use crate::validate::{is_account_id, is_instance_id, is_region};

/// `SendMessageBatch` takes at most this many entries ("You can send up to 10 messages").
pub(crate) const BATCH: usize = 10;
/// Continuations of one unit before it is given up as failing (its record then fails and is
/// dead-lettered after its redeliveries): with 15-minute invocations, a day of work on one unit.
pub(crate) const MAX_CONTINUATIONS: u32 = 100;
/// Delay of a continuation: long enough for the function to finish, short enough to keep going.
pub(crate) const CONTINUATION_DELAY_SECONDS: i32 = 10;

/// How many times a unit's instances are put back on the queue while EC2 does not see an
/// instance profile IAM just created; with [`PROPAGATION_RETRY_DELAY_SECONDS`] between attempts
/// (and the short wait inside each), about 10 minutes before they are reported failed.
pub(crate) const MAX_PROPAGATION_RETRIES: u32 = 6;
/// Delay before instances waiting for IAM propagation (or, for arc-provisioner, for their agent's
/// registration with Systems Manager) are tried again.
pub(crate) const PROPAGATION_RETRY_DELAY_SECONDS: i32 = 90;

/// One work unit as a queue message: `{"job":"profile-scan","accountId":...,"region":...}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UnitMessage {
    /// The function the unit belongs to.
    pub(crate) job: String,
    /// Account of the unit.
    pub(crate) account_id: String,
    /// Region of the unit.
    pub(crate) region: String,
    /// Only these instances (a hand-off of fixed instances); every instance when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) instance_ids: Option<Vec<String>>,
    /// Plan only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) dry_run: bool,
    /// How many times this unit was continued after running out of time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) continuation: u32,
    /// How many times these instances were put back waiting: for IAM propagation (profile-scan),
    /// or for their agent to register with Systems Manager (arc-provisioner).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) propagation_retries: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl UnitMessage {
    /// The message for one (account, region) unit of `job`, every instance.
    pub(crate) fn unit(job: &str, account_id: String, region: String) -> Self {
        UnitMessage { job: job.into(), account_id, region, ..UnitMessage::default() }
    }

    /// Parses and validates a record's body for `job`.
    pub(crate) fn parse(body: &str, job: &str) -> Result<Self, MalformedMessage> {
        let malformed = |text: String| Err(MalformedMessage(text));
        let message: UnitMessage = match serde_json::from_str(body) {
            Ok(message) => message,
            Err(e) => return malformed(format!("not a work unit message: {e}")),
        };
        if message.job != job {
            return malformed(format!("a work unit of {} on {job}'s queue", quote(&message.job)));
        }
        if !is_account_id(&message.account_id) || !is_region(&message.region) {
            return malformed(format!("malformed unit {} / {}", quote(&message.account_id), quote(&message.region)));
        }
        if let Some(bad) = message.instance_ids.iter().flatten().find(|id| !is_instance_id(id)) {
            return malformed(format!("malformed instance id {}", quote(bad)));
        }
        Ok(message)
    }

    /// True when both describe the same work (continuation counts aside).
    pub(crate) fn same_unit(&self, other: &UnitMessage) -> bool {
        (&self.job, &self.account_id, &self.region, &self.instance_ids, self.dry_run)
            == (&other.job, &other.account_id, &other.region, &other.instance_ids, other.dry_run)
    }

    /// The message body.
    pub(crate) fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a record's body is not a work unit of this function: its record fails (and is
/// dead-lettered after its redeliveries).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct MalformedMessage(String);

/// One SQS record handed over by the event source mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRecord {
    /// `messageId`: what `batchItemFailures` names.
    pub message_id: String,
    /// The message body.
    pub body: String,
}

/// The records of an SQS event (`{"Records":[{"eventSource":"aws:sqs",...}]}`, parsed as
/// `aws_lambda_events`' `SqsEvent`), or `None` when the payload is not one.
pub(crate) fn records(payload: &Value) -> Option<Result<Vec<QueueRecord>, EventError>> {
    let records = payload.get("Records")?.as_array()?;
    if !records.iter().all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs")) {
        return None;
    }
    let malformed = |e: String| EventError::Unrecognized(format!("malformed SQS event: {e}"));
    let event: SqsEvent = match serde_json::from_value(payload.clone()) {
        Ok(event) => event,
        Err(e) => return Some(Err(malformed(e.to_string()))),
    };
    let mut out = Vec::new();
    for record in event.records {
        let (Some(message_id), Some(body)) = (record.message_id, record.body) else {
            return Some(Err(EventError::Unrecognized("SQS record without messageId or body".into())));
        };
        out.push(QueueRecord { message_id, body });
    }
    Some(Ok(out))
}

/// A function's queue (its own work queue, or another function's for a hand-off).
#[derive(Clone, Debug)]
pub(crate) struct WorkQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl WorkQueue {
    /// The queue at `url`, called in the queue's own region (read from the URL).
    pub(crate) fn new(base: &SdkConfig, url: &str) -> Self {
        let mut builder = aws_sdk_sqs::config::Builder::from(base);
        if let Some(region) = region_of(url) {
            builder = builder.region(Region::new(region));
        }
        WorkQueue { client: aws_sdk_sqs::Client::from_conf(builder.build()), url: url.to_string() }
    }

    /// The queue's name, for the report.
    pub(crate) fn name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.url)
    }

    /// Sends the unit messages without delay; each comes back with its outcome, in order.
    pub(crate) async fn send_units(&self, messages: Vec<UnitMessage>) -> Vec<(UnitMessage, Result<(), Failure>)> {
        let bodies: Vec<String> = messages.iter().map(UnitMessage::body).collect();
        let sent = self.send(&bodies, 0).await;
        messages.into_iter().zip(sent).collect()
    }

    /// Sends the bodies, ten per `SendMessageBatch`, each delayed `delay_seconds`; returns one
    /// outcome per body, in order (a refused entry or call fails only its own bodies).
    pub(crate) async fn send(&self, bodies: &[String], delay_seconds: i32) -> Vec<Result<(), Failure>> {
        let mut out = Vec::with_capacity(bodies.len());
        for chunk in bodies.chunks(BATCH) {
            let entries: Result<Vec<SendMessageBatchRequestEntry>, Failure> = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .delay_seconds(delay_seconds)
                        .build()
                        .map_err(|e| Failure::Unexpected(format!("internal: {e}")))
                })
                .collect();
            let sent = match entries {
                Ok(entries) => self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| Failure::aws(format!("SendMessageBatch to {}", self.name()), &e)),
                Err(e) => Err(e),
            };
            match sent {
                Ok(answer) => {
                    for i in 0..chunk.len() {
                        let id = i.to_string();
                        match answer.failed().iter().find(|f| f.id() == id) {
                            Some(f) => out.push(Err(Failure::Unexpected(format!(
                                "{} refused the message: {}",
                                self.name(),
                                f.message().unwrap_or(f.code())
                            )))),
                            None => out.push(Ok(())),
                        }
                    }
                }
                Err(reason) => out.extend(chunk.iter().map(|_| Err(reason.clone()))),
            }
        }
        out
    }
}

/// `https://sqs.<region>.amazonaws.com/<account>/<name>` gives `<region>`.
fn region_of(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    (parts.next()? == "sqs").then_some(())?;
    parts.next().filter(|r| is_region(r)).map(String::from)
}

/// True for a queue URL: `http(s)://host/account/name`, printable, no spaces.
pub(crate) fn is_queue_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() <= 1024
        && s.split('/').count() >= 5
        && s.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_round_trip_and_are_validated() {
        let m = UnitMessage {
            job: "profile-scan".into(),
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            ..UnitMessage::default()
        };
        assert_eq!(m.body(), r#"{"job":"profile-scan","accountId":"111111111111","region":"eu-west-1"}"#);
        assert_eq!(UnitMessage::parse(&m.body(), "profile-scan").unwrap(), m);
        assert!(UnitMessage::parse(&m.body(), "arc-provisioner").unwrap_err().to_string().contains("queue"));
        let bad = r#"{"job":"profile-scan","accountId":"1; reboot","region":"eu-west-1"}"#;
        assert!(UnitMessage::parse(bad, "profile-scan").is_err());
        assert!(UnitMessage::parse("{}", "profile-scan").is_err());
    }

    #[test]
    fn sqs_events_are_recognised() {
        let event = json!({"Records": [{"messageId": "m1", "body": "{}", "eventSource": "aws:sqs"}]});
        let found = records(&event).expect("an SQS event").expect("records");
        assert_eq!(found[0].message_id, "m1");
        assert!(records(&json!({"Records": [{"eventSource": "aws:s3"}]})).is_none());
        assert!(records(&json!({"action": "scan"})).is_none());
    }

    #[test]
    fn queue_urls() {
        assert!(is_queue_url("https://sqs.eu-west-1.amazonaws.com/111111111111/mdc-connector-profile-scan-work"));
        assert!(is_queue_url("http://127.0.0.1:5000/123456789012/work"));
        assert!(!is_queue_url("work"));
        assert_eq!(region_of("https://sqs.eu-west-1.amazonaws.com/1/q").as_deref(), Some("eu-west-1"));
        assert_eq!(region_of("http://127.0.0.1:5000/1/q"), None);
    }
}
