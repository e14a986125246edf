//! Lambda glue shared by the functions: deadline from the invocation context, report logging.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Context, Diagnostic};

use crate::bound::{RESPONSE_LIMIT, bounded};
use crate::error::InvocationError;
use crate::report::Report;

/// Time kept back before the Lambda deadline to finish the report once writes stop: this much,
/// or a tenth of the invocation's remaining time when that is less.
pub(crate) const SAFETY_MARGIN: Duration = Duration::from_secs(20);

/// Deadlines below this are durations, not epoch times (2001-09-09 in ms since the epoch).
const EPOCH_FLOOR_MS: u64 = 1_000_000_000_000;

/// Instant after which no new write should start, from the context's deadline. Lambda sends ms
/// since the epoch; local runtimes (cargo lambda watch) send the timeout in ms: both are handled.
pub fn write_deadline(context: &Context) -> Option<Instant> {
    let remaining_ms = if context.deadline < EPOCH_FLOOR_MS {
        context.deadline
    } else {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
        context.deadline.saturating_sub(now_ms)
    };
    Some(Instant::now() + write_budget(remaining_ms))
}

/// Time writes may start in, given the milliseconds left before the deadline.
pub(crate) fn write_budget(remaining_ms: u64) -> Duration {
    let remaining = Duration::from_millis(remaining_ms);
    remaining.saturating_sub(SAFETY_MARGIN.min(remaining / 10))
}

/// Logs the report on standard output, one line for the run and one per item
/// (`crate::log_lines`), followed by its metrics (one EMF line).
pub(crate) fn log_report(report: &Report) {
    for line in crate::log_lines::lines(report) {
        println!("{line}");
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
    println!("{}", crate::metrics::emf(report, now_ms));
}

/// Turns a job's outcome into the invocation's answer: the report (also logged as one JSON line),
/// or a diagnostic with a stable error type (also logged).
pub fn respond(outcome: Result<Report, InvocationError>) -> Result<Report, Diagnostic> {
    match outcome {
        Ok(report) => {
            log_report(&report);
            Ok(bounded(report, RESPONSE_LIMIT))
        }
        Err(e) => {
            tracing::error!(error = %e, "invocation failed");
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_keeps_a_margin_proportionate_to_the_timeout() {
        assert_eq!(write_budget(900_000), Duration::from_secs(880), "15 minutes: 20 s margin");
        assert_eq!(write_budget(30_000), Duration::from_secs(27), "30 s: a tenth");
        assert_eq!(write_budget(0), Duration::ZERO);
    }
}
