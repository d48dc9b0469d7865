//! The throttle of a single instance: every key's record in one map behind one lock, so that a
//! reservation over several keys is atomic. Times are the Unix milliseconds the caller passes
//! (the server's clock).

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use async_trait::async_trait;

use super::{Key, Reservation, ThrottleStore, ceil_secs};
use crate::error::AppResult;

/// Records are dropped once their failures are forgotten, checked when the map grows past this.
const PRUNE_ABOVE: usize = 100_000;

#[derive(Default)]
pub struct MemoryThrottle {
    // A std lock: held for a few map operations, never across an await.
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    failures: u32,
    last_failure: i64,
    locked_until: Option<i64>,
    window: i64,
}

impl Entry {
    fn locked_for(&self, now: i64) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| Duration::from_millis((until - now).unsigned_abs()))
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl MemoryThrottle {
    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ThrottleStore for MemoryThrottle {
    async fn reserve(
        &self,
        open: &[Key<'_>],
        hidden: &[Key<'_>],
        now: i64,
    ) -> AppResult<Reservation> {
        let mut entries = self.entries();
        let locked = |keys: &[Key<'_>]| {
            keys.iter()
                .filter_map(|(key, _)| entries.get(key)?.locked_for(now))
                .max()
        };
        if let Some(longest) = locked(open) {
            return Ok(Reservation::Locked {
                retry_after: ceil_secs(longest),
            });
        }
        let silent = locked(hidden).is_some();
        if entries.len() > PRUNE_ABOVE {
            entries.retain(|_, e| now - e.last_failure < e.window || e.locked_for(now).is_some());
        }
        let counted = if silent {
            open.len()
        } else {
            open.len() + hidden.len()
        };
        for (key, policy) in open.iter().chain(hidden).take(counted) {
            let entry = entries.entry(key.clone()).or_insert(Entry {
                failures: 0,
                last_failure: now,
                locked_until: None,
                window: millis(policy.window),
            });
            if now - entry.last_failure >= millis(policy.window) {
                entry.failures = 0;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            if let Some(lockout) = policy.lockout(entry.failures) {
                entry.locked_until = Some(now.saturating_add(millis(lockout)));
            }
        }
        Ok(match silent {
            true => Reservation::Silent,
            false => Reservation::Granted,
        })
    }

    async fn succeeded(&self, clear: &[String], refund: &[String]) -> AppResult<()> {
        let mut entries = self.entries();
        for key in clear {
            entries.remove(key);
        }
        for key in refund {
            if let Some(entry) = entries.get_mut(key) {
                entry.failures = entry.failures.saturating_sub(1);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::throttle::Policy;

    fn policy(free_failures: u32) -> Policy {
        Policy {
            free_failures,
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
            window: Duration::from_secs(3600),
        }
    }

    fn keys<'a>(names: &[&str], policy: &'a Policy) -> Vec<Key<'a>> {
        names.iter().map(|n| (n.to_string(), policy)).collect()
    }

    #[tokio::test]
    async fn attempts_past_the_allowance_are_refused_before_any_is_checked() {
        let t = MemoryThrottle::default();
        let p = policy(3);
        let open = keys(&["login:ada"], &p);
        let mut answers = Vec::new();
        for _ in 0..5 {
            answers.push(t.reserve(&open, &[], 0).await.expect("reserve"));
        }
        let granted = answers
            .iter()
            .filter(|a| **a == Reservation::Granted)
            .count();
        assert_eq!(granted, 3);
        assert_eq!(answers[4], Reservation::Locked { retry_after: 2 });
    }

    #[tokio::test]
    async fn a_locked_hidden_key_is_silent_and_counts_only_the_open_keys() {
        let t = MemoryThrottle::default();
        let p = policy(2);
        let account = keys(&["user:1"], &p);
        for _ in 0..2 {
            t.reserve(&keys(&["login:ada"], &p), &account, 0).await.ok();
        }
        let by_email = keys(&["login:ada@example.com"], &p);
        assert_eq!(
            t.reserve(&by_email, &account, 0).await.ok(),
            Some(Reservation::Silent)
        );
        assert_eq!(
            t.reserve(&by_email, &account, 0).await.ok(),
            Some(Reservation::Silent)
        );
        // The email's own failures lock it, as they would lock an email of nobody's.
        let third = t.reserve(&by_email, &account, 0).await.ok();
        assert_eq!(third, Some(Reservation::Locked { retry_after: 2 }));
    }

    #[tokio::test]
    async fn a_success_clears_its_keys_and_gives_back_the_address_attempt() {
        let t = MemoryThrottle::default();
        let p = policy(3);
        let open = keys(&["login:ada", "ip:1"], &p);
        for _ in 0..2 {
            t.reserve(&open, &[], 0).await.ok();
        }
        t.succeeded(&["login:ada".into()], &["ip:1".into()])
            .await
            .ok();
        let entries = t.entries();
        assert!(!entries.contains_key("login:ada"));
        assert_eq!(entries.get("ip:1").map(|e| e.failures), Some(1));
    }

    #[tokio::test]
    async fn a_lockout_ends_when_the_given_time_has_passed_it() {
        let t = MemoryThrottle::default();
        let p = policy(1);
        let open = keys(&["login:ada"], &p);
        assert_eq!(
            t.reserve(&open, &[], 0).await.ok(),
            Some(Reservation::Granted)
        );
        let locked = t.reserve(&open, &[], 1_500).await.ok();
        assert_eq!(locked, Some(Reservation::Locked { retry_after: 1 }));
        let later = t.reserve(&open, &[], 2_000).await.ok();
        assert_eq!(later, Some(Reservation::Granted));
    }
}
