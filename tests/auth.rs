//! Accounts and tokens over HTTP: register, login, me, refresh, logout, change password.

mod common;

use common::{AUTH, PASSWORD, TestApp, assert_error, error_field, spawn_app, spawn_app_with};
use futures::future::join_all;
use serde_json::{Value, json};

#[tokio::test]
async fn a_registered_user_logs_in_and_reads_their_own_account() {
    let app = spawn_app().await;
    let user = app.user("ada").await;

    let me = app.me(&user.access).await;

    assert_eq!(
        me["data"]["me"]["username"], "ada",
        "unexpected response: {me}"
    );
    assert_eq!(me["data"]["me"]["email"], "ada@example.com");
    assert_eq!(me["data"]["me"]["id"], user.id.as_str());
}

#[tokio::test]
async fn login_returns_bearer_tokens_with_their_lifetime() {
    let app = spawn_app().await;
    app.register("ada").await;

    let body = app.login("ADA@example.com", PASSWORD).await;

    let payload = &body["data"]["login"];
    assert_eq!(payload["tokenType"], "Bearer");
    assert_eq!(payload["expiresIn"], 900);
    assert_eq!(payload["user"]["username"], "ada");
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_get_the_same_error() {
    let app = spawn_app().await;
    app.register("ada").await;

    let wrong_password = app.login("ada", "not the password").await;
    let unknown_user = app.login("nobody", "not the password").await;

    assert_error(&wrong_password, "UNAUTHENTICATED");
    assert_eq!(
        wrong_password["errors"], unknown_user["errors"],
        "the same whole error"
    );
}

#[tokio::test]
async fn another_users_email_is_hidden() {
    let app = spawn_app().await;
    app.user("ada").await;
    let bob = app.user("bob").await;

    let body = app
        .op(
            AUTH,
            "UserByName",
            json!({ "username": "ADA" }),
            Some(&bob.access),
        )
        .await;

    assert_eq!(body["data"]["user"]["username"], "ada");
    assert_eq!(body["data"]["user"]["email"], serde_json::Value::Null);
}

async fn register(app: &TestApp, username: &str, email: &str, password: &str) -> Value {
    let input = json!({ "username": username, "email": email, "password": password });
    app.op(AUTH, "Register", json!({ "input": input }), None)
        .await
}

#[tokio::test]
async fn registration_refuses_invalid_input_naming_the_field() {
    let app = spawn_app().await;
    let long_name = "a".repeat(31);
    let cases = [
        ("ab", "ab@example.com", PASSWORD, "username"),
        (long_name.as_str(), "long@example.com", PASSWORD, "username"),
        ("ada lovelace", "ada@example.com", PASSWORD, "username"),
        ("ada-l", "ada@example.com", PASSWORD, "username"),
        ("ada", "not-an-email", PASSWORD, "email"),
        ("ada", "ada@localhost", PASSWORD, "email"),
        ("ada", "ada@example.com", "short", "password"),
    ];

    for (username, email, password, field) in cases {
        let body = register(&app, username, email, password).await;
        assert_error(&body, "BAD_USER_INPUT");
        assert_eq!(
            error_field(&body),
            Some(field),
            "for {username:?} {email:?}: {body}"
        );
    }
    // Nothing was created along the way: the boundary values are accepted afterwards.
    let ok = register(&app, &"a".repeat(30), "ada@example.com", "8 chars!").await;
    assert_eq!(
        ok["data"]["register"]["username"],
        "a".repeat(30),
        "unexpected response: {ok}"
    );
}

#[tokio::test]
async fn usernames_and_emails_are_unique_regardless_of_case() {
    let app = spawn_app().await;
    app.register("ada").await;

    let same_name = register(&app, "ADA", "other@example.com", PASSWORD).await;
    let same_email = register(&app, "other", "Ada@Example.COM", PASSWORD).await;

    assert_error(&same_name, "BAD_USER_INPUT");
    assert_eq!(error_field(&same_name), Some("username"));
    assert_error(&same_email, "BAD_USER_INPUT");
    assert_eq!(error_field(&same_email), Some("email"));
}

/// Fires eight registrations at once; returns the responses (all of them HTTP 200).
async fn register_concurrently(
    app: &TestApp,
    input: impl Fn(usize) -> (String, String),
) -> Vec<Value> {
    let requests = (0..8).map(|i| {
        let (username, email) = input(i);
        let body = json!({ "query": AUTH, "operationName": "Register", "variables": { "input": {
            "username": username, "email": email, "password": PASSWORD } } });
        let request = app.client.post(app.url("/graphql")).json(&body);
        async move {
            let response = request.send().await.expect("request sent");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("JSON body")
        }
    });
    join_all(requests).await
}

#[tokio::test]
async fn of_concurrent_duplicate_registrations_exactly_one_wins() {
    // Allowances above the eight attempts: the race is the database's to decide.
    let app = spawn_app_with(&["--register-per-mailbox=8"]).await;
    let same_name = |i| ("grace".to_owned(), format!("grace{i}@example.com"));
    let same_email = |i| (format!("hopper{i}"), "hopper@example.com".to_owned());

    for (input, field) in [
        (&same_name as &dyn Fn(usize) -> _, "username"),
        (&same_email, "email"),
    ] {
        let bodies = register_concurrently(&app, input).await;
        let winners = bodies
            .iter()
            .filter(|b| b["data"]["register"].is_object())
            .count();
        assert_eq!(winners, 1, "responses: {bodies:?}");
        for loser in bodies.iter().filter(|b| b["errors"].is_array()) {
            assert_error(loser, "BAD_USER_INPUT");
            assert_eq!(
                error_field(loser),
                Some(field),
                "unexpected response: {loser}"
            );
        }
    }
}

#[tokio::test]
async fn login_accepts_the_username_or_the_email_in_any_case() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    for login in ["ada", "ADA", "ada@example.com", "Ada@Example.com"] {
        let body = app.login(login, PASSWORD).await;
        let payload = &body["data"]["login"];
        assert_eq!(
            payload["user"]["id"],
            ada.id.as_str(),
            "login as {login}: {body}"
        );
        assert!(
            payload["accessToken"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        assert!(
            payload["refreshToken"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
    }
}

#[tokio::test]
async fn logout_revokes_the_access_token_and_the_refresh_token_of_the_session() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    // Without variables, as most clients send it: `allSessions` defaults to false.
    let body = app.op(AUTH, "Logout", json!({}), Some(&ada.access)).await;

    assert_eq!(body, json!({ "data": { "logout": true } }));
    assert_error(&app.me(&ada.access).await, "TOKEN_REVOKED");
    assert_error(&app.refresh(&ada.refresh).await, "TOKEN_REVOKED");
}

#[tokio::test]
async fn logout_leaves_the_other_sessions_working() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let other = app.new_session(&ada).await;

    app.logout(&ada.access, false).await;

    assert_eq!(app.me(&other.access).await["data"]["me"]["username"], "ada");
    assert!(app.refresh(&other.refresh).await["data"]["refreshToken"].is_object());
}

#[tokio::test]
async fn logout_of_all_sessions_ends_every_session_of_the_user_only() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let other = app.new_session(&ada).await;
    let bob = app.user("bob").await;

    let body = app.logout(&ada.access, true).await;

    assert_eq!(body, json!({ "data": { "logout": true } }));
    for session in [&ada, &other] {
        assert_error(&app.me(&session.access).await, "TOKEN_REVOKED");
        assert_error(&app.refresh(&session.refresh).await, "TOKEN_REVOKED");
    }
    assert_eq!(app.me(&bob.access).await["data"]["me"]["username"], "bob");
}

#[tokio::test]
async fn logout_needs_an_access_token() {
    let app = spawn_app().await;

    let body = app.op(AUTH, "Logout", json!({}), None).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[tokio::test]
async fn changing_the_password_needs_a_fresh_token() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let refreshed = app.refresh(&ada.refresh).await;
    let stale = refreshed["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap();

    let body = app
        .change_password(stale, PASSWORD, "a new passphrase")
        .await;

    assert_error(&body, "FRESH_TOKEN_REQUIRED");
    assert!(app.login("ada", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn changing_the_password_checks_the_current_one_and_the_new_ones_length() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    let wrong = app
        .change_password(&ada.access, "not the password", "a new passphrase")
        .await;
    let short = app.change_password(&ada.access, PASSWORD, "short").await;

    assert_error(&wrong, "BAD_USER_INPUT");
    assert_eq!(error_field(&wrong), Some("currentPassword"));
    assert_error(&short, "BAD_USER_INPUT");
    assert_eq!(error_field(&short), Some("newPassword"));
    assert!(app.login("ada", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn a_changed_password_replaces_the_old_one_and_ends_the_other_sessions() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let other = app.new_session(&ada).await;
    let bob = app.user("bob").await;

    let body = app
        .change_password(&ada.access, PASSWORD, "a new passphrase")
        .await;

    assert_eq!(body, json!({ "data": { "changePassword": true } }));
    assert_error(&app.login("ada", PASSWORD).await, "UNAUTHENTICATED");
    assert!(app.login("ada", "a new passphrase").await["data"]["login"].is_object());
    assert_error(&app.me(&other.access).await, "TOKEN_REVOKED");
    assert_error(&app.refresh(&other.refresh).await, "TOKEN_REVOKED");
    assert_eq!(app.me(&ada.access).await["data"]["me"]["username"], "ada");
    assert!(app.refresh(&ada.refresh).await["data"]["refreshToken"].is_object());
    assert_eq!(app.me(&bob.access).await["data"]["me"]["username"], "bob");
}

#[tokio::test]
async fn registration_and_login_show_the_accounts_own_email() {
    let app = spawn_app().await;

    let registered = app.register("ada").await;
    let login = app.login("ada", PASSWORD).await;

    assert_eq!(registered["data"]["register"]["email"], "ada@example.com");
    assert_eq!(login["data"]["login"]["user"]["email"], "ada@example.com");
}
