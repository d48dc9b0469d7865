//! The denylist across instances: every instance answers revocation checks from an in-process
//! copy where that is safe, and a token revoked on one instance is refused by the others.

mod common;

use std::{future::Future, time::Duration};

use common::{
    AUTH, PASSWORD, TestApp, assert_error, binary::Binary, spawn_app, spawn_app_without_redis,
};
use serde_json::{Value, json};

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

    // At once: the logout returned only after every instance had the entry.
    assert_error(&two.me(&ada.access).await, "TOKEN_REVOKED");
    // ... and it was its copy that knew: the subscription never lapsed.
    assert_eq!(denylist_source(&two).await, "memory");
}

/// The window in which another instance still accepted a token logged out on this one, over
/// 1,000 trials between two server processes: each logs in on one, logs out there, and asks
/// the other as soon as the logout has answered.
#[tokio::test]
async fn a_thousand_logouts_on_one_instance_are_each_refused_by_another_at_once() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        return; // Needs a real Redis; CI runs the suite with one.
    }
    // Cheap hashes: this test is about the denylist, and logs in a thousand times.
    let one = Binary::start(&[
        "--argon2-memory-kib=64",
        "--argon2-iterations=1",
        "--login-free-failures=100000",
    ])
    .await;
    let two = one.sibling();
    let (a, b) = (&one, &two);
    a.op(
        AUTH,
        "Register",
        json!({ "input": {
        "username": "ada", "email": "ada@example.com", "password": PASSWORD } }),
        None,
    )
    .await;
    let login = json!({ "input": { "login": "ada", "password": PASSWORD } });
    let mut accepted = 0;
    for _ in 0..1000 {
        let session = a.op(AUTH, "Login", login.clone(), None).await;
        let token = session["data"]["login"]["accessToken"]
            .as_str()
            .expect("logged in");
        assert_eq!(
            b.op(AUTH, "Me", json!({}), Some(token)).await["data"]["me"]["username"],
            "ada"
        );
        a.op(AUTH, "Logout", json!({}), Some(token)).await;
        if b.op(AUTH, "Me", json!({}), Some(token)).await["data"]["me"].is_object() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 0, "accepted after the logout had returned");
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

/// The same, at the level of the stores, where nothing slows the check down: two copies of one
/// Redis denylist, each followed by its own subscription, as two instances hold them. A
/// revocation on one returns only once the other has it, every time.
#[tokio::test]
async fn a_revocation_returns_only_once_every_following_copy_has_it() {
    use smilecook::auth::denylist::{
        CachedDenylist, Denylist, RedisDenylist, Revocable,
        acks::Acks,
        connect_redis,
        sync::{self, Follower},
    };
    use std::sync::Arc;

    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        return; // Needs a real Redis; CI runs the suite with one.
    };
    let prefix = format!("smilecook-test:{}:", uuid::Uuid::new_v4().simple());
    let instance = || async {
        let (client, conn) = connect_redis(&url).await.expect("Redis");
        let acks = Arc::new(Acks::default());
        let store = RedisDenylist::new(conn.clone(), &prefix, Arc::clone(&acks));
        let copy = CachedDenylist::following(Arc::new(store));
        let set = copy.set();
        let task = sync::spawn(
            client,
            conn,
            Follower {
                prefix: prefix.clone(),
                set,
                acks,
            },
        );
        (copy, task)
    };
    let ((a, _a_task), (b, _b_task)) = (instance().await, instance().await);
    let trusted = eventually(Duration::from_secs(5), || async {
        a.source() == "memory" && b.source() == "memory"
    });
    assert!(trusted.await, "the copies never caught up with Redis");
    let until = chrono::Utc::now().timestamp() + 60;

    let mut missed = 0;
    for _ in 0..1000 {
        let token = Revocable::Token(uuid::Uuid::new_v4());
        a.revoke(&[(token, until)]).await.expect("revoked");
        missed += usize::from(!b.any_revoked(&[token]).await.expect("checked"));
    }

    assert_eq!(missed, 0, "the other copy did not have the entry yet");
    assert_eq!(b.source(), "memory", "and it answered from its copy");
}
