//! Persisted and trusted documents over HTTP: automatic persisted queries as Apollo Client and
//! urql speak them, `documentId`, manifests registered by the CLI or loaded at start, and the
//! `PERSISTED_DOCUMENTS` policies.

mod common;

use common::{TestApp, assert_error, error_code, query_value, spawn_app_with};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PAGE: &str = "query Page($first: Int) { recipes(first: $first) { totalCount } }";
const CREATE: &str =
    "mutation Create($input: CreateRecipeInput!) { createRecipe(input: $input) { id } }";

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn apq(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn post(app: &TestApp, body: Value, token: Option<&str>) -> (u16, Value) {
    let mut request = app.client.post(app.url("/graphql")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

async fn get(app: &TestApp, params: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(params)
        .header("accept", "application/json")
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// How many documents the database holds under `condition`.
async fn stored(app: &TestApp, condition: &str) -> i64 {
    let query = format!("SELECT COUNT(*) AS n FROM persisted_documents WHERE {condition}");
    query_value(&app.database_url, &query, "n").await
}

/// A manifest file in the app's directory, as graphql-codegen's client preset writes it.
fn manifest(app: &TestApp, documents: &[&str]) -> String {
    let entries: serde_json::Map<String, Value> = documents
        .iter()
        .map(|d| (sha256(d), Value::String(d.to_string())))
        .collect();
    let path = app.dir.path().join("persisted-documents.json");
    std::fs::write(&path, Value::Object(entries).to_string()).expect("written");
    path.display().to_string()
}

#[tokio::test]
async fn an_unknown_hash_is_not_found_then_registered_with_its_text_and_known_to_every_instance() {
    let app = spawn_app_with(&[]).await;
    let hash = sha256(PAGE);
    let by_hash = json!({ "extensions": apq(&hash), "variables": { "first": 5 } });

    let (_, miss) = post(&app, by_hash.clone(), None).await;
    assert_eq!(
        error_code(&miss),
        Some("PERSISTED_QUERY_NOT_FOUND"),
        "{miss}"
    );
    assert_eq!(miss["errors"][0]["message"], "PersistedQueryNotFound");

    let with_text = json!({ "query": PAGE, "extensions": apq(&hash), "variables": { "first": 5 } });
    let (_, registered) = post(&app, with_text, None).await;
    assert_eq!(
        registered["data"]["recipes"]["totalCount"], 0,
        "{registered}"
    );

    let (_, hit) = post(&app, by_hash.clone(), None).await;
    assert_eq!(hit["data"]["recipes"]["totalCount"], 0, "{hit}");
    let other = app.spawn_sibling().await;
    let (_, elsewhere) = post(&other, by_hash, None).await;
    assert_eq!(elsewhere["data"]["recipes"]["totalCount"], 0, "{elsewhere}");
}

#[tokio::test]
async fn a_hash_that_is_not_its_texts_is_refused_and_nothing_is_registered() {
    let app = spawn_app_with(&[]).await;
    let wrong = sha256("{ me { id } }");
    let body = json!({ "query": PAGE, "extensions": apq(&wrong) });
    let (_, refused) = post(&app, body, None).await;
    assert_error(&refused, "BAD_REQUEST");
    let (_, miss) = post(&app, json!({ "extensions": apq(&wrong) }), None).await;
    assert_eq!(error_code(&miss), Some("PERSISTED_QUERY_NOT_FOUND"));
    for bad in [
        json!({ "version": 2, "sha256Hash": wrong }),
        json!({ "version": 1, "sha256Hash": "zz" }),
        json!("x"),
    ] {
        let (_, body) = post(
            &app,
            json!({ "extensions": { "persistedQuery": bad } }),
            None,
        )
        .await;
        assert_error(&body, "BAD_REQUEST");
    }
}

#[tokio::test]
async fn a_document_that_does_not_validate_is_never_registered() {
    let app = spawn_app_with(&[]).await;
    let broken = "{ recipes { nope } }";
    let body = json!({ "query": broken, "extensions": apq(&sha256(broken)) });
    let (_, refused) = post(&app, body, None).await;
    assert_eq!(
        error_code(&refused),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{refused}"
    );
    let rows = stored(&app, "TRUE").await;
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn client_registrations_are_kept_to_their_number_the_oldest_dropped() {
    let app = spawn_app_with(&["--persisted-documents-max=3"]).await;
    let documents: Vec<String> = (0..6)
        .map(|i| format!("query Q{i} {{ __typename }}"))
        .collect();
    for document in &documents {
        let body = json!({ "query": document, "extensions": apq(&sha256(document)) });
        let (_, answer) = post(&app, body, None).await;
        assert_eq!(answer["data"]["__typename"], "Query", "{answer}");
    }
    let rows = stored(&app, "TRUE").await;
    assert_eq!(rows, 3);
    let newest = stored(&app, &format!("id = '{}'", sha256(&documents[5]))).await;
    assert_eq!(newest, 1);
}

#[tokio::test]
async fn twenty_five_parallel_registrations_of_one_document_all_run_and_store_one_row() {
    let app = spawn_app_with(&[]).await;
    let body = json!({ "query": PAGE, "extensions": apq(&sha256(PAGE)) });
    let answers =
        futures_util::future::join_all((0..25).map(|_| post(&app, body.clone(), None))).await;
    for (_, answer) in answers {
        assert_eq!(answer["data"]["recipes"]["totalCount"], 0, "{answer}");
    }
    let rows = stored(&app, "TRUE").await;
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn a_manifest_registered_by_the_cli_runs_by_document_id_over_post_and_get() {
    let app = spawn_app_with(&[]).await;
    let path = manifest(&app, &[PAGE]);
    let out = app
        .documents_command(&["trust", &path])
        .await
        .expect("trusted");
    assert!(out.contains("trusted 1 documents"), "{out}");
    let id = format!("sha256:{}", sha256(PAGE));

    let (_, by_post) = post(
        &app,
        json!({ "documentId": id, "variables": { "first": 2 } }),
        None,
    )
    .await;
    assert_eq!(by_post["data"]["recipes"]["totalCount"], 0, "{by_post}");
    let (status, by_get) = get(
        &app,
        &[("documentId", &id), ("variables", r#"{"first":2}"#)],
    )
    .await;
    assert_eq!(
        (status, &by_get["data"]["recipes"]["totalCount"]),
        (200, &json!(0)),
        "{by_get}"
    );

    let (_, unknown) = post(
        &app,
        json!({ "documentId": format!("sha256:{}", sha256("x")) }),
        None,
    )
    .await;
    assert_eq!(error_code(&unknown), Some("PERSISTED_QUERY_NOT_FOUND"));
    let (_, both) = post(&app, json!({ "documentId": id, "query": PAGE }), None).await;
    assert_error(&both, "BAD_REQUEST");
    let listed = app.documents_command(&["list"]).await.expect("listed");
    assert!(listed.contains(&sha256(PAGE)), "{listed}");
}

#[tokio::test]
async fn a_persisted_mutation_is_refused_over_get_and_changes_nothing() {
    let app = spawn_app_with(&[]).await;
    let path = manifest(&app, &[CREATE]);
    app.documents_command(&["trust", &path])
        .await
        .expect("trusted");
    let user = app.user("ada").await;
    let id = sha256(CREATE);
    let variables = json!({ "input": { "name": "Soup", "numOfServings": 2, "cookTime": 30,
        "ingredients": "water", "directions": "Boil." } })
    .to_string();
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("documentId", id.as_str()),
            ("variables", variables.as_str()),
        ])
        .bearer_auth(&user.access)
        .header("accept", "application/json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 405);
    let recipes: i64 =
        query_value(&app.database_url, "SELECT COUNT(*) AS n FROM recipes", "n").await;
    assert_eq!(recipes, 0);
}

#[tokio::test]
async fn the_trusted_policy_refuses_any_other_document_before_parsing_it() {
    let app = spawn_app_with(&[
        "--persisted-documents=trusted",
        "--app-env=production",
        "--introspection=false",
    ])
    .await;
    let path = manifest(&app, &[PAGE]);
    app.documents_command(&["trust", &path])
        .await
        .expect("trusted");

    // Not even parsed: a broken document gets the policy's answer, not a syntax error.
    let (_, broken) = post(&app, json!({ "query": "{ recipes { " }), None).await;
    assert_error(&broken, "DOCUMENT_NOT_TRUSTED");
    let (_, other) = post(&app, json!({ "query": "{ recipes { totalCount } }" }), None).await;
    assert_error(&other, "DOCUMENT_NOT_TRUSTED");
    // Nor may a client register one.
    let other = "{ recipes { totalCount } }";
    let (_, registered) = post(
        &app,
        json!({ "query": other, "extensions": apq(&sha256(other)) }),
        None,
    )
    .await;
    assert_error(&registered, "DOCUMENT_NOT_TRUSTED");
    // GraphiQL's header opens nothing in production.
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("x-graphiql", "1")
        .json(&json!({ "query": other }))
        .send()
        .await
        .expect("sent");
    assert_error(
        &response.json::<Value>().await.expect("JSON"),
        "DOCUMENT_NOT_TRUSTED",
    );

    // The trusted document runs by id, by hash and as its text.
    let (_, by_id) = post(&app, json!({ "documentId": sha256(PAGE) }), None).await;
    assert_eq!(by_id["data"]["recipes"]["totalCount"], 0, "{by_id}");
    let (_, by_hash) = post(&app, json!({ "extensions": apq(&sha256(PAGE)) }), None).await;
    assert_eq!(by_hash["data"]["recipes"]["totalCount"], 0, "{by_hash}");
    let (_, as_text) = post(&app, json!({ "query": PAGE }), None).await;
    assert_eq!(as_text["data"]["recipes"]["totalCount"], 0, "{as_text}");
}

#[tokio::test]
async fn in_development_graphiql_may_run_any_document_under_the_trusted_policy() {
    let app = spawn_app_with(&["--persisted-documents=trusted"]).await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("x-graphiql", "1")
        .json(&json!({ "query": "{ recipes { totalCount } }" }))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["data"]["recipes"]["totalCount"], 0, "{body}");
    let (_, without) = post(&app, json!({ "query": "{ recipes { totalCount } }" }), None).await;
    assert_error(&without, "DOCUMENT_NOT_TRUSTED");
}

#[tokio::test]
async fn trusted_for_anonymous_lets_signed_in_callers_send_text_and_checks_their_token_first() {
    let app = spawn_app_with(&["--persisted-documents=trusted-for-anonymous"]).await;
    // The frontend's build: the page, and the account operations anonymous callers need.
    let path = manifest(&app, &[PAGE, common::AUTH]);
    app.documents_command(&["trust", &path])
        .await
        .expect("trusted");
    let user = app.user("ada").await;
    let text = json!({ "query": "{ recipes { totalCount } }" });

    let (_, anonymous) = post(&app, text.clone(), None).await;
    assert_error(&anonymous, "DOCUMENT_NOT_TRUSTED");
    let (_, signed_in) = post(&app, text.clone(), Some(&user.access)).await;
    assert_eq!(signed_in["data"]["recipes"]["totalCount"], 0, "{signed_in}");
    // A token that is not one opens nothing, even for public fields.
    let (_, forged) = post(&app, text, Some("not-a-token")).await;
    assert_eq!(error_code(&forged), Some("UNAUTHENTICATED"), "{forged}");
    assert!(forged.get("data").is_none_or(Value::is_null), "{forged}");
    // A trusted document needs no token.
    let (_, trusted) = post(&app, json!({ "documentId": sha256(PAGE) }), None).await;
    assert_eq!(trusted["data"]["recipes"]["totalCount"], 0, "{trusted}");
}

#[tokio::test]
async fn a_manifest_loaded_at_start_is_trusted_and_a_broken_one_stops_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("manifest.json");
    std::fs::write(
        &path,
        json!({ "format": "apollo-persisted-query-manifest", "version": 1,
                "operations": [{ "id": "page-v1", "name": "Page", "type": "query", "body": PAGE }] })
        .to_string(),
    )
    .expect("written");
    let flag = format!("--trusted-documents={}", path.display());
    let app = spawn_app_with(&["--persisted-documents=trusted", &flag]).await;
    let (_, by_id) = post(&app, json!({ "documentId": "page-v1" }), None).await;
    assert_eq!(by_id["data"]["recipes"]["totalCount"], 0, "{by_id}");

    std::fs::write(&path, r#"{"a": "{ recipes { "}"#).expect("written");
    let failed = app.try_spawn_sibling().await;
    assert!(
        failed.is_err(),
        "a manifest that does not parse stops the start"
    );
}
