//! The estate's coverage, at any scale: after each unit (a whole (account, region), not a named
//! selection) its row is kept with the inventory: running instances, managed, connected (as Azure
//! and the inventory say) and those not covered, by cause, with a few examples of each. The
//! estate's totals are the sum of the rows refreshed in the last day, whichever invocations wrote
//! them: a run split across hundreds of queued invocations totals the same as one inline run.

use std::collections::BTreeMap;

use crate::report::{Action, Item, Outcome, Status};

/// Examples of uncovered instances kept per cause and unit.
pub(crate) const EXAMPLES: usize = 10;
/// Rows older than this (a unit no longer in scope, or not run for a day) do not count.
pub(crate) const FRESH_FOR_SECS: u64 = 25 * 3600;

/// One (account, region)'s coverage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CoverageRow {
    /// Account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Running instances the unit's run saw.
    pub instances: u64,
    /// Of those, managed by Systems Manager.
    pub managed: u64,
    /// Of those, connected to Azure Arc (Azure and the inventory agree).
    pub connected: u64,
    /// Instances not covered, by cause (an outcome's name, or `excluded`: opted out, or a platform
    /// without a document).
    pub uncovered: BTreeMap<String, u64>,
    /// Up to [`EXAMPLES`] instance ids per cause.
    pub examples: BTreeMap<String, Vec<String>>,
    /// When the row was written (seconds since the Unix epoch).
    pub at: u64,
}

/// The row a whole unit's run leaves, from its items.
pub(crate) fn row(account_id: &str, region: &str, items: &[Item], at: u64) -> CoverageRow {
    let mut row = CoverageRow { account_id: account_id.into(), region: region.into(), at, ..CoverageRow::default() };
    for item in items.iter().filter(|i| i.action == Action::Provision && i.resource_id.starts_with("i-")) {
        row.instances += 1;
        let cause = match item.outcome {
            Some(Outcome::Connected | Outcome::AlreadyConnected | Outcome::Adopted) => {
                row.managed += 1;
                row.connected += 1;
                continue;
            }
            Some(Outcome::NotManaged) => Outcome::NotManaged.as_str(),
            Some(other) => {
                row.managed += 1;
                other.as_str()
            }
            None if item.status == Status::Failed => "failed",
            None => "excluded",
        };
        *row.uncovered.entry(cause.to_string()).or_default() += 1;
        let examples = row.examples.entry(cause.to_string()).or_default();
        if examples.len() < EXAMPLES {
            examples.push(item.resource_id.clone());
        }
    }
    row
}

/// The estate's totals over `rows` fresh at `now`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Estate {
    /// Units counted.
    pub units: u64,
    /// Running instances.
    pub instances: u64,
    /// Managed by Systems Manager.
    pub managed: u64,
    /// Connected to Azure Arc.
    pub connected: u64,
    /// Not covered, by cause.
    pub uncovered: BTreeMap<String, u64>,
}

/// Sums the rows written in the last [`FRESH_FOR_SECS`].
pub(crate) fn estate(rows: &[CoverageRow], now: u64) -> Estate {
    let mut out = Estate::default();
    for row in rows.iter().filter(|r| now.saturating_sub(r.at) <= FRESH_FOR_SECS) {
        out.units += 1;
        out.instances += row.instances;
        out.managed += row.managed;
        out.connected += row.connected;
        for (cause, n) in &row.uncovered {
            *out.uncovered.entry(cause.clone()).or_default() += n;
        }
    }
    out
}

impl Estate {
    /// The metrics line's estate figures.
    pub(crate) fn metrics(&self) -> Vec<(&'static str, usize)> {
        let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let cause = |names: &[&str]| n(names.iter().filter_map(|c| self.uncovered.get(*c)).sum());
        vec![
            ("EstateInstances", n(self.instances)),
            ("EstateManaged", n(self.managed)),
            ("EstateConnected", n(self.connected)),
            ("EstateNotManaged", cause(&["not-managed"])),
            ("EstateDisconnected", cause(&["disconnected"])),
            ("EstateNeedsAttention", cause(&["needs-attention"])),
            ("EstateFailing", cause(&["failed", "timed-out"])),
        ]
    }
}

/// The answer's item of one row: its figures, and the uncovered instances by cause.
pub(crate) fn item(row: &CoverageRow) -> Item {
    let causes: Vec<String> = row
        .uncovered
        .iter()
        .map(|(cause, n)| {
            let examples = row.examples.get(cause).map(|e| e.join(" ")).unwrap_or_default();
            format!("{cause} {n} ({examples})")
        })
        .collect();
    let uncovered = if causes.is_empty() { "none".to_string() } else { causes.join("; ") };
    let reason = format!(
        "{} instances, {} managed, {} connected; not covered: {uncovered}; as of {}",
        row.instances, row.managed, row.connected, row.at
    );
    Item::new(&row.account_id, &row.region, "coverage", Action::Coverage, Status::Skipped, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provision(id: &str, status: Status, outcome: Option<Outcome>) -> Item {
        Item::new("111111111111", "eu-west-1", id, Action::Provision, status, String::new()).with_outcome(outcome)
    }

    #[test]
    fn a_units_items_make_its_row_and_rows_sum_to_the_estate() {
        let items = vec![
            provision("i-1", Status::Done, Some(Outcome::Connected)),
            provision("i-2", Status::Skipped, Some(Outcome::AlreadyConnected)),
            provision("i-3", Status::Skipped, Some(Outcome::NotManaged)),
            provision("i-4", Status::Skipped, Some(Outcome::Disconnected)),
            provision("i-5", Status::Skipped, None),
            provision("*", Status::Failed, None),
        ];
        let a = row("111111111111", "eu-west-1", &items, 1000);
        assert_eq!((a.instances, a.managed, a.connected), (5, 3, 2));
        assert_eq!(a.uncovered.get("not-managed"), Some(&1));
        assert_eq!(a.examples["disconnected"], vec!["i-4".to_string()]);
        assert_eq!(a.uncovered.get("excluded"), Some(&1));
        let mut b = a.clone();
        b.region = "us-east-1".into();
        let mut old = a.clone();
        old.at = 0;
        let total = estate(&[a, b, old], 1000 + FRESH_FOR_SECS);
        assert_eq!(
            (total.units, total.instances, total.connected),
            (2, 10, 4),
            "a row older than a day does not count"
        );
        let metrics: BTreeMap<&str, usize> = total.metrics().into_iter().collect();
        assert_eq!((metrics["EstateNotManaged"], metrics["EstateDisconnected"]), (2, 2));
    }
}
