//! An in-process copy of the denylist, so that the guard's check costs a hash lookup instead
//! of a round trip. The copy answers only while it is *trusted*, that is known to hold every
//! entry of the store; otherwise the store itself is asked. Who may trust it is decided at
//! start-up: a store that only this process writes (SQLite) is trusted once loaded; a shared one
//! (Redis) only while [`super::sync`] follows its changes.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError, RwLock, Weak,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{Denylist, Revocable, SharedDenylist, Watch};
use crate::error::AppResult;

/// Revoked entries with their expiry (Unix seconds), whether they are complete, and who waits
/// to hear of a revocation.
#[derive(Default)]
pub struct RevokedSet {
    // A std lock: it is held for a lookup or an insert, never across an await.
    entries: RwLock<HashMap<Revocable, i64>>,
    trusted: AtomicBool,
    /// One wake-up per watched entry, shared by its watchers (a thousand sockets of one
    /// session wait on one); dead ones are swept as they are met.
    watchers: Mutex<HashMap<Revocable, Weak<Notify>>>,
}

impl RevokedSet {
    /// Adds entries; an entry already present keeps the later expiry. Wakes whoever watches
    /// one of them.
    pub fn insert(&self, entries: &[(Revocable, i64)]) {
        {
            let mut map = self.entries.write().unwrap_or_else(PoisonError::into_inner);
            for (item, expires_at) in entries {
                let slot = map.entry(*item).or_insert(*expires_at);
                *slot = (*slot).max(*expires_at);
            }
        }
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        for (item, _) in entries {
            if let Some(notify) = watchers.remove(item).and_then(|weak| weak.upgrade()) {
                notify.notify_waiters();
            }
        }
    }

    /// A wake-up for when any of `items` is revoked through this set.
    pub fn watch(&self, items: &[Revocable]) -> Watch {
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        if watchers.len() > 1024 && watchers.len().is_power_of_two() {
            watchers.retain(|_, weak| weak.strong_count() > 0);
        }
        let wakes = items
            .iter()
            .map(|item| {
                let live = watchers.get(item).and_then(Weak::upgrade);
                live.unwrap_or_else(|| {
                    let notify = Arc::new(Notify::new());
                    watchers.insert(*item, Arc::downgrade(&notify));
                    notify
                })
            })
            .collect();
        Watch { wakes }
    }

    pub fn contains_any(&self, items: &[Revocable]) -> bool {
        let map = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        items.iter().any(|item| map.contains_key(item))
    }

    /// Drops entries that expired at or before `now` (as the SQL store does); returns how many.
    pub fn prune(&self, now: i64) -> u64 {
        let mut map = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let before = map.len();
        map.retain(|_, expires_at| *expires_at > now);
        (before - map.len()) as u64
    }

    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the set holds every entry of the store (and so may answer alone).
    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// Says whether the set holds every entry; when it stops, every watcher is woken, to
    /// ask the store from then on.
    pub fn set_trusted(&self, trusted: bool) {
        let was = self.trusted.swap(trusted, Ordering::AcqRel);
        if was && !trusted {
            let watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
            for notify in watchers.values().filter_map(Weak::upgrade) {
                notify.notify_waiters();
            }
        }
    }
}

/// A store with an in-process copy in front of it.
pub struct CachedDenylist {
    store: SharedDenylist,
    set: Arc<RevokedSet>,
}

impl CachedDenylist {
    /// A copy of all of `store`'s `entries`, trusted at once: only for a store that no other
    /// process writes, since nothing would tell this copy about their revocations.
    pub fn preloaded(store: SharedDenylist, entries: &[(Revocable, i64)]) -> Self {
        let set = Arc::new(RevokedSet::default());
        set.insert(entries);
        set.set_trusted(true);
        Self { store, set }
    }

    /// An empty copy, not trusted until whoever follows the store (see [`super::sync`]) has
    /// filled it and says so.
    pub fn following(store: SharedDenylist) -> Self {
        Self {
            store,
            set: Arc::new(RevokedSet::default()),
        }
    }

    pub fn set(&self) -> Arc<RevokedSet> {
        Arc::clone(&self.set)
    }
}

#[async_trait]
impl Denylist for CachedDenylist {
    /// Into the copy first: even if the store then fails, this process refuses the token.
    async fn revoke(&self, entries: &[(Revocable, i64)]) -> AppResult<()> {
        self.set.insert(entries);
        self.store.revoke(entries).await
    }

    fn watch(&self, items: &[Revocable]) -> Option<Watch> {
        Some(self.set.watch(items))
    }

    fn entries_held(&self) -> Option<usize> {
        Some(self.set.len())
    }

    fn hears_every_revocation(&self) -> bool {
        self.set.is_trusted()
    }

    async fn any_revoked(&self, items: &[Revocable]) -> AppResult<bool> {
        if self.set.is_trusted() {
            return Ok(self.set.contains_any(items));
        }
        self.store.any_revoked(items).await
    }

    async fn prune(&self, now: i64) -> AppResult<u64> {
        let local = self.set.prune(now);
        let stored = self.store.prune(now).await?;
        Ok(local.max(stored))
    }

    fn source(&self) -> &'static str {
        match self.set.is_trusted() {
            true => "memory",
            false => self.store.source(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn the_set_finds_entries_until_they_are_pruned() {
        let set = RevokedSet::default();
        let (a, b) = (
            Revocable::Token(Uuid::new_v4()),
            Revocable::Session(Uuid::new_v4()),
        );
        set.insert(&[(a, 100), (b, 200)]);
        set.insert(&[(a, 50)]);
        assert!(set.contains_any(&[Revocable::Token(Uuid::new_v4()), a]));
        assert_eq!(set.prune(100), 1);
        assert!(!set.contains_any(&[a]));
        assert!(set.contains_any(&[b]));
    }

    #[tokio::test]
    async fn a_revocation_wakes_the_watchers_of_its_entry_and_no_others() {
        let set = RevokedSet::default();
        let (token, session) = (
            Revocable::Token(Uuid::new_v4()),
            Revocable::Session(Uuid::new_v4()),
        );
        let other = Revocable::Token(Uuid::new_v4());
        let (first, second) = (set.watch(&[token, session]), set.watch(&[session]));
        let (first_woken, second_woken) = (first.revoked(), second.revoked());
        let unrelated = set.watch(&[other]);
        let unrelated_woken = unrelated.revoked();

        set.insert(&[(session, 100)]);

        let soon = std::time::Duration::from_secs(1);
        tokio::time::timeout(soon, first_woken)
            .await
            .expect("woken");
        tokio::time::timeout(soon, second_woken)
            .await
            .expect("woken");
        let quiet = std::time::Duration::from_millis(50);
        assert!(
            tokio::time::timeout(quiet, unrelated.revoked())
                .await
                .is_err()
        );

        // A copy that stops hearing of revocations wakes every watcher.
        set.set_trusted(true);
        set.set_trusted(false);
        tokio::time::timeout(soon, unrelated_woken)
            .await
            .expect("woken");
    }
}
