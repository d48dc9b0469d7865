//! The denylist across instances: every instance answers revocation checks from an in-process
//! copy where that is safe, and a token revoked on one instance is refused by the others.

mod common;

use std::{future::Future, time::Duration};

use common::{TestApp, assert_error, error_code, spawn_app, spawn_app_without_redis};
use serde_json::Value;

/// Polls `probe` until it holds or `within` has passed; true if it held. (Revocations reach
/// other instances through a subscription, so they are seen soon, not at once.)
async fn eventually<F, Fut>(within: Duration, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if probe().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn denylist_source(app: &TestApp) -> Value {
    app.health().await["denylist"].clone()
}

/// Waits until `app` answers from its copy, which for Redis means subscribed and reloaded.
async fn assert_answers_from_memory(app: &TestApp) {
    let in_memory = eventually(Duration::from_secs(5), || async {
        denylist_source(app).await == "memory"
    })
    .await;
    assert!(in_memory, "health: {}", app.health().await);
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_by_another_sharing_redis() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        return; // Needs a real Redis; CI runs the suite with one.
    }
    let one = spawn_app().await;
    let two = one.spawn_sibling().await;
    assert_answers_from_memory(&one).await;
    assert_answers_from_memory(&two).await;
    let ada = one.user("ada").await;
    assert_eq!(two.me(&ada.access).await["data"]["me"]["username"], "ada");

    assert_eq!(one.logout(&ada.access, false).await["data"]["logout"], true);

    let refused = eventually(Duration::from_secs(3), || async {
        error_code(&two.me(&ada.access).await) == Some("TOKEN_REVOKED")
    })
    .await;
    assert!(refused, "the other instance still accepts the token");
    // ... and it was its copy that knew: the subscription never lapsed.
    assert_eq!(denylist_source(&two).await, "memory");
}

#[tokio::test]
async fn an_instance_started_later_loads_the_revocations_made_before_it() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        return; // Needs a real Redis; CI runs the suite with one.
    }
    let one = spawn_app().await;
    let ada = one.user("ada").await;
    let bob = one.user("bob").await;
    assert_eq!(one.logout(&ada.access, true).await["data"]["logout"], true);

    let two = one.spawn_sibling().await;
    assert_answers_from_memory(&two).await;

    assert_error(&two.me(&ada.access).await, "TOKEN_REVOKED");
    assert_eq!(two.me(&bob.access).await["data"]["me"]["username"], "bob");
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_by_another_sharing_postgresql() {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        return; // SQLite has one owner process: its copy is tested by the restart tests.
    }
    let one = spawn_app_without_redis().await;
    let two = one.spawn_sibling().await;
    // Instances that share a database without Redis ask the database on every check.
    assert_eq!(denylist_source(&two).await, "database");
    let ada = one.user("ada").await;
    assert_eq!(two.me(&ada.access).await["data"]["me"]["username"], "ada");

    assert_eq!(one.logout(&ada.access, false).await["data"]["logout"], true);

    assert_error(&two.me(&ada.access).await, "TOKEN_REVOKED");
    assert_error(&two.refresh(&ada.refresh).await, "TOKEN_REVOKED");
}

#[tokio::test]
async fn an_sqlite_server_answers_revocation_checks_from_memory() {
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        return; // This run is on PostgreSQL.
    }
    let app = spawn_app_without_redis().await;
    let ada = app.user("ada").await;

    assert_eq!(app.logout(&ada.access, false).await["data"]["logout"], true);

    assert_eq!(denylist_source(&app).await, "memory");
    assert_error(&app.me(&ada.access).await, "TOKEN_REVOKED");
}
