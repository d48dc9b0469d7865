//! The token guard over HTTP: what it refuses (and with which code), expiry, revocation that
//! survives a restart, and refresh-token rotation with reuse detection.

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::{AUTH, assert_error, jwt, spawn_app, spawn_app_with};
use futures::future::join_all;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

/// Under `JWT_ALGORITHM=HS256` the secret signs access tokens: the forgeries below have the
/// secret, and are refused for what they change. (Under ES256 the secret signs no access
/// token at all: `tests/signing_keys.rs`.)
async fn spawn_hs256() -> common::TestApp {
    spawn_app_with(&["--jwt-algorithm=HS256"]).await
}

async fn me_with_header(app: &common::TestApp, authorization: Option<&str>) -> Value {
    app.op_with_authorization(AUTH, "Me", json!({}), authorization.map(str::to_owned))
        .await
}

#[tokio::test]
async fn tokens_carry_exactly_the_registered_claims_and_nothing_personal() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    for (token, kind, fresh) in [
        (&ada.access, "access", true),
        (&ada.refresh, "refresh", false),
    ] {
        let claims = jwt::payload(token);
        let keys: BTreeSet<&str> = claims
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let expected = [
            "sub", "jti", "type", "fresh", "sid", "iat", "nbf", "exp", "iss", "aud",
        ];
        assert_eq!(keys, BTreeSet::from(expected), "claims of the {kind} token");
        assert_eq!(claims["sub"], ada.id.as_str());
        assert_eq!(claims["type"], kind);
        assert_eq!(claims["fresh"], fresh);
    }
    // Access tokens for every service (ES256 by default), refresh tokens for this server only.
    assert_eq!(jwt::header(&ada.access)["alg"], "ES256");
    assert_eq!(jwt::header(&ada.access)["typ"], "at+jwt");
    assert_eq!(jwt::header(&ada.refresh)["alg"], "HS256");
    let (access, refresh) = (jwt::payload(&ada.access), jwt::payload(&ada.refresh));
    assert_eq!(
        access["sid"], refresh["sid"],
        "both tokens belong to one login session"
    );
    assert_ne!(access["jti"], refresh["jti"]);
}

#[tokio::test]
async fn the_access_token_lifetime_follows_the_configuration() {
    let app = spawn_app_with(&["--access-token-ttl=2m"]).await;
    let ada = app.user("ada").await;

    let login = app.login("ada", &ada.password).await;

    assert_eq!(login["data"]["login"]["expiresIn"], 120);
    let claims = jwt::payload(&ada.access);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
}

#[tokio::test]
async fn me_without_a_token_is_unauthenticated() {
    let app = spawn_app().await;

    let body = me_with_header(&app, None).await;

    assert_error(&body, "UNAUTHENTICATED");
    assert_eq!(body["data"], Value::Null);
}

#[tokio::test]
async fn public_fields_need_no_token() {
    let app = spawn_app().await;

    let body = app.graphql("{ __typename }", json!({}), None).await;

    assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
}

#[tokio::test]
async fn malformed_authorization_headers_are_unauthenticated() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    for header in [
        "Basic x",
        "Bearer",
        "Bearer  ",
        "Token abc",
        &ada.access,
        "Bearer\ta.b.c",
    ] {
        let body = me_with_header(&app, Some(header)).await;
        assert_error(&body, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn a_garbage_token_is_unauthenticated() {
    let app = spawn_app().await;

    for token in ["garbage", "a.b.c", "..", "eyJhbGciOiJIUzI1NiJ9.e30"] {
        let body = app.me(token).await;
        assert_error(&body, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn a_token_forged_with_the_right_secret_and_claims_is_accepted() {
    // The control for the rejections below: the forging helpers make tokens the server takes.
    let app = spawn_hs256().await;
    let ada = app.user("ada").await;

    let forged = jwt::sign(&jwt::payload(&ada.access), app.secret(), Algorithm::HS256);

    let body = app.me(&forged).await;
    assert_eq!(
        body["data"]["me"]["username"], "ada",
        "unexpected response: {body}"
    );
}

#[tokio::test]
async fn a_tampered_payload_is_rejected() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;

    let claims = jwt::with_claim(&jwt::payload(&ada.access), "sub", json!(bob.id));
    let body = app.me(&jwt::with_payload(&ada.access, &claims)).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_rejected() {
    let app = spawn_hs256().await;
    let ada = app.user("ada").await;

    let other_secret = "another-secret-that-is-long-enough-0123456789";
    let body = app
        .me(&jwt::sign(
            &jwt::payload(&ada.access),
            other_secret,
            Algorithm::HS256,
        ))
        .await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_rejected() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    let body = app.me(&jwt::unsigned(&jwt::payload(&ada.access))).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_token_signed_with_another_algorithm_is_rejected_even_with_the_right_secret() {
    let app = spawn_hs256().await;
    let ada = app.user("ada").await;

    for algorithm in [Algorithm::HS512, Algorithm::HS384] {
        let token = jwt::sign(&jwt::payload(&ada.access), app.secret(), algorithm);
        assert_error(&app.me(&token).await, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn a_token_from_another_issuer_or_for_another_audience_is_rejected() {
    let app = spawn_hs256().await;
    let ada = app.user("ada").await;
    let claims = jwt::payload(&ada.access);

    for (claim, value) in [("iss", "someone-else"), ("aud", "another-api")] {
        let forged = jwt::sign(
            &jwt::with_claim(&claims, claim, json!(value)),
            app.secret(),
            Algorithm::HS256,
        );
        assert_error(&app.me(&forged).await, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn a_refresh_token_cannot_be_used_as_an_access_token() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    let body = app.me(&ada.refresh).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_access_token_cannot_be_used_as_a_refresh_token() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    let body = app.refresh(&ada.access).await;

    assert_error(&body, "UNAUTHENTICATED");
    // And the session was left alone: its refresh token still works.
    assert!(app.refresh(&ada.refresh).await["data"]["refreshToken"].is_object());
}

/// The one expiry test that waits for real time: the clock the others move is the one the
/// server reads.
#[tokio::test]
async fn an_expired_access_token_is_rejected_as_expired() {
    let app = spawn_app_with(&["--access-token-ttl=1"]).await;
    let ada = app.user("ada").await;
    assert_eq!(app.me(&ada.access).await["data"]["me"]["username"], "ada");

    tokio::time::sleep(Duration::from_millis(2100)).await;

    assert_error(&app.me(&ada.access).await, "TOKEN_EXPIRED");
    // The session outlives its access tokens: refreshing gives a working one.
    let refreshed = app.refresh(&ada.refresh).await;
    let access = refreshed["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap();
    assert_eq!(app.me(access).await["data"]["me"]["username"], "ada");
}

#[tokio::test]
async fn a_logged_out_token_stays_revoked_after_a_restart() {
    let mut app = spawn_app().await;
    let ada = app.user("ada").await;
    assert_eq!(app.logout(&ada.access, false).await["data"]["logout"], true);

    app.restart().await;

    assert_error(&app.me(&ada.access).await, "TOKEN_REVOKED");
    assert_error(&app.refresh(&ada.refresh).await, "TOKEN_REVOKED");
}

#[tokio::test]
async fn tokens_survive_a_restart() {
    let mut app = spawn_app().await;
    let ada = app.user("ada").await;

    app.restart().await;

    assert_eq!(app.me(&ada.access).await["data"]["me"]["username"], "ada");
}

#[tokio::test]
async fn refreshing_rotates_the_refresh_token_and_gives_a_non_fresh_access_token() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    let body = app.refresh(&ada.refresh).await;

    let payload = &body["data"]["refreshToken"];
    assert_eq!(
        payload["tokenType"], "Bearer",
        "unexpected response: {body}"
    );
    assert_eq!(payload["expiresIn"], 900);
    assert_eq!(payload["user"]["id"], ada.id.as_str());
    let (access, refresh) = (
        payload["accessToken"].as_str().unwrap(),
        payload["refreshToken"].as_str().unwrap(),
    );
    assert_ne!(refresh, ada.refresh);
    assert_eq!(jwt::payload(access)["fresh"], false);
    assert_eq!(
        jwt::payload(access)["sid"],
        jwt::payload(&ada.access)["sid"]
    );
    assert_eq!(app.me(access).await["data"]["me"]["username"], "ada");
    assert!(app.refresh(refresh).await["data"]["refreshToken"].is_object());
}

#[tokio::test]
async fn an_access_token_expires_after_its_lifetime_and_the_session_after_its_own() {
    let app = spawn_app().await; // 15 minutes and 30 days
    let ada = app.user("ada").await;

    app.advance_clock(Duration::from_secs(14 * 60));
    assert_eq!(app.me(&ada.access).await["data"]["me"]["username"], "ada");
    app.advance_clock(Duration::from_secs(2 * 60));
    assert_error(&app.me(&ada.access).await, "TOKEN_EXPIRED");

    let refreshed = app.refresh(&ada.refresh).await;
    let rotated = refreshed["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .expect("refreshed within the session");
    app.advance_clock(Duration::from_secs(30 * 24 * 3600));
    assert_error(&app.refresh(rotated).await, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn rotation_never_extends_the_session() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    app.advance_clock(Duration::from_secs(60));

    let body = app.refresh(&ada.refresh).await;

    let rotated = body["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap();
    let (first, next) = (jwt::payload(&ada.refresh), jwt::payload(rotated));
    assert!(
        next["iat"].as_i64() > first["iat"].as_i64(),
        "issued later: {next}"
    );
    assert_eq!(next["exp"], first["exp"]);
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let rotated = app.refresh(&ada.refresh).await;
    let next = &rotated["data"]["refreshToken"];
    let (next_access, next_refresh) = (
        next["accessToken"].as_str().unwrap(),
        next["refreshToken"].as_str().unwrap(),
    );

    let reuse = app.refresh(&ada.refresh).await;

    assert_error(&reuse, "TOKEN_REUSED");
    assert_error(&app.refresh(next_refresh).await, "TOKEN_REVOKED");
    assert_error(&app.me(next_access).await, "TOKEN_REVOKED");
    assert_error(&app.me(&ada.access).await, "TOKEN_REVOKED");
}

#[tokio::test]
async fn reuse_ends_only_the_session_it_happened_in() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let other = app.new_session(&ada).await;
    app.refresh(&ada.refresh).await;

    assert_error(&app.refresh(&ada.refresh).await, "TOKEN_REUSED");

    assert_eq!(app.me(&other.access).await["data"]["me"]["username"], "ada");
    assert!(app.refresh(&other.refresh).await["data"]["refreshToken"].is_object());
}

#[tokio::test]
async fn of_two_concurrent_refreshes_of_one_token_exactly_one_succeeds() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    let bodies = join_all([app.refresh(&ada.refresh), app.refresh(&ada.refresh)]).await;

    let succeeded = bodies
        .iter()
        .filter(|b| b["data"]["refreshToken"].is_object())
        .count();
    assert_eq!(succeeded, 1, "responses: {bodies:?}");
    let loser = bodies.iter().find(|b| b["errors"].is_array()).unwrap();
    assert_error(loser, "TOKEN_REUSED");
}
