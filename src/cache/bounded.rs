//! A least-recently-used map bounded twice: by entries and by the bytes its entries weigh
//! (their keys and values as the caller weighs them). Anyone can fill a cache keyed by what
//! clients send, so a count alone bounds nothing: the weight does.

use std::{
    hash::Hash,
    num::NonZeroUsize,
    sync::{Mutex, PoisonError},
};

use lru::LruCache;

pub struct Bounded<K: Hash + Eq, V: Clone> {
    inner: Mutex<Inner<K, V>>,
    max_bytes: usize,
}

struct Inner<K: Hash + Eq, V> {
    entries: LruCache<K, (V, usize)>,
    bytes: usize,
}

impl<K: Hash + Eq, V: Clone> Bounded<K, V> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        let capacity = NonZeroUsize::new(max_entries).unwrap_or(NonZeroUsize::MIN);
        Self {
            inner: Mutex::new(Inner {
                entries: LruCache::new(capacity),
                bytes: 0,
            }),
            max_bytes,
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut inner = self.lock();
        inner.entries.get(key).map(|(value, _)| value.clone())
    }

    /// Keeps `value` under `key`, weighing `bytes`; one heavier than the whole budget is not
    /// kept. The least recently used entries leave until both bounds hold.
    pub fn put(&self, key: K, value: V, bytes: usize) {
        if bytes > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        inner.bytes += bytes;
        if let Some((_, (_, old))) = inner.entries.push(key, (value, bytes)) {
            inner.bytes -= old;
        }
        while inner.bytes > self.max_bytes {
            let Some((_, (_, old))) = inner.entries.pop_lru() else {
                break;
            };
            inner.bytes -= old;
        }
    }

    pub fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut inner = self.lock();
        if let Some((_, bytes)) = inner.entries.pop(key) {
            inner.bytes -= bytes;
        }
    }

    /// Entries and the bytes they weigh now.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_bound_drops_the_least_recently_used() {
        let cache = Bounded::new(100, 30);
        cache.put("a", 1, 10);
        cache.put("b", 2, 10);
        cache.put("c", 3, 10);
        assert_eq!(cache.get("a"), Some(1)); // now b is the least recently used
        cache.put("d", 4, 10);
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.usage(), (3, 30));
    }

    #[test]
    fn the_entry_bound_holds_and_replacing_a_key_reweighs_it() {
        let cache = Bounded::new(2, 1000);
        cache.put("a", 1, 10);
        cache.put("a", 2, 20);
        assert_eq!(cache.usage(), (1, 20));
        cache.put("b", 3, 1);
        cache.put("c", 4, 1);
        assert_eq!(cache.usage(), (2, 2));
        cache.put("huge", 5, 1001);
        assert_eq!(cache.get("huge"), None);
    }
}
