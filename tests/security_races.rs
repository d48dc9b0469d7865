//! Races against throttles and credentials: what parallel requests may not win. Each test
//! sends the racing requests at once (or staggered across the window where they overlap) and
//! asserts the outcome that must hold however they interleave.

mod common;

use std::{future::Future, time::Duration};

use tokio::time::Instant;

use common::{PASSWORD, TestApp, TestUser, error_code, spawn_app_with};
use futures::future::join_all;
use serde_json::{Value, json};

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
    // 24 guesses and the right password, all at once.
    let attempts = (0..25).map(|i| {
        let app = &app;
        let password = if i == 12 {
            PASSWORD.to_owned()
        } else {
            format!("guess {i}")
        };
        async move { app.login("ada", &password).await }
    });

    let bodies = join_all(attempts).await;

    assert!(checked(&bodies) <= 5, "{bodies:#?}");
    let refused = bodies
        .iter()
        .filter(|b| error_code(b) == Some("TOO_MANY_REQUESTS"))
        .count();
    assert!(refused >= 20, "{bodies:#?}");
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

/// Logins with `user`'s password sent at each of `offsets`, and `change` sent at `change_at`,
/// on a server whose hashes are slow. Returns the access tokens those logins got, and whether
/// every login was still in flight when `change` returned.
async fn logins_racing(
    app: &TestApp,
    user: &TestUser,
    offsets: &[Duration],
    change: impl Future<Output = Value>,
    change_at: Duration,
) -> (Vec<String>, bool) {
    let logins = offsets.iter().map(|offset| async move {
        tokio::time::sleep(*offset).await;
        let body = app.login(&user.username, &user.password).await;
        (logged_in(&body), Instant::now())
    });
    let change = async {
        tokio::time::sleep(change_at).await;
        let body = change.await;
        assert!(body["errors"].is_null(), "{body}");
        Instant::now()
    };
    let (logins, changed_at) = tokio::join!(join_all(logins), change);
    let in_flight = logins.iter().all(|(_, at)| *at > changed_at);
    (
        logins.into_iter().filter_map(|(t, _)| t).collect(),
        in_flight,
    )
}

/// A server whose password checks take long enough (20 argon2 passes) for requests to
/// overlap them, on enough threads for the checks to run side by side.
async fn slow_hashing_app() -> TestApp {
    spawn_app_with(&[
        "--login-free-failures=1000",
        "--argon2-iterations=20",
        "--argon2-threads=6",
    ])
    .await
}

#[tokio::test]
async fn no_login_that_raced_a_password_change_works_once_the_change_has_returned() {
    let app = slow_hashing_app().await;
    let started = Instant::now();
    app.login("nobody", "guess").await;
    // A change checks the old password and hashes the new one: about two checks' time. Logins
    // spread over it check the old password and open their sessions before, during and after
    // the moment the new password is stored.
    let check = started.elapsed();
    let offsets: Vec<Duration> = (0..7).map(|k| check * k / 3).collect();
    let mut opened = 0;
    for round in 0..3 {
        let user = app.user(&format!("ada{round}")).await;
        let change = app.change_password(&user.access, PASSWORD, "a brand new password");

        let (tokens, _) = logins_racing(&app, &user, &offsets, change, Duration::ZERO).await;

        opened += tokens.len();
        for token in tokens {
            let me = app.me(&token).await;
            assert!(
                me["data"].is_null(),
                "a session of the old password works: {me}"
            );
        }
    }
    // The race was run: logins checked the old password and opened sessions meanwhile.
    assert!(opened > 0, "no login overlapped the change");
}

#[tokio::test]
async fn no_login_in_flight_during_a_logout_of_all_sessions_works_once_it_has_returned() {
    let app = slow_hashing_app().await;
    let started = Instant::now();
    app.login("nobody", "guess").await;
    let check = started.elapsed();
    for round in 0..3 {
        let user = app.user(&format!("bob{round}")).await;
        // As many database connections open as there will be logins, so that each login reads
        // the account at once (opening a PostgreSQL connection can take longer than the wait).
        join_all((0..4).map(|_| app.login("nobody", "guess"))).await;
        let logout = app.logout(&user.access, true);

        // Every login has read the account before the logout starts, and checks the password
        // long after it has returned.
        let at_once = [Duration::ZERO; 4];
        let later = check / 2;
        let (tokens, in_flight) = logins_racing(&app, &user, &at_once, logout, later).await;

        assert!(in_flight, "a login returned before the logout did");
        for token in tokens {
            let me = app.me(&token).await;
            assert!(
                me["data"].is_null(),
                "a session opened before the logout works: {me}"
            );
        }
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
