//! Persistence: sea-orm entities (never exposed as GraphQL types: the user row holds the
//! password hash) and small query functions per table. Nothing here knows about GraphQL.

pub mod denylist;
pub mod recipe_pages;
pub mod recipes;
pub mod sessions;
pub mod stats;
pub mod users;

use std::{ffi::c_int, time::Duration};

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr, sqlx::sqlite::SqliteConnection,
};

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
        options.max_connections(SQLITE_MAX_CONNECTIONS);
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
        options.map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|conn, _| Box::pin(stable_query_plans(conn)))
        });
    }
    let mut db = Database::connect(options).await?;
    stats::count_statements(&mut db);
    Ok(db)
}

/// Turns on SQLite's query planner stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`) for a
/// new connection.
///
/// Without it, SQLite 3.51 plans `LIMIT ?` with the bound value in hand, which marks the
/// prepared statement as depending on that parameter: binding it again (every execution does)
/// expires the statement, and the next step parses and plans the SQL all over again. Every
/// page query and every `find_*(..).one()` (sea-orm writes `LIMIT ?`) paid a full re-prepare,
/// about 8% of the instructions of a page of recipes (bench/NOTES.md). With the guarantee,
/// plans never depend on bound values, which none of our queries needs (no partial indexes,
/// and searches start with `%`, so the LIKE optimization never applies).
async fn stable_query_plans(conn: &mut SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    // SAFETY: `db` is this connection's open handle, held exclusively through `handle` for the
    // duration of the call; the arguments match the documented signature of this option (an
    // int to set, then an optional int pointer for the previous value, here null).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db.as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            std::ptr::null_mut::<c_int>(),
        )
    };
    match rc {
        libsqlite3_sys::SQLITE_OK => Ok(()),
        rc => Err(sea_orm::sqlx::Error::Configuration(
            format!("sqlite3_db_config(SQLITE_DBCONFIG_ENABLE_QPSG) failed with code {rc}").into(),
        )),
    }
}

/// True when `err` is a unique-index violation (a duplicate that lost the race to the index).
pub fn unique_violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}
