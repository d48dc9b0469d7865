//! Access tokens other services can verify: ES256 (default) or EdDSA with the `kid` of a key
//! published at `/.well-known/jwks.json`, `typ: at+jwt`; the forgeries refused whatever the
//! configuration; rotation that logs nobody out; revocation of a key on every instance; and
//! the `smilecook keys` command, run as the real binary.

mod common;

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use common::{
    TestApp, assert_error, jwt, spawn_app_with,
    ws::{WsClient, is_ack},
};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Validation,
    jwk::{Jwk, JwkSet},
};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);
/// Short, so that instances see a change of the key set quickly.
const REFRESH: &str = "--keys-refresh-interval=100ms";

async fn jwks(app: &TestApp) -> JwkSet {
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("JWKS answered");
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JWK set")
}

async fn published(app: &TestApp) -> Vec<String> {
    let set = jwks(app).await;
    set.keys
        .iter()
        .filter_map(|key| key.common.key_id.clone())
        .collect()
}

/// Waits until `condition` holds of the app (instances poll the key set): a bound on
/// failure, not a measurement.
async fn until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn kid(token: &str) -> String {
    jwt::header(token)["kid"]
        .as_str()
        .expect("the token names its key")
        .to_owned()
}

/// Verifies `token` with the key of `set` that its `kid` names, as another service would.
fn verify_with(set: &JwkSet, token: &str, algorithm: Algorithm) -> Value {
    let key: &Jwk = set.find(&kid(token)).expect("the token's key is published");
    let mut validation = Validation::new(algorithm);
    validation.set_audience(&["smilecook-api"]);
    validation.set_issuer(&["smilecook"]);
    let decoding = DecodingKey::from_jwk(key).expect("a usable public key");
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .expect("verified with the published key")
        .claims
}

#[tokio::test]
async fn access_tokens_are_es256_signed_by_a_published_key_and_refresh_tokens_stay_private() {
    let app = spawn_app_with(&[]).await;
    let ada = app.user("ada").await;

    let header = jwt::header(&ada.access);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    let set = jwks(&app).await;
    let claims = verify_with(&set, &ada.access, Algorithm::ES256);
    assert_eq!(claims["sub"], ada.id.as_str());
    let key = serde_json::to_value(set.find(&kid(&ada.access))).expect("JSON");
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
        (
            &json!("EC"),
            &json!("P-256"),
            &json!("ES256"),
            &json!("sig")
        )
    );
    assert!(
        key.get("d").is_none(),
        "a private part was published: {key}"
    );
    // The kid is the key's RFC 7638 thumbprint.
    let jwk: Jwk = serde_json::from_value(key).expect("a JWK");
    let thumbprint = jwk
        .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
        .expect("thumbprint");
    assert_eq!(thumbprint, kid(&ada.access));
    // Refresh tokens are read by this server only: signed by the secret, never published.
    let refresh = jwt::header(&ada.refresh);
    assert_eq!(refresh["alg"], "HS256");
    assert!(set.find(&kid(&ada.refresh)).is_none());
}

#[tokio::test]
async fn eddsa_tokens_verify_with_the_published_ed25519_key() {
    let app = spawn_app_with(&["--jwt-algorithm=EdDSA"]).await;
    let ada = app.user("ada").await;

    assert_eq!(jwt::header(&ada.access)["alg"], "EdDSA");
    let set = jwks(&app).await;
    let claims = verify_with(&set, &ada.access, Algorithm::EdDSA);
    assert_eq!(claims["sub"], ada.id.as_str());
    let key = serde_json::to_value(&set.keys[0]).expect("JSON");
    assert_eq!(
        (&key["kty"], &key["crv"]),
        (&json!("OKP"), &json!("Ed25519"))
    );
    assert_eq!(app.me(&ada.access).await["data"]["me"]["username"], "ada");
}

#[tokio::test]
async fn under_hs256_nothing_is_published_and_the_secret_signs() {
    let app = spawn_app_with(&["--jwt-algorithm=HS256"]).await;
    let ada = app.user("ada").await;

    assert_eq!(jwt::header(&ada.access)["alg"], "HS256");
    assert!(jwks(&app).await.keys.is_empty());
    assert_eq!(app.me(&ada.access).await["data"]["me"]["username"], "ada");
}

#[tokio::test]
async fn the_jwks_and_the_metadata_are_cacheable_and_name_each_other() {
    let app = spawn_app_with(&[]).await;

    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("JWKS");
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=300",
        "JWKS_MAX_AGE's default"
    );
    let etag = response.headers()["etag"]
        .to_str()
        .expect("ETag")
        .to_owned();
    let again = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("JWKS");
    assert_eq!(again.status(), 304);

    let metadata: Value = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("JSON");
    assert_eq!(metadata["issuer"], "smilecook");
    assert_eq!(metadata["jwks_uri"], app.url("/.well-known/jwks.json"));
    assert_eq!(
        metadata["introspection_endpoint"],
        app.url("/oauth/introspect")
    );
    assert_eq!(
        metadata["access_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
}

/// A P-256 key written as a PKCS#8 PEM file, as an operator would supply it.
struct FileKey {
    encoding: EncodingKey,
    public_pem: String,
    path: String,
}

fn p256_key(dir: &std::path::Path, name: &str) -> FileKey {
    let mut bytes = [0u8; 32];
    let secret = loop {
        rand_bytes(&mut bytes);
        if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
            break secret;
        }
    };
    let der = secret.to_pkcs8_der().expect("PKCS#8");
    let pem = pem("PRIVATE KEY", der.as_bytes());
    let path = dir.join(name);
    std::fs::write(&path, &pem).expect("key file written");
    let public = secret.public_key().to_public_key_der().expect("SPKI");
    FileKey {
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        public_pem: pem_string("PUBLIC KEY", public.as_bytes()),
        path: path.display().to_string(),
    }
}

fn rand_bytes(bytes: &mut [u8]) {
    for chunk in bytes.chunks_mut(16) {
        let random = uuid::Uuid::new_v4().into_bytes();
        chunk.copy_from_slice(&random[..chunk.len()]);
    }
}

fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    pem_string(label, der).into_bytes()
}

fn pem_string(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn forgeries_are_refused_whatever_their_header_says() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = p256_key(dir.path(), "signing.pem");
    let stranger = p256_key(dir.path(), "stranger.pem");
    let files = format!("--signing-key-files={}", key.path);
    let app = spawn_app_with(&[&files]).await;
    let ada = app.user("ada").await;
    let claims = jwt::payload(&ada.access);
    let real = kid(&ada.access);
    let sign = |header, key| jwt::sign_as(&header, &claims, key);

    // The control: the operator's key, the real kid and typ.
    let control = sign(
        jwt::header_for(Algorithm::ES256, &real, "at+jwt"),
        &key.encoding,
    );
    assert_eq!(app.me(&control).await["data"]["me"]["username"], "ada");

    let public_as_secret = EncodingKey::from_secret(key.public_pem.as_bytes()).expect("HMAC key");
    let server_secret = EncodingKey::from_secret(app.secret().as_bytes()).expect("HMAC key");
    let refresh_kid = kid(&ada.refresh);
    let forgeries = [
        (
            "alg none with the real kid",
            jwt::unsigned_with(
                &json!({"alg": "none", "kid": real, "typ": "at+jwt"}),
                &claims,
            ),
        ),
        (
            "HS256 with the public key as the secret (key confusion)",
            sign(
                jwt::header_for(Algorithm::HS256, &real, "at+jwt"),
                &public_as_secret,
            ),
        ),
        (
            "HS256 with the server secret, naming the secret's key",
            sign(
                jwt::header_for(Algorithm::HS256, &refresh_kid, "at+jwt"),
                &server_secret,
            ),
        ),
        (
            "another P-256 key under the real kid",
            sign(
                jwt::header_for(Algorithm::ES256, &real, "at+jwt"),
                &stranger.encoding,
            ),
        ),
        (
            "another key under a kid nobody published",
            sign(
                jwt::header_for(Algorithm::ES256, "no-such-key", "at+jwt"),
                &stranger.encoding,
            ),
        ),
        (
            "the real key without typ at+jwt",
            sign(
                jwt::header_for(Algorithm::ES256, &real, "JWT"),
                &key.encoding,
            ),
        ),
        (
            "the real key with no kid",
            sign(
                {
                    let mut header = jwt::header_for(Algorithm::ES256, "", "at+jwt");
                    header.kid = None;
                    header
                },
                &key.encoding,
            ),
        ),
    ];
    for (what, token) in forgeries {
        let body = app.me(&token).await;
        assert_error(&body, "UNAUTHENTICATED");
        assert!(body["data"].is_null(), "{what}: {body}");
    }
}

#[tokio::test]
async fn a_rotation_publishes_the_next_key_first_and_logs_nobody_out() {
    let app = spawn_app_with(&[REFRESH, "--access-token-ttl=1h"]).await;
    let ada = app.user("ada").await;
    let first = kid(&ada.access);
    let mut socket = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(
        &socket.init(Some(&format!("Bearer {}", ada.access))).await
    ));

    let printed = app.keys_command(&["rotate"]).await.expect("rotated");
    let next = printed
        .split_whitespace()
        .nth(1)
        .expect("the new kid")
        .trim_end_matches(';')
        .to_owned();
    until("the next key is published", || async {
        published(&app).await == [first.clone(), next.clone()]
    })
    .await;
    // Published, not signing yet: verifiers learn it before they meet it.
    let login = app.new_session(&ada).await.access;
    assert_eq!(kid(&login), first);
    assert!(
        app.keys_command(&["rotate"]).await.is_err(),
        "a second rotation would skip a key"
    );
    // (The command reads the real clock, not the one this test moves.)
    let listed = app.keys_command(&["list"]).await.expect("listed");
    assert!(
        listed.contains(&format!("{first}  ES256  current")),
        "{listed}"
    );
    assert!(listed.contains(&format!("{next}  ES256  next")), "{listed}");

    app.advance_clock(16 * MINUTE); // past KEY_PUBLISH_AHEAD (15 minutes)
    until("the next key signs", || async {
        kid(&app.new_session(&ada).await.access) == next
    })
    .await;
    assert_eq!(app.me(&ada.access).await["data"]["me"]["username"], "ada");
    let refreshed = app.refresh(&ada.refresh).await;
    let access = refreshed["data"]["refreshToken"]["accessToken"]
        .as_str()
        .expect("refreshed across the rotation");
    assert_eq!(kid(access), next);
    assert_eq!(published(&app).await, [first.clone(), next.clone()]);
    assert!(
        socket.closed(Duration::from_millis(300)).await.is_none(),
        "a socket closed"
    );

    app.advance_clock(61 * MINUTE); // past the lifetime of the first key's last token
    until("the old key is retired", || async {
        published(&app).await == [next.clone()]
    })
    .await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_its_sockets_close_and_a_new_key_signs() {
    let app = spawn_app_with(&[REFRESH]).await;
    let ada = app.user("ada").await;
    let first = kid(&ada.access);
    let mut socket = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(
        &socket.init(Some(&format!("Bearer {}", ada.access))).await
    ));

    app.keys_command(&["revoke", &first])
        .await
        .expect("revoked");

    until("the revoked key is refused", || async {
        app.me(&ada.access).await["errors"][0]["extensions"]["code"] == "TOKEN_REVOKED"
    })
    .await;
    assert_eq!(
        socket.closed(Duration::from_secs(30)).await,
        Some((4403, "TOKEN_REVOKED".into()))
    );
    assert!(!published(&app).await.contains(&first));
    // The session itself stands: its refresh token gives a token of the new key.
    let refreshed = app.refresh(&ada.refresh).await;
    let access = refreshed["data"]["refreshToken"]["accessToken"]
        .as_str()
        .expect("refreshed");
    assert_ne!(kid(access), first);
    assert_eq!(app.me(access).await["data"]["me"]["username"], "ada");
    let listed = app.keys_command(&["list"]).await.expect("listed");
    assert!(
        listed.contains(&format!("{first}  ES256  revoked")),
        "{listed}"
    );
    assert!(
        app.keys_command(&["revoke", &first]).await.is_err(),
        "revoked twice"
    );
    assert!(app.keys_command(&["revoke", "no-such-key"]).await.is_err());
}

#[tokio::test]
async fn an_instance_loads_a_key_it_has_not_seen_when_a_token_names_it() {
    let app = spawn_app_with(&[REFRESH]).await;
    // This one would not look at the key set for an hour by itself.
    let slow = app
        .spawn_sibling_with(&["--keys-refresh-interval=1h"])
        .await;
    let ada = app.user("ada").await;
    let first = kid(&ada.access);

    app.keys_command(&["revoke", &first])
        .await
        .expect("revoked");
    until("the first instance signs with the replacement", || async {
        kid(&app.new_session(&ada).await.access) != first
    })
    .await;
    let token = app.new_session(&ada).await.access;

    assert_eq!(slow.me(&token).await["data"]["me"]["username"], "ada");
    assert_error(&slow.me(&ada.access).await, "TOKEN_REVOKED");
}
