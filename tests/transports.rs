//! Every transport obeys every request rule: an operation over a WebSocket meets the same
//! concurrency cap and time limit as a POST (in the pipeline's admission, not an HTTP layer),
//! a page of another origin cannot open a socket, a bad token gets the same code on every
//! transport, a message over the size limit closes with 1009, and a subscription that has said
//! its last word completes. Orderings are pinned by holding the server's password hashing, not
//! by waiting.

mod common;
mod recipe_helpers;

use std::time::Duration;

use common::{
    spawn_app, spawn_app_with,
    ws::{Event, WsClient, is_ack},
};
use recipe_helpers::{create, id, op, publish};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};

const SOON: Duration = Duration::from_secs(30);
const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) { id } }";

fn register_payload(i: usize) -> Value {
    let input = json!({ "username": format!("socket{i}"), "email": format!("socket{i}@example.com"),
                        "password": "a long enough password" });
    json!({ "query": REGISTER, "variables": { "input": input } })
}

/// The messages `client` receives until `count` of them are `complete` or `error` (each ends an
/// operation), by operation id.
async fn until_ended(client: &mut WsClient, count: usize) -> Vec<Value> {
    let mut messages = Vec::new();
    let mut ended = 0;
    while ended < count {
        match client.next(SOON).await {
            Some(Event::Message(m)) => {
                ended += usize::from(m["type"] == "complete" || m["type"] == "error");
                messages.push(m);
            }
            other => panic!("the socket ended early: {other:?} after {messages:?}"),
        }
    }
    messages
}

fn of_type<'a>(messages: &'a [Value], kind: &str) -> Vec<&'a Value> {
    messages.iter().filter(|m| m["type"] == kind).collect()
}

#[tokio::test]
async fn operations_over_a_socket_meet_the_concurrency_cap_and_the_socket_stays_open() {
    let app = spawn_app_with(&["--max-concurrent-requests=4", "--register-per-address=100"]).await;
    let mut client = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&client.init(None).await));
    app.hold_hashing();

    for i in 0..32 {
        let subscribe =
            json!({ "id": format!("r{i}"), "type": "subscribe", "payload": register_payload(i) });
        client.send(subscribe).await;
    }
    // Four run (each waits at the held hashing); the other 28 are refused at once.
    app.hashes_waiting(4).await;
    let refused = until_ended(&mut client, 28).await;
    app.release_hashing();
    let finished = until_ended(&mut client, 4).await;

    let errors = of_type(&refused, "error");
    assert_eq!(errors.len(), 28, "{refused:?}");
    for error in errors {
        assert_eq!(
            error["payload"][0]["extensions"]["code"], "SERVER_BUSY",
            "{error}"
        );
    }
    let registered = of_type(&finished, "next");
    assert_eq!(registered.len(), 4, "{finished:?}");
    assert!(
        registered
            .iter()
            .all(|m| m["payload"]["data"]["register"]["id"].is_string())
    );
    // The socket is still open and serves the next operation.
    client
        .send(
            json!({ "id": "again", "type": "subscribe", "payload": { "query": "{ __typename }" } }),
        )
        .await;
    let again = until_ended(&mut client, 1).await;
    assert_eq!(
        again[0]["payload"]["data"]["__typename"], "Query",
        "{again:?}"
    );
}

#[tokio::test]
async fn an_operation_over_a_socket_meets_the_time_limit() {
    let app = spawn_app_with(&["--request-timeout=300ms"]).await;
    let mut client = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&client.init(None).await));
    app.hold_hashing(); // the registration's hash never runs while the test waits

    let subscribe = json!({ "id": "slow", "type": "subscribe", "payload": register_payload(1) });
    client.send(subscribe).await;
    let answer = until_ended(&mut client, 1).await;
    app.release_hashing();

    assert_eq!(answer[0]["type"], "error", "{answer:?}");
    assert_eq!(
        answer[0]["payload"][0]["extensions"]["code"],
        "REQUEST_TIMEOUT"
    );
    let profile = app
        .graphql("{ user(username: \"socket1\") { id } }", json!({}), None)
        .await;
    assert_eq!(profile["data"]["user"], Value::Null, "nothing was created");
}

/// The HTTP request under the same cap: a GET is refused while a login holds the only place.
#[tokio::test]
async fn requests_beyond_the_concurrency_cap_get_server_busy() {
    let app = spawn_app_with(&["--max-concurrent-requests=1"]).await;
    app.hold_hashing();
    let slow = app.login("nobody", "a guess");
    let busy = async {
        app.hashes_waiting(1).await;
        let response = app
            .client
            .get(app.url("/graphql?query=%7B__typename%7D"))
            .send()
            .await
            .expect("sent");
        app.release_hashing();
        response
    };
    let (_, busy) = tokio::join!(slow, busy);

    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    let body: Value = busy.json().await.expect("JSON");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "SERVER_BUSY",
        "{body}"
    );
}

/// The upgrade request as a browser on `origin` would send it.
async fn upgrade_from(app: &common::TestApp, origin: &str) -> u16 {
    let url = format!("{}/graphql", app.addr.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    headers.insert("origin", HeaderValue::from_str(origin).expect("origin"));
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn pages_of_other_origins_cannot_open_a_socket() {
    let app = spawn_app_with(&["--cors-allowed-origins=https://app.example.com"]).await;
    let own = app.addr.clone();

    assert_eq!(upgrade_from(&app, "https://evil.example").await, 403);
    assert_eq!(upgrade_from(&app, "null").await, 403);
    assert_eq!(
        upgrade_from(&app, &own).await,
        101,
        "the server's own GraphiQL"
    );
    assert_eq!(upgrade_from(&app, "https://app.example.com").await, 101);
    // A client that is not a browser page sends no Origin.
    let mut client = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&client.init(None).await));
}

/// A bad token is refused with the same code over a WebSocket (4403 and the code) and over
/// Server-Sent Events (a last `next` with the code): never served as anonymous.
#[tokio::test]
async fn a_bad_token_gets_the_same_code_on_every_transport() {
    let app = spawn_app_with(&["--access-token-ttl=1s"]).await;
    let ada = app.user("ada").await;
    app.advance_clock(Duration::from_secs(60));
    let feed = "subscription { recipePublished { id } }";

    for (token, code) in [
        (ada.access.as_str(), "TOKEN_EXPIRED"),
        ("not-a-jwt", "UNAUTHENTICATED"),
    ] {
        let mut socket = WsClient::connect(&app.addr, None).await;
        let refused = socket.init(Some(&format!("Bearer {token}"))).await;
        assert_eq!(refused, Some(Event::Closed(4403, code.into())));

        let response = app
            .client
            .post(app.url("/graphql"))
            .header("accept", "text/event-stream")
            .bearer_auth(token)
            .json(&json!({ "query": feed }))
            .send()
            .await
            .expect("sent");
        let body = tokio::time::timeout(SOON, response.text())
            .await
            .expect("the stream ends")
            .expect("a body");
        assert!(body.contains(&format!("\"code\":\"{code}\"")), "{body}");
        assert!(body.trim_end().ends_with("event: complete"), "{body}");
    }
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_with_1009() {
    let app = spawn_app_with(&["--max-body-bytes=4096"]).await;
    let mut client = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&client.init(None).await));

    let huge = format!("{{ __typename }} # {}", "x".repeat(8000));
    client
        .send(json!({ "id": "big", "type": "subscribe", "payload": { "query": huge } }))
        .await;

    let closed = client.closed(SOON).await;
    assert_eq!(closed.map(|c| c.0), Some(1009));
}

/// `recipeChanged` completes with its last event (the recipe deleted), without waiting for
/// another event that would never come, and so gives its place back.
#[tokio::test]
async fn a_subscription_completes_with_its_last_event() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let recipe = create(&app, &ada, recipe_helpers::input("Soup")).await;
    let recipe_id = id(&recipe).to_owned();
    publish(&app, &ada, &recipe_id).await;
    let mut reader = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&reader.init(None).await));
    let changed = "subscription($id: ID!) { recipeChanged(id: $id) { change recipe { name } } }";
    reader
        .subscribe("r", changed, json!({ "id": recipe_id }))
        .await;
    // Live once a change reaches it: following the bus comes before the recipe is looked up,
    // and a delete in between would (rightly) answer NOT_FOUND instead.
    let rename = json!({ "id": recipe_id, "input": { "name": "Broth" } });
    op(&app, "UpdateRecipe", rename, Some(&ada.access)).await;
    match reader.next(SOON).await {
        Some(Event::Message(m)) => {
            assert_eq!(
                m["payload"]["data"]["recipeChanged"]["change"], "UPDATED",
                "{m}"
            )
        }
        other => panic!("no first event: {other:?}"),
    }

    op(
        &app,
        "DeleteRecipe",
        json!({ "id": recipe_id }),
        Some(&ada.access),
    )
    .await;

    let messages = until_ended(&mut reader, 1).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(
        messages[0]["payload"]["data"]["recipeChanged"]["change"], "DELETED",
        "{messages:?}"
    );
    assert_eq!(messages[1], json!({ "id": "r", "type": "complete" }));
    // Its place on the bus is given back.
    let deadline = tokio::time::Instant::now() + SOON;
    while app.subscriber_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the subscription still follows the bus"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
