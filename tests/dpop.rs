//! DPoP (RFC 9449) over GraphQL over HTTP: a login with a proof gets tokens bound to the
//! proof's key, which work only with a fresh proof by that key for the very request; a
//! stolen token, a replayed proof, a proof for another request or too old, and a bound
//! refresh without its key are each refused; Bearer keeps working unless DPOP_REQUIRED.

mod common;

use std::time::Duration;

use common::{PASSWORD, TestApp, dpop::DpopKey, jwt, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const LOGIN: &str =
    "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken tokenType } }";
const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken tokenType } }";
const ME: &str = "{ me { username } }";

/// POSTs a GraphQL request with these headers; the JSON answer.
async fn post(app: &TestApp, query: &str, variables: Value, headers: &[(&str, &str)]) -> Value {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON")
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

fn now(app: &TestApp) -> i64 {
    app.clock.now().timestamp()
}

/// Registers `name` and logs in with a proof by `key`: the access and refresh tokens.
async fn bound_login(app: &TestApp, key: &DpopKey, name: &str) -> (String, String) {
    app.register(name).await;
    let proof = key.proof("POST", &app.url("/graphql"), None, now(app));
    let input = json!({ "i": { "login": name, "password": PASSWORD } });
    let body = post(app, LOGIN, input, &[("dpop", &proof)]).await;
    let login = &body["data"]["login"];
    assert_eq!(login["tokenType"], "DPoP", "{body}");
    let token = |name: &str| login[name].as_str().expect("a token").to_owned();
    (token("accessToken"), token("refreshToken"))
}

async fn me(app: &TestApp, scheme: &str, token: &str, proof: Option<&str>) -> Value {
    let authorization = format!("{scheme} {token}");
    let mut headers = vec![("authorization", authorization.as_str())];
    if let Some(proof) = proof {
        headers.push(("dpop", proof));
    }
    post(app, ME, json!({}), &headers).await
}

#[tokio::test]
async fn a_bound_token_works_with_a_fresh_proof_by_its_key_for_this_request_only() {
    let app = spawn_app().await;
    let key = DpopKey::new();
    let (access, refresh) = bound_login(&app, &key, "ada").await;
    let url = app.url("/graphql");

    for token in [&access, &refresh] {
        assert_eq!(jwt::payload(token)["cnf"]["jkt"], key.thumbprint.as_str());
    }
    let proof = key.proof("POST", &url, Some(&access), now(&app));
    assert_eq!(
        me(&app, "DPoP", &access, Some(&proof)).await["data"]["me"]["username"],
        "ada"
    );

    let thief = DpopKey::new();
    let old = now(&app) - 120; // past DPOP_PROOF_MAX_AGE (60 s)
    let mut no_ath = key.header();
    no_ath["typ"] = json!("dpop+jwt");
    let claims = json!({ "jti": "x1", "htm": "POST", "htu": url, "iat": now(&app) });
    let mut with_private = key.header();
    with_private["jwk"]["d"] = json!("AAAA");
    let mut wrong_typ = key.header();
    wrong_typ["typ"] = json!("JWT");
    let refused: Vec<(&str, &str, Option<String>)> = vec![
        ("the same proof again", "DPoP", Some(proof.clone())),
        ("as a Bearer token", "Bearer", None),
        (
            "as a Bearer token with a proof",
            "Bearer",
            Some(key.proof("POST", &url, Some(&access), now(&app))),
        ),
        ("without a proof", "DPoP", None),
        (
            "a proof by another key",
            "DPoP",
            Some(thief.proof("POST", &url, Some(&access), now(&app))),
        ),
        (
            "a proof for GET",
            "DPoP",
            Some(key.proof("GET", &url, Some(&access), now(&app))),
        ),
        (
            "a proof for another URL",
            "DPoP",
            Some(key.proof(
                "POST",
                "http://example.com/graphql",
                Some(&access),
                now(&app),
            )),
        ),
        (
            "a proof too old",
            "DPoP",
            Some(key.proof("POST", &url, Some(&access), old)),
        ),
        (
            "a proof from the future",
            "DPoP",
            Some(key.proof("POST", &url, Some(&access), now(&app) + 120)),
        ),
        (
            "a proof for another token",
            "DPoP",
            Some(key.proof("POST", &url, Some(&refresh), now(&app))),
        ),
        (
            "a proof without ath",
            "DPoP",
            Some(key.sign(&no_ath, &claims)),
        ),
        (
            "a proof whose jwk has a private part",
            "DPoP",
            Some(key.sign(&with_private, &claims)),
        ),
        (
            "a proof of another typ",
            "DPoP",
            Some(key.sign(&wrong_typ, &claims)),
        ),
        ("garbage", "DPoP", Some("a.b.c".into())),
    ];
    for (what, scheme, proof) in refused {
        let body = me(&app, scheme, &access, proof.as_deref()).await;
        assert_eq!(code(&body), "INVALID_DPOP_PROOF", "{what}: {body}");
        assert!(body["data"].is_null(), "{what}: {body}");
    }
    // Over HTTP the refusal carries RFC 9449's challenge too.
    let response = app
        .client
        .post(&url)
        .header("authorization", format!("Bearer {access}"))
        .json(&json!({ "query": ME }))
        .send()
        .await
        .expect("answered");
    assert_eq!(
        response.headers()["www-authenticate"],
        "DPoP error=\"invalid_dpop_proof\""
    );
    // Two proofs in one request are one too many.
    let (a, b) = (
        key.proof("POST", &url, Some(&access), now(&app)),
        key.proof("POST", &url, Some(&access), now(&app)),
    );
    let body = post(
        &app,
        ME,
        json!({}),
        &[
            ("authorization", &format!("DPoP {access}")),
            ("dpop", &a),
            ("dpop", &b),
        ],
    )
    .await;
    assert_eq!(code(&body), "INVALID_DPOP_PROOF", "{body}");
    // And the token itself was never spoiled by the attempts.
    let proof = key.proof("POST", &url, Some(&access), now(&app));
    assert_eq!(
        me(&app, "DPoP", &access, Some(&proof)).await["data"]["me"]["username"],
        "ada"
    );
}

#[tokio::test]
async fn a_bound_refresh_needs_a_proof_by_its_key_or_the_whole_session_ends() {
    let app = spawn_app().await;
    let key = DpopKey::new();
    let (_, refresh) = bound_login(&app, &key, "ada").await;
    let url = app.url("/graphql");

    let proof = key.proof("POST", &url, None, now(&app));
    let body = post(&app, REFRESH, json!({ "t": refresh }), &[("dpop", &proof)]).await;
    let rotated = &body["data"]["refreshToken"];
    assert_eq!(rotated["tokenType"], "DPoP", "{body}");
    let (access, next) = (
        rotated["accessToken"].as_str().expect("access").to_owned(),
        rotated["refreshToken"]
            .as_str()
            .expect("refresh")
            .to_owned(),
    );
    assert_eq!(jwt::payload(&access)["cnf"]["jkt"], key.thumbprint.as_str());

    // A stale proof by the right key is refused, and the session kept.
    let stale = key.proof("POST", &url, None, now(&app) - 120);
    let body = post(&app, REFRESH, json!({ "t": next }), &[("dpop", &stale)]).await;
    assert_eq!(code(&body), "INVALID_DPOP_PROOF", "{body}");
    // The refresh token alone, as a thief would have it: the session ends.
    let body = post(&app, REFRESH, json!({ "t": next }), &[]).await;
    assert_eq!(code(&body), "INVALID_DPOP_PROOF", "{body}");
    let proof = key.proof("POST", &url, None, now(&app));
    let body = post(&app, REFRESH, json!({ "t": next }), &[("dpop", &proof)]).await;
    assert_eq!(code(&body), "TOKEN_REVOKED", "{body}");
    let proof = key.proof("POST", &url, Some(&access), now(&app));
    assert_eq!(
        code(&me(&app, "DPoP", &access, Some(&proof)).await),
        "TOKEN_REVOKED"
    );
}

#[tokio::test]
async fn bearer_stays_bearer_unless_dpop_is_required() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    assert_eq!(app.me(&ada.access).await["data"]["me"]["username"], "ada");
    assert!(jwt::payload(&ada.access).get("cnf").is_none());
    let body = me(&app, "DPoP", &ada.access, None).await;
    assert_eq!(
        code(&body),
        "UNAUTHENTICATED",
        "an unbound token under DPoP: {body}"
    );

    let strict = spawn_app_with(&["--dpop-required"]).await;
    strict.register("bob").await;
    let input = json!({ "i": { "login": "bob", "password": PASSWORD } });
    let body = post(&strict, LOGIN, input, &[]).await;
    assert_eq!(code(&body), "INVALID_DPOP_PROOF", "{body}");
    let key = DpopKey::new();
    let (access, _) = bound_login(&strict, &key, "cyd").await;
    let proof = key.proof("POST", &strict.url("/graphql"), Some(&access), now(&strict));
    assert_eq!(
        me(&strict, "DPoP", &access, Some(&proof)).await["data"]["me"]["username"],
        "cyd"
    );
    // A proof is good once, however long the server waits.
    strict.advance_clock(Duration::from_secs(30));
    assert_eq!(
        code(&me(&strict, "DPoP", &access, Some(&proof)).await),
        "INVALID_DPOP_PROOF"
    );
}

/// The proof of a long-lived connection comes once, when it authenticates (in
/// `connection_init`'s payload: browsers cannot set headers on a WebSocket), for `GET` on the
/// endpoint; every operation on it then runs with the key it proved.
#[tokio::test]
async fn a_websocket_proves_its_key_once_and_its_operations_run_with_it() {
    use common::ws::{Event, WsClient, is_ack};

    let app = spawn_app().await;
    let key = DpopKey::new();
    let (access, _) = bound_login(&app, &key, "ada").await;
    let url = app.url("/graphql");
    let init = |proof: Option<String>| {
        let mut payload = json!({ "Authorization": format!("DPoP {access}") });
        if let Some(proof) = proof {
            payload["DPoP"] = json!(proof);
        }
        json!({ "type": "connection_init", "payload": payload })
    };

    let mut without = WsClient::connect(&app.addr, None).await;
    without.send(init(None)).await;
    let closed = without.next(Duration::from_secs(30)).await;
    assert_eq!(
        closed,
        Some(Event::Closed(4403, "INVALID_DPOP_PROOF".into()))
    );

    let mut socket = WsClient::connect(&app.addr, None).await;
    let proof = key.proof("GET", &url, Some(&access), now(&app));
    socket.send(init(Some(proof.clone()))).await;
    assert!(is_ack(&socket.next(Duration::from_secs(30)).await));
    for id in ["1", "2"] {
        socket.subscribe(id, ME, json!({})).await;
        match socket.next(Duration::from_secs(30)).await {
            Some(Event::Message(m)) => {
                assert_eq!(m["payload"]["data"]["me"]["username"], "ada", "{m}")
            }
            other => panic!("no answer: {other:?}"),
        }
        let _complete = socket.next(Duration::from_secs(30)).await;
    }

    // The same proof on another connection is a replay.
    let mut replayed = WsClient::connect(&app.addr, None).await;
    replayed.send(init(Some(proof))).await;
    let closed = replayed.next(Duration::from_secs(30)).await;
    assert_eq!(
        closed,
        Some(Event::Closed(4403, "INVALID_DPOP_PROOF".into()))
    );
}

#[tokio::test]
async fn an_event_stream_proves_its_key_with_its_request() {
    let app = spawn_app().await;
    let key = DpopKey::new();
    let (access, _) = bound_login(&app, &key, "ada").await;
    let proof = key.proof("POST", &app.url("/graphql"), Some(&access), now(&app));

    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .header("authorization", format!("DPoP {access}"))
        .header("dpop", proof)
        .json(&json!({ "query": ME }))
        .send()
        .await
        .expect("sent");
    let text = response.text().await.expect("the stream");

    assert!(
        text.contains(r#"{"data":{"me":{"username":"ada"}}}"#),
        "{text}"
    );
}

#[tokio::test]
async fn with_nonces_on_a_proof_must_carry_a_recent_one_from_the_dpop_nonce_header() {
    let app = spawn_app_with(&["--dpop-nonce"]).await;
    app.register("ada").await;
    let key = DpopKey::new();
    let url = app.url("/graphql");
    let input =
        json!({ "query": LOGIN, "variables": { "i": { "login": "ada", "password": PASSWORD } } });
    let login = |proof: String| {
        app.client
            .post(&url)
            .header("dpop", proof)
            .json(&input)
            .send()
    };

    let first = login(key.proof("POST", &url, None, now(&app)))
        .await
        .expect("answered");
    let nonce = first.headers()["dpop-nonce"]
        .to_str()
        .expect("a nonce")
        .to_owned();
    assert_eq!(
        first.headers()["www-authenticate"],
        "DPoP error=\"use_dpop_nonce\""
    );
    let body: Value = first.json().await.expect("JSON");
    assert_eq!(code(&body), "USE_DPOP_NONCE", "{body}");

    let proof = key.proof_with_nonce("POST", &url, None, now(&app), Some(&nonce));
    let body: Value = login(proof)
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["data"]["login"]["tokenType"], "DPoP", "{body}");

    // Two windows later the nonce is stale.
    app.advance_clock(Duration::from_secs(121));
    let proof = key.proof_with_nonce("POST", &url, None, now(&app), Some(&nonce));
    let body: Value = login(proof)
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(code(&body), "USE_DPOP_NONCE", "{body}");
}
