//! Preflight: `{"action":"preflight"}` on any function checks the live prerequisites of its own job
//! and answers each one as an item, `ok`, `missing` or `unchecked`, with the exact command that
//! fixes it (docs/deploy.md, "Verify"). Read-only: no check writes anything.

use serde::Deserialize;
use serde_json::Value;

use crate::error::EventError;
use crate::event::manual;
use crate::report::{Action, Item, Outcome, Report, Status};

/// The manual action every function accepts.
pub(crate) const ACTION: &str = "preflight";

/// `{"action":"preflight"}`: no other field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreflightCommand {}

/// Refuses a preflight request with fields besides `action` (it takes none).
pub(crate) fn parse(payload: &Value) -> Result<(), EventError> {
    manual::<PreflightCommand>(payload).map(|_| ())
}

/// The metric counting a preflight's checks that are not `ok` (the dashboard shows it per job).
pub(crate) const FAILED_METRIC: &str = "PreflightFailed";

/// The answer to one prerequisite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// In place; the text says what was found.
    Ok(String),
    /// Not in place: what is missing, and the command that puts it in place.
    Missing { what: String, fix: String },
    /// Could not be read from here: why, and the command a person runs to check it.
    Unchecked { why: String, check: String },
}

/// One prerequisite and its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Check {
    /// Stable name (the item's `resourceId`), e.g. `trusted-access-stacksets`.
    pub name: &'static str,
    /// The answer.
    pub verdict: Verdict,
}

impl Check {
    /// `name` is in place.
    pub(crate) fn ok(name: &'static str, found: impl Into<String>) -> Self {
        Check { name, verdict: Verdict::Ok(found.into()) }
    }

    /// `name` is missing; `fix` is the command that puts it in place.
    pub(crate) fn missing(name: &'static str, what: impl Into<String>, fix: impl Into<String>) -> Self {
        Check { name, verdict: Verdict::Missing { what: what.into(), fix: fix.into() } }
    }

    /// `name` could not be read; `check` is the command a person runs to confirm it.
    pub(crate) fn unchecked(name: &'static str, why: impl Into<String>, check: impl Into<String>) -> Self {
        Check { name, verdict: Verdict::Unchecked { why: why.into(), check: check.into() } }
    }

    /// The check as a report item of `account_id` and `region`: `ok` is skipped (nothing to do),
    /// the others failed, each with its outcome.
    pub(crate) fn item(&self, account_id: &str, region: &str) -> Item {
        let (status, outcome, reason) = match &self.verdict {
            Verdict::Ok(found) => (Status::Skipped, Outcome::Ok, format!("ok: {found}")),
            Verdict::Missing { what, fix } => {
                (Status::Failed, Outcome::Missing, format!("missing: {what}; fix: {fix}"))
            }
            Verdict::Unchecked { why, check } => {
                (Status::Failed, Outcome::Unchecked, format!("unchecked: {why}; check: {check}"))
            }
        };
        let cause = format!("{}:{}", self.name, outcome.as_str());
        Item::new(account_id, region, self.name, Action::Preflight, status, reason)
            .with_outcome(Some(outcome))
            .with_cause(cause)
    }
}

/// The report of a preflight of `job` run in `account_id` and `region`, with the
/// [`FAILED_METRIC`] metric.
pub(crate) fn report(job: &str, account_id: &str, region: &str, checks: &[Check]) -> Report {
    let items: Vec<Item> = checks.iter().map(|c| c.item(account_id, region)).collect();
    let failed = checks.iter().filter(|c| !matches!(c.verdict, Verdict::Ok(_))).count();
    Report::new(job, true, items, 0, 0).with_metrics(vec![(FAILED_METRIC, failed)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verdict_becomes_an_item_with_its_outcome_and_command() {
        let checks = [
            Check::ok("a", "enabled"),
            Check::missing("b", "trusted access", "aws organizations enable-aws-service-access --service-principal x"),
            Check::unchecked("c", "AccessDenied", "aws cloudtrail describe-trails"),
        ];
        let report = report("account-discovery", "111111111111", "eu-west-1", &checks);
        assert_eq!((report.summary.skipped, report.summary.failed), (1, 2));
        assert_eq!(report.metrics, vec![(FAILED_METRIC, 2)]);
        let b = &report.items[1];
        assert_eq!((b.resource_id.as_str(), b.outcome), ("b", Some(Outcome::Missing)));
        assert!(b.reason.ends_with("fix: aws organizations enable-aws-service-access --service-principal x"));
        assert_eq!(report.items[2].outcome, Some(Outcome::Unchecked));
        assert!(report.dry_run, "a preflight writes nothing");
    }
}
