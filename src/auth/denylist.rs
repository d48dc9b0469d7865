//! The token denylist: which tokens (`jti`) and login sessions (`sid`) are revoked.
//!
//! Behind a small trait with two stores: the database (the default; survives restarts) and
//! Redis (for many instances: a revocation on one is seen by all at once). Either way a token is
//! refused when the store cannot be asked: errors propagate, they never read as "not revoked".

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use redis::AsyncCommands;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{db, error::AppResult};

/// What can be revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocable {
    Token(Uuid),
    Session(Uuid),
}

impl Revocable {
    fn key(self) -> String {
        match self {
            Self::Token(jti) => format!("jti:{jti}"),
            Self::Session(sid) => format!("sid:{sid}"),
        }
    }
}

#[async_trait]
pub trait Denylist: Send + Sync {
    /// Revokes each entry until its Unix time `expires_at` (after which the token is dead anyway).
    async fn revoke(&self, entries: &[(Revocable, i64)]) -> AppResult<()>;
    /// True when any of `items` is revoked.
    async fn any_revoked(&self, items: &[Revocable]) -> AppResult<bool>;
    /// Drops entries that expired before `now`; returns how many.
    async fn prune(&self, now: i64) -> AppResult<u64>;
}

pub type SharedDenylist = Arc<dyn Denylist>;

pub struct SqlDenylist {
    db: DatabaseConnection,
}

impl SqlDenylist {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl Denylist for SqlDenylist {
    async fn revoke(&self, entries: &[(Revocable, i64)]) -> AppResult<()> {
        let rows: Vec<_> = entries.iter().map(|(r, exp)| (r.key(), *exp)).collect();
        db::denylist::insert(&self.db, &rows).await
    }

    async fn any_revoked(&self, items: &[Revocable]) -> AppResult<bool> {
        let keys: Vec<_> = items.iter().map(|r| r.key()).collect();
        db::denylist::any_present(&self.db, &keys).await
    }

    async fn prune(&self, now: i64) -> AppResult<u64> {
        db::denylist::delete_expired(&self.db, now).await
    }
}

/// Keys expire in Redis on their own (`EXAT`), so pruning is a no-op.
pub struct RedisDenylist {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

/// A reconnecting Redis connection with short timeouts: a slow Redis must fail the request
/// (closed), not hang it.
pub async fn connect_redis(url: &str) -> redis::RedisResult<redis::aio::ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    redis::aio::ConnectionManager::new_with_config(client, config).await
}

impl RedisDenylist {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, item: Revocable) -> String {
        format!("{}deny:{}", self.prefix, item.key())
    }
}

#[async_trait]
impl Denylist for RedisDenylist {
    async fn revoke(&self, entries: &[(Revocable, i64)]) -> AppResult<()> {
        let mut pipe = redis::pipe();
        let now = crate::time::unix_now();
        for (item, expires_at) in entries {
            let ttl = (*expires_at - now).max(1) as u64;
            pipe.set_ex(self.key(*item), 1, ttl).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn any_revoked(&self, items: &[Revocable]) -> AppResult<bool> {
        let keys: Vec<_> = items.iter().map(|r| self.key(*r)).collect();
        let mut conn = self.conn.clone();
        let found: u64 = conn.exists(keys).await?;
        Ok(found > 0)
    }

    async fn prune(&self, _now: i64) -> AppResult<u64> {
        Ok(0)
    }
}

/// Prunes the denylist every `every` until dropped (the handle aborts the task).
pub fn spawn_pruning(denylist: SharedDenylist, every: Duration) -> PruneTask {
    let handle = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match denylist.prune(crate::time::unix_now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "pruned expired denylist entries"),
                Err(err) => tracing::warn!(error = ?err, "denylist pruning failed"),
            }
        }
    });
    PruneTask(handle)
}

pub struct PruneTask(tokio::task::JoinHandle<()>);

impl Drop for PruneTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
