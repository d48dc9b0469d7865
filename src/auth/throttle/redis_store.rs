//! The throttle shared by many instances, in Redis: a hash per key (attempts, the last one, the
//! end of its lockout), compared with the time the caller passes, so that every instance
//! judges by the server's clock. A reservation runs as one Lua script, which Redis executes
//! atomically: no other instance's attempt interleaves with it. Keys expire by themselves
//! once their window and longest lockout have passed.

use std::time::Duration;

use async_trait::async_trait;

use super::{Key, Reservation, ThrottleStore, ceil_secs};
use crate::error::AppResult;

/// KEYS: a hash per throttle key, open keys first. ARGV: now (ms), the number of open keys,
/// then per key its window, free attempts, first and longest lockout (ms). Returns the
/// longest open lock in ms (refused), 0 (granted) or -1 (silent).
const RESERVE: &str = r"
local now = tonumber(ARGV[1])
local open = tonumber(ARGV[2])
local function locked(key)
  return tonumber(redis.call('HGET', key, 'u') or '0') - now
end
local longest = 0
for i = 1, open do longest = math.max(longest, locked(KEYS[i])) end
if longest > 0 then return longest end
local counted = #KEYS
for i = open + 1, #KEYS do
  if locked(KEYS[i]) > 0 then counted = open end
end
for i = 1, counted do
  local a = 3 + 4 * (i - 1)
  local window, free = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local base, max = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local key = KEYS[i]
  local failures = tonumber(redis.call('HGET', key, 'f') or '0')
  if now - tonumber(redis.call('HGET', key, 'l') or '0') >= window then failures = 0 end
  failures = failures + 1
  redis.call('HSET', key, 'f', failures, 'l', now)
  if failures >= free then
    local ms = math.min(base * 2 ^ math.min(failures - free, 30), max)
    redis.call('HSET', key, 'u', string.format('%d', now + math.max(ms, 1)))
  end
  redis.call('PEXPIRE', key, window + max)
end
if counted < #KEYS then return -1 end
return 0
";

/// KEYS: the hashes to delete, then those to give one attempt back to. ARGV: how many are to
/// be deleted.
const SUCCEEDED: &str = r"
local clear = tonumber(ARGV[1])
for i = 1, clear do redis.call('DEL', KEYS[i]) end
for i = clear + 1, #KEYS do
  if tonumber(redis.call('HGET', KEYS[i], 'f') or '0') > 0 then
    redis.call('HINCRBY', KEYS[i], 'f', -1)
  end
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

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl ThrottleStore for RedisThrottle {
    async fn reserve(
        &self,
        open: &[Key<'_>],
        hidden: &[Key<'_>],
        now: i64,
    ) -> AppResult<Reservation> {
        let mut invocation = self.reserve.prepare_invoke();
        invocation.arg(now).arg(open.len());
        for (key, policy) in open.iter().chain(hidden) {
            invocation.key(self.key(key));
            invocation
                .arg(millis(policy.window))
                .arg(policy.free_failures)
                .arg(millis(policy.base))
                .arg(millis(policy.max));
        }
        let answer: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(match answer {
            0 => Reservation::Granted,
            ms if ms > 0 => Reservation::Locked {
                retry_after: ceil_secs(Duration::from_millis(ms.unsigned_abs())),
            },
            _ => Reservation::Silent,
        })
    }

    async fn succeeded(&self, clear: &[String], refund: &[String]) -> AppResult<()> {
        let mut invocation = self.succeeded.prepare_invoke();
        invocation.arg(clear.len());
        for key in clear.iter().chain(refund) {
            invocation.key(self.key(key));
        }
        invocation
            .invoke_async::<i64>(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
