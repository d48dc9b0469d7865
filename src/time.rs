//! The server's clock, truncated to microseconds so that a timestamp survives a round trip
//! through PostgreSQL (and through a pagination cursor) unchanged.
//!
//! What expires (tokens, login sessions, revocations) asks a [`Clock`] it was given, so that
//! tests move the clock instead of sleeping: `Clock::system()` in the server,
//! `Clock::adjustable()` in tests, which reads the system time plus an offset they advance.
//! Timestamps that only record when something happened (a recipe's `createdAt`) read [`now`].

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

pub fn now() -> DateTime<Utc> {
    truncated(Utc::now())
}

pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}

/// `time` less `ago`, or the earliest time there is when that is further back.
pub fn before(time: DateTime<Utc>, ago: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(ago)
        .ok()
        .and_then(|ago| time.checked_sub_signed(ago))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn truncated(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(time)
}

/// The time as the server's expiry rules see it.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Microseconds added to the system time; `None` for the system clock itself.
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self { offset: None }
    }

    /// The system time until [`Clock::advance`] moves it on (every clone moves with it).
    pub fn adjustable() -> Self {
        Self {
            offset: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let offset = self
            .offset
            .as_ref()
            .map_or(0, |o| o.load(Ordering::Acquire));
        truncated(Utc::now() + TimeDelta::microseconds(offset))
    }

    pub fn unix_now(&self) -> i64 {
        self.now().timestamp()
    }

    /// Moves an adjustable clock forward; the system clock cannot be moved.
    pub fn advance(&self, by: Duration) {
        if let Some(offset) = &self.offset {
            let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
            offset.fetch_add(micros, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_with_all_its_clones_and_the_system_clock_does_not() {
        let clock = Clock::adjustable();
        let clone = clock.clone();
        let before = clock.now();
        clone.advance(Duration::from_secs(3600));
        assert!(clock.now() - before >= TimeDelta::hours(1));

        let system = Clock::system();
        system.advance(Duration::from_secs(3600));
        assert!(system.now() - Utc::now() < TimeDelta::minutes(1));
    }
}
