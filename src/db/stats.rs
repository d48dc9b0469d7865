//! A process-wide count of the SQL statements executed on behalf of requests: through the
//! handle [`counted`] makes (the one requests use), fed by sea-orm's metric callback. It counts
//! real statements (successful or not) at the driver boundary, so tests can assert what a
//! request costs, e.g. that a page of recipes with their authors takes the same few statements
//! for 5 rows as for 100. Background workers (mail, say) use an uncounted handle of the same
//! pool, so their work on their own timers never lands inside a measurement. The same callback
//! times each statement for the metrics (`db.client.operation.duration`) and, while traces are
//! exported, makes each a span of the request's trace (`telemetry::statement`).

use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::DatabaseConnection;

use crate::{observe, telemetry};

static STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// Statements executed so far through every handle [`counted`] made in this process.
pub fn statements_executed() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

/// A handle of `db`'s pool whose statements are counted (clones of it are counted too).
pub fn counted(db: &DatabaseConnection) -> DatabaseConnection {
    let mut counted = db.clone();
    counted.set_metric_callback(|info| {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        observe::db_statement(info.elapsed);
        telemetry::statement(&info.statement.sql, info.elapsed, info.failed);
    });
    counted
}
