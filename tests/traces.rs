//! OpenTelemetry traces over OTLP (HTTP/protobuf) from the real binary to a receiver started
//! here, which decodes what it gets: a request continues the caller's `traceparent`, has
//! spans for parsing, validation, execution, a statement and the password hash, and no span
//! carries a variable's value; the parent-based sampler follows the caller's decision; the
//! spans still queued when the server is stopped are sent before it exits.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use common::{AUTH, binary::Binary, operation};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    trace::v1::Span,
};
use prost::Message;
use serde_json::{Value, json};

const PASSWORD: &str = "traced secret passphrase";
const USERNAME: &str = "traced_user_5e1f";
const EMAIL: &str = "traced.user@example.com";
/// Generous for a loaded machine: the wait ends as soon as the spans have come.
const SOON: Duration = Duration::from_secs(60);

/// What the receiver got: every export request, decoded.
type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

async fn receive(State(received): State<Received>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    received
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(request);
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// An OTLP/HTTP receiver on port 0: its URL and what it receives.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

fn all_spans(received: &Received) -> Vec<Span> {
    let requests = received.lock().unwrap_or_else(|e| e.into_inner());
    let resource_spans = requests.iter().flat_map(|r| &r.resource_spans);
    let scope_spans = resource_spans.flat_map(|r| &r.scope_spans);
    scope_spans.flat_map(|s| s.spans.clone()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The spans of trace `trace_id` once they include every name in `names`, or after [`SOON`].
async fn trace(received: &Received, trace_id: &str, names: &[&str]) -> Vec<Span> {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let spans: Vec<Span> = all_spans(received)
            .into_iter()
            .filter(|s| hex(&s.trace_id) == trace_id)
            .collect();
        let complete = names.iter().all(|n| spans.iter().any(|s| s.name == *n));
        if complete || tokio::time::Instant::now() > deadline {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn login_with(server: &Binary, traceparent: &str) -> Value {
    let variables = json!({ "input": { "login": USERNAME, "password": PASSWORD } });
    let response = server
        .client
        .post(server.url("/graphql"))
        .header("traceparent", traceparent)
        .json(&operation(AUTH, "Login", variables))
        .send()
        .await
        .expect("the server answers");
    response.json().await.expect("JSON")
}

fn random_hex(bytes: usize) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id[..bytes * 2].to_owned()
}

#[tokio::test]
async fn a_login_is_traced_under_the_callers_trace_without_any_variable() {
    let (endpoint, received) = receiver().await;
    let server = Binary::start_with_env(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_SERVICE_NAME", "smilecook-test"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
            ("LOG_FORMAT", "json"),
            // For tower-http's line at the end of each request, which carries its spans' fields.
            ("RUST_LOG", "info,tower_http=debug"),
        ],
    )
    .await;
    let input = json!({ "username": USERNAME, "email": EMAIL, "password": PASSWORD });
    let registered = server
        .op(AUTH, "Register", json!({ "input": input }), None)
        .await;
    assert!(
        registered["data"]["register"]["id"].is_string(),
        "{registered}"
    );

    // The caller decided not to sample this one: the parent-based sampler follows it.
    let unsampled = random_hex(16);
    let declined = login_with(&server, &format!("00-{unsampled}-{}-00", random_hex(8))).await;
    assert!(
        declined["data"]["login"]["accessToken"].is_string(),
        "{declined}"
    );
    let (trace_id, parent_id) = (random_hex(16), random_hex(8));
    let login = login_with(&server, &format!("00-{trace_id}-{parent_id}-01")).await;
    let access = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"))
        .to_owned();

    let expected = [
        "POST /graphql",
        "graphql",
        "graphql.parse",
        "graphql.validate",
        "graphql.execute",
        "graphql.resolve login",
        "password.verify",
    ];
    let spans = trace(&received, &trace_id, &expected).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    for name in expected {
        assert!(names.contains(&name), "no span {name:?} in {names:?}");
    }
    let statements: Vec<_> = spans.iter().filter(|s| is_statement(s)).collect();
    assert!(
        statements
            .iter()
            .any(|s| s.name == "SELECT" && !s.parent_span_id.is_empty()),
        "no span for a SQL statement, in the request's trace, in {names:?}"
    );
    let root = spans
        .iter()
        .find(|s| s.name == "POST /graphql")
        .expect("the request's span");
    assert_eq!(
        hex(&root.parent_span_id),
        parent_id,
        "the caller's span is the parent"
    );
    let ids: Vec<&[u8]> = spans.iter().map(|s| s.span_id.as_slice()).collect();
    for span in spans.iter().filter(|s| s.name != "POST /graphql") {
        assert!(
            ids.contains(&span.parent_span_id.as_slice()),
            "{} hangs off no span of the request",
            span.name
        );
    }
    assert!(
        all_spans(&received)
            .iter()
            .all(|s| hex(&s.trace_id) != unsampled),
        "a trace the caller did not sample was exported"
    );
    let deadline = tokio::time::Instant::now() + SOON;
    let names_trace = |log: Vec<String>| {
        let field = format!("\"trace_id\":\"{trace_id}\"");
        log.iter().any(|line| line.contains(&field))
    };
    while !names_trace(server.log()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(names_trace(server.log()), "the log names the trace");

    // Nothing exported holds a variable's value or a token (attributes, events, resource).
    let everything = format!("{:?}", received.lock().unwrap_or_else(|e| e.into_inner()));
    for (what, value) in [
        ("password", PASSWORD),
        ("username", USERNAME),
        ("email address", EMAIL),
        ("access token", access.as_str()),
    ] {
        assert!(!everything.contains(value), "the {what} was exported");
    }
}

#[tokio::test]
async fn spans_still_queued_and_the_mails_span_are_exported_when_the_server_stops() {
    let (endpoint, received) = receiver().await;
    let mut server = Binary::start_with_env(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            // Far beyond the test: only the flush at shutdown can send the spans.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    )
    .await;
    let trace_id = random_hex(16);
    let traceparent = format!("00-{trace_id}-{}-01", random_hex(8));
    let response = server
        .client
        .get(server.url("/health"))
        .header("traceparent", traceparent)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200);
    // Registering asks for a mail, which the worker writes into the mail folder.
    let input = json!({ "username": USERNAME, "email": EMAIL, "password": PASSWORD });
    let registered = server
        .op(AUTH, "Register", json!({ "input": input }), None)
        .await;
    assert!(
        registered["data"]["register"]["id"].is_string(),
        "{registered}"
    );
    let mail_dir = std::path::PathBuf::from(server.arg("mail-dir").expect("a mail folder"));
    let deadline = tokio::time::Instant::now() + SOON;
    let written =
        |dir: &std::path::Path| std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    while !written(&mail_dir) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(written(&mail_dir), "no mail was written");

    let status = server.terminate(SOON).await;

    assert!(status.success(), "{status}");
    let spans = trace(&received, &trace_id, &["GET /health"]).await;
    assert!(
        spans.iter().any(|s| s.name == "GET /health"),
        "the request's span was not flushed at shutdown"
    );
    // Start-up's statements (migrations, keys) and the background polls are in no trace.
    let orphans: Vec<String> = all_spans(&received)
        .into_iter()
        .filter(|s| is_statement(s) && s.parent_span_id.is_empty())
        .map(|s| s.name)
        .collect();
    assert!(
        orphans.is_empty(),
        "statements exported as traces of their own: {orphans:?}"
    );
}

/// A SQL statement's span (`telemetry::statement`): it carries the statement's text.
fn is_statement(span: &Span) -> bool {
    span.attributes.iter().any(|kv| kv.key == "db.query.text")
}

/// The headers observability reads from clients, made hostile: a `traceparent` 10,000
/// characters long, one repeated 1,000 times, request ids past their bound, each sent 25 times
/// at once. The server answers every one and stays up; the trace ids it logs are its own.
#[tokio::test]
async fn hostile_trace_and_request_id_headers_are_answered_and_change_nothing() {
    let (endpoint, _received) = receiver().await;
    let mut server = Binary::start_with_env(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("LOG_FORMAT", "json"),
            // A line at the end of each request, with its span's fields.
            ("RUST_LOG", "info,tower_http=debug"),
        ],
    )
    .await;
    let long = format!("00-{}-{}-01", "a".repeat(5_000), "b".repeat(4_990));
    let shapes: Vec<Vec<(&str, String)>> = vec![
        vec![("traceparent", long)],
        (0..1_000)
            .map(|i| {
                (
                    "traceparent",
                    format!("00-{:032x}-{:016x}-01", i + 1, i + 1),
                )
            })
            .collect(),
        vec![("x-request-id", "r".repeat(10_000))],
        vec![(
            "traceparent",
            "00-00000000000000000000000000000000-0000000000000000-01".into(),
        )],
    ];
    for shape in &shapes {
        let sends = (0..25).map(|_| {
            let mut request = server
                .client
                .post(server.url("/graphql"))
                .json(&json!({ "query": "{ __typename }" }));
            for (name, value) in shape {
                request = request.header(*name, value.as_str());
            }
            request.send()
        });
        for answer in futures::future::join_all(sends).await {
            let answer = answer.expect("answered");
            // Too many headers or too long a header is the HTTP layer's 431; anything else is
            // answered as if the header were not there.
            assert!(
                [200, 431].contains(&answer.status().as_u16()),
                "{}",
                answer.status()
            );
        }
    }
    server.assert_alive(SOON).await;
    // The log is read by a thread of the test: wait for the lines to come.
    let deadline = tokio::time::Instant::now() + SOON;
    let log = loop {
        let log = server.log().join("\n");
        let finished = log.matches("finished processing request").count();
        if finished >= 75 {
            break log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{finished} requests logged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !log.contains(&"r".repeat(129)),
        "an overlong request id was logged"
    );
    assert!(
        !log.contains(&"a".repeat(100)),
        "an invalid traceparent was taken"
    );
}
