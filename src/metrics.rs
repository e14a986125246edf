//! Coverage metrics of a run, as one CloudWatch embedded-metric-format (EMF) log line: CloudWatch
//! Logs turns it into metrics in the `mdc-connector` namespace, dimension `Job`, which the
//! management template's dashboard shows. No API call, no extra permission.

use serde_json::{Map, Value, json};

use crate::report::Report;

/// Metric namespace.
pub const NAMESPACE: &str = "mdc-connector";

/// The EMF document for a report, stamped `timestamp_ms` (milliseconds since the epoch).
pub fn emf(report: &Report, timestamp_ms: u64) -> Value {
    let s = &report.summary;
    let outcome = |names: &[&str]| {
        report.items.iter().filter(|i| i.outcome.as_deref().is_some_and(|o| names.contains(&o))).count()
    };
    let mut values: Vec<(&str, usize)> = vec![
        ("Done", s.done),
        ("Planned", s.planned),
        ("Skipped", s.skipped),
        ("Failed", s.failed),
        ("WorkUnits", s.work_units),
        ("FailedWorkUnits", s.failed_work_units),
    ];
    if report.job == crate::arc::job::JOB {
        values.extend([
            ("ArcConnected", outcome(&["connected", "already-connected"])),
            (
                "InstancesManaged",
                outcome(&[
                    "connected",
                    "already-connected",
                    "connected-elsewhere",
                    "failed",
                    "timed-out",
                    "in-progress",
                ]),
            ),
            ("InstancesNotManaged", outcome(&["not-managed"])),
        ]);
    }
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

    fn item(outcome: Option<&str>, status: Status) -> Item {
        Item {
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            resource_id: "i-01234567".into(),
            action: "provision".into(),
            status,
            reason: String::new(),
            outcome: outcome.map(str::to_string),
        }
    }

    #[test]
    fn arc_runs_count_coverage() {
        let items = vec![
            item(Some("connected"), Status::Done),
            item(Some("already-connected"), Status::Skipped),
            item(Some("not-managed"), Status::Skipped),
            item(Some("failed"), Status::Failed),
            item(None, Status::Done),
        ];
        let doc = emf(&Report::new("arc-provisioner", false, items, 2, 0), 1_700_000_000_000);
        assert_eq!(doc["ArcConnected"], 2);
        assert_eq!(doc["InstancesManaged"], 3);
        assert_eq!(doc["InstancesNotManaged"], 1);
        assert_eq!(doc["Failed"], 1);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert!(names.iter().all(|n| doc.get(n).is_some()), "every declared metric has a value");
    }

    #[test]
    fn other_jobs_have_the_common_metrics_only() {
        let doc = emf(&Report::new("profile-scan", false, vec![item(None, Status::Done)], 1, 0), 0);
        assert_eq!(doc["Done"], 1);
        assert!(doc.get("ArcConnected").is_none());
    }
}
