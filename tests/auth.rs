//! Accounts and tokens over HTTP: register, login, me, refresh, logout, change password.

mod common;

use common::{AUTH, PASSWORD, error_code, spawn_app};
use serde_json::json;

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

    assert_eq!(error_code(&wrong_password), Some("UNAUTHENTICATED"));
    assert_eq!(
        wrong_password["errors"][0]["message"],
        unknown_user["errors"][0]["message"]
    );
    assert_eq!(error_code(&unknown_user), Some("UNAUTHENTICATED"));
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
