//! Persistence: sea-orm entities (never exposed as GraphQL types: the user row holds the
//! password hash) and small query functions per table. Nothing here knows about GraphQL.

pub mod denylist;
pub mod email_verifications;
pub mod mail_requests;
pub mod outbox;
pub mod password_resets;
pub mod persisted_documents;
pub mod recipe_pages;
pub mod recipes;
pub mod service_clients;
pub mod sessions;
pub mod signing_keys;
mod sqlite;
pub mod stats;
pub mod users;

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr};

/// Connections SQLite may have open. sea-orm's default is one, which serialises every query
/// of the server; in WAL mode readers do not block each other or the writer, and writers wait
/// their turn (`busy_timeout`). Measured on 2 cores: 4 doubles `me` throughput, 8 is no better
/// (bench/NOTES.md).
const SQLITE_MAX_CONNECTIONS: u32 = 4;

/// Connects with settings that suit the backend: SQLite in WAL mode with foreign keys on.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false);
    // The default pings every connection before each query: a second round trip per query.
    // Only a connection idle for a while may have been dropped (by a server or a firewall).
    options.test_before_acquire_if_idle_for(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        sqlite::configure_library();
        options.max_connections(SQLITE_MAX_CONNECTIONS);
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
        options.map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|conn, _| Box::pin(sqlite::stable_query_plans(conn)))
        });
    }
    Database::connect(options).await
}

/// True when `err` is a unique-index violation (a duplicate that lost the race to the index).
pub fn unique_violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}
