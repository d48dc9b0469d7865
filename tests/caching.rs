//! Cacheable answers: what HTTP caches are told (`Cache-Control`, `ETag`, 304), and the
//! server's own cache of public answers, which a write invalidates on every instance before
//! the write is answered and which never holds a viewer's own answer.

mod common;
mod recipe_helpers;

use common::{TestApp, execute_sql, spawn_app_with};
use recipe_helpers::{create, create_published, input, publish};
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};

const PAGE: &str = "query Page { recipes(first: 50) { totalCount edges { node { name } } } }";

async fn get_page(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", PAGE)])
        .header("accept", "application/graphql-response+json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent")
}

async fn names(app: &TestApp, token: Option<&str>) -> Vec<String> {
    let body: Value = get_page(app, token).await.json().await.expect("JSON");
    body["data"]["recipes"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no page: {body}"))
        .iter()
        .map(|edge| edge["node"]["name"].as_str().expect("name").to_owned())
        .collect()
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    let value = response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("text"));
    value.unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_public_answer_over_get_may_be_cached_by_anyone_and_revalidates_to_304() {
    let app = spawn_app_with(&["--http-cache-max-age=30s"]).await;
    let response = get_page(&app, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, CACHE_CONTROL), "public, max-age=30");
    assert!(header(&response, reqwest::header::VARY).contains("Authorization"));
    let etag = header(&response, ETAG);
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");

    let again = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", PAGE)])
        .header("accept", "application/graphql-response+json")
        .header(IF_NONE_MATCH, format!("W/\"other\", {etag}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, ETAG), etag);
    assert!(again.bytes().await.expect("body").is_empty());

    // Once the answer changes, so does its tag: the old one gets the whole answer.
    let ada = app.user("ada").await;
    create_published(&app, &ada, input("Soup")).await;
    let changed = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", PAGE)])
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), 200);
    assert_ne!(header(&changed, ETAG), etag);
}

#[tokio::test]
async fn a_signed_in_callers_answer_is_private_and_an_error_is_never_stored() {
    let app = spawn_app_with(&[]).await;
    let ada = app.user("ada").await;
    let mine = get_page(&app, Some(&ada.access)).await;
    assert_eq!(header(&mine, CACHE_CONTROL), "private, no-cache");
    assert!(!header(&mine, ETAG).is_empty());

    let failed = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ recipes { nope } }")])
        .send()
        .await
        .expect("sent");
    assert_eq!(header(&failed, CACHE_CONTROL), "no-store");
    assert!(header(&failed, ETAG).is_empty());
}

#[tokio::test]
async fn the_server_answers_a_public_query_again_from_memory_until_a_write_changes_it() {
    let app = spawn_app_with(&[]).await;
    let ada = app.user("ada").await;
    create_published(&app, &ada, input("Soup")).await;
    assert_eq!(names(&app, None).await, ["Soup"]);

    // Behind the server's back (no write of its own): the kept answer is still served.
    execute_sql(&app.database_url, "UPDATE recipes SET name = 'Changed'").await;
    assert_eq!(names(&app, None).await, ["Soup"]);
    // A signed-in reader is never answered from the cache.
    assert_eq!(names(&app, Some(&ada.access)).await, ["Changed"]);

    // A write through the server makes every kept answer stale at once.
    create_published(&app, &ada, input("Bread")).await;
    let mut fresh = names(&app, None).await;
    fresh.sort();
    assert_eq!(fresh, ["Bread", "Changed"]);
}

#[tokio::test]
async fn a_draft_never_reaches_a_public_answer_and_a_publish_is_seen_by_the_next_read() {
    let app = spawn_app_with(&[]).await;
    let ada = app.user("ada").await;
    let draft = create(&app, &ada, input("Secret")).await;
    assert!(names(&app, None).await.is_empty());
    let own = names(&app, Some(&ada.access)).await;
    assert!(
        own.is_empty(),
        "the public list holds published recipes only: {own:?}"
    );
    // POST too: the same kept answer, still without the draft.
    let body = app.graphql(PAGE, json!({}), None).await;
    assert_eq!(body["data"]["recipes"]["totalCount"], 0, "{body}");

    publish(&app, &ada, recipe_helpers::id(&draft)).await;
    assert_eq!(names(&app, None).await, ["Secret"]);
    let body = app.graphql(PAGE, json!({}), None).await;
    assert_eq!(body["data"]["recipes"]["totalCount"], 1, "{body}");
}

#[tokio::test]
async fn twenty_five_parallel_first_readers_all_get_the_same_whole_answer() {
    let app = spawn_app_with(&[]).await;
    let ada = app.user("ada").await;
    create_published(&app, &ada, input("Soup")).await;
    let answers = futures_util::future::join_all((0..25).map(|_| names(&app, None))).await;
    assert!(
        answers.iter().all(|names| names == &["Soup"]),
        "{answers:?}"
    );
}

#[tokio::test]
async fn across_two_instances_no_read_after_a_write_is_answered_is_stale() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        return; // Instances share the epoch through Redis; CI runs the suite with one.
    }
    let writer = spawn_app_with(&[]).await;
    let reader = writer.spawn_sibling().await;
    let ada = writer.user("ada").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Readers that keep the other instance's cache full of answers computed while writes
    // commit: each one is filed under the epoch it read first.
    let mut hammering = Vec::new();
    for _ in 0..4 {
        let (url, client, stop) = (reader.url("/graphql"), reader.client.clone(), stop.clone());
        hammering.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = client.get(&url).query(&[("query", PAGE)]).send().await;
            }
        }));
    }
    for i in 0..20 {
        create_published(&writer, &ada, input(&format!("Recipe {i}"))).await;
        let seen = names(&reader, None).await;
        assert_eq!(
            seen.len(),
            i + 1,
            "after the write of Recipe {i} was answered: {seen:?}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in hammering {
        task.await.expect("reader");
    }
}

#[tokio::test]
async fn an_answer_from_the_cache_spends_what_running_it_would_and_is_refused_when_spent() {
    let app = spawn_app_with(&["--rate-limit-address=1000", "--rate-limit-window=1d"]).await;
    let remaining = |response: &reqwest::Response| -> i64 {
        let field = header(
            response,
            reqwest::header::HeaderName::from_static("ratelimit"),
        );
        let r = field.split(';').find_map(|p| p.strip_prefix("r="));
        r.and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("RateLimit: {field:?}"))
    };
    let ran = get_page(&app, None).await;
    let (before, first) = (1000, remaining(&ran));
    let kept = get_page(&app, None).await;
    assert_eq!(kept.status(), 200);
    let second = remaining(&kept);
    assert_eq!(
        before - first,
        first - second,
        "a kept answer costs what running it did"
    );
    let mut refused = None;
    for _ in 0..10 {
        let response = get_page(&app, None).await;
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("the budget runs out");
    assert!(!header(&refused, reqwest::header::RETRY_AFTER).is_empty());
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "TOO_MANY_REQUESTS",
        "{body}"
    );
}

#[tokio::test]
async fn with_postgresql_alone_another_instance_hears_of_writes_through_notify() {
    let postgres = std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres"));
    if !postgres {
        return; // The relay is PostgreSQL's LISTEN/NOTIFY; CI runs the suite on PostgreSQL too.
    }
    let writer = common::spawn_app_without_redis().await;
    let ada = writer.user("ada").await;
    create_published(&writer, &ada, input("Bread")).await;
    // Started after those writes, the reader has no event of them on its way.
    let reader = writer.spawn_sibling().await;
    reader.subscribers(0).await; // its relay is up: from now on it keeps public answers
    assert_eq!(names(&reader, None).await, ["Bread"]);
    // Behind the servers' backs: the reader answers from what it kept, so it is kept.
    execute_sql(&writer.database_url, "UPDATE recipes SET name = 'Changed'").await;
    assert_eq!(names(&reader, None).await, ["Bread"]);
    create_published(&writer, &ada, input("Soup")).await;
    let user = "query User($u: String!) { user(username: $u) { username } }";
    let before = reader.graphql(user, json!({ "u": "bob" }), None).await;
    assert!(before["data"]["user"].is_null(), "{before}");
    writer.user("bob").await;
    // Eventually (milliseconds): each instance moves its own epoch for what the relay brings.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page = names(&reader, None).await;
        let bob = reader.graphql(user, json!({ "u": "bob" }), None).await;
        if page == ["Soup", "Changed"] && bob["data"]["user"]["username"] == "bob" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{page:?} {bob}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
