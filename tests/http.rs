//! GraphQL over HTTP: methods, content types, `Accept` negotiation and status codes.

mod common;

use common::{AUTH, PASSWORD, TestApp, spawn_app};
use reqwest::{
    Response,
    header::{ACCEPT, ALLOW, CONTENT_TYPE},
};
use serde_json::{Value, json};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// POSTs `body` as `content_type`, asking for `accept`.
async fn post(
    app: &TestApp,
    content_type: &str,
    accept: &str,
    body: impl Into<reqwest::Body>,
) -> Response {
    app.client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, content_type)
        .header(ACCEPT, accept)
        .body(body)
        .send()
        .await
        .expect("request sent")
}

async fn post_json(app: &TestApp, accept: &str, body: &Value) -> Response {
    post(app, "application/json", accept, body.to_string()).await
}

fn content_type(response: &Response) -> &str {
    response.headers()[CONTENT_TYPE].to_str().unwrap()
}

/// True when the account exists, asked through the public `user` query.
async fn user_exists(app: &TestApp, username: &str) -> bool {
    let body = app
        .op(AUTH, "UserByName", json!({ "username": username }), None)
        .await;
    assert!(body["errors"].is_null(), "unexpected response: {body}");
    body["data"]["user"].is_object()
}

fn register_request(username: &str) -> Value {
    json!({ "query": AUTH, "operationName": "Register", "variables": { "input": {
        "username": username, "email": format!("{username}@example.com"), "password": PASSWORD } } })
}

#[tokio::test]
async fn the_health_check_answers_200() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/health")).send().await.unwrap();

    assert_eq!(response.status(), 200);
}

/// `GET /graphql` as a browser asks for a page.
async fn open_in_browser(app: &TestApp) -> Response {
    let request = app
        .client
        .get(app.url("/graphql"))
        .header(ACCEPT, "text/html");
    request.send().await.expect("request sent")
}

#[tokio::test]
async fn browsers_get_graphiql_whole_from_the_server_itself() {
    let app = spawn_app().await;

    let response = open_in_browser(&app).await;

    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/html"));
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"));
    assert!(!policy.contains("http"), "another origin allowed: {policy}");
    let page = response.text().await.unwrap();
    assert!(
        !page.contains("http"),
        "an address outside the server: {page}"
    );
    let assets: Vec<&str> = page
        .split('"')
        .filter(|s| s.starts_with("/graphiql/"))
        .collect();
    assert_eq!(assets.len(), 6, "{page}");
    for asset in assets {
        let response = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let kind = if asset.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(content_type(&response).starts_with(kind), "{asset}");
        assert!(
            response.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert!(!response.bytes().await.unwrap().is_empty(), "{asset}");
    }
}

#[tokio::test]
async fn with_introspection_off_there_is_no_graphiql() {
    let app = common::spawn_app_with(&["--introspection=false"]).await;

    let page = open_in_browser(&app).await;
    let asset = app
        .client
        .get(app.url("/graphiql/start-4.js"))
        .send()
        .await
        .unwrap();

    assert!(!content_type(&page).starts_with("text/html"));
    assert_eq!(asset.status(), 404);
}

#[tokio::test]
async fn queries_run_over_get_with_url_parameters() {
    let app = spawn_app().await;
    app.register("ada").await;

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("query", AUTH),
            ("operationName", "UserByName"),
            ("variables", r#"{"username":"ada"}"#),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["data"]["user"]["username"], "ada",
        "unexpected response: {body}"
    );
}

#[tokio::test]
async fn mutations_over_get_are_refused_with_405_and_not_executed() {
    let app = spawn_app().await;
    let variables = register_request("ada")["variables"].to_string();

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("query", AUTH),
            ("operationName", "Register"),
            ("variables", &variables),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()[ALLOW], "POST");
    assert!(!user_exists(&app, "ada").await);
}

#[tokio::test]
async fn bodies_a_browser_can_send_cross_site_are_refused_with_415_and_not_executed() {
    let app = spawn_app().await;
    let cases = [
        ("text/plain", "ada", register_request("ada").to_string()),
        (
            "text/plain;charset=UTF-8",
            "bob",
            register_request("bob").to_string(),
        ),
        (
            "application/x-www-form-urlencoded",
            "cy",
            format!("query={}", urlencode(&register_request("cy").to_string())),
        ),
        (
            "multipart/form-data; boundary=XX",
            "dee",
            format!(
                "--XX\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--XX--\r\n",
                register_request("dee")
            ),
        ),
    ];

    for (media, username, body) in cases {
        let response = post(&app, media, "application/json", body).await;
        assert_eq!(response.status(), 415, "for {media}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "UNSUPPORTED_MEDIA_TYPE"
        );
        assert!(
            !user_exists(&app, username).await,
            "{media} created {username}"
        );
    }
    // The control: the same request as JSON does create the account.
    post_json(&app, "application/json", &register_request("ada")).await;
    assert!(user_exists(&app, "ada").await);
}

/// Percent-encodes everything but unreserved characters, as a form does.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn request_errors_are_400_under_graphql_response_json() {
    let app = spawn_app().await;
    let requests = [
        json!({ "query": "{ me { id " }),
        json!({ "query": "{ noSuchField }" }),
        json!({ "query": AUTH, "operationName": "NoSuchOperation" }),
        json!({ "query": "query Q($n: String!) { user(username: $n) { id } }", "variables": { "n": 1 } }),
    ];

    for request in requests {
        let response = post_json(&app, GRAPHQL_RESPONSE_JSON, &request).await;
        assert_eq!(response.status(), 400, "for {request}");
        assert!(content_type(&response).starts_with(GRAPHQL_RESPONSE_JSON));
        let body: Value = response.json().await.unwrap();
        assert!(
            body["errors"][0]["message"].is_string(),
            "for {request}: {body}"
        );
        assert!(
            body.get("data").is_none(),
            "a request error has no data: {body}"
        );
    }
}

#[tokio::test]
async fn request_errors_are_200_under_application_json() {
    let app = spawn_app().await;

    for query in ["{ me { id ", "{ noSuchField }"] {
        let response = post_json(&app, "application/json", &json!({ "query": query })).await;
        assert_eq!(response.status(), 200, "for {query}");
        assert!(content_type(&response).starts_with("application/json"));
        let body: Value = response.json().await.unwrap();
        assert!(
            body["errors"][0]["message"].is_string(),
            "for {query}: {body}"
        );
    }
}

#[tokio::test]
async fn field_errors_are_200_with_data_under_graphql_response_json() {
    let app = spawn_app().await;

    let response = post_json(
        &app,
        GRAPHQL_RESPONSE_JSON,
        &json!({ "query": "{ me { id } }" }),
    )
    .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(body["data"], Value::Null);
    assert!(
        body.get("data").is_some(),
        "an executed request has data: {body}"
    );
}

#[tokio::test]
async fn the_response_content_type_follows_accept() {
    let app = spawn_app().await;
    let cases = [
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        ("application/json", "application/json"),
        (
            "application/graphql-response+json, application/json;q=0.9",
            GRAPHQL_RESPONSE_JSON,
        ),
        (
            "application/graphql-response+json;q=0.5, application/json",
            "application/json",
        ),
        ("*/*", "application/json"),
    ];

    for (accept, expected) in cases {
        let response = post_json(&app, accept, &json!({ "query": "{ __typename }" })).await;
        assert_eq!(response.status(), 200);
        assert!(
            content_type(&response).starts_with(expected),
            "for Accept: {accept}"
        );
    }
    let response = post_json(&app, "text/html", &json!({ "query": "{ __typename }" })).await;
    assert_eq!(response.status(), 406);
}

#[tokio::test]
async fn a_malformed_json_body_is_a_400_with_a_clear_message() {
    let app = spawn_app().await;

    let response = post(
        &app,
        "application/json",
        "application/json",
        r#"{"query": "{ __typename }""#,
    )
    .await;

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("The request body is not valid JSON"),
        "{message}"
    );
}

#[tokio::test]
async fn batched_requests_are_refused_by_default() {
    let app = spawn_app().await;
    let batch = json!([register_request("ada"), { "query": "{ __typename }" }]);

    let response = post_json(&app, "application/json", &batch).await;

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert!(!user_exists(&app, "ada").await);
}
