//! A bounded cache of parsed operations keyed by their text, so that a client that sends the
//! same document again (most do) skips the parser. Parsing is not cheap: about 5 µs for
//! `{ me { id username } }` and over 60 µs for an 800-byte document of several operations
//! (bench/NOTES.md).
//!
//! Bounded twice: at most [`MAX_ENTRIES`] documents and [`MAX_BYTES`] of query text. The text
//! budget matters more: a parsed document takes up to ~80 times its text in memory, and anyone
//! can send distinct documents, so the cache stays below about 10 MiB whatever is sent. It sits
//! inside the query limits, which still check every document, cached or not.
//!
//! Each document also remembers the few requests (operation name and variables) it has
//! passed async-graphql's full validation with. Validation is a pure function of the schema,
//! the document, the operation and the variables, so the same request again runs on a schema
//! that validates in async-graphql's `Fast` mode: it skips the rules already passed and
//! still computes depth and complexity against the limits (schema.rs). At most
//! [`MAX_VALIDATED`] requests of up to [`MAX_VALIDATED_BYTES`] each per document: 2 MiB more
//! at worst.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use async_graphql::parser::types::ExecutableDocument;

use crate::cache::Bounded;

const MAX_ENTRIES: usize = 1000;
const MAX_BYTES: usize = 128 * 1024;
/// Larger documents are parsed every time rather than crowd out many small ones.
const MAX_ENTRY_BYTES: usize = 8 * 1024;
/// Validated requests remembered per document (the most recent).
const MAX_VALIDATED: usize = 4;
/// Requests with more variables than this are validated every time.
const MAX_VALIDATED_BYTES: usize = 512;

/// Documents by their text, weighed by the text's length.
#[derive(Clone)]
pub struct DocumentCache(Arc<Bounded<String, Arc<Cached>>>);

/// A parsed document, and the requests it has passed full validation with.
pub struct Cached {
    pub document: ExecutableDocument,
    validated: Mutex<VecDeque<String>>,
}

/// What a request adds to its document for validation: its operation name and variables
/// (names are GraphQL names, so the newline cannot be part of one). `None` when too long to
/// remember.
pub(crate) fn validation_key(
    operation_name: Option<&str>,
    variables: &async_graphql::Variables,
) -> Option<String> {
    let variables = serde_json::to_string(variables).ok()?;
    let key = format!("{}\n{variables}", operation_name.unwrap_or_default());
    (key.len() <= MAX_VALIDATED_BYTES).then_some(key)
}

impl Cached {
    /// Whether the document passed full validation with this request before.
    pub(crate) fn was_validated(&self, key: &str) -> bool {
        self.validated_keys().iter().any(|k| k == key)
    }

    /// Records that the document passed full validation with this request.
    pub(crate) fn validated(&self, key: String) {
        let mut validated = self.validated_keys();
        if validated.contains(&key) {
            return;
        }
        if validated.len() == MAX_VALIDATED {
            validated.pop_back();
        }
        validated.push_front(key);
    }

    fn validated_keys(&self) -> MutexGuard<'_, VecDeque<String>> {
        self.validated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for DocumentCache {
    fn default() -> Self {
        Self(Arc::new(Bounded::new(MAX_ENTRIES, MAX_BYTES)))
    }
}

impl DocumentCache {
    pub(crate) fn get(&self, query: &str) -> Option<Arc<Cached>> {
        self.0.get(query)
    }

    /// Keeps `document`, which has passed full validation with the request `validated`.
    pub(crate) fn put(&self, query: &str, document: ExecutableDocument, validated: Option<String>) {
        if query.len() > MAX_ENTRY_BYTES {
            return;
        }
        let document = Arc::new(Cached {
            document,
            validated: Mutex::new(validated.into_iter().collect()),
        });
        self.0.put(query.to_owned(), document, query.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("parses")
    }

    #[test]
    fn the_cache_keeps_to_its_text_budget_dropping_the_least_recently_used() {
        let cache = DocumentCache::default();
        let query = |i: usize| format!("{{ me {{ id }} }} # {i:0>8000}");
        let per_entry = query(0).len();
        let fits = MAX_BYTES / per_entry;
        for i in 0..=fits {
            cache.put(&query(i), parsed(&query(i)), None);
        }
        let (entries, bytes) = cache.0.usage();
        assert_eq!(entries, fits);
        assert!(bytes <= MAX_BYTES);
        assert!(cache.get(&query(0)).is_none());
        assert!(cache.get(&query(fits)).is_some());
    }

    #[test]
    fn documents_over_the_entry_limit_are_not_kept() {
        let cache = DocumentCache::default();
        let query = format!("{{ me {{ id }} }} # {}", "x".repeat(MAX_ENTRY_BYTES));
        cache.put(&query, parsed(&query), None);
        assert!(cache.get(&query).is_none());
    }

    #[test]
    fn a_document_remembers_its_most_recent_validated_requests() {
        let cache = DocumentCache::default();
        let query = "query Q($n: Int) { me { id } }";
        let key = |i: i64| {
            let variables = async_graphql::Variables::from_json(serde_json::json!({ "n": i }));
            validation_key(Some("Q"), &variables).expect("short")
        };
        cache.put(query, parsed(query), Some(key(0)));
        let cached = cache.get(query).expect("cached");
        assert!(cached.was_validated(&key(0)));
        assert!(!cached.was_validated(&key(1)));
        for i in 1..=MAX_VALIDATED as i64 {
            cached.validated(key(i));
        }
        assert!(!cached.was_validated(&key(0)), "the oldest is forgotten");
        assert!((1..=MAX_VALIDATED as i64).all(|i| cached.was_validated(&key(i))));
        let other_operation = validation_key(
            None,
            &async_graphql::Variables::from_json(serde_json::json!({ "n": 1 })),
        );
        assert!(!cached.was_validated(&other_operation.expect("short")));
    }

    #[test]
    fn long_variables_are_not_remembered() {
        let variables = async_graphql::Variables::from_json(
            serde_json::json!({ "text": "x".repeat(MAX_VALIDATED_BYTES) }),
        );
        assert!(validation_key(None, &variables).is_none());
    }
}
