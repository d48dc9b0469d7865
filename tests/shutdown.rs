//! Health for load balancers and graceful shutdown (README, "Operating"), over the real binary:
//! a signal is the only way to ask a process to stop, and the test must see what its clients see.

mod common;

use std::time::Duration;

use common::{
    binary::Binary,
    ws::{WsClient, is_ack},
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const FEED: &str = "subscription { recipePublished { id name } }";
/// Generous: the bounds only tell a stall from a busy machine.
const WITHIN: Duration = Duration::from_secs(60);

async fn get(server: &Binary, path: &str) -> (u16, Value) {
    let response = server.client.get(server.url(path)).send().await;
    let response = response.expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn livez_says_the_process_answers_and_readyz_checks_what_requests_need() {
    let server = Binary::start(&[]).await;

    assert_eq!(
        get(&server, "/livez").await,
        (200, json!({ "status": "alive" }))
    );
    let (status, ready) = get(&server, "/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["database"], "ok");
    // Redis is checked where it is configured (the suite on PostgreSQL and Redis).
    let redis = std::env::var("TEST_REDIS_URL").is_ok();
    assert_eq!(ready["checks"].get("redis").is_some(), redis, "{ready}");
}

/// The request line and headers of a POST whose body is `body`, and the body in two halves.
fn request_in_two_halves(server: &Binary, body: &str) -> (String, String, String) {
    let host = server.addr.trim_start_matches("http://");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let (first, second) = body.split_at(body.len() / 2);
    (head, first.to_owned(), second.to_owned())
}

#[tokio::test]
async fn sigterm_drains_then_finishes_requests_in_flight_and_sends_sockets_elsewhere() {
    // Long enough a delay that the test sees the draining phase on a busy machine.
    let mut server = Binary::start(&["--shutdown-delay=20s", "--shutdown-grace=60s"]).await;

    assert!(server.listens(), "the test cannot see the listener");
    let mut socket = WsClient::connect(&server.addr, None).await;
    assert!(is_ack(&socket.init(None).await));
    socket.subscribe("feed", FEED, json!({})).await;
    let mut stream = server
        .client
        .post(server.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": FEED }))
        .send()
        .await
        .expect("a stream");
    assert_eq!(stream.status(), 200);
    let body = json!({ "query": "{ __typename }" }).to_string();
    let (head, first, second) = request_in_two_halves(&server, &body);
    let host = server.addr.trim_start_matches("http://").to_owned();
    let mut in_flight = TcpStream::connect(&host).await.expect("connected");
    in_flight
        .write_all(format!("{head}{first}").as_bytes())
        .await
        .expect("half a request written");

    server.sigterm();

    // Draining: the balancer is told to go elsewhere, and everything still works meanwhile.
    let deadline = tokio::time::Instant::now() + WITHIN;
    let draining = loop {
        let (status, ready) = get(&server, "/readyz").await;
        if status == 503 {
            break ready;
        }
        assert!(tokio::time::Instant::now() < deadline, "never drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(draining["status"], "draining");
    let (status, answer) = server
        .post_json(&json!({ "query": "{ __typename }" }))
        .await;
    assert_eq!(
        (status, &answer["data"]),
        (200, &json!({ "__typename": "Query" }))
    );

    // Stopping: sockets are told to go away, streams end without `complete` (a dropped
    // connection, which clients retry elsewhere).
    assert_eq!(
        socket.closed(WITHIN).await.map(|(code, _)| code),
        Some(1001)
    );
    let mut streamed = String::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout(WITHIN, stream.chunk()).await {
        streamed.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!streamed.contains("event: complete"), "{streamed}");

    // The request that was in flight is answered in full.
    in_flight
        .write_all(second.as_bytes())
        .await
        .expect("the rest written");
    let mut answer = String::new();
    tokio::time::timeout(WITHIN, in_flight.read_to_string(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(r#"{"data":{"__typename":"Query"}}"#),
        "{answer}"
    );

    // No new connection is taken, and the process ends cleanly.
    assert!(!server.listens(), "still accepting");
    assert!(server.exited(WITHIN).await.success());
}

/// An SMTP server that never finishes its greeting: a continuation line every half second, so
/// the client's read timeout never fires and a send stays under way for as long as it is fed.
async fn stalling_smtp() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bound");
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                while conn.write_all(b"220-still waking up\r\n").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            });
        }
    });
    (format!("smtp://{addr}"), task)
}

/// The outbox rows of the binary's database: (claimed, sent) for each.
async fn outbox(server: &Binary) -> Vec<(bool, bool)> {
    use sea_orm::{ConnectionTrait, Statement};
    let url = server.arg("database-url").expect("a database");
    let db = sea_orm::Database::connect(url).await.expect("the database");
    let query = "SELECT claimed_until IS NOT NULL AS claimed, sent_at IS NOT NULL AS sent \
                 FROM mail_outbox";
    let statement = Statement::from_string(db.get_database_backend(), query);
    let rows = db.query_all_raw(statement).await.expect("rows");
    let rows = rows
        .iter()
        .map(|row| {
            let flag = |name| row.try_get::<bool>("", name).expect("a flag");
            (flag("claimed"), flag("sent"))
        })
        .collect();
    db.close().await.ok();
    rows
}

#[tokio::test]
async fn a_stopping_server_gives_back_the_mail_it_could_not_finish_sending() {
    let (smtp, _smtp) = stalling_smtp().await;
    let mut server = Binary::start(&[
        &format!("--smtp-url={smtp}"),
        "--shutdown-delay=0s",
        "--shutdown-grace=1s",
    ])
    .await;
    let register = "mutation($input: RegisterInput!) { register(input: $input) { id } }";
    let input = json!({ "username": "ada", "email": "ada@example.com",
                        "password": "correct horse battery staple" });
    let (status, _) = server
        .post_json(&json!({ "query": register, "variables": { "input": input } }))
        .await;
    assert_eq!(status, 200);
    let reset = "mutation($email: String!) { requestPasswordReset(email: $email) }";
    let (_, answer) = server
        .post_json(&json!({ "query": reset, "variables": { "email": "ada@example.com" } }))
        .await;
    assert_eq!(answer, json!({ "data": { "requestPasswordReset": true } }));

    // The worker claims the reset mail and starts sending it, into a server that stalls.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !outbox(&server).await.contains(&(true, false)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mail was never claimed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.terminate(WITHIN).await.success());

    // Not sent, and free for another instance to send at once rather than after the claim.
    let rows = outbox(&server).await;
    assert!(rows.contains(&(false, false)), "{rows:?}");
    assert!(!rows.iter().any(|&(claimed, _)| claimed), "{rows:?}");
}
