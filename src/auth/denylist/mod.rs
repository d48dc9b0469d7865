//! The token denylist: which tokens (`jti`) and login sessions (`sid`) are revoked.
//!
//! Behind a small trait with two stores, [`SqlDenylist`] (the default; survives restarts) and
//! [`RedisDenylist`] (for many instances), and one wrapper, [`CachedDenylist`], that answers the
//! guard's question from an in-process set whenever that set is known to be complete:
//! - SQLite: one process owns the file, so the set is loaded at start-up, written through on
//!   every revocation and is always trusted.
//! - Redis: [`sync`] keeps the set in step through pub/sub; while the subscription is down (or
//!   not yet reloaded) every check goes to Redis.
//! - PostgreSQL without Redis: the bare SQL store, no cache (several instances may write the
//!   table; see `bench/NOTES.md` for why this stays a query).
//!
//! Either way a token is refused when the store cannot be asked: errors propagate, they never
//! read as "not revoked".

pub mod acks;
mod cached;
mod redis_store;
mod sql_store;
pub mod sync;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use uuid::Uuid;

pub use self::{
    cached::{CachedDenylist, RevokedSet},
    redis_store::{RedisDenylist, connect_redis},
    sql_store::SqlDenylist,
};
use crate::{error::AppResult, tasks::BackgroundTask, time::Clock};

/// What can be revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Revocable {
    Token(Uuid),
    Session(Uuid),
}

impl Revocable {
    /// The key the stores use: `jti:<uuid>` or `sid:<uuid>`.
    pub fn key(self) -> String {
        match self {
            Self::Token(jti) => format!("jti:{jti}"),
            Self::Session(sid) => format!("sid:{sid}"),
        }
    }

    /// The inverse of [`Revocable::key`]; `None` for anything else.
    pub fn parse(key: &str) -> Option<Self> {
        let (kind, id) = key.split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "jti" => Some(Self::Token(id)),
            "sid" => Some(Self::Session(id)),
            _ => None,
        }
    }
}

/// A wake-up for when an entry is revoked, from a store that hears of revocations (the
/// in-process copy): a long-lived connection waits on it instead of only asking every interval.
/// Wakes at most once per entry and may wake for nothing; ask [`Denylist::any_revoked`] then.
pub struct Watch {
    wakes: Vec<Arc<tokio::sync::Notify>>,
}

impl Watch {
    /// Resolves at the next revocation of a watched entry. Register before asking the store,
    /// so that a revocation between the two is not missed.
    pub fn revoked(&self) -> impl Future<Output = ()> + '_ {
        let waits: Vec<_> = self
            .wakes
            .iter()
            .map(|notify| Box::pin(notify.notified()))
            .collect();
        async move {
            if waits.is_empty() {
                return std::future::pending().await;
            }
            futures_util::future::select_all(waits).await;
        }
    }
}

#[async_trait]
pub trait Denylist: Send + Sync {
    /// A wake-up for revocations of `items`, where the store can give one.
    fn watch(&self, _items: &[Revocable]) -> Option<Watch> {
        None
    }
    /// Whether every revocation, from any instance, wakes a [`Watch`] right now (and so
    /// nobody needs to ask at intervals).
    fn hears_every_revocation(&self) -> bool {
        false
    }
    /// Revokes each entry until its Unix time `expires_at` (after which the token is dead anyway).
    async fn revoke(&self, entries: &[(Revocable, i64)]) -> AppResult<()>;
    /// True when any of `items` is revoked.
    async fn any_revoked(&self, items: &[Revocable]) -> AppResult<bool>;
    /// Drops entries that expired before `now`; returns how many.
    async fn prune(&self, now: i64) -> AppResult<u64>;
    /// How many entries this process holds a copy of; `None` for a store asked every time
    /// (counting its rows would cost a query per sample).
    fn entries_held(&self) -> Option<usize> {
        None
    }
    /// Where `any_revoked` finds its answer right now (`memory`, `database`, `redis`), for
    /// `/health` and the logs.
    fn source(&self) -> &'static str;
}

pub type SharedDenylist = Arc<dyn Denylist>;

/// Prunes the denylist every `every`, of what has expired by `clock`, until dropped (the
/// handle aborts the task).
pub fn spawn_pruning(denylist: SharedDenylist, every: Duration, clock: Clock) -> BackgroundTask {
    BackgroundTask::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match denylist.prune(clock.unix_now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "pruned expired denylist entries"),
                Err(err) => tracing::warn!(error = ?err, "denylist pruning failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_into_what_they_name() {
        let id = Uuid::now_v7();
        for item in [Revocable::Token(id), Revocable::Session(id)] {
            assert_eq!(Revocable::parse(&item.key()), Some(item));
        }
        assert_eq!(Revocable::parse("xyz:1"), None);
        assert_eq!(Revocable::parse(&format!("jti{id}")), None);
    }
}
