//! The budgets shared by many instances, in Redis: a key per budget holding its TAT, compared
//! with the time the caller passes, so that every instance judges by the server's clock. A
//! spend runs as one Lua script, which Redis executes atomically: no other instance's spend
//! interleaves with it, so N parallel requests cannot spend one point twice. The sums are
//! `gcra.rs`'s. A key expires once its budget is full again.

use async_trait::async_trait;

use super::{Budget, BudgetStore, Standing, gcra::ceil_secs};
use crate::error::AppResult;

/// KEYS: a TAT per budget. ARGV: now (µs), the cost, then per budget its interval (µs) and
/// quota. Returns per budget: points left, µs until full, µs to wait (> 0: refused).
const SPEND: &str = r"
local now, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local taken, granted = {}, true
for i = 1, #KEYS do
  local interval, quota = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
  local new = tat + math.min(cost, quota) * interval
  local wait = new - interval * quota - now
  if wait > 0 then granted = false end
  taken[i] = {tat, new, interval, quota, wait}
end
local out = {}
for i = 1, #KEYS do
  local tat, new, interval, quota, wait = unpack(taken[i])
  local at = tat
  if granted then
    at = new
    redis.call('SET', KEYS[i], string.format('%d', new), 'PX', math.floor((new - now) / 1000) + 1)
  end
  out[#out + 1] = math.floor((interval * quota - (at - now)) / interval)
  out[#out + 1] = at - now
  out[#out + 1] = math.max(wait, 0)
end
return out
";

pub struct RedisBudgets {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    spend: redis::Script,
}

impl RedisBudgets {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            prefix: format!("{prefix}ratelimit:"),
            spend: redis::Script::new(SPEND),
        }
    }
}

#[async_trait]
impl BudgetStore for RedisBudgets {
    async fn spend(&self, budgets: &[Budget], cost: u64, now: i64) -> AppResult<Vec<Standing>> {
        let mut invocation = self.spend.prepare_invoke();
        invocation.arg(now).arg(cost);
        for budget in budgets {
            invocation.key(format!("{}{}", self.prefix, budget.key));
            invocation.arg(budget.rate.interval).arg(budget.rate.quota);
        }
        let answer: Vec<i64> = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(answer
            .chunks_exact(3)
            .map(|n| Standing {
                remaining: u64::try_from(n[0]).unwrap_or(0),
                reset: ceil_secs(n[1]),
                retry_after: (n[2] > 0).then(|| ceil_secs(n[2]).max(1)),
            })
            .collect())
    }
}
