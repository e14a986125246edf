//! A work queue on the emulator and a poller that behaves like Lambda's SQS event source mapping:
//! it receives up to ten messages, hands them to the function as an SQS event, deletes the records
//! the answer does not name in `batchItemFailures`, and leaves those to come back after their
//! visibility timeout; the queue's redrive policy moves a record that keeps failing to the
//! dead-letter queue.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

/// A work queue with its dead-letter queue.
pub struct WorkQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
    pub dlq_url: String,
    pub arn: String,
    visibility: i32,
}

impl WorkQueue {
    /// Creates `name` and `name-dlq`: records received `max_receive` times move to the DLQ; a
    /// failed record is visible again after `visibility` seconds.
    pub async fn create(config: &SdkConfig, name: &str, max_receive: u32, visibility: i32) -> WorkQueue {
        let sqs = aws_sdk_sqs::Client::new(config);
        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .expect("dlq")
            .queue_url()
            .expect("url")
            .to_string();
        let dlq_arn = attribute(&sqs, &dlq_url, QueueAttributeName::QueueArn).await;
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}).to_string();
        let url = sqs
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .attributes(QueueAttributeName::VisibilityTimeout, visibility.to_string())
            .send()
            .await
            .expect("queue")
            .queue_url()
            .expect("url")
            .to_string();
        let arn = attribute(&sqs, &url, QueueAttributeName::QueueArn).await;
        WorkQueue { sqs, url, dlq_url, arn, visibility }
    }

    /// Sends one raw message body.
    pub async fn send(&self, body: &str) {
        self.sqs.send_message().queue_url(&self.url).message_body(body).send().await.expect("send");
    }

    /// Bodies waiting in the queue (received and put back at once).
    pub async fn peek(&self) -> Vec<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("peek");
        out.messages().iter().filter_map(|m| m.body().map(String::from)).collect()
    }

    /// Messages in the dead-letter queue.
    pub async fn dead_letters(&self) -> Vec<String> {
        let out =
            self.sqs.receive_message().queue_url(&self.dlq_url).max_number_of_messages(10).send().await.expect("dlq");
        out.messages().iter().filter_map(|m| m.body().map(String::from)).collect()
    }

    /// Messages sent with a delay that is not over yet (`ApproximateNumberOfMessagesDelayed`).
    pub async fn delayed(&self) -> usize {
        attribute(&self.sqs, &self.url, QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .await
            .parse()
            .unwrap_or(0)
    }

    /// Delivers batches to `invoke` until the queue stays empty for `quiet` (delayed and
    /// failed records come back within it) or `limit` passes; returns every answer.
    pub async fn drain<F, Fut>(&self, invoke: F, quiet: Duration, limit: Duration) -> Vec<Value>
    where
        F: FnMut(Value) -> Fut,
        Fut: Future<Output = Value>,
    {
        self.drain_waiting(invoke, quiet, limit, false).await
    }

    /// As [`WorkQueue::drain`]; with `delayed`, also while the queue holds messages whose delay is
    /// not over, however long (a retry a minute later): the drain ends when nothing is left to come.
    pub async fn drain_waiting<F, Fut>(
        &self,
        mut invoke: F,
        quiet: Duration,
        limit: Duration,
        delayed: bool,
    ) -> Vec<Value>
    where
        F: FnMut(Value) -> Fut,
        Fut: Future<Output = Value>,
    {
        let started = Instant::now();
        let mut last_work = Instant::now();
        let mut answers = Vec::new();
        while started.elapsed() < limit && (last_work.elapsed() < quiet || (delayed && self.delayed().await > 0)) {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .visibility_timeout(self.visibility)
                .send()
                .await
                .expect("receive");
            if out.messages().is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let records: Vec<Value> = out
                .messages()
                .iter()
                .map(|m| {
                    json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                           "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                           "eventSourceARN": self.arn, "awsRegion": "us-east-1"})
                })
                .collect();
            let answer = invoke(json!({ "Records": records })).await;
            last_work = Instant::now();
            let failed: Vec<String> = answer["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["itemIdentifier"].as_str().map(String::from))
                .collect();
            for m in out.messages() {
                if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                    let handle = m.receipt_handle().unwrap_or_default();
                    self.sqs.delete_message().queue_url(&self.url).receipt_handle(handle).send().await.expect("delete");
                }
            }
            answers.push(answer);
        }
        answers
    }
}

async fn attribute(sqs: &aws_sdk_sqs::Client, url: &str, name: QueueAttributeName) -> String {
    let out = sqs.get_queue_attributes().queue_url(url).attribute_names(name.clone()).send().await.expect("attributes");
    out.attributes().and_then(|a| a.get(&name)).cloned().unwrap_or_default()
}
