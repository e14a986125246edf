//! Client-side pacing of writes on one account and region's own budget.
//!
//! EC2 "throttles EC2 API requests for each AWS account on a per-Region basis" with token buckets,
//! and today "each API is evaluated individually, and you are throttled on the number of requests
//! you make on a per-API basis" (Request throttling for the Amazon EC2 API): the bucket that
//! matters is `AssociateIamInstanceProfile`'s own. Its size and refill rate are not quoted here:
//! the page's per-API table could not be retrieved when this was written, and the older
//! per-category figures (describe, mutating, uncategorized actions) no longer describe how EC2
//! counts. 100 tokens refilled at 5 per second is this connector's default, a guess to tune with
//! `EC2_WRITE_RATE` (and, if `RequestLimitExceeded` shows up, to check against the table and the
//! account's own limits). A [`Pacer`] with that shape spends the burst, then sends at the refill
//! rate, so a unit's writes run at a steady rate instead of tripping `RequestLimitExceeded` and
//! backing off; adaptive retry absorbs any throttling that remains, whether the default is too
//! high or other actors in the account take from the same bucket.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::budget::Budget;

/// The pacer's default bucket for `AssociateIamInstanceProfile`: capacity and refill per second
/// (a default to tune, not a quoted EC2 limit; see the module documentation).
pub(crate) const EC2_ASSOCIATE: (f64, f64) = (100.0, 5.0);

/// A token bucket on the client side.
pub(crate) struct Pacer {
    capacity: f64,
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl Pacer {
    /// A full bucket of `capacity` tokens refilled at `rate` per second (`rate` 0: unpaced).
    pub(crate) fn new(capacity: f64, rate: f64) -> Self {
        Pacer { capacity, rate, state: Mutex::new((capacity, Instant::now())) }
    }

    /// An empty bucket: a unit continuing where another invocation spent the account's burst.
    pub(crate) fn drained(capacity: f64, rate: f64) -> Self {
        Pacer { capacity, rate, state: Mutex::new((0.0, Instant::now())) }
    }

    /// Empties the bucket: the service said the account's real bucket is empty (another actor,
    /// or an earlier invocation, spent it), so the next token comes at the refill rate.
    pub(crate) async fn drain(&self) {
        *self.state.lock().await = (0.0, Instant::now());
    }

    /// Takes a token, waiting for one if needed; `false` (nothing taken, the refusal recorded in
    /// `budget`) when the wait would end past the budget's deadline.
    pub(crate) async fn acquire(&self, budget: &Budget) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                let (tokens, last) = *state;
                let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.capacity);
                if tokens >= 1.0 {
                    *state = (tokens - 1.0, now);
                    return true;
                }
                *state = (tokens, now);
                Duration::from_secs_f64((1.0 - tokens) / self.rate)
            };
            if !budget.allows(wait) {
                return false;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spends_the_burst_then_paces_at_the_refill_rate() {
        let pacer = Pacer::new(5.0, 50.0);
        let started = Instant::now();
        for _ in 0..15 {
            assert!(pacer.acquire(&Budget::default()).await);
        }
        let elapsed = started.elapsed().as_secs_f64();
        // 5 at once, then 10 at 50/s: about 0.2 s.
        assert!((0.15..0.6).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test]
    async fn never_waits_past_the_deadline() {
        let pacer = Pacer::new(1.0, 1.0);
        assert!(pacer.acquire(&Budget::default()).await);
        let deadline = Instant::now() + Duration::from_millis(100);
        let budget = Budget::until(Some(deadline));
        assert!(!pacer.acquire(&budget).await, "the next token comes after the deadline");
        assert!(budget.deferred(), "the refusal is recorded");
        assert!(Instant::now() < deadline, "and it did not wait for it");
    }
}
