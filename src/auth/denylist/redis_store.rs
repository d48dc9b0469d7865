//! The denylist in Redis, for many instances: one key per entry, expiring on its own (`EX`),
//! and a message on a channel for every revocation so that instances can keep a copy in step
//! (see [`super::sync`]).

use std::time::Duration;

use async_trait::async_trait;
use redis::{AsyncCommands, aio::ConnectionManager};

use super::{Denylist, Revocable};
use crate::error::AppResult;

/// Keys expire in Redis on their own, so pruning is a no-op.
pub struct RedisDenylist {
    conn: ConnectionManager,
    prefix: String,
}

/// A client (for subscriptions) and a reconnecting connection with short timeouts: a slow
/// Redis must fail the request (closed), not hang it.
pub async fn connect_redis(url: &str) -> redis::RedisResult<(redis::Client, ConnectionManager)> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
    Ok((client, conn))
}

impl RedisDenylist {
    pub fn new(conn: ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, item: Revocable) -> String {
        format!("{}{}", key_prefix(&self.prefix), item.key())
    }
}

/// Every entry's key starts with this.
pub(super) fn key_prefix(prefix: &str) -> String {
    format!("{prefix}deny:")
}

/// The channel on which revocations are announced.
pub(super) fn channel(prefix: &str) -> String {
    format!("{prefix}denylist")
}

/// A revocation message: one `key expires_at` line per entry.
pub(super) fn message(entries: &[(Revocable, i64)]) -> String {
    let lines: Vec<_> = entries
        .iter()
        .map(|(item, expires_at)| format!("{} {expires_at}", item.key()))
        .collect();
    lines.join("\n")
}

/// The entries of a [`message`]; `None` if any line is not one.
pub(super) fn parse_message(text: &str) -> Option<Vec<(Revocable, i64)>> {
    text.lines()
        .map(|line| {
            let (key, expires_at) = line.split_once(' ')?;
            Some((Revocable::parse(key)?, expires_at.parse().ok()?))
        })
        .collect()
}

#[async_trait]
impl Denylist for RedisDenylist {
    /// Sets the keys, then announces them; Redis runs the pipeline in order, so an instance that
    /// hears the announcement and asks Redis finds the keys.
    async fn revoke(&self, entries: &[(Revocable, i64)]) -> AppResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        let now = crate::time::unix_now();
        for (item, expires_at) in entries {
            let ttl = (*expires_at - now).max(1) as u64;
            pipe.set_ex(self.key(*item), 1, ttl).ignore();
        }
        pipe.publish(channel(&self.prefix), message(entries))
            .ignore();
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

    fn source(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn messages_carry_entries_and_nothing_else_parses() {
        let entries = vec![
            (Revocable::Token(Uuid::new_v4()), 1_700_000_000),
            (Revocable::Session(Uuid::new_v4()), 1_800_000_000),
        ];
        assert_eq!(parse_message(&message(&entries)), Some(entries));
        assert_eq!(parse_message("jti:nope 12"), None);
        assert_eq!(parse_message("hello"), None);
    }
}
