//! When each stored key signs, is published and retires, read from its dates alone, so that
//! every instance, and the `smilecook keys` command, comes to the same answer without talking
//! to the others.
//!
//! A key is *next* from its creation until `activates_at` (published, not signing: verifiers
//! that cache the JWKS learn it before they meet a token it signed), *current* while it is the
//! newest activated key (it signs), *retiring* once a newer key signs until every token it
//! signed has expired (still published, still accepted), then *retired* (neither). A *revoked*
//! key is neither, at once.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::Algorithm;

use super::material::alg_name;
use crate::db::signing_keys::Model;

/// The windows of rotation.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// How long a new key is published before it signs (`KEY_PUBLISH_AHEAD`).
    pub publish_ahead: Duration,
    /// How long a key signs before the next one takes over (`KEY_ROTATION_INTERVAL`).
    pub interval: Duration,
    /// How long a token outlives its key's last signature: the access token lifetime plus the
    /// leeway.
    pub outlived_by: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Current,
    Retiring,
    Retired,
    Revoked,
}

impl KeyState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }

    /// In the JWKS, and accepted on tokens.
    pub fn published(self) -> bool {
        matches!(self, Self::Next | Self::Current | Self::Retiring)
    }
}

/// A key's state at `now`, and when it ends (a next key's activation, a retiring key's last
/// token's expiry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dated {
    pub state: KeyState,
    pub until: Option<DateTime<Utc>>,
}

/// What the key set needs next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Nothing,
    /// A new key, signing from `activates_at`.
    Create {
        activates_at: DateTime<Utc>,
    },
    /// A waiting key signs now: the one that signed was revoked.
    Activate {
        kid: String,
    },
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// The state of each of `rows` (oldest generation first) at `now`, in the same order.
pub fn states(rows: &[Model], now: DateTime<Utc>, schedule: &Schedule) -> Vec<Dated> {
    let live = |row: &&Model| row.revoked_at.is_none();
    let current = rows
        .iter()
        .filter(live)
        .filter(|row| row.activates_at <= now)
        .map(|row| row.generation)
        .max();
    rows.iter()
        .map(|row| {
            if row.revoked_at.is_some() {
                return Dated {
                    state: KeyState::Revoked,
                    until: None,
                };
            }
            if row.activates_at > now {
                return Dated {
                    state: KeyState::Next,
                    until: Some(row.activates_at),
                };
            }
            if Some(row.generation) == current {
                return Dated {
                    state: KeyState::Current,
                    until: None,
                };
            }
            // It stopped signing when the first live key after it started.
            let superseded = rows
                .iter()
                .filter(live)
                .filter(|later| later.generation > row.generation && later.activates_at <= now)
                .map(|later| later.activates_at.max(row.activates_at))
                .min()
                .unwrap_or(now);
            let until = superseded + delta(schedule.outlived_by);
            Dated {
                state: if now < until {
                    KeyState::Retiring
                } else {
                    KeyState::Retired
                },
                until: Some(until),
            }
        })
        .collect()
}

/// What to do so that a key of `alg` signs now and its successor is published in time.
pub fn plan(rows: &[Model], now: DateTime<Utc>, schedule: &Schedule, alg: Algorithm) -> Plan {
    let dated = states(rows, now, schedule);
    let in_state = |state| {
        rows.iter()
            .zip(&dated)
            .filter(move |(_, dated)| dated.state == state)
            .map(|(row, _)| row)
    };
    let Some(current) = in_state(KeyState::Current).next_back() else {
        return match in_state(KeyState::Next).next() {
            Some(waiting) => Plan::Activate {
                kid: waiting.kid.clone(),
            },
            // The first key (or every key revoked): nobody can have cached a successor.
            None => Plan::Create { activates_at: now },
        };
    };
    let name = alg_name(alg);
    if in_state(KeyState::Next).any(|next| next.alg == name) {
        return Plan::Nothing;
    }
    let ahead = now + delta(schedule.publish_ahead);
    let due = current.activates_at + delta(schedule.interval);
    if current.alg != name {
        // The configured algorithm changed: its first key takes over as soon as it may.
        return Plan::Create {
            activates_at: ahead,
        };
    }
    if due <= ahead {
        return Plan::Create {
            activates_at: due.max(ahead),
        };
    }
    Plan::Nothing
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn schedule() -> Schedule {
        Schedule {
            publish_ahead: 15 * MINUTE,
            interval: 30 * 24 * 60 * MINUTE,
            outlived_by: 15 * MINUTE,
        }
    }

    fn key(generation: i64, activates_at: DateTime<Utc>) -> Model {
        Model {
            kid: format!("k{generation}"),
            alg: "ES256".into(),
            generation,
            public_jwk: String::new(),
            private_key: String::new(),
            created_at: activates_at,
            activates_at,
            revoked_at: None,
        }
    }

    fn names(rows: &[Model], now: DateTime<Utc>) -> Vec<&'static str> {
        states(rows, now, &schedule())
            .iter()
            .map(|d| d.state.name())
            .collect()
    }

    #[test]
    fn a_key_waits_signs_retires_and_is_dropped_once_its_tokens_expired() {
        let t0 = Utc::now();
        let rows = [key(1, t0), key(2, t0 + delta(60 * MINUTE))];
        assert_eq!(names(&rows, t0), ["current", "next"]);
        let t2 = t0 + delta(60 * MINUTE);
        assert_eq!(names(&rows, t2), ["retiring", "current"]);
        assert_eq!(
            names(&rows, t2 + delta(14 * MINUTE)),
            ["retiring", "current"]
        );
        assert_eq!(
            names(&rows, t2 + delta(15 * MINUTE)),
            ["retired", "current"]
        );
    }

    #[test]
    fn the_successor_is_published_ahead_and_a_revoked_current_key_is_replaced_at_once() {
        let t0 = Utc::now();
        let rows = [key(1, t0)];
        assert_eq!(
            plan(&rows, t0, &schedule(), Algorithm::ES256),
            Plan::Nothing
        );
        let due = t0 + delta(schedule().interval);
        let early = due - delta(15 * MINUTE);
        assert_eq!(
            plan(&rows, early, &schedule(), Algorithm::ES256),
            Plan::Create { activates_at: due }
        );
        assert_eq!(
            plan(&[], t0, &schedule(), Algorithm::ES256),
            Plan::Create { activates_at: t0 }
        );
        let mut revoked = [key(1, t0), key(2, t0 + delta(15 * MINUTE))];
        revoked[0].revoked_at = Some(t0);
        assert_eq!(
            plan(&revoked, t0, &schedule(), Algorithm::ES256),
            Plan::Activate { kid: "k2".into() }
        );
        assert_eq!(
            plan(&rows, t0, &schedule(), Algorithm::EdDSA),
            Plan::Create {
                activates_at: t0 + delta(15 * MINUTE)
            }
        );
    }
}
