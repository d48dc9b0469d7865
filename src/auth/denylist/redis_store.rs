//! The denylist in Redis, for many instances: one key per entry, expiring on its own (`EX`),
//! and a message on a channel for every revocation so that instances can keep a copy in step
//! (see [`super::sync`]); a revocation returns once they have (see [`super::acks`]).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use redis::{AsyncCommands, aio::ConnectionManager};
use uuid::Uuid;

use super::{Denylist, Revocable, acks::Acks};
use crate::error::AppResult;

/// Keys expire in Redis on their own, so pruning is a no-op.
pub struct RedisDenylist {
    conn: ConnectionManager,
    prefix: String,
    acks: Arc<Acks>,
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
    /// `acks` is shared with this instance's [`super::sync`] task, which hears the answers.
    pub fn new(conn: ConnectionManager, prefix: &str, acks: Arc<Acks>) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
            acks,
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

/// The channel on which `instance` hears that its revocations were applied.
pub(super) fn ack_channel(prefix: &str, instance: Uuid) -> String {
    format!("{prefix}denylist:ack:{instance}")
}

/// A revocation as announced: who asks for answers, and the entries.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Announcement {
    /// The revoking instance and its number for this revocation, to answer to.
    pub reply_to: Option<(Uuid, u64)>,
    pub entries: Vec<(Revocable, i64)>,
}

/// A revocation message: `ack <instance> <seq>`, then one `key expires_at` line per entry.
pub(super) fn message(reply_to: (Uuid, u64), entries: &[(Revocable, i64)]) -> String {
    let mut text = format!("ack {} {}", reply_to.0, reply_to.1);
    for (item, expires_at) in entries {
        text.push_str(&format!("\n{} {expires_at}", item.key()));
    }
    text
}

/// The [`message`] in `text` (one without the `ack` line, as older instances send, asks for
/// no answer); `None` if any line is not one.
pub(super) fn parse_message(text: &str) -> Option<Announcement> {
    let mut lines = text.lines().peekable();
    let reply_to = match lines.peek().and_then(|l| l.strip_prefix("ack ")) {
        Some(header) => {
            let (instance, seq) = header.split_once(' ')?;
            lines.next();
            Some((Uuid::parse_str(instance).ok()?, seq.parse().ok()?))
        }
        None => None,
    };
    let entries = lines
        .map(|line| {
            let (key, expires_at) = line.split_once(' ')?;
            Some((Revocable::parse(key)?, expires_at.parse().ok()?))
        })
        .collect::<Option<_>>()?;
    Some(Announcement { reply_to, entries })
}

#[async_trait]
impl Denylist for RedisDenylist {
    /// Sets the keys, then announces them; Redis runs the pipeline in order, so an instance that
    /// hears the announcement and asks Redis finds the keys. Returns once every instance that
    /// follows the channel has the entries in its copy (or after [`super::acks::WAIT`]).
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
        let pending = self.acks.expect();
        let reply_to = (self.acks.instance(), pending.seq);
        pipe.publish(channel(&self.prefix), message(reply_to, entries));
        let mut conn = self.conn.clone();
        let (receivers,): (usize,) = pipe.query_async(&mut conn).await?;
        if !pending.all_heard(receivers).await {
            tracing::warn!(
                receivers,
                "not every instance confirmed a revocation in time; one that missed it stops \
                 trusting its copy within seconds"
            );
        }
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
    fn messages_carry_who_to_answer_and_the_entries_and_nothing_else_parses() {
        let entries = vec![
            (Revocable::Token(Uuid::new_v4()), 1_700_000_000),
            (Revocable::Session(Uuid::new_v4()), 1_800_000_000),
        ];
        let reply_to = (Uuid::new_v4(), 7);
        let parsed = parse_message(&message(reply_to, &entries));
        assert_eq!(
            parsed,
            Some(Announcement {
                reply_to: Some(reply_to),
                entries: entries.clone()
            })
        );
        let without_header = format!("{} 1700000000", entries[0].0.key());
        let old = parse_message(&without_header).expect("an older instance's message");
        assert_eq!(old.reply_to, None);
        assert_eq!(parse_message("jti:nope 12"), None);
        assert_eq!(parse_message("ack nobody 1"), None);
        assert_eq!(parse_message("hello"), None);
    }
}
