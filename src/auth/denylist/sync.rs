//! Keeps a [`RevokedSet`] in step with the Redis denylist: subscribe to the revocation channel,
//! reload every key with SCAN (so nothing revoked before the subscription is missed), and only
//! then trust the set. Every announcement applied is answered to the instance that made it,
//! and the answers to this instance's own are passed to its [`Acks`]. Any failure (the connection closes, a ping goes unanswered, a message
//! cannot be read) distrusts the set at once, so the guard asks Redis directly, and the loop
//! starts over after a pause. A silent network failure is noticed within about
//! `HEARTBEAT + TIMEOUT`.

use std::{convert::Infallible, sync::Arc, time::Duration};

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use tokio::time::timeout;

use crate::tasks::BackgroundTask;

use super::{
    Revocable, RevokedSet,
    acks::Acks,
    redis_store::{ack_channel, channel, key_prefix, parse_message},
};

const TIMEOUT: Duration = Duration::from_secs(2);
const HEARTBEAT: Duration = Duration::from_secs(1);
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(30);

type SyncError = Box<dyn std::error::Error + Send + Sync>;

/// What one instance follows: its copy, and the answers to its own revocations.
pub struct Follower {
    pub prefix: String,
    pub set: Arc<RevokedSet>,
    pub acks: Arc<Acks>,
}

/// Follows the denylist under `follower.prefix` into its set until the handle is dropped.
pub fn spawn(client: redis::Client, conn: ConnectionManager, follower: Follower) -> BackgroundTask {
    BackgroundTask::spawn(async move {
        let set = &follower.set;
        let mut pause = RETRY_FIRST;
        loop {
            let Err(error) = follow(&client, conn.clone(), &follower).await;
            if set.is_trusted() {
                pause = RETRY_FIRST; // It had worked: retry soon.
            }
            set.set_trusted(false);
            tracing::warn!(
                error = %error,
                retry_in = ?pause,
                "denylist copy out of step with Redis: asking Redis on every check until resubscribed"
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    })
}

/// Subscribes, reloads, trusts the set, then applies announcements until something fails.
async fn follow(
    client: &redis::Client,
    mut conn: ConnectionManager,
    follower: &Follower,
) -> Result<Infallible, SyncError> {
    let Follower { prefix, set, acks } = follower;
    let answers = ack_channel(prefix, acks.instance());
    let pubsub = timeout(TIMEOUT, client.get_async_pubsub()).await??;
    let (mut sink, mut messages) = pubsub.split();
    timeout(TIMEOUT, sink.subscribe(&[channel(prefix), answers.clone()])).await??;
    set.insert(&reload(&mut conn, prefix).await?);
    set.set_trusted(true);
    tracing::info!(entries = set.len(), "denylist copy in step with Redis");
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            message = messages.next() => {
                let message = message.ok_or("the subscription was closed")?;
                let text: String = message.get_payload()?;
                if message.get_channel_name() == answers {
                    acks.heard(text.parse().map_err(|_| "an unreadable answer")?);
                    continue;
                }
                let announced = parse_message(&text).ok_or("an unreadable revocation message")?;
                set.insert(&announced.entries);
                if let Some((instance, seq)) = announced.reply_to {
                    let mut answer = redis::cmd("PUBLISH");
                    answer.arg(ack_channel(prefix, instance)).arg(seq);
                    timeout(TIMEOUT, answer.query_async::<()>(&mut conn)).await??;
                }
            }
            _ = heartbeat.tick() => {
                timeout(TIMEOUT, sink.ping::<redis::Value>()).await??;
            }
        }
    }
}

/// Every entry under `prefix`, with its expiry from the key's TTL.
async fn reload(
    conn: &mut ConnectionManager,
    prefix: &str,
) -> Result<Vec<(Revocable, i64)>, SyncError> {
    let start = key_prefix(prefix);
    let pattern = format!("{}*", glob_escape(&start));
    let now = crate::time::unix_now();
    let mut entries = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        for (key, ttl) in keys.iter().zip(ttls(conn, &keys).await?) {
            let Some(item) = key.strip_prefix(&start).and_then(Revocable::parse) else {
                continue;
            };
            match ttl {
                -2 => {} // Expired between SCAN and TTL.
                -1 => entries.push((item, i64::MAX)),
                ttl => entries.push((item, now + ttl + 1)),
            }
        }
        if next == 0 {
            return Ok(entries);
        }
        cursor = next;
    }
}

/// The TTL of each key, in one round trip.
async fn ttls(conn: &mut ConnectionManager, keys: &[String]) -> redis::RedisResult<Vec<i64>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.ttl(key);
    }
    pipe.query_async(conn).await
}

/// `text` as a literal in a Redis glob pattern.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::glob_escape;

    #[test]
    fn glob_characters_in_the_prefix_are_taken_literally() {
        assert_eq!(glob_escape("app:deny:"), "app:deny:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
