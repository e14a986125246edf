//! Lambda glue shared by the functions: deadline from the invocation context, report logging.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context;

use crate::report::Report;

/// Time kept back before the Lambda deadline to finish the report once writes stop.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(20);

/// Instant after which no new write should start, from the context's deadline (ms since epoch).
pub fn write_deadline(context: &Context) -> Option<Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    let remaining = Duration::from_millis(context.deadline.saturating_sub(now_ms));
    Some(Instant::now() + remaining.saturating_sub(SAFETY_MARGIN))
}

/// Logs the report as one JSON line on standard output.
pub fn log_report(report: &Report) {
    println!("{}", report.to_json_line());
}
