//! Token introspection (RFC 7662) for registered services: who may ask (HTTP Basic with a
//! client registered by `smilecook clients add`), what an active token shows, and that a
//! logout shows at once where local verification would wait for the token's expiry.

mod common;

use std::time::Duration;

use common::{TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};

struct Service {
    id: String,
    secret: String,
}

async fn register_service(app: &TestApp, id: &str) -> Service {
    let printed = app
        .clients_command(&["add", id])
        .await
        .expect("client added");
    let field = |name: &str| {
        printed
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .expect("printed")
            .to_owned()
    };
    Service {
        id: field("client_id="),
        secret: field("client_secret="),
    }
}

async fn introspect(
    app: &TestApp,
    credentials: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = app.client.post(app.url("/oauth/introspect")).form(form);
    if let Some((id, secret)) = credentials {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("introspection answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn ask(app: &TestApp, service: &Service, token: &str) -> Value {
    let (status, body) = introspect(
        app,
        Some((&service.id, &service.secret)),
        &[("token", token)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn only_registered_services_may_ask_and_strangers_learn_nothing() {
    let app = spawn_app().await;
    let service = register_service(&app, "recipe-cards").await;
    let ada = app.user("ada").await;
    let form = [("token", ada.access.as_str())];

    for credentials in [
        None,
        Some(("recipe-cards", "wrong")),
        Some(("nobody", service.secret.as_str())),
        Some(("recipe-cards", "")),
    ] {
        let (status, body) = introspect(&app, credentials, &form).await;
        assert_eq!(status, 401, "{credentials:?}");
        assert_eq!(body, json!({ "error": "invalid_client" }));
    }
    assert!(
        app.clients_command(&["add", "recipe-cards"]).await.is_err(),
        "taken"
    );
    assert!(app.clients_command(&["add", "no spaces"]).await.is_err());
    let listed = app.clients_command(&["list"]).await.expect("listed");
    assert!(listed.starts_with("recipe-cards"), "{listed}");
    assert!(
        !listed.contains(&service.secret),
        "a secret was shown again"
    );
}

#[tokio::test]
async fn an_active_token_shows_its_subject_and_dates_and_a_logout_shows_at_once() {
    let app = spawn_app().await;
    let service = register_service(&app, "recipe-cards").await;
    let ada = app.user("ada").await;
    let claims = common::jwt::payload(&ada.access);

    let active = ask(&app, &service, &ada.access).await;
    assert_eq!(
        active,
        json!({
            "active": true,
            "sub": ada.id,
            "client_id": "smilecook",
            "token_type": "Bearer",
            "token_use": "access",
            "exp": claims["exp"],
            "iat": claims["iat"],
            "nbf": claims["nbf"],
            "jti": claims["jti"],
            "iss": "smilecook",
            "aud": "smilecook-api",
        })
    );
    assert_eq!(
        ask(&app, &service, &ada.refresh).await["token_use"],
        "refresh"
    );

    app.logout(&ada.access, false).await;

    assert_eq!(
        ask(&app, &service, &ada.access).await,
        json!({ "active": false })
    );
    assert_eq!(
        ask(&app, &service, &ada.refresh).await,
        json!({ "active": false })
    );
}

#[tokio::test]
async fn expired_malformed_and_unknown_tokens_are_inactive_and_nothing_else() {
    let app = spawn_app().await;
    let service = register_service(&app, "recipe-cards").await;
    let ada = app.user("ada").await;
    let huge = "a".repeat(100_000);

    for token in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        huge.as_str(),
    ] {
        assert_eq!(ask(&app, &service, token).await, json!({ "active": false }));
    }
    app.advance_clock(Duration::from_secs(16 * 60));
    assert_eq!(
        ask(&app, &service, &ada.access).await,
        json!({ "active": false })
    );

    let (status, body) = introspect(
        &app,
        Some((&service.id, &service.secret)),
        &[("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!((status, body), (400, json!({ "error": "invalid_request" })));
}

#[tokio::test]
async fn guessing_a_services_secret_is_throttled_and_a_removed_service_is_refused() {
    // A lockout long enough that no slowness of the machine outlasts it.
    let app = spawn_app_with(&["--login-lockout-base=60s"]).await;
    let service = register_service(&app, "recipe-cards").await;
    let ada = app.user("ada").await;
    let form = [("token", ada.access.as_str())];

    let mut statuses = Vec::new();
    for _ in 0..8 {
        let (status, _) = introspect(&app, Some(("recipe-cards", "guess")), &form).await;
        statuses.push(status);
    }
    assert_eq!(
        statuses[..5],
        [401; 5],
        "five free failures (LOGIN_FREE_FAILURES)"
    );
    assert_eq!(statuses[5..], [429; 3], "then locked");
    // Guessing cannot lock the service out: its own secret still works.
    let (status, body) = introspect(&app, Some((&service.id, &service.secret)), &form).await;
    assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");

    app.clients_command(&["remove", "recipe-cards"])
        .await
        .expect("removed");
    app.advance_clock(Duration::from_secs(3600));
    let (status, _) = introspect(&app, Some((&service.id, &service.secret)), &form).await;
    assert_eq!(status, 401);
}
