//! Sessions and devices: `mySessions` lists where the caller is logged in, `revokeSession` and
//! `revokeOtherSessions` end sessions (their access and refresh tokens with them), and a
//! session not refreshed for `SESSION_IDLE_TIMEOUT` ends.

mod common;

use std::time::Duration;

use common::{TestApp, TestUser, error_code, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SESSIONS: &str = "{ mySessions { id createdAt lastUsedAt device clientNetwork current } }";

/// Logs `user` in with `user_agent`: the same account with the tokens of a new session.
async fn login_from(app: &TestApp, user: &TestUser, user_agent: &str) -> TestUser {
    let query =
        "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }";
    let body = json!({ "query": query, "variables": { "input": {
        "login": user.username, "password": user.password,
    }}});
    let answer: Value = app
        .client
        .post(app.url("/graphql"))
        .header("user-agent", user_agent)
        .json(&body)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let tokens = &answer["data"]["login"];
    TestUser {
        access: tokens["accessToken"].as_str().expect("a token").into(),
        refresh: tokens["refreshToken"].as_str().expect("a token").into(),
        ..user.clone()
    }
}

async fn sessions(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let answer = app.graphql(SESSIONS, json!({}), Some(&user.access)).await;
    answer["data"]["mySessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions: {answer}"))
        .clone()
}

fn current_id(list: &[Value]) -> String {
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list:?}");
    current[0]["id"].as_str().expect("id").into()
}

async fn revoke(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let query = "mutation($id: ID!) { revokeSession(id: $id) }";
    app.graphql(query, json!({ "id": id }), Some(&user.access))
        .await
}

#[tokio::test]
async fn my_sessions_lists_each_login_with_its_device_and_network() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let firefox = login_from(&app, &ada, FIREFOX).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let curl = login_from(&app, &ada, "curl/8.5.0").await;

    let list = sessions(&app, &firefox).await;

    assert_eq!(list.len(), 3, "{list:?}"); // with the login of app.user
    assert_eq!(
        list[0]["device"], "curl",
        "most recently used first: {list:?}"
    );
    assert_eq!(list[1]["device"], "Firefox on Linux");
    assert_eq!(list[1]["current"], true);
    assert_eq!(list[0]["current"], false);
    for session in &list {
        assert_eq!(session["clientNetwork"], "127.0.0.0/24", "{session}");
        assert_eq!(session["lastUsedAt"], session["createdAt"], "{session}");
    }
    // Each token sees its own session as the current one.
    assert_eq!(
        current_id(&sessions(&app, &curl).await),
        list[0]["id"].as_str().expect("id")
    );
    // Without a token there is nothing to list.
    let anonymous = app.graphql(SESSIONS, json!({}), None).await;
    assert_eq!(
        error_code(&anonymous),
        Some("UNAUTHENTICATED"),
        "{anonymous}"
    );
}

#[tokio::test]
async fn revoking_a_session_ends_its_access_and_refresh_tokens_only() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let phone = login_from(&app, &ada, "SmilecookApp/1.0 (Android 15)").await;
    let phone_id = current_id(&sessions(&app, &phone).await);

    let answer = revoke(&app, &ada, &phone_id).await;
    assert_eq!(answer["data"]["revokeSession"], true, "{answer}");

    let me = app.me(&phone.access).await;
    assert_eq!(error_code(&me), Some("TOKEN_REVOKED"), "{me}");
    let refreshed = app.refresh(&phone.refresh).await;
    assert_eq!(error_code(&refreshed), Some("TOKEN_REVOKED"), "{refreshed}");
    let left = sessions(&app, &ada).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(error_code(&app.me(&ada.access).await), None);

    // Once ended, it is not one of the live sessions any more.
    let again = revoke(&app, &ada, &phone_id).await;
    assert_eq!(error_code(&again), Some("NOT_FOUND"), "{again}");
}

#[tokio::test]
async fn someone_elses_session_is_not_found_and_keeps_working() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let bobs = current_id(&sessions(&app, &bob).await);

    for id in [
        bobs.as_str(),
        "not-a-session",
        &uuid::Uuid::new_v4().to_string(),
    ] {
        let answer = revoke(&app, &ada, id).await;
        assert_eq!(error_code(&answer), Some("NOT_FOUND"), "{id}: {answer}");
    }
    assert_eq!(error_code(&app.me(&bob.access).await), None);
    let refreshed = app.refresh(&bob.refresh).await;
    assert_eq!(error_code(&refreshed), None, "{refreshed}");
}

#[tokio::test]
async fn revoking_the_other_sessions_keeps_the_current_one() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let others = [
        login_from(&app, &ada, FIREFOX).await,
        login_from(&app, &ada, "curl/8.5.0").await,
    ];

    let answer = app
        .graphql(
            "mutation { revokeOtherSessions }",
            json!({}),
            Some(&ada.access),
        )
        .await;

    assert_eq!(answer["data"]["revokeOtherSessions"], 2, "{answer}");
    for other in &others {
        assert_eq!(
            error_code(&app.me(&other.access).await),
            Some("TOKEN_REVOKED")
        );
        assert_eq!(
            error_code(&app.refresh(&other.refresh).await),
            Some("TOKEN_REVOKED")
        );
    }
    assert_eq!(error_code(&app.me(&ada.access).await), None);
    assert_eq!(sessions(&app, &ada).await.len(), 1);
    let refreshed = app.refresh(&ada.refresh).await;
    assert_eq!(error_code(&refreshed), None, "{refreshed}");
}

#[tokio::test]
async fn a_session_not_refreshed_for_the_idle_timeout_ends() {
    let app = spawn_app_with(&["--session-idle-timeout=1h"]).await;
    let ada = app.user("ada").await;

    // Used every 50 minutes, it lives on (and shows when it was last used).
    let mut refresh = ada.refresh.clone();
    for _ in 0..3 {
        app.advance_clock(Duration::from_secs(50 * 60));
        let answer = app.refresh(&refresh).await;
        let tokens = &answer["data"]["refreshToken"];
        refresh = tokens["refreshToken"]
            .as_str()
            .unwrap_or_else(|| panic!("refresh failed: {answer}"))
            .into();
        let access = tokens["accessToken"].as_str().expect("a token").to_owned();
        let list = sessions(
            &app,
            &TestUser {
                access,
                ..ada.clone()
            },
        )
        .await;
        assert_ne!(list[0]["lastUsedAt"], list[0]["createdAt"], "{list:?}");
    }

    // Then left alone for an hour and a minute, it has ended.
    app.advance_clock(Duration::from_secs(61 * 60));
    let answer = app.refresh(&refresh).await;
    assert_eq!(error_code(&answer), Some("UNAUTHENTICATED"), "{answer}");
    let again = app.refresh(&refresh).await;
    assert_eq!(error_code(&again), Some("TOKEN_REVOKED"), "{again}");
    let fresh = app.new_session(&ada).await;
    let list = sessions(&app, &fresh).await;
    assert_eq!(list.len(), 1, "only the new login: {list:?}");
}
