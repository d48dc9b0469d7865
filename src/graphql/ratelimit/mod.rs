//! Rate limits on every operation, whatever carries it: each operation costs what its fields
//! and pages weigh (`cost.rs`), spent from two budgets that must both have room, one per client
//! address and one per user (when the request carries a valid token). A budget holds
//! `RATE_LIMIT_ADDRESS` (or `RATE_LIMIT_USER`) points and refills them evenly over
//! `RATE_LIMIT_WINDOW` (a token bucket, kept as a GCRA: `gcra.rs`); 0 turns a budget off.
//!
//! A spend is one atomic step over both budgets: either both have room and both are charged,
//! or neither is charged, so N parallel requests let through exactly what the budgets hold.
//! Behind a small trait like the throttle's: an in-process store for one instance, Redis (a
//! Lua script) when instances must share the budgets. A store that fails lets the request
//! through (logged and counted as a Redis error): the budgets protect the service, and a
//! Redis outage must not take every request down with it.
//!
//! Time comes from the server's [`Clock`], so tests move it instead of sleeping out a window.
//! Login, password resets and verification mail keep their own stricter throttles
//! (`auth::throttle`).

pub mod gcra;
mod memory;
mod redis_store;

use std::{
    net::{IpAddr, Ipv6Addr},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use uuid::Uuid;

pub use self::{memory::MemoryBudgets, redis_store::RedisBudgets};
use crate::{error::AppResult, observe, time::Clock};

/// The budgets, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Points per window per client address (`RATE_LIMIT_ADDRESS`); 0: no such budget.
    pub address: u64,
    /// Points per window per user (`RATE_LIMIT_USER`); 0: no such budget.
    pub user: u64,
    /// The time a budget takes to refill from empty (`RATE_LIMIT_WINDOW`).
    pub window: Duration,
}

/// Which budget: the names of the `RateLimit-Policy` header's policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Address,
    User,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::User => "user",
        }
    }
}

/// One budget as a store sees it: its key and rate.
#[derive(Clone, Debug)]
pub struct Budget {
    pub key: String,
    pub rate: gcra::Rate,
}

/// A budget's standing after a spend (or, when refused, as it stands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// Points left.
    pub remaining: u64,
    /// Seconds until it is full again.
    pub reset: u64,
    /// Seconds until the refused cost fits; `None` when it did.
    pub retry_after: Option<u64>,
}

#[async_trait]
pub trait BudgetStore: Send + Sync {
    /// In one atomic step at `now` (Unix microseconds): when every budget has room for `cost`,
    /// takes it from each, else takes nothing. Each budget's standing, in order.
    async fn spend(&self, budgets: &[Budget], cost: u64, now: i64) -> AppResult<Vec<Standing>>;
}

/// What one request spent, and from what: the numbers of the RateLimit headers.
#[derive(Clone, Debug, Default)]
pub struct Spent {
    pub cost: u64,
    /// The window in seconds (`w`), and each budget with its quota (`q`) and standing.
    pub window: u64,
    pub budgets: Vec<(Policy, u64, Standing)>,
}

impl Spent {
    /// The seconds to wait when a budget refused the cost (nothing was taken).
    pub fn retry_after(&self) -> Option<u64> {
        self.budgets
            .iter()
            .filter_map(|(_, _, s)| s.retry_after)
            .max()
    }

    /// The budget that limits the caller most: the one that refused for longest, else the one
    /// with the fewest points left.
    pub fn tightest(&self) -> Option<&(Policy, u64, Standing)> {
        let refused = self.budgets.iter().filter(|b| b.2.retry_after.is_some());
        refused.max_by_key(|b| b.2.retry_after).or_else(|| {
            self.budgets
                .iter()
                .min_by_key(|b| (b.2.remaining, !b.2.reset))
        })
    }
}

/// The budgets as the server runs them: the store, the limits and the clock.
#[derive(Clone)]
pub struct Budgets {
    store: Arc<dyn BudgetStore>,
    limits: Limits,
    clock: Clock,
}

impl Budgets {
    pub fn new(store: Arc<dyn BudgetStore>, limits: Limits, clock: Clock) -> Self {
        Self {
            store,
            limits,
            clock,
        }
    }

    /// Spends `cost` from the budgets of `client` and `user` (those known and on). A store
    /// failure spends nothing and refuses nothing.
    pub async fn spend(&self, client: Option<IpAddr>, user: Option<Uuid>, cost: u64) -> Spent {
        let window_us = u64::try_from(self.limits.window.as_micros()).unwrap_or(u64::MAX);
        let mut policies = Vec::with_capacity(2);
        let mut budgets = Vec::with_capacity(2);
        let wanted = [
            (
                Policy::Address,
                self.limits.address,
                client.map(address_key),
            ),
            (
                Policy::User,
                self.limits.user,
                user.map(|id| format!("user:{id}")),
            ),
        ];
        for (policy, quota, key) in wanted {
            if let (Some(key), true) = (key, quota > 0) {
                policies.push((policy, quota));
                let rate = gcra::Rate::new(quota, window_us);
                budgets.push(Budget { key, rate });
            }
        }
        let mut spent = Spent {
            cost,
            window: self.limits.window.as_secs().max(1),
            budgets: Vec::new(),
        };
        if budgets.is_empty() {
            return spent;
        }
        let now = self.clock.now().timestamp_micros();
        let Ok(standings) = self.store.spend(&budgets, cost, now).await else {
            tracing::warn!("the rate-limit store failed: the request is let through");
            return spent;
        };
        spent.budgets = policies
            .into_iter()
            .zip(standings)
            .map(|((policy, quota), standing)| (policy, quota, standing))
            .collect();
        if let Some((policy, _, _)) = spent.tightest().filter(|_| spent.retry_after().is_some()) {
            observe::rate_limited(policy.name());
        }
        spent
    }
}

/// An address's budget key: an IPv6 client by its /64, the block one subscriber is given
/// (any of its addresses is one client), an IPv4-mapped one as IPv4.
fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("ip:{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_keyed_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        let v6: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("address");
        assert_eq!(address_key(v6), "ip:2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("address");
        assert_eq!(address_key(mapped), "ip:192.0.2.1");
    }

    #[tokio::test]
    async fn both_budgets_must_have_room_and_a_refusal_takes_from_neither() {
        let limits = Limits {
            address: 100,
            user: 10,
            window: Duration::from_secs(3600),
        };
        let budgets = Budgets::new(
            Arc::new(MemoryBudgets::default()),
            limits,
            Clock::adjustable(),
        );
        let client = Some(IpAddr::from([127, 0, 0, 1]));
        let user = Some(Uuid::nil());
        let spent = budgets.spend(client, user, 8).await;
        assert_eq!(
            spent.tightest().map(|b| (b.0, b.2.remaining)),
            Some((Policy::User, 2))
        );
        let refused = budgets.spend(client, user, 5).await;
        assert!(refused.retry_after().is_some());
        assert_eq!(refused.tightest().map(|b| b.0), Some(Policy::User));
        // The address kept its points: another user from it is served.
        let other = budgets.spend(client, Some(Uuid::from_u128(1)), 5).await;
        assert_eq!(other.retry_after(), None);
        let address = other.budgets.iter().find(|b| b.0 == Policy::Address);
        assert_eq!(address.map(|b| b.2.remaining), Some(100 - 8 - 5));
    }
}
