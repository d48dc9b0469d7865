//! The server's clock, truncated to microseconds so that a timestamp survives a round trip
//! through PostgreSQL (and through a pagination cursor) unchanged.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}
