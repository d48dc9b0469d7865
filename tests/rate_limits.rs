//! Rate limits: every operation spends its cost from a budget per client address and one per
//! user, whatever carries it (HTTP, WebSocket, SSE), and HTTP answers say what is left in the
//! RateLimit headers. Budgets are set per test with a day's window, so that nothing refills
//! while a test runs; the server's clock is moved to refill them.

mod common;

use std::time::Duration;

use common::{
    TestApp, spawn_app_with,
    ws::{Event, WsClient, is_ack},
};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Value, json};

const DAY: &str = "--rate-limit-window=1d";
const SOON: Duration = Duration::from_secs(10);

/// Costs 1: one field.
const CHEAP: &str = "{ __typename }";

/// A page of `first` recipes, costing `first` (one field per item).
fn page(first: u32) -> String {
    format!("{{ recipes(first: {first}) {{ totalCount }} }}")
}

/// An answer's status, headers and JSON body.
async fn post(app: &TestApp, query: &str, token: Option<&str>) -> (StatusCode, HeaderMap, Value) {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sent");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.json().await.expect("JSON"))
}

/// The `RateLimit` header: the policy it names and the points left.
fn left(headers: &HeaderMap) -> (String, u64) {
    let value = headers["ratelimit"].to_str().expect("text");
    let (name, params) = value.split_once(';').expect("parameters");
    let remaining = params
        .split(';')
        .find_map(|p| p.strip_prefix("r="))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no r= in {value}"));
    (name.trim_matches('"').to_owned(), remaining)
}

async fn app_with_budgets(address: u32, user: u32) -> TestApp {
    let address = format!("--rate-limit-address={address}");
    let user = format!("--rate-limit-user={user}");
    spawn_app_with(&[&address, &user, DAY]).await
}

#[tokio::test]
async fn every_answer_says_what_is_left_and_a_costly_query_spends_more_than_a_cheap_one() {
    let app = app_with_budgets(1000, 0).await;

    let (status, headers, body) = post(&app, CHEAP, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["ratelimit-policy"], "\"address\";q=1000;w=86400");
    assert_eq!(left(&headers), ("address".into(), 999));

    // Twenty items of one field each, and the page field itself weighs nothing more.
    let (_, headers, body) = post(&app, &page(20), None).await;
    assert_eq!(body["data"]["recipes"]["totalCount"], 0);
    assert_eq!(left(&headers).1, 999 - 20);

    let (_, headers, _) = post(&app, CHEAP, None).await;
    assert_eq!(left(&headers).1, 999 - 20 - 1);
}

#[tokio::test]
async fn a_refused_operation_is_a_429_with_retry_after_and_nothing_runs() {
    let app = spawn_app_with(&[
        "--rate-limit-address=50",
        "--rate-limit-user=0",
        DAY,
        "--metrics-bind=127.0.0.1:0",
    ])
    .await;
    let (_, headers, _) = post(&app, &page(48), None).await;
    assert_eq!(left(&headers).1, 2);

    let register = common::operation(
        common::AUTH,
        "Register",
        json!({ "input": { "username": "ada", "email": "ada@example.com",
                           "password": common::PASSWORD } }),
    );
    let send = || app.client.post(app.url("/graphql")).json(&register).send();
    let refused = send().await.expect("sent");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("Retry-After in seconds");
    assert_eq!(left(refused.headers()), ("address".into(), 2));
    let body: Value = refused.json().await.expect("JSON");
    common::assert_error(&body, "TOO_MANY_REQUESTS");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], retry_after);
    assert!(body.get("data").is_none(), "{body}");
    let users = "SELECT COUNT(*) AS n FROM users";
    assert_eq!(
        common::query_value::<i64>(&app.database_url, users, "n").await,
        0
    );

    let metrics = app.metrics.clone().expect("metrics served");
    let text = reqwest::get(format!("{metrics}/metrics"))
        .await
        .expect("scraped");
    let text = text.text().await.expect("text");
    assert!(
        text.lines()
            .any(|l| l.starts_with("smilecook_ratelimit_refusals_total{budget=\"address\"}")),
        "{text}"
    );

    // Once the budget has refilled, the same mutation runs.
    app.advance_clock(Duration::from_secs(retry_after));
    let registered: Value = send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(
        registered["data"]["register"]["username"], "ada",
        "{registered}"
    );
}

#[tokio::test]
async fn each_user_has_a_budget_of_its_own_beside_the_address_they_share() {
    let app = app_with_budgets(1_000_000, 100).await;
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let mine = "{ myRecipes(first: 50) { totalCount } }";

    let (_, headers, _) = post(&app, mine, Some(&ada.access)).await;
    assert_eq!(left(&headers), ("user".into(), 50));
    post(&app, mine, Some(&ada.access)).await;
    let (status, headers, body) = post(&app, mine, Some(&ada.access)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(left(&headers), ("user".into(), 0));

    // Bob, from the same address, and anybody without a token, are served.
    let (status, headers, _) = post(&app, mine, Some(&bob.access)).await;
    assert_eq!(
        (status, left(&headers)),
        (StatusCode::OK, ("user".into(), 50))
    );
    let (status, headers, _) = post(&app, CHEAP, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(left(&headers).0, "address");
}

#[tokio::test]
async fn websocket_and_sse_operations_spend_from_the_same_budget_as_http() {
    let app = app_with_budgets(100, 0).await;
    let (_, headers, _) = post(&app, CHEAP, None).await;
    assert_eq!(left(&headers).1, 99);

    let mut socket = WsClient::connect(&app.addr, None).await;
    assert!(is_ack(&socket.init(None).await));
    socket.subscribe("1", &page(10), json!({})).await;
    let answered = socket.next(SOON).await;
    assert!(
        matches!(&answered, Some(Event::Message(m)) if m["type"] == "next"),
        "{answered:?}"
    );
    let completed = socket.next(SOON).await;
    assert!(
        matches!(&completed, Some(Event::Message(m)) if m["type"] == "complete"),
        "{completed:?}"
    );
    let (_, headers, _) = post(&app, CHEAP, None).await;
    assert_eq!(left(&headers).1, 99 - 10 - 1);

    let streamed = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": page(20) }))
        .send()
        .await
        .expect("sent");
    let text = streamed.text().await.expect("the stream completes");
    assert!(text.contains("event: complete"), "{text}");
    let (_, headers, _) = post(&app, CHEAP, None).await;
    assert_eq!(left(&headers).1, 99 - 10 - 1 - 20 - 1);

    // With the budget spent, a subscription is refused with the seconds to wait.
    post(&app, &page(67), None).await;
    let feed = "subscription { recipePublished { id } }";
    socket.subscribe("2", feed, json!({})).await;
    match socket.next(SOON).await {
        Some(Event::Message(m)) if m["type"] == "error" => {
            assert_eq!(m["payload"][0]["extensions"]["code"], "TOO_MANY_REQUESTS");
            assert!(m["payload"][0]["extensions"]["retryAfter"].as_u64() > Some(0));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn of_25_parallel_requests_exactly_the_budget_runs() {
    let app = app_with_budgets(10, 0).await;
    let requests = (0..25).map(|_| post(&app, CHEAP, None));
    let answers = futures::future::join_all(requests).await;
    let served = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    let refused = answers
        .iter()
        .filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((served, refused), (10, 15));
}

#[tokio::test]
async fn instances_sharing_redis_share_the_budgets() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        return; // Needs a real Redis; CI runs the suite with one.
    }
    let one = app_with_budgets(100, 0).await;
    let two = one.spawn_sibling().await;
    let (_, headers, _) = post(&one, &page(30), None).await;
    assert_eq!(left(&headers).1, 70);
    let (_, headers, _) = post(&two, &page(70), None).await;
    assert_eq!(left(&headers).1, 0);
    let (status, _, _) = post(&one, CHEAP, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_token_that_does_not_verify_charges_no_user_budget() {
    let app = app_with_budgets(1000, 100).await;
    let ada = app.user("ada").await;
    // Ada's token with its signature broken: it names her, but proves nothing.
    let forged = format!("{}x", ada.access);
    let (status, headers, body) = post(&app, CHEAP, Some(&forged)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["ratelimit-policy"], "\"address\";q=1000;w=86400");

    let (_, headers, _) = post(&app, CHEAP, Some(&ada.access)).await;
    assert_eq!(
        headers["ratelimit-policy"],
        "\"address\";q=1000;w=86400, \"user\";q=100;w=86400"
    );
    assert_eq!(left(&headers), ("user".into(), 99));
}
