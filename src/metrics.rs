//! Coverage metrics of a run, as one CloudWatch embedded-metric-format (EMF) log line: CloudWatch
//! Logs turns it into metrics in the `mdc-connector` namespace, dimension `Job`, which the
//! management template's dashboard shows. No API call, no extra permission.

use serde_json::{Map, Value, json};

use crate::report::Report;

/// Metric namespace.
pub(crate) const NAMESPACE: &str = "mdc-connector";

/// The EMF document for a report, stamped `timestamp_ms` (milliseconds since the epoch): the
/// counts every job has, plus the job's own metrics ([`Report::metrics`]).
pub(crate) fn emf(report: &Report, timestamp_ms: u64) -> Value {
    let s = &report.summary;
    let mut values: Vec<(&str, usize)> = vec![
        ("Done", s.done),
        ("Planned", s.planned),
        ("Skipped", s.skipped),
        ("Failed", s.failed),
        ("WorkUnits", s.work_units),
        ("FailedWorkUnits", s.failed_work_units),
    ];
    values.extend(report.metrics.iter().copied());
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Job"]],
                "Metrics": values.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        }),
    );
    document.insert("Job".into(), json!(report.job));
    for (name, value) in values {
        document.insert(name.into(), json!(value));
    }
    Value::Object(document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Item, Status};

    fn item(status: Status) -> Item {
        Item::new("111111111111", "eu-west-1", "i-01234567", crate::report::Action::Provision, status, "")
    }

    #[test]
    fn job_metrics_join_the_common_counts() {
        let items = vec![item(Status::Done), item(Status::Failed)];
        let report = Report::new("arc-provisioner", false, items, 2, 0).with_metrics(vec![("ArcConnected", 2)]);
        let doc = emf(&report, 1_700_000_000_000);
        assert_eq!(doc["ArcConnected"], 2);
        assert_eq!(doc["Failed"], 1);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert!(names.contains(&"ArcConnected"));
        assert!(names.iter().all(|n| doc.get(n).is_some()), "every declared metric has a value");
    }

    #[test]
    fn jobs_without_metrics_have_the_common_ones_only() {
        let doc = emf(&Report::new("profile-scan", false, vec![item(Status::Done)], 1, 0), 0);
        assert_eq!(doc["Done"], 1);
        assert!(doc.get("ArcConnected").is_none());
    }
}
