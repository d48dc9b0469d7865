//! The replay cache: a proof's (`jkt`, `jti`) is accepted once while the proof could still be
//! accepted (`DPOP_PROOF_MAX_AGE`). In Redis when configured (`SET NX PX`: every instance
//! shares it), else in this process, bounded: past [`MAX_REMEMBERED`] live entries new proofs
//! are refused (SERVICE_UNAVAILABLE) rather than remembered loosely, so memory stays under about
//! 20 MiB whatever the flood.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

/// Live entries kept in memory at most (each a 32-byte digest and its expiry, twice).
pub const MAX_REMEMBERED: usize = 200_000;

#[async_trait]
pub trait ReplayCache: Send + Sync {
    /// True the first time (`jkt`, `jti`) is seen before `until` (Unix milliseconds, `now` the
    /// current time in the same unit); false for a replay.
    async fn first_use(&self, jkt: &str, jti: &str, now: i64, until: i64) -> AppResult<bool>;
}

fn digest(jkt: &str, jti: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(jkt.as_bytes());
    hash.update([0]);
    hash.update(jti.as_bytes());
    hash.finalize().into()
}

#[derive(Default)]
pub struct MemoryReplayCache {
    inner: Mutex<Remembered>,
}

#[derive(Default)]
struct Remembered {
    until: HashMap<[u8; 32], i64>,
    /// In order of arrival, for pruning what has expired.
    order: VecDeque<([u8; 32], i64)>,
}

#[async_trait]
impl ReplayCache for MemoryReplayCache {
    async fn first_use(&self, jkt: &str, jti: &str, now: i64, until: i64) -> AppResult<bool> {
        let key = digest(jkt, jti);
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| AppError::internal("the DPoP replay cache lock is poisoned"))?;
        while let Some(&(old, expires)) = inner.order.front() {
            if expires > now {
                break;
            }
            inner.order.pop_front();
            if inner.until.get(&old) == Some(&expires) {
                inner.until.remove(&old);
            }
        }
        if inner.until.get(&key).is_some_and(|&expires| expires > now) {
            return Ok(false);
        }
        if inner.until.len() >= MAX_REMEMBERED {
            let full = std::io::Error::other("the DPoP replay cache is full");
            return Err(AppError::Unavailable(std::sync::Arc::new(full)));
        }
        inner.until.insert(key, until);
        inner.order.push_back((key, until));
        Ok(true)
    }
}

pub struct RedisReplayCache {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisReplayCache {
    pub fn new(conn: ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            prefix: format!("{prefix}dpop:"),
        }
    }
}

#[async_trait]
impl ReplayCache for RedisReplayCache {
    async fn first_use(&self, jkt: &str, jti: &str, now: i64, until: i64) -> AppResult<bool> {
        let hex: String = digest(jkt, jti)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let ttl = u64::try_from(until.saturating_sub(now)).unwrap_or(0).max(1);
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("{}{hex}", self.prefix))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl)
            .query_async(&mut conn)
            .await
            .map_err(|e| AppError::Unavailable(std::sync::Arc::new(e)))?;
        Ok(set.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_proof_is_accepted_once_until_it_expires() {
        let cache = MemoryReplayCache::default();
        assert!(cache.first_use("k", "1", 0, 1000).await.expect("asked"));
        assert!(!cache.first_use("k", "1", 500, 1500).await.expect("asked"));
        assert!(
            cache
                .first_use("other", "1", 500, 1500)
                .await
                .expect("asked")
        );
        assert!(cache.first_use("k", "1", 1000, 2000).await.expect("asked"));
    }
}
