//! The epoch of public content: a number that every recipe change moves (`events::Events`
//! moves it for each event, once the write is committed and before the write is answered). A
//! cached public answer is served only while the epoch it was computed under is still the
//! current one, so no answer from before a change is served after the change was answered.
//!
//! Where the epoch lives decides what "current" means across instances:
//! - with Redis, it is one counter there (`INCR` by the writer, `GET` by every cached read):
//!   an instance serves nothing another instance's write has made stale, whatever the timing;
//! - with PostgreSQL alone, each instance keeps its own and moves it for the changes the
//!   relay (`LISTEN`/`NOTIFY`) brings from the others, within milliseconds;
//! - with SQLite there is one instance.
//!
//! A reader takes the epoch *before* it reads the database, so an answer computed while a
//! write commits is filed under the epoch that write then leaves behind.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use redis::aio::ConnectionManager;

#[derive(Clone, Default)]
pub struct Freshness {
    local: Arc<AtomicU64>,
    shared: Option<Shared>,
}

#[derive(Clone)]
struct Shared {
    conn: ConnectionManager,
    key: String,
}

impl Freshness {
    /// An epoch kept in Redis under `<prefix>public-epoch`.
    pub fn over_redis(conn: ConnectionManager, prefix: &str) -> Self {
        Self {
            local: Arc::default(),
            shared: Some(Shared {
                conn,
                key: format!("{prefix}public-epoch"),
            }),
        }
    }

    /// The current epoch; `None` when it cannot be known (Redis does not answer): then nothing
    /// is served from the cache.
    pub async fn current(&self) -> Option<u64> {
        let Some(shared) = &self.shared else {
            return Some(self.local.load(Ordering::Acquire));
        };
        let read = redis::cmd("GET")
            .arg(&shared.key)
            .query_async::<Option<u64>>(&mut shared.conn.clone())
            .await;
        match read {
            Ok(epoch) => Some(epoch.unwrap_or(0)),
            Err(_) => {
                crate::observe::redis_error();
                None
            }
        }
    }

    /// A change was committed here: the epoch moves on, everywhere it is kept.
    pub async fn advance(&self) {
        self.local.fetch_add(1, Ordering::AcqRel);
        let Some(shared) = &self.shared else { return };
        let moved = redis::cmd("INCR")
            .arg(&shared.key)
            .query_async::<u64>(&mut shared.conn.clone())
            .await;
        if let Err(error) = moved {
            crate::observe::redis_error();
            // Readers that cannot read the epoch serve nothing cached; readers that can would
            // serve an older answer until the cache's time limit (RESPONSE_CACHE_TTL).
            tracing::warn!(%error, "the public epoch could not be moved in Redis");
        }
    }

    /// Another instance committed a change (heard through the relay).
    pub fn advance_local(&self) {
        self.local.fetch_add(1, Ordering::AcqRel);
    }
}
