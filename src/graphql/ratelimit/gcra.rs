//! The arithmetic of one budget, a GCRA (generic cell rate algorithm): a token bucket kept as
//! one number, its theoretical arrival time (TAT). A budget of `quota` points per `window`
//! refills one point every `window / quota` (the interval) and holds at most `quota`; taking
//! `n` points moves the TAT `n` intervals on, and is allowed while the TAT stays within
//! `quota` intervals of now. Times are Unix microseconds. The Redis store's Lua script does
//! the same sums (`redis_store.rs`); the in-process store calls these.

use super::Standing;

/// One budget's numbers, as a store receives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Microseconds per point (at least 1).
    pub interval: i64,
    /// Points the budget holds when full.
    pub quota: i64,
}

impl Rate {
    /// `quota` points per `window_us`, rounded so that a full budget holds exactly `quota`.
    pub fn new(quota: u64, window_us: u64) -> Self {
        let quota = i64::try_from(quota.max(1)).unwrap_or(i64::MAX);
        let window = i64::try_from(window_us).unwrap_or(i64::MAX);
        Self {
            interval: (window / quota).max(1),
            quota,
        }
    }

    fn tolerance(self) -> i64 {
        self.interval.saturating_mul(self.quota)
    }

    /// Taking `cost` points at `now` from a budget whose TAT is `tat` (`None`: full): the new
    /// TAT if it fits, and the budget's standing (after the spend if it fits, else as it is).
    /// A cost above the quota takes the whole quota, so it runs once the budget is full.
    pub fn take(self, tat: Option<i64>, now: i64, cost: u64) -> (Option<i64>, Standing) {
        let points = i64::try_from(cost).unwrap_or(i64::MAX).min(self.quota);
        let tat = tat.unwrap_or(now).max(now);
        let new = tat.saturating_add(points.saturating_mul(self.interval));
        let wait = new.saturating_sub(self.tolerance()).saturating_sub(now);
        let at = match wait > 0 {
            true => tat,
            false => new,
        };
        let standing = Standing {
            remaining: u64::try_from((self.tolerance() - (at - now)) / self.interval).unwrap_or(0),
            reset: ceil_secs(at - now),
            retry_after: (wait > 0).then(|| ceil_secs(wait).max(1)),
        };
        ((wait <= 0).then_some(new), standing)
    }
}

/// Whole seconds, rounded up, of `micros` (at least 0).
pub fn ceil_secs(micros: i64) -> u64 {
    u64::try_from(micros.max(0)).map_or(0, |m| m.div_ceil(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    #[test]
    fn a_full_budget_holds_its_quota_and_refills_one_point_per_interval() {
        let rate = Rate::new(10, 60 * SECOND as u64);
        assert_eq!(rate.interval, 6 * SECOND);
        let (tat, standing) = rate.take(None, 0, 3);
        assert_eq!(tat, Some(18 * SECOND));
        assert_eq!((standing.remaining, standing.reset), (7, 18));
        assert_eq!(standing.retry_after, None);
        // Six seconds on, one point is back.
        let (_, later) = rate.take(tat, 6 * SECOND, 0);
        assert_eq!(later.remaining, 8);
    }

    #[test]
    fn a_cost_beyond_what_is_left_is_refused_and_takes_nothing() {
        let rate = Rate::new(10, 60 * SECOND as u64);
        let (tat, _) = rate.take(None, 0, 8);
        let (refused, standing) = rate.take(tat, 0, 5);
        assert_eq!(refused, None);
        assert_eq!(standing.remaining, 2);
        // Three more points are needed: three intervals.
        assert_eq!(standing.retry_after, Some(18));
        let (granted, _) = rate.take(tat, 18 * SECOND, 5);
        assert!(granted.is_some());
    }

    #[test]
    fn a_cost_above_the_quota_runs_on_a_full_budget_only() {
        let rate = Rate::new(10, 60 * SECOND as u64);
        let (tat, standing) = rate.take(None, 0, 500);
        assert!(tat.is_some());
        assert_eq!(standing.remaining, 0);
        assert!(rate.take(tat, SECOND, 500).0.is_none());
    }

    #[test]
    fn sub_second_waits_round_up_to_a_second() {
        let rate = Rate::new(1000, SECOND as u64);
        let (tat, _) = rate.take(None, 0, 1000);
        assert_eq!(rate.take(tat, 0, 1).1.retry_after, Some(1));
    }
}
