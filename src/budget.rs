//! The invocation's time budget: how long writes, waits and retries may still start before the
//! write deadline (Lambda's deadline less a safety margin, see [`crate::runtime`]).
//!
//! Every job, the pacer and every retry loop ask the same [`Budget`]; a unit's copy also records
//! whether it refused to start work for lack of time (the unit was *deferred* and continues in
//! another invocation), so that fact travels as a flag, never as words in a reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Time left before the write deadline (unbounded without one), and whether work was refused.
#[derive(Clone, Debug, Default)]
pub(crate) struct Budget {
    deadline: Option<Instant>,
    refused: Arc<AtomicBool>,
}

impl Budget {
    /// A budget ending at `deadline` (`None`: unbounded, as in tests and local runs).
    pub(crate) fn until(deadline: Option<Instant>) -> Self {
        Budget { deadline, refused: Arc::default() }
    }

    /// The same deadline with its own record of refusals: one per work unit.
    pub(crate) fn for_unit(&self) -> Self {
        Budget::until(self.deadline)
    }

    /// True once the deadline has passed: no read, write or sleep may start then.
    pub(crate) fn spent(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Time left (`None`: unbounded).
    pub(crate) fn left(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// `wait`, capped at the time left.
    pub(crate) fn cap(&self, wait: Duration) -> Duration {
        self.left().map_or(wait, |left| wait.min(left))
    }

    /// The earlier of `until` and the deadline.
    pub(crate) fn cap_instant(&self, until: Instant) -> Instant {
        self.deadline.map_or(until, |d| d.min(until))
    }

    /// Sleeps `wait`, but never past the deadline.
    pub(crate) async fn sleep(&self, wait: Duration) {
        tokio::time::sleep(self.cap(wait)).await;
    }

    /// Whether work that takes `wait` before it starts may still start; a refusal is recorded.
    pub(crate) fn allows(&self, wait: Duration) -> bool {
        let allowed = self.deadline.is_none_or(|d| Instant::now() + wait <= d);
        if !allowed {
            self.refuse();
        }
        allowed
    }

    /// Whether a write may start now; a refusal is recorded (the unit is deferred).
    pub(crate) fn may_start(&self) -> bool {
        let allowed = !self.spent();
        if !allowed {
            self.refuse();
        }
        allowed
    }

    /// Records that work was left for another invocation.
    pub(crate) fn refuse(&self) {
        self.refused.store(true, Ordering::Relaxed);
    }

    /// True when this budget refused to start some work: what is left must continue.
    pub(crate) fn deferred(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unbounded_budget_allows_everything_and_never_defers() {
        let budget = Budget::until(None);
        assert!(!budget.spent() && budget.may_start() && budget.allows(Duration::from_secs(3600)));
        assert_eq!(budget.cap(Duration::from_secs(5)), Duration::from_secs(5));
        assert!(!budget.deferred());
    }

    #[test]
    fn a_spent_budget_refuses_and_remembers_it_per_unit() {
        let budget = Budget::until(Some(Instant::now()));
        let unit = budget.for_unit();
        assert!(unit.spent() && !unit.may_start());
        assert!(unit.deferred(), "the unit refused work");
        assert!(!budget.deferred(), "another unit's refusals are its own");
        assert_eq!(unit.cap(Duration::from_secs(5)), Duration::ZERO);
    }

    #[test]
    fn a_wait_past_the_deadline_is_refused() {
        let budget = Budget::until(Some(Instant::now() + Duration::from_secs(60)));
        assert!(budget.allows(Duration::from_secs(1)));
        assert!(!budget.deferred());
        assert!(!budget.allows(Duration::from_secs(120)));
        assert!(budget.deferred());
    }
}
