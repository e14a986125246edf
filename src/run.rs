//! The run skeleton every job shares: work units executed with bounded concurrency, each failing
//! on its own, collected into the report's items.

use std::future::Future;
use std::time::Instant;

use futures::StreamExt;

use crate::queue::{MAX_CONTINUATIONS, QueueRecord, UnitMessage, WorkQueue};
use crate::report::{Item, Status, collect_units};
use crate::scope::{ScopeRules, UnitAction};

/// Reason of a unit that was not started because the invocation's time budget was spent.
pub(crate) const UNIT_DEFERRED: &str =
    "deferred: the invocation's time budget was spent before this unit started; the next run takes it";

/// True once `deadline` has passed: no read, write or sleep may start then.
pub(crate) fn spent(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// What a work unit yields: its items, or the one item saying why the whole unit failed.
pub(crate) type UnitResult = Result<Vec<Item>, Item>;

/// Runs `work` on every unit, at most `concurrency` at once; returns the items of all units (a
/// failed unit is one item) and how many units failed.
pub(crate) async fn fan_out<U, F, Fut>(units: Vec<U>, concurrency: usize, work: F) -> (Vec<Item>, usize)
where
    F: Fn(U) -> Fut,
    Fut: Future<Output = UnitResult>,
{
    let results: Vec<UnitResult> =
        futures::stream::iter(units).map(work).buffer_unordered(concurrency.max(1)).collect().await;
    let mut items = Vec::new();
    let failed = collect_units(&mut items, results);
    (items, failed)
}

/// Runs `work` on every unit, at most `concurrency` at once, and returns each unit's own result
/// (in completion order), for callers that answer per unit (a queue record each).
pub(crate) async fn run_each<U, T, F, Fut>(units: Vec<U>, concurrency: usize, work: F) -> Vec<T>
where
    F: Fn(U) -> Fut,
    Fut: Future<Output = T>,
{
    futures::stream::iter(units).map(work).buffer_unordered(concurrency.max(1)).collect().await
}

/// Sends one message per (account, region) unit to `queue` for `job`; returns one item per unit
/// (`enqueue`, `done` or `failed` with the reason).
pub(crate) async fn enqueue(queue: &WorkQueue, job: &str, units: Vec<(String, String)>) -> Vec<Item> {
    let messages = units.into_iter().map(|(account, region)| UnitMessage::unit(job, account, region)).collect();
    queue
        .send_units(messages)
        .await
        .into_iter()
        .map(|(unit, outcome)| match outcome {
            Ok(()) => Item::new(
                unit.account_id,
                unit.region,
                "*",
                ENQUEUE,
                Status::Done,
                format!("queued to {}", queue.name()),
            ),
            Err(reason) => Item::new(unit.account_id, unit.region, "*", ENQUEUE, Status::Failed, reason),
        })
        .collect()
}

/// Report action of a unit sent to the work queue.
pub(crate) const ENQUEUE: &str = "enqueue";

/// True when a unit's items say it stopped for lack of time (what is left must continue).
pub(crate) fn deferred(items: &[Item]) -> bool {
    items.iter().any(|i| i.reason.starts_with("deferred"))
}

/// The records of one queue invocation, sorted: the units to run, the items already known (units
/// out of scope, malformed records) and the records that failed.
pub(crate) struct QueueBatch {
    /// Units to run, with the message id of their record.
    pub(crate) units: Vec<(String, UnitMessage)>,
    /// The report's items so far.
    pub(crate) items: Vec<Item>,
    /// Records to deliver again (`batchItemFailures`).
    pub(crate) failed_records: Vec<String>,
    /// Units that failed as a whole.
    pub(crate) failed_units: usize,
}

impl QueueBatch {
    /// Parses `records` for `job`: a malformed record fails; a unit now out of scope is
    /// reported and acknowledged; a copy of a unit already in the batch is acknowledged without
    /// running twice (at-least-once delivery).
    pub(crate) fn sort(records: Vec<QueueRecord>, job: &str, rules: &ScopeRules<'_>) -> Self {
        let mut batch =
            QueueBatch { units: Vec::new(), items: Vec::new(), failed_records: Vec::new(), failed_units: 0 };
        for record in records {
            match UnitMessage::parse(&record.body, job) {
                Ok(message) => match rules.excludes(&message.account_id, &message.region) {
                    Some(reason) => {
                        let (account, region) = (&message.account_id, &message.region);
                        batch.items.push(Item::new(account, region, "*", rules.action, Status::Skipped, reason));
                    }
                    None if batch.units.iter().any(|(_, m)| m.same_unit(&message)) => {}
                    None => batch.units.push((record.message_id, message)),
                },
                Err(reason) => {
                    batch.items.push(Item::new("*", "*", &record.message_id, rules.action, Status::Failed, reason));
                    batch.failed_records.push(record.message_id);
                }
            }
        }
        batch
    }

    /// Takes the units' results: a failed unit's record is delivered again; a unit out of time
    /// continues through a new message on `own_queue` (after `delay_seconds`), or fails its record
    /// when that cannot be sent or it already continued [`MAX_CONTINUATIONS`] times.
    pub(crate) async fn settle(
        &mut self,
        results: Vec<(String, UnitMessage, UnitResult)>,
        action: UnitAction,
        own_queue: Option<&WorkQueue>,
        delay_seconds: i32,
    ) {
        let mut continuations = Vec::new();
        for (message_id, message, result) in results {
            match result {
                Ok(unit_items) => {
                    let out_of_time = deferred(&unit_items);
                    self.items.extend(unit_items);
                    if out_of_time && message.continuation >= MAX_CONTINUATIONS {
                        let reason = format!("the unit ran out of time {MAX_CONTINUATIONS} times in a row; given up");
                        let (account, region) = (&message.account_id, &message.region);
                        self.items.push(Item::new(account, region, "*", action, Status::Failed, reason));
                        self.failed_units += 1;
                        self.failed_records.push(message_id);
                    } else if out_of_time {
                        continuations
                            .push((message_id, UnitMessage { continuation: message.continuation + 1, ..message }));
                    }
                }
                Err(item) => {
                    self.failed_units += 1;
                    self.items.push(item);
                    self.failed_records.push(message_id);
                }
            }
        }
        if continuations.is_empty() {
            return;
        }
        let bodies: Vec<String> = continuations.iter().map(|(_, m)| m.body()).collect();
        let sent = match own_queue {
            Some(queue) => queue.send(&bodies, delay_seconds).await,
            None => bodies.iter().map(|_| Err("no WORK_QUEUE_URL to continue on".to_string())).collect(),
        };
        for ((message_id, message), outcome) in continuations.into_iter().zip(sent) {
            if let Err(reason) = outcome {
                // Not continued: SQS delivers the unit again instead.
                let (account, region) = (&message.account_id, &message.region);
                self.items.push(Item::new(account, region, "*", action, Status::Failed, reason));
                self.failed_records.push(message_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failed_units_are_counted_and_never_stop_the_others() {
        let (items, failed) = fan_out(vec![1, 2, 3, 4], 2, |n| async move {
            let item = Item::new("111111111111", "eu-west-1", n.to_string(), "scan", Status::Done, "");
            if n % 2 == 0 { Err(Item { status: Status::Failed, ..item }) } else { Ok(vec![item]) }
        })
        .await;
        assert_eq!(failed, 2);
        assert_eq!(items.len(), 4);
    }
}
