//! Races against throttles and credentials: what parallel requests may not win. Each test
//! sends the racing requests at once and asserts the outcome that must hold however they
//! interleave; where the interesting interleaving is a narrow one, the test pins it by holding
//! the server's password hashing (`TestApp::hold_hashing`) until the requests have reached the
//! point it needs, instead of hoping the timing falls that way.

mod common;

use std::{
    future::Future,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use common::{PASSWORD, TestApp, TestUser, error_code, spawn_app_with};
use futures::future::join_all;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

fn logged_in(body: &Value) -> Option<String> {
    body["data"]["login"]["accessToken"]
        .as_str()
        .map(str::to_owned)
}

fn checked(bodies: &[Value]) -> usize {
    bodies
        .iter()
        .filter(|b| error_code(b) != Some("TOO_MANY_REQUESTS"))
        .count()
}

#[tokio::test]
async fn of_25_parallel_logins_for_one_account_at_most_the_allowance_get_their_password_checked() {
    let app = spawn_app_with(&["--login-free-failures=5", "--login-lockout-base=60s"]).await;
    app.register("ada").await;
    // Every attempt is counted before any password is checked: the granted ones wait at the
    // held hashing until the refused ones have all been answered. Then the right password
    // among them (if granted) cannot clear the account's count while others still reserve.
    app.hold_hashing();
    let refused = AtomicUsize::new(0);
    let attempts = (0..25).map(|i| {
        let (app, refused) = (&app, &refused);
        let password = if i == 12 {
            PASSWORD.to_owned()
        } else {
            format!("guess {i}")
        };
        async move {
            let body = app.login("ada", &password).await;
            if error_code(&body) == Some("TOO_MANY_REQUESTS") {
                refused.fetch_add(1, Ordering::SeqCst);
            }
            body
        }
    });
    let counted = async {
        app.hashes_waiting(5).await;
        while refused.load(Ordering::SeqCst) < 20 {
            tokio::task::yield_now().await;
        }
        app.release_hashing();
    };

    let (bodies, ()) = tokio::join!(join_all(attempts), counted);

    assert_eq!(checked(&bodies), 5, "{bodies:#?}");
}

#[tokio::test]
async fn of_25_parallel_logins_from_one_address_at_most_its_allowance_are_checked() {
    let app = spawn_app_with(&[
        "--login-free-failures=100",
        "--login-address-free-failures=5",
        "--login-lockout-base=60s",
    ])
    .await;
    let attempts = (0..25).map(|i| {
        let app = &app;
        async move { app.login(&format!("nobody{i}"), "guess").await }
    });

    let bodies = join_all(attempts).await;

    assert!(checked(&bodies) <= 5, "{bodies:#?}");
}

/// `n` aliased `changePassword` guesses in one request.
fn guesses(n: usize) -> String {
    let fields: String = (0..n)
        .map(|i| format!("g{i}: changePassword(currentPassword: \"guess {i}\", newPassword: \"taken over!\") "))
        .collect();
    format!("mutation {{ {fields} }}")
}

#[tokio::test]
async fn change_password_guesses_share_the_accounts_allowance() {
    let app = spawn_app_with(&["--login-free-failures=5", "--login-lockout-base=60s"]).await;
    let ada = app.user("ada").await;

    let body = app
        .graphql(&guesses(20), json!({}), Some(&ada.access))
        .await;

    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    let checked = errors
        .iter()
        .filter(|e| e["extensions"]["code"] == "BAD_USER_INPUT")
        .count();
    let refused = errors
        .iter()
        .filter(|e| e["extensions"]["code"] == "TOO_MANY_REQUESTS")
        .count();
    assert_eq!((checked, refused), (5, 15), "{body}");
    // The same allowance guards logins: the right password does not get in now.
    assert!(logged_in(&app.login("ada", PASSWORD).await).is_none());
    let fresh = app
        .change_password(&ada.access, PASSWORD, "a new password")
        .await;
    assert_eq!(error_code(&fresh), Some("TOO_MANY_REQUESTS"), "{fresh}");
}

#[tokio::test]
async fn a_lockout_through_the_username_does_not_tell_which_email_is_the_accounts() {
    let app = spawn_app_with(&["--login-free-failures=3", "--login-lockout-base=60s"]).await;
    app.register("ada").await;
    for _ in 0..4 {
        app.login("ada", "wrong password").await;
    }
    assert_eq!(
        error_code(&app.login("ada", "wrong password").await),
        Some("TOO_MANY_REQUESTS")
    );

    let own_email = app.login("ada@example.com", "any password").await;
    let someone_elses = app.login("nobody@example.com", "any password").await;

    assert_eq!(
        error_code(&own_email),
        Some("UNAUTHENTICATED"),
        "{own_email}"
    );
    assert_eq!(own_email["errors"], someone_elses["errors"]);
    // And the email gives no extra guesses: while the account is locked, even the right
    // password is answered as a wrong one.
    let right = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(right["errors"], someone_elses["errors"], "{right}");
}

/// `count` logins of `user`, each held at the server's hashing once it has read the account
/// and been counted; returns them (not yet awaited) once all wait there.
async fn held_logins<'a>(
    app: &'a TestApp,
    user: &'a TestUser,
    count: usize,
) -> impl Future<Output = Vec<Value>> + 'a {
    let waiting = app.hashing_waits();
    let logins = tokio::spawn({
        let (addr, username, password) = (
            app.addr.clone(),
            user.username.clone(),
            user.password.clone(),
        );
        async move {
            let client = reqwest::Client::new();
            let logins = (0..count).map(|_| login_at(&client, &addr, &username, &password));
            join_all(logins).await
        }
    });
    app.hashes_waiting(waiting + count).await;
    async move { logins.await.expect("the logins ran") }
}

async fn login_at(client: &reqwest::Client, addr: &str, login: &str, password: &str) -> Value {
    let body = json!({ "query": common::AUTH, "operationName": "Login",
                       "variables": { "input": { "login": login, "password": password } } });
    common::post_graphql(client, &format!("{addr}/graphql"), &body, None).await
}

/// The change of `user`'s password to `new`, sent now and awaited later.
fn change_password(app: &TestApp, user: &TestUser, new: &'static str) -> JoinHandle<Value> {
    let (client, url, access) = (app.client.clone(), app.url("/graphql"), user.access.clone());
    tokio::spawn(async move {
        let body = json!({ "query": common::AUTH, "operationName": "ChangePassword",
                           "variables": { "current": PASSWORD, "new": new } });
        common::post_graphql(&client, &url, &body, Some(format!("Bearer {access}"))).await
    })
}

/// Logins that read the account before a change of password work for nobody once the change
/// has returned, whether they open their sessions before the change stores the new password
/// (then the change ends them) or after (then the login sees the credentials moved). Both
/// orders are pinned at the held hashing.
#[tokio::test]
async fn no_login_that_raced_a_password_change_works_once_the_change_has_returned() {
    let app = spawn_app_with(&["--login-free-failures=1000"]).await;
    let new_password = "a brand new password";

    // The logins first: three logins and the change's check of the current password pass the
    // gate; the change's new hash waits until the logins have opened their sessions.
    let ada = app.user("ada").await;
    app.hold_hashing();
    let logins = held_logins(&app, &ada, 3).await;
    let change = change_password(&app, &ada, new_password);
    app.hashes_waiting(4).await;
    app.let_hashes_through(4);
    let early: Vec<String> = logins.await.iter().filter_map(logged_in).collect();
    app.release_hashing();
    let changed = change.await.expect("the change ran");
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    assert_eq!(
        early.len(),
        3,
        "the logins opened their sessions before the change"
    );

    // The change first: its check passes, its new hash waits; logins read the account (the
    // old password still stands) and wait; the change stores the new password and returns;
    // then the logins check the old password and open their sessions.
    let bob = app.user("bob").await;
    app.hold_hashing();
    let passed = app.hashing_passes();
    let change = change_password(&app, &bob, new_password);
    app.hashes_waiting(1).await;
    app.let_hashes_through(1);
    app.hashes_passed(passed + 1).await;
    app.hashes_waiting(1).await; // the change's new hash
    let logins = held_logins(&app, &bob, 3).await;
    app.let_hashes_through(1); // the first to come: the change's new hash
    let changed = change.await.expect("the change ran");
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    app.release_hashing();
    let late: Vec<String> = logins.await.iter().filter_map(logged_in).collect();

    for token in early.iter().chain(&late) {
        let me = app.me(token).await;
        assert!(
            me["data"].is_null(),
            "a session of the old password works: {me}"
        );
    }
}

/// Logins that have read the account's credentials when a logout of all sessions starts, and
/// check the password after it has returned, open no session that works.
#[tokio::test]
async fn no_login_in_flight_during_a_logout_of_all_sessions_works_once_it_has_returned() {
    let app = spawn_app_with(&["--login-free-failures=1000"]).await;
    let user = app.user("bob").await;
    app.hold_hashing();
    let logins = held_logins(&app, &user, 4).await;

    let logout = app.logout(&user.access, true).await;
    assert!(logout["errors"].is_null(), "{logout}");
    app.release_hashing();
    let bodies = logins.await;

    for body in bodies {
        let refused = logged_in(&body).is_none();
        let token = logged_in(&body).unwrap_or_default();
        let works = !refused && app.me(&token).await["data"].is_object();
        assert!(!works, "a session opened before the logout works: {body}");
    }
}

#[tokio::test]
async fn a_login_that_upgrades_an_old_hash_never_writes_back_the_old_password() {
    let mut app = spawn_app_with(&[
        "--login-free-failures=1000",
        "--argon2-memory-kib=1024",
        "--argon2-iterations=1",
    ])
    .await;
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(app.user(&format!("cy{i}")).await);
    }
    // New parameters: every stored hash is now outdated, and the next login replaces it. They
    // are slow, so that the login's new hash and the change's are made side by side.
    app.restart_with(&[
        "--argon2-memory-kib=8192",
        "--argon2-iterations=10",
        "--argon2-threads=4",
    ])
    .await;
    let new_password = "a brand new password";

    for (i, user) in users.iter().enumerate() {
        // Tokens survive the restart, and these are fresh (from login).
        let change = app.change_password(&user.access, PASSWORD, new_password);
        let login = async {
            tokio::time::sleep(Duration::from_millis(i as u64)).await;
            app.login(&user.username, PASSWORD).await
        };
        let (changed, _) = tokio::join!(change, login);
        if !changed["errors"].is_null() {
            // The login's upgrade came first, and the change found the hash changed.
            let old = app.login(&user.username, PASSWORD).await;
            assert!(logged_in(&old).is_some(), "the password was lost: {old}");
            continue;
        }

        let old = app.login(&user.username, PASSWORD).await;
        let new = app.login(&user.username, new_password).await;
        assert!(logged_in(&old).is_none(), "the old password is back: {old}");
        assert!(
            logged_in(&new).is_some(),
            "the new password was lost: {new}"
        );
    }
}
