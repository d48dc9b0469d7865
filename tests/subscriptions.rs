//! Subscriptions over WebSocket (`graphql-transport-ws`), with a real WebSocket client: events
//! arrive, drafts never leak, every close code of the protocol, and credentials that hold for the
//! life of the connection (a short token lifetime, a logout, on another instance too).

mod common;
mod recipe_helpers;

use std::time::{Duration, Instant};

use common::{
    spawn_app, spawn_app_with,
    ws::{Event, WsClient, is_ack},
};
use recipe_helpers::{create, id, input, op, publish};
use serde_json::{Value, json};

/// A bound for what should come at once, generous for a loaded machine (waits end as soon as
/// what is awaited has come).
const SOON: Duration = Duration::from_secs(30);
const PUBLISHED: &str =
    "subscription { recipePublished { id name isPublish author { username } } }";
const CHANGED: &str = "subscription Changed($id: ID!) { recipeChanged(id: $id) { change id recipe { name isPublish } } }";
const MINE: &str = "subscription { myRecipeEvents { change id recipe { name isPublish } } }";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A socket on `app` authenticated with `access`, subscribed to `myRecipeEvents` (its stream
/// started: it hears what comes next).
async fn holding_mine(app: &common::TestApp, access: &str) -> WsClient {
    let before = app.subscriber_count();
    let mut client = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&client.init(Some(&bearer(access))).await));
    client.subscribe("m", MINE, json!({})).await;
    app.subscribers(before + 1).await;
    client
}

/// A connection to `app` with a receive buffer of a few KiB, so that the server's writes to a
/// client that stops reading soon wait; and the address it reached.
async fn small_window(app: &common::TestApp) -> (tokio::net::TcpStream, std::net::SocketAddr) {
    let addr: std::net::SocketAddr = app
        .addr
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    (socket.connect(addr).await.expect("connected"), addr)
}

/// `count` drafts of `user` of about 2 KiB each (one `myRecipeEvents` event apiece).
async fn create_long_recipes(app: &common::TestApp, user: &common::TestUser, count: usize) {
    let mut recipe = input("Long soup");
    recipe["ingredients"] = json!("i".repeat(1000));
    recipe["directions"] = json!("d".repeat(1000));
    for _ in 0..count {
        create(app, user, recipe.clone()).await;
    }
}

fn next_payload(event: &Option<Event>, id: &str) -> Value {
    match event {
        Some(Event::Message(m)) if m["type"] == "next" && m["id"] == id => m["payload"].clone(),
        other => panic!("expected `next` for {id}, got {other:?}"),
    }
}

#[tokio::test]
async fn the_published_feed_carries_publications_and_never_a_draft() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let mut anyone = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&anyone.init(None).await));
    anyone.subscribe("feed", PUBLISHED, json!({})).await;
    app.subscribers(1).await; // subscribed before the writes

    let draft = create(&app, &ada, input("Secret draft")).await;
    let published = create(&app, &ada, input("Soup")).await;
    publish(&app, &ada, id(&published)).await;

    let event = anyone.next(SOON).await;
    let recipe = &next_payload(&event, "feed")["data"]["recipePublished"];
    assert_eq!(recipe["name"], "Soup");
    assert_eq!(recipe["author"]["username"], "ada");
    assert_eq!(
        anyone.next(Duration::from_millis(500)).await,
        None,
        "nothing else"
    );
    let _ = draft;
}

#[tokio::test]
async fn a_changed_recipe_reaches_its_subscribers_until_they_may_no_longer_see_it() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let recipe = create(&app, &ada, input("Soup")).await;
    let recipe_id = id(&recipe).to_owned();
    publish(&app, &ada, &recipe_id).await;
    let mut reader = WsClient::connect(&app.addr, None).await;
    let mut author = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&reader.init(None).await));
    assert!(is_ack(&author.init(Some(&bearer(&ada.access))).await));
    for client in [&mut reader, &mut author] {
        client
            .subscribe("r", CHANGED, json!({ "id": recipe_id }))
            .await;
    }
    app.subscribers(2).await;
    // Each change waits for the events of the one before: an event carries the recipe as it
    // is when delivered, so changes made faster than subscribers read would merge.
    let name = |event: &Option<Event>| {
        next_payload(event, "r")["data"]["recipeChanged"]["recipe"]["name"].clone()
    };

    let update = json!({ "id": recipe_id, "input": { "name": "Better soup" } });
    op(&app, "UpdateRecipe", update, Some(&ada.access)).await;
    assert_eq!(name(&reader.next(SOON).await), "Better soup");
    assert_eq!(name(&author.next(SOON).await), "Better soup");

    op(
        &app,
        "UnpublishRecipe",
        json!({ "id": recipe_id }),
        Some(&ada.access),
    )
    .await;
    let gone = next_payload(&reader.next(SOON).await, "r");
    assert_eq!(gone["data"]["recipeChanged"]["change"], "UNPUBLISHED");
    assert!(gone["data"]["recipeChanged"]["recipe"].is_null(), "{gone}");
    let complete = reader.next(SOON).await;
    assert!(
        matches!(&complete, Some(Event::Message(m)) if m["type"] == "complete"),
        "{complete:?}"
    );
    // The author keeps following their draft.
    assert_eq!(name(&author.next(SOON).await), "Better soup");

    op(
        &app,
        "UpdateRecipe",
        json!({ "id": recipe_id, "input": { "name": "Draft soup" } }),
        Some(&ada.access),
    )
    .await;
    assert_eq!(name(&author.next(SOON).await), "Draft soup");
    assert_eq!(
        reader.next(Duration::from_millis(500)).await,
        None,
        "the draft never reaches the reader"
    );
}

#[tokio::test]
async fn my_recipe_events_need_a_token_and_include_drafts() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let mut anonymous = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&anonymous.init(None).await));
    anonymous.subscribe("m", MINE, json!({})).await;
    let refused = next_payload(&anonymous.next(SOON).await, "m");
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );

    // The token on the upgrade request is enough.
    let mut own = WsClient::connect(&app.addr, Some(&bearer(&ada.access))).await;
    assert!(is_ack(&own.init(None).await));
    own.subscribe("m", MINE, json!({})).await;
    app.subscribers(1).await;
    create(&app, &bob, input("Bob's")).await;
    create(&app, &ada, input("Ada's draft")).await;

    let event = next_payload(&own.next(SOON).await, "m");
    assert_eq!(event["data"]["myRecipeEvents"]["change"], "CREATED");
    assert_eq!(
        event["data"]["myRecipeEvents"]["recipe"]["name"],
        "Ada's draft"
    );
    assert_eq!(
        own.next(Duration::from_millis(500)).await,
        None,
        "bob's recipe is not ada's"
    );
}

#[tokio::test]
async fn the_protocol_close_codes_are_the_specified_ones() {
    let app = spawn_app_with(&["--ws-init-timeout=300ms"]).await;
    let ada = app.user("ada").await;

    let mut silent = WsClient::connect(&app.addr, None).await;
    assert_eq!(silent.closed(SOON).await.map(|c| c.0), Some(4408));

    let mut eager = WsClient::connect(&app.addr, None).await;
    eager.subscribe("1", PUBLISHED, json!({})).await;
    assert_eq!(eager.closed(SOON).await.map(|c| c.0), Some(4401));

    let mut twice = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&twice.init(None).await));
    twice.send(json!({ "type": "connection_init" })).await;
    assert_eq!(twice.closed(SOON).await.map(|c| c.0), Some(4429));

    let mut duplicate = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&duplicate.init(None).await));
    duplicate.subscribe("1", PUBLISHED, json!({})).await;
    duplicate.subscribe("1", PUBLISHED, json!({})).await;
    assert_eq!(duplicate.closed(SOON).await.map(|c| c.0), Some(4409));

    let mut garbled = WsClient::connect(&app.addr, None).await;
    garbled.send_text("{ not json").await;
    assert_eq!(garbled.closed(SOON).await.map(|c| c.0), Some(4400));

    let mut forged = WsClient::connect(&app.addr, None).await;
    let closed = forged.init(Some("Bearer not.a.token")).await;
    assert_eq!(closed, Some(Event::Closed(4403, "UNAUTHENTICATED".into())));

    app.logout(&ada.access, false).await;
    let mut revoked = WsClient::connect(&app.addr, None).await;
    let closed = revoked.init(Some(&bearer(&ada.access))).await;
    assert_eq!(closed, Some(Event::Closed(4403, "TOKEN_REVOKED".into())));
}

#[tokio::test]
async fn subscription_documents_meet_the_limits_of_every_request() {
    let app = spawn_app_with(&["--max-aliases=2"]).await;
    let mut client = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&client.init(None).await));
    let aliased = "subscription { a: recipePublished { id } b: recipePublished { id } c: recipePublished { id } }";

    client.subscribe("x", aliased, json!({})).await;

    match client.next(SOON).await {
        Some(Event::Message(m)) if m["type"] == "error" && m["id"] == "x" => {
            assert_eq!(
                m["payload"][0]["extensions"]["code"], "TOO_MANY_ALIASES",
                "{m}"
            );
        }
        other => panic!("expected an error for x, got {other:?}"),
    }
    // Over POST, a subscription is pointed to the WebSocket.
    let body = app.graphql(PUBLISHED, json!({}), None).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
}

#[tokio::test]
async fn a_connection_ends_when_its_access_token_expires() {
    let app = spawn_app_with(&["--access-token-ttl=2s"]).await;
    let ada = app.user("ada").await;
    let mut client = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&client.init(Some(&bearer(&ada.access))).await));
    client.subscribe("m", MINE, json!({})).await;

    let closed = client.closed(SOON).await;

    assert_eq!(closed, Some((4403, "TOKEN_EXPIRED".into())));
}

/// A logout on one instance closes the sockets of that session on every instance (with Redis
/// in CI: two instances; on SQLite, one). How soon is measured by `bench/subscribers.sh`.
#[tokio::test]
async fn a_logout_closes_the_sessions_sockets_on_every_instance() {
    let app = spawn_app().await;
    let other = match std::env::var("TEST_REDIS_URL") {
        Ok(_) => Some(app.spawn_sibling().await),
        Err(_) => None,
    };
    let held_on = other.as_ref().unwrap_or(&app);
    let ada = app.user("ada").await;
    let mut client = holding_mine(held_on, &ada.access).await;

    app.logout(&ada.access, false).await;
    let closed = client.closed(SOON).await;

    assert_eq!(closed, Some((4403, "TOKEN_REVOKED".into())));
}

/// Every way a session ends closes its sockets: a logout of all sessions, a password change and
/// `revokeSession` (each from another session), and the reuse of a refresh token already
/// traded.
#[tokio::test]
async fn every_end_of_a_session_closes_its_sockets() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let endings = [
        "logout of all sessions",
        "password change",
        "refresh token reuse",
        "revokeSession from another session",
    ];
    let mut password = ada.password.clone();
    for what in endings {
        let user = common::TestUser {
            password: password.clone(),
            ..ada.clone()
        };
        let (held, other) = (app.new_session(&user).await, app.new_session(&user).await);
        let mut client = holding_mine(&app, &held.access).await;

        let answer = match what {
            "logout of all sessions" => app.logout(&other.access, true).await,
            "password change" => {
                let new = "a-new-password-1";
                app.change_password(&other.access, &other.password, new)
                    .await
            }
            "refresh token reuse" => {
                app.refresh(&held.refresh).await;
                app.refresh(&held.refresh).await
            }
            _ => {
                let mine = "{ mySessions { id current } }";
                let listed = app.graphql(mine, json!({}), Some(&held.access)).await;
                let sessions = listed["data"]["mySessions"].as_array().cloned();
                let held_id = sessions
                    .unwrap_or_default()
                    .into_iter()
                    .find(|s| s["current"] == true)
                    .map(|s| s["id"].clone());
                let revoke = "mutation($id: ID!) { revokeSession(id: $id) }";
                let id = held_id.unwrap_or_else(|| panic!("no current session: {listed}"));
                app.graphql(revoke, json!({ "id": id }), Some(&other.access))
                    .await
            }
        };
        let closed = client.closed(SOON).await;

        assert_eq!(
            closed,
            Some((4403, "TOKEN_REVOKED".into())),
            "{what}: {answer}"
        );
        if what == "password change" {
            password = "a-new-password-1".into();
        }
    }
}

/// A client that stops reading cannot hold its connection (and its place) for ever: once the
/// server's writes to it have waited `WS_KEEPALIVE`, the connection is dropped, even though
/// not even the close frame can reach it.
#[tokio::test]
async fn a_client_that_reads_nothing_is_disconnected_and_gives_its_place_back() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

    let app = spawn_app_with(&["--ws-keepalive=1s", "--max-connections-per-user=1"]).await;
    let ada = app.user("ada").await;
    let (stream, addr) = small_window(&app).await;
    let url = format!("ws://{addr}/graphql");
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut stalled, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("upgraded");
    let init =
        json!({ "type": "connection_init", "payload": { "Authorization": bearer(&ada.access) } });
    stalled
        .send(Message::Text(init.to_string().into()))
        .await
        .expect("sent");
    let ack = stalled.next().await.expect("a message").expect("a frame");
    assert!(ack.to_string().contains("connection_ack"), "{ack}");
    let big =
        "subscription { myRecipeEvents { recipe { name description ingredients directions } } }";
    for n in 0..32 {
        let subscribe =
            json!({ "id": format!("big{n}"), "type": "subscribe", "payload": { "query": big } });
        stalled
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .expect("sent");
    }
    app.subscribers(32).await;

    // From here on the client reads nothing, while its recipes change: 2 KiB an event for
    // each of its 32 subscriptions, megabytes in all.
    create_long_recipes(&app, &ada, 200).await;

    // Its place is given back: a new connection of the same user (one allowed) is accepted.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut client = WsClient::connect(&app.addr, None).await;
        let answer = client.init(Some(&bearer(&ada.access))).await;
        if is_ack(&answer) {
            break;
        }
        assert_eq!(
            answer,
            Some(Event::Closed(4403, "TOO_MANY_CONNECTIONS".into()))
        );
        assert!(
            Instant::now() < deadline,
            "the stalled connection still holds its place"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(stalled);
}

/// The same for an event stream, which the application cannot bound (the stream is not polled
/// while its write waits): the kernel drops the connection after `WRITE_TIMEOUT` with the
/// client's window shut, and the stream's place is given back.
#[tokio::test]
async fn an_event_stream_whose_client_reads_nothing_is_dropped_after_the_write_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app_with(&["--write-timeout=2s", "--max-connections-per-user=1"]).await;
    let ada = app.user("ada").await;
    let (mut stalled, addr) = small_window(&app).await;
    let big =
        "subscription { myRecipeEvents { recipe { name description ingredients directions } } }";
    let body = json!({ "query": big }).to_string();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: text/event-stream\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n{body}",
        ada.access,
        body.len()
    );
    stalled.write_all(request.as_bytes()).await.expect("sent");
    let mut head = [0u8; 64];
    let read = stalled.read(&mut head).await.expect("an answer");
    assert!(
        head[..read].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&head[..read])
    );

    // From here on the client reads nothing, while its recipes change, 2 KiB an event.
    create_long_recipes(&app, &ada, 400).await;

    // Its place is given back: a new stream of the same user (one allowed) is accepted.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = sse(&app, MINE, Some(&ada.access)).await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 429);
        assert!(
            Instant::now() < deadline,
            "the stalled stream still holds its place"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(stalled);
}

/// Where the denylist has an in-process copy (SQLite; Redis, followed through pub/sub), a
/// revocation wakes the sockets it ends at once, without waiting for the interval's next
/// check: with an interval of an hour, the socket still closes within seconds.
#[tokio::test]
async fn a_revocation_the_instance_hears_of_closes_sockets_without_waiting_for_the_interval() {
    let redis = std::env::var("TEST_REDIS_URL").is_ok();
    if std::env::var("TEST_DATABASE_URL").is_ok() && !redis {
        return; // PostgreSQL alone: every instance asks the table, at the interval.
    }
    let app = spawn_app_with(&["--revocation-check-interval=1h"]).await;
    let other = match redis {
        true => Some(app.spawn_sibling().await),
        false => None,
    };
    let held_on = other.as_ref().unwrap_or(&app);
    let ada = app.user("ada").await;
    let mut client = holding_mine(held_on, &ada.access).await;

    app.logout(&ada.access, false).await;

    let closed = client.closed(SOON).await;
    assert_eq!(closed, Some((4403, "TOKEN_REVOKED".into())));
}

/// A recipe published through one instance reaches subscribers on another: through Redis
/// with `TEST_REDIS_URL`, through PostgreSQL's NOTIFY with `TEST_DATABASE_URL` alone.
#[tokio::test]
async fn events_cross_instances() {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        return; // SQLite serves one process; CI runs the suite on PostgreSQL and Redis too.
    }
    for redis in [true, false] {
        let app = match redis {
            true if std::env::var("TEST_REDIS_URL").is_ok() => spawn_app().await,
            true => continue,
            false => common::spawn_app_without_redis().await,
        };
        let other = app.spawn_sibling().await;
        let ada = app.user("ada").await;
        let mut client = WsClient::connect(&other.addr, None).await;
        assert!(is_ack(&client.init(None).await));
        client.subscribe("feed", PUBLISHED, json!({})).await;
        other.subscribers(1).await;

        let recipe = create(&app, &ada, input("Soup from afar")).await;
        publish(&app, &ada, id(&recipe)).await;

        let event = client.next(SOON).await;
        let published = &next_payload(&event, "feed")["data"]["recipePublished"];
        assert_eq!(published["name"], "Soup from afar", "redis: {redis}");
    }
}

/// Reads the server-sent events of `response` until `until` has been seen or `within` passes.
async fn read_events(response: &mut reqwest::Response, until: &str, within: Duration) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while !text.contains(until) {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

async fn sse(app: &common::TestApp, query: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent")
}

#[tokio::test]
async fn over_server_sent_events_a_query_completes_and_a_subscription_streams() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    let mut query = sse(&app, "{ me { username } }", Some(&ada.access)).await;
    assert_eq!(query.headers()["content-type"], "text/event-stream");
    let answered = read_events(&mut query, "event: complete", SOON).await;
    assert!(
        answered.contains(r#"data: {"data":{"me":{"username":"ada"}}}"#),
        "{answered}"
    );

    let mut feed = sse(&app, PUBLISHED, None).await;
    app.subscribers(1).await;
    let recipe = create(&app, &ada, input("Streamed soup")).await;
    publish(&app, &ada, id(&recipe)).await;
    let streamed = read_events(&mut feed, "Streamed soup", SOON).await;
    assert!(streamed.contains("event: next"), "{streamed}");
    assert!(streamed.contains("Streamed soup"), "{streamed}");
}

#[tokio::test]
async fn an_event_stream_ends_with_the_code_when_its_token_is_revoked() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let mut stream = sse(&app, MINE, Some(&ada.access)).await;
    app.subscribers(1).await;

    app.logout(&ada.access, false).await;
    let ended = read_events(&mut stream, "event: complete", SOON).await;

    assert!(ended.contains("TOKEN_REVOKED"), "{ended}");
}
