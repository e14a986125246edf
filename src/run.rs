//! The run skeleton every job shares: work units executed with bounded concurrency, each failing
//! on its own, collected into the report's items.

use std::future::Future;
use std::time::Instant;

use futures::StreamExt;

use crate::queue::{UnitMessage, WorkQueue};
use crate::report::{Item, Status, collect_units};

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
    let bodies: Vec<String> = units
        .iter()
        .map(|(account_id, region)| {
            let message = UnitMessage {
                job: job.into(),
                account_id: account_id.clone(),
                region: region.clone(),
                ..UnitMessage::default()
            };
            message.body()
        })
        .collect();
    let sent = queue.send(&bodies, 0).await;
    units
        .into_iter()
        .zip(sent)
        .map(|((account, region), outcome)| match outcome {
            Ok(()) => Item::new(account, region, "*", ENQUEUE, Status::Done, format!("queued to {}", queue.name())),
            Err(reason) => Item::new(account, region, "*", ENQUEUE, Status::Failed, reason),
        })
        .collect()
}

/// Report action of a unit sent to the work queue.
pub(crate) const ENQUEUE: &str = "enqueue";

/// True when a unit's items say it stopped for lack of time (what is left must continue).
pub(crate) fn deferred(items: &[Item]) -> bool {
    items.iter().any(|i| i.reason.starts_with("deferred"))
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
