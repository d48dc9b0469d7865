//! Brute force and overload: failed logins are throttled, slow or excess requests get coded
//! errors instead of hanging.

mod common;

use std::time::Duration;

use common::{PASSWORD, assert_error, error_code, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn repeated_failed_logins_lock_the_account_with_a_retry_after() {
    let app = spawn_app_with(&["--login-free-failures=3", "--login-lockout-base=60s"]).await;
    app.register("ada").await;

    for _ in 0..3 {
        let body = app.login("ada", "wrong password").await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    }
    let locked = app.login("ada", PASSWORD).await;

    assert_eq!(error_code(&locked), Some("TOO_MANY_REQUESTS"), "{locked}");
    // The seconds left of the lockout, however long the requests took.
    let retry = locked["errors"][0]["extensions"]["retryAfter"].as_u64();
    assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "{locked}");
    assert!(locked["data"].is_null());
}

#[tokio::test]
async fn failures_count_against_the_account_whichever_of_its_names_is_typed() {
    let app = spawn_app_with(&["--login-free-failures=3", "--login-lockout-base=60s"]).await;
    app.register("ada").await;
    app.register("bob").await;

    for login in ["ada", "ADA@example.com", " Ada "] {
        let body = app.login(login, "wrong password").await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    }
    let by_email = app.login("ada@example.com", PASSWORD).await;
    let by_name = app.login("ada", PASSWORD).await;
    let other = app.login("bob", PASSWORD).await;

    // The account is locked, whichever name is typed: the right password does not get in.
    // Neither name has failed three times itself, so the lock is not shown either (that would
    // tell which email belongs to which username): the answer is a wrong password's.
    assert_error(&by_email, "UNAUTHENTICATED");
    assert_error(&by_name, "UNAUTHENTICATED");
    assert!(other["data"]["login"]["accessToken"].is_string(), "{other}");
}

#[tokio::test]
async fn guesses_at_a_login_that_names_no_account_are_throttled_too() {
    let app = spawn_app_with(&["--login-free-failures=2", "--login-lockout-base=60s"]).await;

    let first = app.login("nobody", "guess").await;
    app.login("nobody", "guess").await;
    let third = app.login("NOBODY", "guess").await;

    assert_eq!(error_code(&first), Some("UNAUTHENTICATED"), "{first}");
    assert_eq!(error_code(&third), Some("TOO_MANY_REQUESTS"), "{third}");
}

#[tokio::test]
async fn the_owner_gets_back_in_once_the_lockout_has_passed() {
    let app = spawn_app_with(&["--login-free-failures=2", "--login-lockout-base=60s"]).await;
    app.register("ada").await;
    for _ in 0..2 {
        app.login("ada", "wrong password").await;
    }
    assert_eq!(
        error_code(&app.login("ada", PASSWORD).await),
        Some("TOO_MANY_REQUESTS")
    );

    app.advance_clock(Duration::from_secs(61));
    let back = app.login("ada", PASSWORD).await;

    assert!(back["data"]["login"]["accessToken"].is_string(), "{back}");
    // The success cleared the record: one more failure does not lock again.
    app.login("ada", "wrong password").await;
    assert!(app.login("ada", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn failures_from_one_address_across_accounts_lock_that_address() {
    let app = spawn_app_with(&[
        "--login-free-failures=100",
        "--login-address-free-failures=3",
        "--login-lockout-base=60s",
    ])
    .await;
    app.register("ada").await;
    for name in ["bob", "cyd", "dee"] {
        app.login(name, "guess").await;
    }

    let body = app.login("ada", PASSWORD).await;

    assert_eq!(error_code(&body), Some("TOO_MANY_REQUESTS"), "{body}");
}

#[tokio::test]
async fn a_request_over_the_time_limit_gets_request_timeout() {
    // The login's hash is held until the request has timed out.
    let app = spawn_app_with(&["--request-timeout=50ms"]).await;
    app.hold_hashing();

    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "mutation { login(input: {login: \"x\", password: \"y\"}) { accessToken } }" }))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), Some("REQUEST_TIMEOUT"));
}

#[tokio::test]
async fn a_hash_with_outdated_parameters_is_upgraded_at_the_next_login() {
    let mut app = spawn_app_with(&["--argon2-memory-kib=1024", "--argon2-iterations=1"]).await;
    app.register("ada").await;
    let url = app.database_url.clone();
    let stored =
        || common::query_value::<String>(&url, "SELECT password_hash FROM users", "password_hash");
    assert!(stored().await.contains("m=1024,t=1,p=1"));

    app.restart_with(&["--argon2-memory-kib=19456", "--argon2-iterations=2"])
        .await;
    let login = app.login("ada", PASSWORD).await;

    assert!(login["data"]["login"]["accessToken"].is_string(), "{login}");
    assert!(stored().await.contains("m=19456,t=2,p=1"));
    let again = app.login("ada", PASSWORD).await;
    assert!(
        again["data"]["login"]["accessToken"].is_string(),
        "the upgraded hash works"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn passwords_are_hashed_on_threads_below_the_servers_priority() {
    let app = spawn_app_with(&["--argon2-nice=7", "--argon2-threads=3"]).await;
    app.register("ada").await;
    let login = app.login("ada", PASSWORD).await;
    assert!(login["data"]["login"]["accessToken"].is_string(), "{login}");

    // Other tests in this process run their servers' hashing threads at the default nice 5.
    let own = rustix::process::getpriority_process(None).expect("this thread's nice value");
    let hashing: Vec<i32> = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| {
            let (name, nice) = name_and_nice(&task.ok()?.path().join("stat"))?;
            name.starts_with("argon2-").then_some(nice)
        })
        .collect();
    let ours = hashing.iter().filter(|&&nice| nice == own + 7).count();
    assert!(
        ours >= 3,
        "three hashing threads at nice {}: {hashing:?}",
        own + 7
    );
}

/// A thread's name and nice value, from its `/proc/self/task/TID/stat`.
#[cfg(target_os = "linux")]
fn name_and_nice(stat: &std::path::Path) -> Option<(String, i32)> {
    let stat = std::fs::read_to_string(stat).ok()?;
    let (name, fields) = stat.split_once(" (")?.1.rsplit_once(") ")?;
    // After the name come the fields from `state` (3rd) on; `nice` is the 19th.
    let nice = fields.split(' ').nth(16)?.parse().ok()?;
    Some((name.to_owned(), nice))
}
