//! The run report every invocation returns and logs as one JSON line (docs/report.md).

use serde::Serialize;

/// Outcome of one item of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The change was made.
    Done,
    /// Dry run: the change would have been made.
    Planned,
    /// Nothing to do, or deliberately left alone (the reason says which).
    Skipped,
    /// The change was needed and could not be made (the reason says what to do).
    Failed,
}

/// One resource considered by a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// Account the resource lives in.
    pub account_id: String,
    /// Region of the resource (`global` for IAM).
    pub region: String,
    /// Instance id, role ARN, or `*` for a whole work unit.
    pub resource_id: String,
    /// What was (or would have been) done.
    pub action: String,
    /// Outcome.
    pub status: Status,
    /// Why, in words an operator can act on.
    pub reason: String,
    /// Finer outcome where a job has one (arc-provisioner: `connected`, `already-connected`,
    /// `connected-elsewhere`, `failed`, `timed-out`, `in-progress`, `not-managed`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// Counts over a run's items.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// All items.
    pub items: usize,
    /// Items with status `done`.
    pub done: usize,
    /// Items with status `planned`.
    pub planned: usize,
    /// Items with status `skipped`.
    pub skipped: usize,
    /// Items with status `failed`.
    pub failed: usize,
    /// (account, region) work units attempted.
    pub work_units: usize,
    /// Work units that could not be completed.
    pub failed_work_units: usize,
}

/// The result of one invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Name of the job that produced it, e.g. `profile-scan`.
    pub job: String,
    /// True when no write call was made by design.
    pub dry_run: bool,
    /// Counts.
    pub summary: Summary,
    /// One entry per resource considered.
    pub items: Vec<Item>,
    /// Job-specific metrics added to the run's metrics line (not part of the JSON report).
    #[serde(skip)]
    pub metrics: Vec<(&'static str, usize)>,
    /// For an invocation by the work queue's event source mapping: the records that failed and
    /// must be delivered again (`ReportBatchItemFailures`); absent otherwise.
    #[serde(rename = "batchItemFailures", skip_serializing_if = "Vec::is_empty")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

/// One failed queue record: Lambda's partial batch response names it by message id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    /// The record's `messageId`.
    pub item_identifier: String,
}

impl Item {
    /// An item without a finer outcome.
    pub fn new(
        account_id: impl Into<String>,
        region: impl Into<String>,
        resource_id: impl Into<String>,
        action: impl Into<String>,
        status: Status,
        reason: impl Into<String>,
    ) -> Self {
        Item {
            account_id: account_id.into(),
            region: region.into(),
            resource_id: resource_id.into(),
            action: action.into(),
            status,
            reason: reason.into(),
            outcome: None,
        }
    }

    /// The same item with a finer outcome (arc-provisioner's `connected`, `not-managed`, ...).
    pub fn with_outcome(mut self, outcome: Option<&str>) -> Self {
        self.outcome = outcome.map(str::to_string);
        self
    }
}

impl Report {
    /// Builds a report from items, computing the summary. Items are sorted for stable output.
    pub fn new(job: &str, dry_run: bool, mut items: Vec<Item>, work_units: usize, failed_work_units: usize) -> Self {
        items.sort_by(|a, b| {
            (&a.account_id, &a.region, &a.resource_id, &a.action).cmp(&(
                &b.account_id,
                &b.region,
                &b.resource_id,
                &b.action,
            ))
        });
        let count = |s: Status| items.iter().filter(|i| i.status == s).count();
        let summary = Summary {
            items: items.len(),
            done: count(Status::Done),
            planned: count(Status::Planned),
            skipped: count(Status::Skipped),
            failed: count(Status::Failed),
            work_units,
            failed_work_units,
        };
        Report { job: job.to_string(), dry_run, summary, items, metrics: Vec::new(), batch_item_failures: Vec::new() }
    }

    /// The same report naming the queue records to deliver again.
    pub(crate) fn with_failed_records(mut self, message_ids: Vec<String>) -> Self {
        self.batch_item_failures =
            message_ids.into_iter().map(|item_identifier| BatchItemFailure { item_identifier }).collect();
        self
    }

    /// The same report with job-specific metrics for the metrics line.
    pub fn with_metrics(mut self, metrics: Vec<(&'static str, usize)>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The report as one JSON line, as logged.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"report not serializable: {e}\"}}"))
    }
}

/// Adds the items of every work unit to `items` (a failed unit is one item) and returns how many
/// units failed.
pub(crate) fn collect_units(items: &mut Vec<Item>, results: Vec<Result<Vec<Item>, Item>>) -> usize {
    let mut failed = 0;
    for result in results {
        match result {
            Ok(unit_items) => items.extend(unit_items),
            Err(item) => {
                failed += 1;
                items.push(item);
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(resource: &str, status: Status) -> Item {
        Item::new("111111111111", "eu-west-1", resource, "none", status, "")
    }

    #[test]
    fn summary_counts_each_status_and_items_are_sorted() {
        let r = Report::new(
            "profile-scan",
            false,
            vec![item("i-2", Status::Failed), item("i-1", Status::Done), item("i-3", Status::Skipped)],
            2,
            1,
        );
        assert_eq!(r.summary.items, 3);
        assert_eq!((r.summary.done, r.summary.failed, r.summary.skipped, r.summary.planned), (1, 1, 1, 0));
        assert_eq!(r.items[0].resource_id, "i-1");
        let json: serde_json::Value = serde_json::from_str(&r.to_json_line()).unwrap();
        assert_eq!(json["items"][0]["accountId"], "111111111111");
        assert_eq!(json["items"][1]["status"], "failed");
        assert_eq!(json["summary"]["failedWorkUnits"], 1);
    }
}
