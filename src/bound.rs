//! Bounded answers: a synchronous invocation's response is capped ("Invocation payload (request
//! and response): 6 MB each for request and response (synchronous)", Lambda quotas), and the work
//! queue's event source mapping invokes synchronously: a larger report would fail the whole batch
//! after its continuations were sent. The answer keeps the summary (over every item), every
//! `batchItemFailures` entry and as many items as fit, failures first, and says how many it left
//! out; the complete report goes to the log in parts a log event can hold.

use crate::report::{Item, Report, Status};

/// Largest answer sent back (bytes of JSON): far under the 6 MB quota, whatever the estate size
/// (the complete report is in the log).
pub const RESPONSE_LIMIT: usize = 1_000_000;
/// Largest log line written for one part of a report (CloudWatch Logs events are limited to
/// 256 KB; each part stays well under it).
pub const LOG_PART_LIMIT: usize = 200_000;

/// `report` cut to `limit` bytes of JSON: failed items first, then done, planned, skipped; the
/// number left out in `omitted_items`.
pub fn bounded(mut report: Report, limit: usize) -> Report {
    if report.to_json_line().len() <= limit {
        return report;
    }
    let rank = |i: &Item| match i.status {
        Status::Failed => 0,
        Status::Done => 1,
        Status::Planned => 2,
        Status::Skipped => 3,
    };
    let mut items = std::mem::take(&mut report.items);
    items.sort_by_key(rank);
    let mut room = limit.saturating_sub(report.to_json_line().len() + 32);
    let mut kept = Vec::new();
    for item in &items {
        let size = serde_json::to_string(item).map(|s| s.len() + 1).unwrap_or(usize::MAX);
        if size > room {
            break;
        }
        room -= size;
        kept.push(item.clone());
    }
    report.omitted_items = items.len() - kept.len();
    report.items = kept;
    report
}

/// The report's items in parts of at most `limit` bytes each (at least one item per part), each
/// part a JSON line `{"job":...,"part":k,"parts":n,"items":[...]}`.
pub fn log_parts(report: &Report, limit: usize) -> Vec<String> {
    let mut parts: Vec<Vec<&Item>> = vec![Vec::new()];
    let mut size = 0;
    for item in &report.items {
        let len = serde_json::to_string(item).map(|s| s.len() + 1).unwrap_or(0);
        if size + len > limit && parts.last().is_some_and(|p| !p.is_empty()) {
            parts.push(Vec::new());
            size = 0;
        }
        size += len;
        if let Some(last) = parts.last_mut() {
            last.push(item);
        }
    }
    let total = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(k, items)| {
            serde_json::json!({"job": report.job, "part": k + 1, "parts": total, "items": items}).to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Action;

    fn report(n: usize) -> Report {
        let items = (0..n)
            .map(|i| {
                let status = if i % 10 == 0 { Status::Failed } else { Status::Done };
                Item::new("111111111111", "eu-west-1", format!("i-{i:017x}"), Action::None, status, "x".repeat(200))
            })
            .collect();
        Report::new("profile-scan", false, items, 1, 0).with_failed_records(vec!["m-1".into()])
    }

    #[test]
    fn a_large_report_is_cut_to_the_limit_keeping_failures_the_summary_and_the_failed_records() {
        let full = report(30_000);
        let size = full.to_json_line().len();
        assert!(size > 6_000_000, "far over Lambda's 6 MB: {size}");
        let cut = bounded(full.clone(), RESPONSE_LIMIT);
        assert!(cut.to_json_line().len() <= RESPONSE_LIMIT);
        assert_eq!(cut.summary, full.summary, "the summary counts every item");
        assert_eq!(cut.batch_item_failures.len(), 1, "failed records are never cut");
        assert_eq!(cut.items.len() + cut.omitted_items, 30_000);
        assert_eq!(cut.items.iter().filter(|i| i.status == Status::Failed).count(), 3_000, "failures first");
        let small = report(10);
        assert_eq!(bounded(small.clone(), RESPONSE_LIMIT), small, "a small report is unchanged");
    }

    #[test]
    fn the_log_gets_every_item_in_parts_a_log_event_holds() {
        let full = report(3_000);
        let parts = log_parts(&full, LOG_PART_LIMIT);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() <= LOG_PART_LIMIT + 200));
        let logged: usize = parts
            .iter()
            .map(|p| serde_json::from_str::<serde_json::Value>(p).map(|v| v["items"].as_array().map_or(0, Vec::len)))
            .map(|n| n.unwrap_or(0))
            .sum();
        assert_eq!(logged, 3_000);
    }
}
