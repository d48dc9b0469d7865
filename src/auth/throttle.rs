//! Login throttling against password guessing: per account and per client address, failures
//! beyond a free allowance lock the key for an exponentially growing time, capped so that a
//! legitimate owner is never locked out for long. A success clears the account's record.
//!
//! Behind a small trait like the denylist's: an in-process store for one instance, Redis when
//! several instances must share what they have seen.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;

use crate::error::AppResult;

/// How failures turn into lockouts.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Failures allowed before the first lockout.
    pub free_failures: u32,
    /// The first lockout; each further failure doubles it.
    pub base: Duration,
    /// The longest lockout.
    pub max: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

impl Policy {
    /// The lockout after the `failures`-th failure, if any.
    pub fn lockout(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free_failures)?;
        let factor = 2u32.saturating_pow(over.min(30));
        Some(self.base.saturating_mul(factor).min(self.max))
    }
}

#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// Seconds until the first of `keys` unlocks, or `None` when none is locked.
    async fn retry_after(&self, keys: &[String]) -> AppResult<Option<u64>>;
    /// Records a failed attempt against each key (each key with its own policy).
    async fn failure(&self, keys: &[(String, &Policy)]) -> AppResult<()>;
    /// Forgets the failures of `key` after a successful login.
    async fn success(&self, key: &str) -> AppResult<()>;
}

#[derive(Default)]
pub struct MemoryThrottle {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
    window: Duration,
}

impl MemoryThrottle {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl LoginThrottle for MemoryThrottle {
    async fn retry_after(&self, keys: &[String]) -> AppResult<Option<u64>> {
        let now = Instant::now();
        let entries = self.entries();
        let longest = keys
            .iter()
            .filter_map(|k| entries.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        Ok(longest.map(ceil_secs))
    }

    async fn failure(&self, keys: &[(String, &Policy)]) -> AppResult<()> {
        let now = Instant::now();
        let mut entries = self.entries();
        if entries.len() > 100_000 {
            entries.retain(|_, e| now - e.last_failure < e.window);
        }
        for (key, policy) in keys {
            let entry = entries.entry(key.clone()).or_insert(Entry {
                failures: 0,
                last_failure: now,
                locked_until: None,
                window: policy.window,
            });
            if now - entry.last_failure >= policy.window {
                entry.failures = 0;
            }
            entry.failures += 1;
            entry.last_failure = now;
            entry.locked_until = policy.lockout(entry.failures).map(|d| now + d);
        }
        Ok(())
    }

    async fn success(&self, key: &str) -> AppResult<()> {
        self.entries().remove(key);
        Ok(())
    }
}

/// Failure counters (`INCR` with the window as TTL) and lock keys that expire by themselves.
pub struct RedisThrottle {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl RedisThrottle {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            prefix: format!("{prefix}throttle:"),
        }
    }
}

#[async_trait]
impl LoginThrottle for RedisThrottle {
    async fn retry_after(&self, keys: &[String]) -> AppResult<Option<u64>> {
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.pttl(format!("{}lock:{key}", self.prefix));
        }
        let ttls: Vec<i64> = pipe.query_async(&mut self.conn.clone()).await?;
        let longest = ttls.into_iter().filter(|ms| *ms > 0).max();
        Ok(longest.map(|ms| ceil_secs(Duration::from_millis(ms as u64))))
    }

    async fn failure(&self, keys: &[(String, &Policy)]) -> AppResult<()> {
        let mut conn = self.conn.clone();
        for (key, policy) in keys {
            let counter = format!("{}fail:{key}", self.prefix);
            let (failures,): (u32,) = redis::pipe()
                .incr(&counter, 1)
                .expire(&counter, policy.window.as_secs().max(1) as i64)
                .ignore()
                .query_async(&mut conn)
                .await?;
            if let Some(lockout) = policy.lockout(failures) {
                let lock = format!("{}lock:{key}", self.prefix);
                let ms = lockout.as_millis().max(1) as u64;
                redis::cmd("SET")
                    .arg(&lock)
                    .arg(1)
                    .arg("PX")
                    .arg(ms)
                    .query_async::<()>(&mut conn)
                    .await?;
            }
        }
        Ok(())
    }

    async fn success(&self, key: &str) -> AppResult<()> {
        let keys = [
            format!("{}fail:{key}", self.prefix),
            format!("{}lock:{key}", self.prefix),
        ];
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            free_failures: 3,
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
            window: Duration::from_secs(3600),
        }
    }

    #[test]
    fn lockouts_double_after_the_free_failures_and_stop_at_the_cap() {
        let p = policy();
        assert_eq!(p.lockout(2), None);
        assert_eq!(p.lockout(3), Some(Duration::from_secs(2)));
        assert_eq!(p.lockout(4), Some(Duration::from_secs(4)));
        assert_eq!(p.lockout(50), Some(Duration::from_secs(60)));
    }

    #[tokio::test]
    async fn a_success_clears_the_account_but_not_the_address() {
        let t = MemoryThrottle::default();
        let p = policy();
        let keys = ["acct:ada".to_owned(), "ip:1".to_owned()];
        for _ in 0..3 {
            t.failure(&[(keys[0].clone(), &p), (keys[1].clone(), &p)])
                .await
                .ok();
        }
        assert_eq!(t.retry_after(&keys).await.ok().flatten(), Some(2));
        t.success("acct:ada").await.ok();
        assert_eq!(t.retry_after(&keys[..1]).await.ok().flatten(), None);
        assert_eq!(t.retry_after(&keys[1..]).await.ok().flatten(), Some(2));
    }
}
