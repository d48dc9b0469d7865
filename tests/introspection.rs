//! Introspection as the tools that people arrive with send it: graphql-js's standard query
//! (GraphiQL's docs, graphql-codegen, graphql-inspector, Postman, Insomnia) works on the
//! default limits; introspection has bounds of its own instead of the depth limit, which
//! keeps protecting the data fields; switched off, it answers a coded error.

mod common;

use common::{spawn_app, spawn_app_with};
use serde_json::{Value, json};

const STANDARD: &str = include_str!("operations/introspection.graphql");

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test]
async fn the_standard_introspection_query_works_on_the_default_limits() {
    let app = spawn_app().await;

    let body = app.graphql(STANDARD, json!({}), None).await;

    assert!(body["errors"].is_null(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().expect("types");
    let recipe = types
        .iter()
        .find(|t| t["name"] == "Recipe")
        .expect("Recipe");
    assert!(recipe["fields"].as_array().is_some_and(|f| !f.is_empty()));
    let date_time = types
        .iter()
        .find(|t| t["name"] == "DateTime")
        .expect("DateTime");
    assert!(date_time["specifiedByURL"].is_string(), "{date_time}");
}

#[tokio::test]
async fn the_depth_limit_still_protects_the_data_fields() {
    let app = spawn_app_with(&["--max-query-depth=3"]).await;

    let ok = app
        .graphql("{ me { recipes { totalCount } } }", json!({}), None)
        .await;
    let deep = "{ recipes { edges { node { author { username } } } } }";
    let body = app.graphql(deep, json!({}), None).await;
    let introspection = app.graphql(STANDARD, json!({}), None).await;

    assert_ne!(code(&ok), "QUERY_TOO_DEEP", "{ok}");
    assert_eq!(code(&body), "QUERY_TOO_DEEP", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains('5') && message.contains('3'), "{message}");
    assert!(introspection["errors"].is_null(), "{introspection}");
}

#[tokio::test]
async fn introspection_is_bounded_by_what_makes_its_answers_large() {
    let app = spawn_app().await;
    let of_type = |n: usize| {
        let inner = (0..n).fold("name".to_owned(), |inner, _| {
            format!("ofType {{ {inner} }}")
        });
        format!("{{ __type(name: \"Recipe\") {{ fields {{ type {{ {inner} }} }} }} }}")
    };
    let cases = [
        (
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
            "QUERY_TOO_COMPLEX",
        ),
        (
            "{ a: __schema { description } b: __schema { description } c: __type(name: \"User\") { name } d: __type(name: \"Recipe\") { name } }",
            "QUERY_TOO_COMPLEX",
        ),
        (&of_type(21), "QUERY_TOO_DEEP"),
    ];

    for (query, expected) in cases {
        let body = app.graphql(query, json!({}), None).await;
        assert_eq!(code(&body), expected, "{query}: {body}");
    }
    let twenty = app.graphql(&of_type(20), json!({}), None).await;
    assert!(twenty["errors"].is_null(), "{twenty}");
}

#[tokio::test]
async fn introspection_switched_off_answers_a_coded_error_wherever_it_is_asked() {
    let app = spawn_app_with(&["--introspection=false"]).await;
    let spread =
        "{ ...F } fragment F on Query { ... on Query { __type(name: \"User\") { name } } }";

    for query in [STANDARD, "{ __schema { description } }", spread] {
        let body = app.graphql(query, json!({}), None).await;
        assert_eq!(code(&body), "INTROSPECTION_DISABLED", "{body}");
        assert!(body.get("data").is_none_or(Value::is_null), "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains("disabled"), "{message}");
    }
    let typename = app.graphql("{ __typename }", json!({}), None).await;
    assert_eq!(typename["data"]["__typename"], "Query");
}
