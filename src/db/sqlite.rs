//! What the bundled SQLite library is told directly, through `libsqlite3-sys` (the same
//! library sqlx links): with the argon2 work areas (`auth::hash_pool::Area`), the only `unsafe`
//! code in the crate. bench/NOTES.md measures each.

use std::{
    ffi::{c_int, c_void},
    sync::Once,
};

use libsqlite3_sys as ffi;
use sea_orm::sqlx::sqlite::SqliteConnection;

/// Process-wide settings, made once, before the first connection opens.
///
/// - SQLite allocates through mimalloc instead of the C library's `malloc`. sqlx copies every
///   column of every row it reads (`sqlite3_value_dup`) and frees the copies again, so a page
///   of recipes makes about 500 allocations inside SQLite; with glibc they were a sixth of the
///   page's instructions and a third of its last-level cache misses.
/// - No memory statistics (`SQLITE_CONFIG_MEMSTATUS`): keeping them takes a process-wide
///   mutex around every one of those allocations, and nothing here reads them.
///
/// Both must precede `sqlite3_initialize`, which the first connection runs. Should SQLite
/// already be initialized (by code that opened a database without [`super::connect`]), it
/// refuses with `SQLITE_MISUSE` and keeps its defaults, which work too: that is logged, not
/// fatal.
pub(super) fn configure_library() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mimalloc = ffi::sqlite3_mem_methods {
            xMalloc: Some(mi_malloc),
            xFree: Some(mi_free),
            xRealloc: Some(mi_realloc),
            xSize: Some(mi_size),
            xRoundup: Some(mi_roundup),
            xInit: Some(mi_init),
            xShutdown: Some(mi_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: SQLite copies `mimalloc` before returning. Its methods are plain functions
        // over mimalloc, which honour the contract (8-byte alignment, `xSize` of any live
        // allocation, null on failure). No other thread uses SQLite yet: this crate opens every
        // connection through `connect`, after this `Once`.
        let (malloc, memstatus) = unsafe {
            (
                ffi::sqlite3_config(
                    ffi::SQLITE_CONFIG_MALLOC,
                    &mimalloc as *const ffi::sqlite3_mem_methods,
                ),
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
            )
        };
        if malloc != ffi::SQLITE_OK || memstatus != ffi::SQLITE_OK {
            tracing::warn!(
                malloc,
                memstatus,
                "SQLite was initialized before configuration; it keeps its own allocator"
            );
        }
    });
}

// SQLite never asks for a negative size; it is clamped rather than trusted.
fn size(n: c_int) -> usize {
    usize::try_from(n).unwrap_or(0)
}

unsafe extern "C" fn mi_malloc(n: c_int) -> *mut c_void {
    // SAFETY: any size is valid; null signals failure, as SQLite expects.
    unsafe { libmimalloc_sys::mi_malloc(size(n)) }
}

unsafe extern "C" fn mi_free(p: *mut c_void) {
    // SAFETY: SQLite frees only what `mi_malloc`/`mi_realloc` returned (or null).
    unsafe { libmimalloc_sys::mi_free(p) }
}

unsafe extern "C" fn mi_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    // SAFETY: as for `mi_free`; on failure the old block stays valid, as SQLite expects.
    unsafe { libmimalloc_sys::mi_realloc(p, size(n)) }
}

unsafe extern "C" fn mi_size(p: *mut c_void) -> c_int {
    // SAFETY: `p` is a live allocation of `mi_malloc`/`mi_realloc`.
    let n = unsafe { libmimalloc_sys::mi_usable_size(p) };
    c_int::try_from(n).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn mi_roundup(n: c_int) -> c_int {
    // SAFETY: a pure function of its argument.
    let n = unsafe { libmimalloc_sys::mi_good_size(size(n)) };
    c_int::try_from(n).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn mi_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn mi_shutdown(_: *mut c_void) {}

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
pub(super) async fn stable_query_plans(
    conn: &mut SqliteConnection,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    // SAFETY: `db` is this connection's open handle, held exclusively through `handle` for the
    // duration of the call; the arguments match the documented signature of this option (an
    // int to set, then an optional int pointer for the previous value, here null).
    let rc = unsafe {
        ffi::sqlite3_db_config(
            db.as_ptr(),
            ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            std::ptr::null_mut::<c_int>(),
        )
    };
    match rc {
        ffi::SQLITE_OK => Ok(()),
        rc => Err(sea_orm::sqlx::Error::Configuration(
            format!("sqlite3_db_config(SQLITE_DBCONFIG_ENABLE_QPSG) failed with code {rc}").into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::*;

    /// The unit tests run on the system allocator, so a block SQLite hands out that mimalloc
    /// owns can only come from the methods installed by `configure_library`.
    #[tokio::test]
    async fn sqlite_allocates_through_mimalloc_and_keeps_no_statistics() {
        let db = super::super::connect("sqlite::memory:")
            .await
            .expect("connect");
        db.execute_unprepared("SELECT 1").await.expect("query");
        // SAFETY: a block from `sqlite3_malloc`, freed once; the other calls take no pointer.
        unsafe {
            let block = ffi::sqlite3_malloc(100);
            assert!(!block.is_null());
            assert!(libmimalloc_sys::mi_is_in_heap_region(block));
            ffi::sqlite3_free(block);
            assert_eq!(ffi::sqlite3_memory_used(), 0, "statistics are off");
        }
    }
}
