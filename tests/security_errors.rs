//! Honest errors: internal failures say nothing but a reference, a denylist that cannot be
//! consulted refuses the token (fail closed), and malformed requests get a clear 4xx.

mod common;

use common::{error_code, proxy::Proxy, spawn_app, spawn_app_with, spawn_app_without_redis};
use reqwest::StatusCode;
use serde_json::{Value, json};
use smilecook::startup::StartupError;

async fn post_raw(app: &common::TestApp, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", content_type)
        .header("accept", "application/graphql-response+json")
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_token_is_refused_when_the_sql_denylist_cannot_be_consulted() {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        return; // SQLite answers from its copy: see the two tests below.
    }
    let app = spawn_app_without_redis().await;
    let ada = app.user("ada").await;
    drop_denylist_table(&app).await;

    let body = app.me(&ada.access).await;

    assert!(
        body["data"].is_null(),
        "the guard let a token through: {body}"
    );
    assert_eq!(error_code(&body), Some("INTERNAL_SERVER_ERROR"));
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("Reference"), "{message}");
    assert!(
        !message.contains("token_denylist"),
        "internals leaked: {message}"
    );
}

#[tokio::test]
async fn a_server_that_cannot_load_the_denylist_does_not_start() {
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        return; // Only SQLite loads the table at start-up.
    }
    let app = spawn_app_without_redis().await;
    drop_denylist_table(&app).await;

    let second = app.try_spawn_sibling().await;

    assert!(
        matches!(second, Err(StartupError::Denylist(_))),
        "started without its denylist"
    );
}

#[tokio::test]
async fn a_logout_the_table_cannot_record_still_revokes_the_token_in_this_process() {
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        return; // Only SQLite keeps a copy without Redis.
    }
    let app = spawn_app_without_redis().await;
    let ada = app.user("ada").await;
    drop_denylist_table(&app).await;

    let body = app.logout(&ada.access, false).await;

    assert_eq!(error_code(&body), Some("INTERNAL_SERVER_ERROR"), "{body}");
    assert_eq!(
        error_code(&app.me(&ada.access).await),
        Some("TOKEN_REVOKED")
    );
}

async fn drop_denylist_table(app: &common::TestApp) {
    common::execute_sql(&app.database_url, "DROP TABLE token_denylist").await;
}

#[tokio::test]
async fn a_token_is_refused_when_redis_is_unreachable() {
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        return; // Needs a real Redis; CI runs the suite with one.
    };
    let target = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = Proxy::start(target).await;
    let url = format!("--redis-url=redis://127.0.0.1:{}/", proxy.port);
    let app = spawn_app_with(&[url.as_str()]).await;
    let ada = app.user("ada").await;
    assert_eq!(app.me(&ada.access).await["data"]["me"]["username"], "ada");

    proxy.cut();

    // The server learns of the outage through its denylist subscription (at once when the
    // connection drops, within a few seconds when it goes silent), then asks Redis, and fails.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let body = loop {
        let body = app.me(&ada.access).await;
        if !body["data"]["me"].is_object() || tokio::time::Instant::now() >= deadline {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        body["data"].is_null(),
        "the guard let a token through: {body}"
    );
    assert_eq!(error_code(&body), Some("SERVICE_UNAVAILABLE"));
}

#[tokio::test]
async fn a_broken_table_answers_internal_error_with_a_reference_only() {
    let app = spawn_app().await;
    common::execute_sql(&app.database_url, "DROP TABLE sessions").await;
    app.register("ada").await;

    let body = app.login("ada", common::PASSWORD).await;

    assert_eq!(error_code(&body), Some("INTERNAL_SERVER_ERROR"), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("Internal server error. Reference: "),
        "{message}"
    );
    assert!(!message.to_lowercase().contains("sessions"), "{message}");
}

#[tokio::test]
async fn malformed_json_is_a_400_with_a_clear_message() {
    let app = spawn_app().await;

    let (status, body) = post_raw(&app, "application/json", b"{\"query\": ".to_vec()).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), Some("BAD_REQUEST"));
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("not valid JSON"), "{message}");
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_a_400() {
    let app = spawn_app().await;

    let (status, body) = post_raw(&app, "application/json", vec![0xff, 0xfe, b'{', b'}']).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("UTF-8"), "{message}");
}

#[tokio::test]
async fn a_json_body_without_a_query_is_a_400() {
    let app = spawn_app().await;

    let (status, body) = post_raw(&app, "application/json", b"{\"variables\": {}}".to_vec()).await;
    let (scalar, _) = post_raw(&app, "application/json", b"42".to_vec()).await;

    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(scalar, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn variables_of_the_wrong_type_are_a_request_error() {
    let app = spawn_app().await;
    let body = json!({
        "query": "query($u: String!) { user(username: $u) { id } }",
        "variables": { "u": 42 },
    });

    let (status, body) = post_raw(&app, "application/json", body.to_string().into_bytes()).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.get("data").is_none());
    assert!(error_code(&body).is_some(), "{body}");
}

#[tokio::test]
async fn huge_headers_are_refused_with_a_4xx() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/graphql"))
        .header("x-padding", "x".repeat(1024 * 1024))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await;

    match response {
        Ok(response) => assert!(response.status().is_client_error(), "{}", response.status()),
        // hyper may close the connection on an oversized head instead of answering.
        Err(err) => assert!(
            err.is_request() || err.is_connect() || err.is_body(),
            "{err}"
        ),
    }
}

#[tokio::test]
async fn a_missing_required_variable_is_a_request_error() {
    let app = spawn_app().await;
    let body = json!({ "query": "query($u: String!) { user(username: $u) { id } }" });

    let (status, body) = post_raw(&app, "application/json", body.to_string().into_bytes()).await;

    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.get("data").is_none());
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("$u"), "{message}");
}
