//! The estate's coverage through the job: each whole unit's row kept after its run, the estate's
//! totals on the metrics line of every invocation that ran units, and `{"action":"coverage"}`.

use super::azure::inventory::now;
use super::coverage::{FRESH_FOR_SECS, estate, item, row};
use super::job::{ArcProvisioner, JOB};
use crate::report::{Action, Item, Report, Status};

/// Rows an answer lists at most (the report's own bound then applies).
const MAX_ROWS: usize = 5_000;

impl ArcProvisioner {
    /// Keeps a whole unit's coverage row; a row that cannot be written is logged (the unit's
    /// items stand, the estate keeps the previous row for a day).
    pub(super) async fn keep_coverage(&self, account_id: &str, region: &str, items: &[Item]) {
        let row = row(account_id, region, items, now());
        if let Err(failure) = self.inventory.record_coverage(&row).await {
            tracing::warn!(account_id, region, %failure, "coverage row not written");
        }
    }

    /// The report with the estate's totals added to its metrics (rows refreshed in the last day).
    pub(super) async fn with_estate(&self, mut report: Report) -> Report {
        match self.inventory.coverage().await {
            Ok(rows) => report.metrics.extend(estate(&rows, now()).metrics()),
            Err(failure) => tracing::warn!(%failure, "estate coverage not read"),
        }
        report
    }

    /// `{"action":"coverage"}`: one item per (account, region) whose row is fresh, and the estate's
    /// totals as metrics.
    pub(super) async fn coverage_answer(&self) -> Report {
        let rows = match self.inventory.coverage().await {
            Ok(rows) => rows,
            Err(failure) => {
                let failed = Item::new("*", "*", "coverage", Action::Coverage, Status::Failed, failure.to_string());
                return Report::new(JOB, false, vec![failed], 1, 1);
            }
        };
        let at = now();
        let fresh: Vec<_> = rows.iter().filter(|r| at.saturating_sub(r.at) <= FRESH_FOR_SECS).collect();
        let items: Vec<Item> = fresh.iter().take(MAX_ROWS).map(|r| item(r)).collect();
        let totals = estate(&rows, at);
        Report::new(JOB, false, items, 1, 0).with_metrics(totals.metrics())
    }
}
