//! Public answers kept in the server: an anonymous query's encoded response, by its document
//! (text or persisted id), operation name and variables, so that the thousandth reader of the
//! recipes page costs no query. Only anonymous queries that executed without an error are
//! kept, so no viewer's answer (a draft, `me`) is ever served to another: an anonymous caller
//! sees only what everybody sees.
//!
//! Each answer is filed under the epoch of public content read *before* it was computed
//! (`freshness.rs`) and served only while that epoch is current and for at most
//! `RESPONSE_CACHE_TTL`. Memory is bounded by `RESPONSE_CACHE_BYTES`, keys included, the least
//! recently used answers leaving first; an answer over a sixteenth of the budget is not kept.

use std::{sync::Arc, time::Duration};

use axum::body::Bytes;
use tokio::time::Instant;

use super::Bounded;

/// What an entry costs beyond its key and body (the map's node, the entry, its tag).
const OVERHEAD: usize = 160;

pub struct ResponseCache {
    entries: Bounded<String, Arc<Entry>>,
    ttl: Duration,
    max_entry: usize,
}

/// One kept answer.
pub struct Entry {
    pub body: Bytes,
    /// The body's entity tag (quoted, as `ETag` carries it).
    pub etag: String,
    /// What the operation cost when it ran (spent again from the caller's budget).
    pub cost: u64,
    epoch: u64,
    stored: Instant,
}

impl ResponseCache {
    pub fn new(max_bytes: usize, ttl: Duration) -> Self {
        Self {
            // An entry weighs at least OVERHEAD: the count bound never binds first.
            entries: Bounded::new(max_bytes / OVERHEAD + 1, max_bytes),
            ttl,
            max_entry: max_bytes / 16,
        }
    }

    /// The answer kept under `key`, if it was computed under the current `epoch` and is
    /// younger than the time limit.
    pub fn get(&self, key: &str, epoch: u64) -> Option<Arc<Entry>> {
        let entry = self.entries.get(key)?;
        if entry.epoch == epoch && entry.stored.elapsed() < self.ttl {
            return Some(entry);
        }
        self.entries.remove(key);
        None
    }

    /// Keeps an answer computed under `epoch`; its entity tag.
    pub fn put(&self, key: String, body: Bytes, etag: String, epoch: u64, cost: u64) {
        let weight = key.len() + body.len() + etag.len() + OVERHEAD;
        if weight > self.max_entry {
            return;
        }
        let entry = Arc::new(Entry {
            body,
            etag,
            cost,
            epoch,
            stored: Instant::now(),
        });
        self.entries.put(key, entry, weight);
    }

    /// Answers kept and the bytes they weigh.
    pub fn usage(&self) -> (usize, usize) {
        self.entries.usage()
    }
}

/// The key of a request: its document (a persisted id or the text), operation and variables.
/// The parts are length-prefixed, so no two requests share one.
pub fn key(document: &str, operation: Option<&str>, variables: &str) -> String {
    let operation = operation.unwrap_or_default();
    format!(
        "{}:{document}{}:{operation}{variables}",
        document.len(),
        operation.len()
    )
}

/// A strong entity tag for a body: its length and a 64-bit SipHash of it. It tells versions
/// of one answer apart (a collision between two of them is a 2^-64 chance), which is all a
/// tag must do; SHA-256 cost 13% of a page of recipes' instructions (bench/NOTES.md 15). The
/// hasher's algorithm may change between Rust releases: then the tags do, and clients fetch
/// each answer once more.
pub fn etag(body: &[u8]) -> String {
    use std::hash::{DefaultHasher, Hasher};
    let mut hasher = DefaultHasher::new();
    hasher.write(body);
    format!("\"{:x}-{:016x}\"", body.len(), hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_from_an_older_epoch_is_not_served_and_leaves() {
        let cache = ResponseCache::new(1 << 20, Duration::from_secs(60));
        cache.put(
            key("{ a }", None, "{}"),
            Bytes::from_static(b"x"),
            etag(b"x"),
            3,
            1,
        );
        assert!(cache.get(&key("{ a }", None, "{}"), 3).is_some());
        assert!(cache.get(&key("{ a }", None, "{}"), 4).is_none());
        assert_eq!(cache.usage().0, 0);
    }

    #[test]
    fn keys_of_different_requests_differ() {
        assert_ne!(key("{ a }", Some("A"), "{}"), key("{ a }A", None, "{}"));
        assert_ne!(key("x", Some(""), "{}"), key("x", None, "{ }"));
    }

    #[test]
    fn memory_stays_within_the_budget_whatever_the_variables() {
        let budget = 64 * 1024;
        let cache = ResponseCache::new(budget, Duration::from_secs(60));
        for i in 0..10_000 {
            let variables = format!("{{\"after\":\"{i}\"}}");
            let body = Bytes::from(vec![b'x'; 200]);
            cache.put(
                key("query Q { a }", Some("Q"), &variables),
                body,
                etag(b"x"),
                0,
                1,
            );
        }
        let (entries, bytes) = cache.usage();
        assert!(bytes <= budget, "{bytes}");
        assert!(
            entries > 100,
            "the cache still holds the most recent answers: {entries}"
        );
    }
}
