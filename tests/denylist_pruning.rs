//! The SQL denylist forgets entries once the tokens they revoke have expired anyway.

mod common;

use std::time::Duration;

use common::spawn_app_with;

async fn denylist_rows(database_url: &str) -> i64 {
    common::query_value(
        database_url,
        "SELECT COUNT(*) AS n FROM token_denylist",
        "n",
    )
    .await
}

#[tokio::test]
async fn expired_revocations_are_pruned_from_the_database() {
    if std::env::var("TEST_REDIS_URL").is_ok() {
        return; // Redis expires its entries by itself; this is about the SQL store.
    }
    let app = spawn_app_with(&["--denylist-prune-interval=200ms"]).await;
    let ada = app.user("ada").await;
    app.logout(&ada.access, false).await;
    assert!(
        denylist_rows(&app.database_url).await > 0,
        "logout wrote no entry"
    );

    // Past the session's end (30 days), when no token the entries revoke can be valid.
    app.advance_clock(Duration::from_secs(31 * 24 * 3600));
    let mut remaining = i64::MAX;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        remaining = denylist_rows(&app.database_url).await;
        if remaining == 0 {
            break;
        }
    }

    assert_eq!(remaining, 0, "expired entries were never pruned");
}
