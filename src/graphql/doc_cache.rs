//! A bounded cache of parsed operations keyed by their text, so that a client that sends the
//! same document again (most do) skips the parser. Parsing is not cheap: about 5 µs for
//! `{ me { id username } }` and over 60 µs for an 800-byte document of several operations
//! (bench/NOTES.md).
//!
//! Bounded twice: at most [`MAX_ENTRIES`] documents and [`MAX_BYTES`] of query text. The text
//! budget matters more: a parsed document takes up to ~80 times its text in memory, and anyone
//! can send distinct documents, so the cache stays below about 10 MiB whatever is sent. It sits
//! inside the query limits, which still check every document, cached or not.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex, PoisonError},
};

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

const MAX_ENTRIES: usize = 1000;
const MAX_BYTES: usize = 128 * 1024;
/// Larger documents are parsed every time rather than crowd out many small ones.
const MAX_ENTRY_BYTES: usize = 8 * 1024;

#[derive(Clone)]
pub struct DocumentCache(Arc<Mutex<Entries>>);

struct Entries {
    documents: LruCache<String, Arc<ExecutableDocument>>,
    bytes: usize,
}

impl Default for DocumentCache {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(MAX_ENTRIES).unwrap_or(NonZeroUsize::MIN);
        Self(Arc::new(Mutex::new(Entries {
            documents: LruCache::new(capacity),
            bytes: 0,
        })))
    }
}

impl DocumentCache {
    pub(crate) fn get(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries.documents.get(query).cloned()
    }

    pub(crate) fn put(&self, query: &str, document: Arc<ExecutableDocument>) {
        if query.len() > MAX_ENTRY_BYTES {
            return;
        }
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries.bytes += query.len();
        if let Some((old, _)) = entries.documents.push(query.to_owned(), document) {
            entries.bytes -= old.len();
        }
        while entries.bytes > MAX_BYTES {
            let Some((old, _)) = entries.documents.pop_lru() else {
                break;
            };
            entries.bytes -= old.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> Arc<ExecutableDocument> {
        Arc::new(async_graphql::parser::parse_query(query).expect("parses"))
    }

    #[test]
    fn the_cache_keeps_to_its_text_budget_dropping_the_least_recently_used() {
        let cache = DocumentCache::default();
        let query = |i: usize| format!("{{ me {{ id }} }} # {i:0>8000}");
        let per_entry = query(0).len();
        let fits = MAX_BYTES / per_entry;
        for i in 0..=fits {
            cache.put(&query(i), parsed(&query(i)));
        }
        let entries = cache.0.lock().expect("lock");
        assert_eq!(entries.documents.len(), fits);
        assert!(entries.bytes <= MAX_BYTES);
        assert!(!entries.documents.contains(&query(0)));
        assert!(entries.documents.contains(&query(fits)));
    }

    #[test]
    fn documents_over_the_entry_limit_are_not_kept() {
        let cache = DocumentCache::default();
        let query = format!("{{ me {{ id }} }} # {}", "x".repeat(MAX_ENTRY_BYTES));
        cache.put(&query, parsed(&query));
        assert!(cache.get(&query).is_none());
    }
}
