//! A process-wide count of the SQL statements sea-orm has executed, fed by the metric callback
//! that [`super::connect`] installs. It counts real statements (successful or not) at the
//! driver boundary, so tests can assert what a request costs, e.g. that a page of recipes
//! with their authors takes the same few statements for 5 rows as for 100.

use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::DatabaseConnection;

static STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// Statements executed so far by every connection this process opened with [`super::connect`].
pub fn statements_executed() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

pub(super) fn count_statements(db: &mut DatabaseConnection) {
    db.set_metric_callback(|_| {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
    });
}
