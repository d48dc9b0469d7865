//! `/metrics` on `METRICS_BIND`, read as Prometheus reads it (a text-format parser), around a
//! scripted session. Each test runs the real binary: a process of its own has a recorder of its
//! own, so the counts are this test's alone (in-process servers share one per process). Values
//! are compared by difference, before and after each step; gauges that follow a connection are
//! polled up to a deadline, never slept on.

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::{AUTH, PASSWORD, binary::Binary, ws::WsClient};
use prometheus_parse::{Scrape, Value};
use serde_json::{Value as Json, json};

const METRICS: &[&str] = &["--metrics-bind=127.0.0.1:0"];

async fn scrape(binary: &Binary) -> Scrape {
    let base = binary
        .metrics
        .as_deref()
        .expect("the binary serves metrics");
    let response = binary
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("/metrics answers");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("a body");
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("Prometheus text")
}

/// The sum of `name`'s samples whose labels include `labels` (0 when there is none).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// Runs `step` and returns how much `name` (with `labels`) rose meanwhile.
async fn rise(binary: &Binary, name: &str, labels: &[(&str, &str)], step: impl Future) -> f64 {
    let before = value(&scrape(binary).await, name, labels);
    step.await;
    value(&scrape(binary).await, name, labels) - before
}

/// Polls until `name` (with `labels`) reads `expected`; panics after 30 s with the last value.
async fn reaches(binary: &Binary, name: &str, labels: &[(&str, &str)], expected: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = value(&scrape(binary).await, name, labels);
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}{labels:?} stayed at {now}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn register(binary: &Binary, username: &str) {
    let input = json!({ "input": {
        "username": username, "email": format!("{username}@example.com"), "password": PASSWORD,
    }});
    let registered = binary.op(AUTH, "Register", input, None).await;
    assert!(
        registered["data"]["register"]["id"].is_string(),
        "{registered}"
    );
}

async fn login(binary: &Binary, username: &str, password: &str) -> Json {
    let input = json!({ "input": { "login": username, "password": password } });
    binary.op(AUTH, "Login", input, None).await
}

fn token(answer: &Json, field: &str, name: &str) -> String {
    let token = answer["data"][field][name].as_str();
    token
        .unwrap_or_else(|| panic!("no {name}: {answer}"))
        .to_owned()
}

async fn refresh(binary: &Binary, refresh_token: &str) -> Json {
    let variables = json!({ "token": refresh_token });
    binary.op(AUTH, "Refresh", variables, None).await
}

const LOGINS: &str = "smilecook_auth_logins_total";
const REVOCATIONS: &str = "smilecook_auth_revocations_total";
const ERRORS: &str = "graphql_server_errors_total";

#[tokio::test]
async fn logins_rotations_reuse_and_logout_are_each_counted_once() {
    let binary = Binary::start(METRICS).await;
    register(&binary, "alice").await;

    let wrong = [("outcome", "wrong")];
    let unauthenticated = [("error_code", "UNAUTHENTICATED")];
    let before = scrape(&binary).await;
    let answer = login(&binary, "alice", "not the password").await;
    assert_eq!(common::error_code(&answer), Some("UNAUTHENTICATED"));
    let after = scrape(&binary).await;
    assert_eq!(
        value(&after, LOGINS, &wrong) - value(&before, LOGINS, &wrong),
        1.0
    );
    let errors = value(&after, ERRORS, &unauthenticated) - value(&before, ERRORS, &unauthenticated);
    assert_eq!(errors, 1.0);

    let mut tokens = Json::Null;
    let success = [("outcome", "success")];
    let logged_in = rise(&binary, LOGINS, &success, async {
        tokens = login(&binary, "alice", PASSWORD).await;
    });
    assert_eq!(logged_in.await, 1.0);
    let first = token(&tokens, "login", "refreshToken");

    let rotations = "smilecook_auth_refresh_rotations_total";
    let rotated = rise(&binary, rotations, &[], async {
        tokens = refresh(&binary, &first).await;
    });
    assert_eq!(rotated.await, 1.0);
    token(&tokens, "refreshToken", "refreshToken");

    let before = scrape(&binary).await;
    let replayed = refresh(&binary, &first).await;
    assert_eq!(common::error_code(&replayed), Some("TOKEN_REUSED"));
    let after = scrape(&binary).await;
    let reuses = "smilecook_auth_refresh_reuses_total";
    assert_eq!(
        value(&after, reuses, &[]) - value(&before, reuses, &[]),
        1.0
    );
    let cause = [("cause", "refresh_reuse")];
    let revoked = value(&after, REVOCATIONS, &cause) - value(&before, REVOCATIONS, &cause);
    assert_eq!(revoked, 1.0);

    let access = token(
        &login(&binary, "alice", PASSWORD).await,
        "login",
        "accessToken",
    );
    let logout = rise(&binary, REVOCATIONS, &[("cause", "logout")], async {
        let answer = binary
            .op(AUTH, "Logout", json!({ "all": false }), Some(&access))
            .await;
        assert_eq!(answer["data"]["logout"], true, "{answer}");
    });
    assert_eq!(logout.await, 1.0);
}

#[tokio::test]
async fn requests_count_under_their_route_and_operations_under_their_name() {
    let binary = Binary::start(METRICS).await;
    let graphql = [("http_route", "/graphql"), ("http_request_method", "POST")];
    let count = "http_server_request_duration_seconds_count";
    let me = [
        ("graphql_operation_type", "query"),
        ("graphql_operation_name", "Me"),
    ];
    let operations = "graphql_server_operations_total";
    let before = scrape(&binary).await;

    let answer = binary.op(AUTH, "Me", json!({}), None).await;

    assert_eq!(common::error_code(&answer), Some("UNAUTHENTICATED"));
    let after = scrape(&binary).await;
    assert!(value(&after, count, &graphql) > value(&before, count, &graphql));
    assert_eq!(
        value(&after, operations, &me) - value(&before, operations, &me),
        1.0
    );
    let raw_path = after
        .samples
        .iter()
        .filter_map(|s| s.labels.get("http_route"))
        .find(|route| !route.starts_with('/') && *route != "unmatched");
    assert_eq!(raw_path, None, "a route label that is no route");
}

#[tokio::test]
async fn an_open_websocket_counts_as_live_until_it_closes() {
    let binary = Binary::start(METRICS).await;
    let live = "smilecook_connections_live";
    let websocket = [("transport", "websocket")];
    let before = value(&scrape(&binary).await, live, &websocket);

    let mut socket = WsClient::connect(&binary.addr, None).await;
    let ack = socket.init(None).await;
    assert!(common::ws::is_ack(&ack), "{ack:?}");
    reaches(&binary, live, &websocket, before + 1.0).await;

    drop(socket);
    reaches(&binary, live, &websocket, before).await;
}

#[tokio::test]
async fn in_process_servers_share_the_one_recorder_of_their_process() {
    let first = common::spawn_app_with(METRICS).await;
    let second = first.spawn_sibling().await;
    let client = reqwest::Client::new();
    for app in [&first, &second] {
        let base = app.metrics.as_deref().expect("a metrics address");
        let url = format!("{base}/metrics");
        let response = client.get(url).send().await.expect("/metrics answers");
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("a body");
        let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_owned())));
        let scrape = scrape.expect("Prometheus text");
        assert!(!scrape.samples.is_empty());
    }
}

#[tokio::test]
async fn without_metrics_bind_no_metrics_are_served() {
    let binary = Binary::start(&[]).await;
    assert_eq!(binary.metrics, None);
}

/// Every metric and label name with one of our prefixes that the Grafana dashboard's queries
/// use (`_bucket` of a histogram is its own name here).
fn dashboard_metrics() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/grafana/smilecook.json");
    let text = std::fs::read_to_string(path).expect("the dashboard");
    let dashboard: Json = serde_json::from_str(&text).expect("valid JSON");
    let datasource = &dashboard["templating"]["list"][0];
    assert_eq!(datasource["type"], "datasource", "{datasource}");
    assert_eq!(datasource["query"], "prometheus");
    let prefixes = [
        "http_server_",
        "graphql_server_",
        "smilecook_",
        "db_client_",
    ];
    let panels = dashboard["panels"].as_array().expect("panels");
    let exprs = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str());
    let mut names = BTreeSet::new();
    for expr in exprs {
        let tokens = expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        names.extend(
            tokens
                .filter(|t| prefixes.iter().any(|p| t.starts_with(p)))
                .map(str::to_owned),
        );
    }
    names
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_exported() {
    let binary = Binary::start(METRICS).await;
    register(&binary, "bob").await;
    let tokens = login(&binary, "bob", PASSWORD).await;
    refresh(&binary, &token(&tokens, "login", "refreshToken")).await;

    let wanted = dashboard_metrics();
    assert!(wanted.len() > 15, "{wanted:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let scrape = scrape(&binary).await;
        let mut exported: BTreeSet<String> = BTreeSet::new();
        for sample in &scrape.samples {
            if let Value::Histogram(_) = sample.value {
                exported.insert(format!("{}_bucket", sample.metric));
            }
            exported.insert(sample.metric.clone());
            exported.extend(sample.labels.keys().cloned());
        }
        let missing: Vec<_> = wanted.difference(&exported).collect();
        if missing.is_empty() {
            return;
        }
        // The sampled gauges appear with the first sample after start-up.
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dashboard queries names the server does not export: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
