//! Bounded answers: a synchronous invocation's response is capped ("Invocation payload (request
//! and response): 6 MB each for request and response (synchronous)", Lambda quotas), and the work
//! queue's event source mapping invokes synchronously: a larger report would fail the whole batch
//! after its continuations were sent. The answer keeps the summary (over every item), every
//! `batchItemFailures` entry and as many items as fit, failures first, and says how many it left
//! out; the complete report goes to the log, one line per item (`crate::log_lines`).

use crate::report::{Item, Report, Status};

/// Largest answer sent back (bytes of JSON): far under the 6 MB quota, whatever the estate size
/// (the complete report is in the log).
pub const RESPONSE_LIMIT: usize = 1_000_000;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Action;

    fn report(n: usize) -> Report {
        let items = (0..n)
            .map(|i| {
                let status = if i % 10 == 0 { Status::Failed } else { Status::Done };
                Item::new("111111111111", "eu-west-1", format!("i-{i:017x}"), Action::None, status, "x".repeat(100))
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
}
