//! The throttle shared by many instances, in Redis: a failure counter per key (`INCR` with the
//! window as its TTL) and a lock key that expires by itself. A reservation runs as one Lua
//! script, which Redis executes atomically: no other instance's attempt interleaves with it.

use std::time::Duration;

use async_trait::async_trait;

use super::{Key, LoginThrottle, Reservation, ceil_secs};
use crate::error::AppResult;

/// KEYS: a counter and a lock key per throttle key, open keys first. ARGV: the number of open
/// keys, then per key its window (s), free failures, first and longest lockout (ms). Returns
/// the longest open lock in ms (refused), 0 (granted) or -1 (silent).
const RESERVE: &str = r"
local keys = #KEYS / 2
local open = tonumber(ARGV[1])
local longest = 0
for i = 1, open do
  longest = math.max(longest, redis.call('PTTL', KEYS[2 * i]))
end
if longest > 0 then return longest end
local counted = keys
for i = open + 1, keys do
  if redis.call('PTTL', KEYS[2 * i]) > 0 then counted = open end
end
for i = 1, counted do
  local a = 2 + 4 * (i - 1)
  local free, base, max = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local failures = redis.call('INCR', KEYS[2 * i - 1])
  redis.call('EXPIRE', KEYS[2 * i - 1], ARGV[a])
  if failures >= free then
    local ms = math.min(base * 2 ^ math.min(failures - free, 30), max)
    redis.call('SET', KEYS[2 * i], 1, 'PX', string.format('%d', math.max(ms, 1)))
  end
end
if counted < keys then return -1 end
return 0
";

/// KEYS: the counters and locks to delete, then the counters to give one back to. ARGV: how
/// many keys are to be deleted.
const SUCCEEDED: &str = r"
local clear = tonumber(ARGV[1])
for i = 1, clear do redis.call('DEL', KEYS[i]) end
for i = clear + 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
";

pub struct RedisThrottle {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    reserve: redis::Script,
    succeeded: redis::Script,
}

impl RedisThrottle {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            prefix: format!("{prefix}throttle:"),
            reserve: redis::Script::new(RESERVE),
            succeeded: redis::Script::new(SUCCEEDED),
        }
    }

    fn counter(&self, key: &str) -> String {
        format!("{}fail:{key}", self.prefix)
    }

    fn lock(&self, key: &str) -> String {
        format!("{}lock:{key}", self.prefix)
    }
}

#[async_trait]
impl LoginThrottle for RedisThrottle {
    async fn reserve(&self, open: &[Key<'_>], hidden: &[Key<'_>]) -> AppResult<Reservation> {
        let mut invocation = self.reserve.prepare_invoke();
        invocation.arg(open.len());
        for (key, policy) in open.iter().chain(hidden) {
            invocation.key(self.counter(key)).key(self.lock(key));
            invocation
                .arg(policy.window.as_secs().max(1))
                .arg(policy.free_failures)
                .arg(policy.base.as_millis().max(1) as u64)
                .arg(policy.max.as_millis().max(1) as u64);
        }
        let answer: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(match answer {
            0 => Reservation::Granted,
            ms if ms > 0 => Reservation::Locked {
                retry_after: ceil_secs(Duration::from_millis(ms as u64)),
            },
            _ => Reservation::Silent,
        })
    }

    async fn succeeded(&self, clear: &[String], refund: &[String]) -> AppResult<()> {
        let mut invocation = self.succeeded.prepare_invoke();
        invocation.arg(clear.len() * 2);
        for key in clear {
            invocation.key(self.counter(key)).key(self.lock(key));
        }
        for key in refund {
            invocation.key(self.counter(key));
        }
        invocation
            .invoke_async::<i64>(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
