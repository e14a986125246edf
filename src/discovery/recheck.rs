//! Re-checks of StackSet work left pending: a delayed message on the function's own queue, so
//! pending work is seen again within minutes instead of at the next daily reconcile.
//!
//! One chain at a time: every re-check becomes visible at the same instant (the next
//! [`RECHECK_INTERVAL_SECONDS`] mark of the clock, at least [`MIN_RECHECK_DELAY_SECONDS`] away),
//! so re-checks sent by different invocations (a burst of Organizations events, a schedule and a
//! manual run) are received together. The event source mapping delivers them in one batch
//! (`BatchSize` 10 with a batching window), and a batch continues as one chain: the highest
//! attempt, the union of the awaited accounts, one message.

use std::time::{SystemTime, UNIX_EPOCH};

use super::job::{AccountDiscovery, Reconciled};
use super::trigger::{JOB, MAX_RECHECKS, RecheckMessage};
use crate::report::{Action, Item, Report, Status};

/// Re-checks become visible on marks this far apart (seconds since the Unix epoch).
pub(crate) const RECHECK_INTERVAL_SECONDS: u64 = 300;

/// A re-check is never sooner than this: StackSet operations take minutes.
pub(crate) const MIN_RECHECK_DELAY_SECONDS: u64 = 150;

/// The delay that makes a message sent at `now` (seconds since the Unix epoch) visible on the
/// next interval mark at least [`MIN_RECHECK_DELAY_SECONDS`] away: 150 to 449 s, below SQS's
/// 900 s maximum ("DelaySeconds ... Valid values: 0 to 900").
pub(crate) fn recheck_delay(now: u64) -> i32 {
    let mut delay = RECHECK_INTERVAL_SECONDS - now % RECHECK_INTERVAL_SECONDS;
    while delay < MIN_RECHECK_DELAY_SECONDS {
        delay += RECHECK_INTERVAL_SECONDS;
    }
    i32::try_from(delay).unwrap_or(i32::MAX)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl AccountDiscovery {
    /// When StackSet work is still pending and the function has a work queue, sends itself a
    /// delayed re-check, at most [`MAX_RECHECKS`] in a row.
    pub(super) async fn recheck_later(&self, reconciled: Reconciled, attempt: u32) -> Report {
        let Reconciled { mut report, pending, awaiting } = reconciled;
        let (Some(queue), true, false) = (self.context.own_queue(), pending > 0, report.dry_run) else {
            return report;
        };
        let (status, reason) = if attempt > MAX_RECHECKS {
            (Status::Skipped, format!("pending work left to the daily reconcile after {MAX_RECHECKS} re-checks"))
        } else {
            let message = RecheckMessage { job: JOB.into(), attempt, awaiting };
            let body = serde_json::to_string(&message).unwrap_or_default();
            let delay = recheck_delay(now());
            match queue.send(&[body], delay).await.pop() {
                Some(Ok(())) => (
                    Status::Done,
                    format!(
                        "pending work re-checked in {delay} s through {} (re-checks meet on {RECHECK_INTERVAL_SECONDS}-second marks and continue as one)",
                        queue.name()
                    ),
                ),
                Some(Err(reason)) => (Status::Failed, format!("{reason}; the daily reconcile takes the pending work")),
                None => return report,
            }
        };
        report.items.push(Item::new("*", "*", queue.name(), Action::Recheck, status, reason));
        Report::new(JOB, report.dry_run, report.items, report.summary.work_units, report.summary.failed_work_units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recheck_becomes_visible_on_the_same_mark_at_least_150_seconds_away() {
        for now in [1_700_000_000_u64, 1_700_000_001, 1_700_000_149, 1_700_000_150, 1_700_000_151, 1_700_000_299] {
            let delay = recheck_delay(now);
            let visible = now + u64::try_from(delay).unwrap();
            assert_eq!(visible % RECHECK_INTERVAL_SECONDS, 0, "{now}: {delay}");
            assert!((150..450).contains(&delay), "{now}: {delay}");
        }
        // Sent 100 s apart within one interval: the same instant.
        let (a, b) = (1_700_000_010_u64, 1_700_000_110_u64);
        assert_eq!(a + recheck_delay(a) as u64, b + recheck_delay(b) as u64);
    }
}
