//! Hostile queries: every limit refuses before any resolver runs, with a code that names it.

mod common;

use common::{spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

const GRJ: &str = "application/graphql-response+json";

/// POSTs `query` asking for `application/graphql-response+json`; returns status and body.
async fn send(app: &common::TestApp, query: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", GRJ)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request sent");
    (response.status(), response.json().await.expect("JSON body"))
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

fn aliases(n: usize) -> String {
    (0..n).map(|i| format!("a{i}: __typename ")).collect()
}

#[tokio::test]
async fn a_query_deeper_than_the_limit_is_refused_with_query_too_deep() {
    let app = spawn_app_with(&["--max-query-depth=2"]).await;

    let (ok_status, ok) = send(&app, "{ me { id } }").await;
    let (status, body) = send(&app, "{ me { recipes { totalCount } } }").await;

    assert_eq!(ok_status, StatusCode::OK, "{ok}");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "QUERY_TOO_DEEP");
    assert!(
        body.get("data").is_none(),
        "a refused request has no data: {body}"
    );
}

#[tokio::test]
async fn a_query_over_the_complexity_limit_is_refused_with_query_too_complex() {
    let app = spawn_app_with(&["--max-query-complexity=3"]).await;

    let (ok_status, _) = send(&app, "{ me { id username } }").await;
    let (status, body) = send(&app, "{ me { id username email } }").await;

    assert_eq!(ok_status, StatusCode::OK);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("limit is 3"), "{message}");
}

#[tokio::test]
async fn a_document_that_ran_before_is_still_refused_when_its_variables_make_it_too_complex() {
    // The document is cached after its first run; the second request takes it from the cache
    // and its `first` weighs each recipe's fields 100 times.
    let app = spawn_app_with(&["--max-query-complexity=50"]).await;
    let query = "query Page($n: Int) { recipes(first: $n) { edges { node { id name } } } }";
    let page = |n: i64| {
        app.client
            .post(app.url("/graphql"))
            .header("accept", GRJ)
            .json(&json!({ "query": query, "variables": { "n": n } }))
            .send()
    };

    let small = page(2).await.expect("request sent");
    let small_status = small.status();
    let small_body: Value = small.json().await.expect("JSON body");
    let large = page(100).await.expect("request sent");
    let large_status = large.status();
    let large_body: Value = large.json().await.expect("JSON body");

    assert_eq!(small_status, StatusCode::OK, "{small_body}");
    assert!(small_body["data"]["recipes"]["edges"].is_array());
    assert_eq!(large_status, StatusCode::BAD_REQUEST, "{large_body}");
    assert_eq!(code(&large_body), "QUERY_TOO_COMPLEX");
    let message = large_body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("complexity is 400") && message.contains("limit is 50"),
        "{message}"
    );
}

#[tokio::test]
async fn a_revalidated_request_answers_as_before_and_new_variables_are_checked_in_full() {
    // The same request again skips the validation rules it passed (doc_cache.rs) and must
    // answer the same. Other variables for the same document get the full rules: a value of
    // the wrong type is a request error with the codes a document never seen before gets.
    let app = spawn_app().await;
    let query = "query Page($n: Int) { recipes(first: $n) { edges { node { id } } } }";
    let fresh = format!("{query} # never sent before");
    let page = |query: String, n: Value| {
        app.client
            .post(app.url("/graphql"))
            .header("accept", GRJ)
            .json(&json!({ "query": query, "variables": { "n": n } }))
            .send()
    };
    let answer = |response: reqwest::Response| async move {
        let status = response.status();
        (status, response.json::<Value>().await.expect("JSON body"))
    };

    let first = answer(page(query.into(), json!(2)).await.expect("sent")).await;
    let again = answer(page(query.into(), json!(2)).await.expect("sent")).await;
    let wrong = answer(page(query.into(), json!("two")).await.expect("sent")).await;
    let wrong_fresh = answer(page(fresh, json!("two")).await.expect("sent")).await;

    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(again, first, "the revalidated request answers the same");
    assert_eq!(wrong_fresh.0, StatusCode::BAD_REQUEST, "{}", wrong_fresh.1);
    assert!(wrong_fresh.1.get("data").is_none(), "{}", wrong_fresh.1);
    assert_eq!(wrong, wrong_fresh);
}

#[tokio::test]
async fn more_aliases_than_the_limit_are_refused() {
    let app = spawn_app().await;

    let (ok_status, ok) = send(&app, &format!("{{ __schema {{ {} }} }}", aliases(30))).await;
    let (status, body) = send(&app, &format!("{{ __schema {{ {} }} }}", aliases(31))).await;

    assert_eq!(ok_status, StatusCode::OK, "{ok}");
    assert_eq!(ok["data"]["__schema"]["a29"], "__Schema");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "TOO_MANY_ALIASES");
}

#[tokio::test]
async fn aliases_hidden_in_a_fragment_count_each_time_it_is_spread() {
    let app = spawn_app().await;
    let query = format!(
        "{{ __schema {{ ...F ... on __Schema {{ ...F }} ... on __Schema {{ ...F }} \
         ... on __Schema {{ ...F }} }} }} fragment F on __Schema {{ {} }}",
        aliases(10)
    );

    let (status, body) = send(&app, &query).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "TOO_MANY_ALIASES");
}

#[tokio::test]
async fn more_root_fields_than_the_limit_are_refused() {
    let app = spawn_app_with(&["--max-root-fields=2", "--max-aliases=100"]).await;

    let (status, body) = send(&app, "{ a: __typename b: __typename c: __typename }").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "TOO_MANY_ROOT_FIELDS");
}

#[tokio::test]
async fn a_query_longer_than_the_limit_is_refused_with_query_too_large() {
    let app = spawn_app_with(&["--max-query-bytes=64"]).await;
    let padding = " ".repeat(100);

    let (status, body) = send(&app, &format!("{{ __typename {padding} }}")).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "QUERY_TOO_LARGE");
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_refused_with_413() {
    let app = spawn_app_with(&["--max-body-bytes=1000"]).await;
    let body = json!({ "query": "{ __typename }", "variables": { "pad": "x".repeat(2000) } });

    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&body)
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(code(&body), "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn batches_are_refused_by_default_and_bounded_when_enabled() {
    let off = spawn_app().await;
    let on = spawn_app_with(&["--max-batch=2"]).await;
    let batch = |n: usize| json!(vec![json!({ "query": "{ __typename }" }); n]);
    let post = |app: &common::TestApp, body: Value| {
        app.client.post(app.url("/graphql")).json(&body).send()
    };

    let refused = post(&off, batch(2)).await.expect("sent");
    let accepted = post(&on, batch(2)).await.expect("sent");
    let too_big = post(&on, batch(3)).await.expect("sent");

    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(accepted.status(), StatusCode::OK);
    let answers: Value = accepted.json().await.expect("JSON");
    assert_eq!(
        answers,
        json!([{ "data": { "__typename": "Query" } }, { "data": { "__typename": "Query" } }])
    );
    assert_eq!(too_big.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn fragment_cycles_and_unknown_directives_are_validation_errors() {
    let app = spawn_app().await;

    let (cycle, cycle_body) = send(
        &app,
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
    )
    .await;
    let (directive, _) = send(&app, "{ me @explode { id } }").await;

    assert_eq!(cycle, StatusCode::BAD_REQUEST, "{cycle_body}");
    assert_eq!(directive, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn directives_per_field_are_limited_when_configured() {
    let app = spawn_app_with(&["--max-directives-per-field=1"]).await;

    let (status, _) = send(&app, "{ __typename @skip(if: false) @include(if: true) }").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn production_hides_introspection_and_suggestions_unless_switched_on() {
    let dev = spawn_app().await;
    let prod = spawn_app_with(&["--app-env=production"]).await;
    let prod_open = spawn_app_with(&["--app-env=production", "--introspection=true"]).await;
    let introspect = "{ __schema { queryType { name } } }";

    let (_, dev_schema) = send(&dev, introspect).await;
    let (_, prod_schema) = send(&prod, introspect).await;
    let (_, open_schema) = send(&prod_open, introspect).await;
    let (_, dev_typo) = send(&dev, "{ userr(username: \"x\") { id } }").await;
    let (_, prod_typo) = send(&prod, "{ userr(username: \"x\") { id } }").await;

    assert_eq!(dev_schema["data"]["__schema"]["queryType"]["name"], "Query");
    assert!(prod_schema["data"]["__schema"].is_null(), "{prod_schema}");
    assert_eq!(
        open_schema["data"]["__schema"]["queryType"]["name"],
        "Query"
    );
    let hint = |b: &Value| {
        b["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Did you mean")
    };
    assert!(hint(&dev_typo), "{dev_typo}");
    assert!(!hint(&prod_typo), "{prod_typo}");
}

#[tokio::test]
async fn cross_origin_browsers_are_allowed_only_from_configured_origins() {
    let closed = spawn_app().await;
    let open = spawn_app_with(&["--cors-allowed-origins=https://app.example"]).await;
    let preflight = |app: &common::TestApp, origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let allowed = |r: &reqwest::Response| r.headers().get("access-control-allow-origin").cloned();

    let none = preflight(&closed, "https://app.example")
        .await
        .expect("sent");
    let good = preflight(&open, "https://app.example").await.expect("sent");
    let evil = preflight(&open, "https://evil.example")
        .await
        .expect("sent");

    assert_eq!(allowed(&none), None);
    assert_eq!(
        allowed(&good).as_ref().and_then(|v| v.to_str().ok()),
        Some("https://app.example")
    );
    assert_eq!(allowed(&evil), None);
}

#[tokio::test]
async fn a_document_with_thousands_of_mistakes_gets_a_hundred_errors_and_a_count_of_the_rest() {
    let app = spawn_app().await;
    let repeated = vec!["a: 1"; 1000].join(", ");

    let (status, body) = send(
        &app,
        &format!("{{ user(username: \"x\", {repeated}) {{ id }} }}"),
    )
    .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 101, "{body}");
    let summary = errors[100]["message"].as_str().unwrap_or("");
    let left_out: usize = summary
        .strip_suffix(" more errors were left out.")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(left_out >= 900, "{summary}");
    assert!(errors.iter().all(|e| e["extensions"]["code"].is_string()));
}
