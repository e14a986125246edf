//! The report as the log has it: one line for the run (the report without its items, and how many
//! item lines follow), then one line per item carrying its job. CloudWatch Logs metric filters and
//! Logs Insights read one JSON object per event and cannot unnest an array ("Metric filters ...
//! match terms in log events"), so an item line is what an alarm on failed items, or a query by
//! reason, counts: `{ $.status = "failed" }`, `filter status = "failed" | stats count() by code`.

use serde::Serialize;

use crate::report::{BatchItemFailure, Item, Report, Summary};

/// The run's line.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunLine<'a> {
    job: &'a str,
    version: &'a str,
    dry_run: bool,
    summary: &'a Summary,
    /// Item lines that follow (every item of the run).
    item_lines: usize,
    #[serde(rename = "batchItemFailures", skip_serializing_if = "<[_]>::is_empty")]
    batch_item_failures: &'a [BatchItemFailure],
}

/// One item's line.
#[derive(Serialize)]
struct ItemLine<'a> {
    job: &'a str,
    #[serde(flatten)]
    item: &'a Item,
}

/// The lines `report` is logged as: the run's, then one per item.
pub(crate) fn lines(report: &Report) -> Vec<String> {
    let run = RunLine {
        job: &report.job,
        version: report.version,
        dry_run: report.dry_run,
        summary: &report.summary,
        item_lines: report.items.len(),
        batch_item_failures: &report.batch_item_failures,
    };
    let serialize = |value: Result<String, serde_json::Error>| {
        value.unwrap_or_else(|e| format!("{{\"error\":\"log line not serializable: {e}\"}}"))
    };
    let mut lines = vec![serialize(serde_json::to_string(&run))];
    let job = report.job.as_str();
    lines.extend(report.items.iter().map(|item| serialize(serde_json::to_string(&ItemLine { job, item }))));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Action, Status};
    use serde_json::Value;

    #[test]
    fn each_item_is_a_line_of_its_own_with_its_job() {
        let items = (0..3)
            .map(|i| {
                let status = if i == 0 { Status::Failed } else { Status::Done };
                Item::new("111111111111", "eu-west-1", format!("i-{i:017x}"), Action::Provision, status, "why")
            })
            .collect();
        let report = Report::new("arc-provisioner", false, items, 1, 0).with_failed_records(vec!["m-1".into()]);
        let lines: Vec<Value> = lines(&report).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!((lines[0]["itemLines"].as_u64(), lines[0].get("items")), (Some(3), None));
        assert_eq!(lines[0]["batchItemFailures"][0]["itemIdentifier"], "m-1");
        assert_eq!(lines[0]["summary"]["failed"], 1);
        let failed: Vec<&Value> = lines[1..].iter().filter(|l| l["status"] == "failed").collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(
            (failed[0]["job"].as_str(), failed[0]["action"].as_str()),
            (Some("arc-provisioner"), Some("provision"))
        );
        assert_eq!(failed[0]["accountId"], "111111111111");
    }
}
