//! Listing recipes over HTTP: keyset pages under concurrent inserts, every ordering with ties,
//! cursors and `first` limits, search with LIKE wildcards, quotes and mixed case.

mod common;
mod recipe_helpers;

use std::collections::HashSet;

use common::{TestApp, TestUser, error_code, spawn_app};
use recipe_helpers::{all_pages, create, create_published, ids, input, names, op, recipes};
use serde_json::{Value, json};

/// Publishes one recipe per cook time, named after its index.
async fn publish_all(app: &TestApp, user: &TestUser, cook_times: &[i64]) -> Vec<Value> {
    let mut created = Vec::new();
    for (i, cook_time) in cook_times.iter().enumerate() {
        let mut recipe = input(&format!("Recipe {i}"));
        recipe["cookTime"] = json!(cook_time);
        recipe["numOfServings"] = json!(1 + i % 3);
        created.push(create_published(app, user, recipe).await);
    }
    created
}

fn assert_each_once(seen: &[String], originals: &[Value]) {
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a recipe was repeated: {seen:?}");
    for recipe in originals {
        let id = recipe["id"].as_str().expect("id");
        assert!(unique.contains(&id.to_owned()), "{id} was skipped");
    }
}

#[tokio::test]
async fn pages_show_every_recipe_once_while_new_ones_are_inserted() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let originals = publish_all(
        &app,
        &ada,
        &[30, 10, 30, 20, 10, 30, 60, 20, 30, 10, 45, 20],
    )
    .await;
    let orders = [
        json!(null),
        json!({ "field": "CREATED_AT", "direction": "ASC" }),
        json!({ "field": "COOK_TIME", "direction": "ASC" }),
        json!({ "field": "NUM_OF_SERVINGS", "direction": "DESC" }),
    ];
    let inserted = std::cell::Cell::new(0);

    for order in orders {
        let seen = all_pages(&app, json!({ "orderBy": order }), 5, || async {
            // Rows land before, among and after the rows already paged through.
            for cook_time in [5, 20, 300] {
                inserted.set(inserted.get() + 1);
                let mut recipe = input(&format!("Newcomer {}", inserted.get()));
                recipe["cookTime"] = json!(cook_time);
                create_published(&app, &ada, recipe).await;
            }
        })
        .await;

        assert_each_once(&seen, &originals);
    }
}

/// The ids of `recipes` sorted as `field` then id, ascending.
fn sorted_ids(recipes: &[Value], field: &str) -> Vec<String> {
    let mut rows: Vec<(Value, String)> = recipes
        .iter()
        .map(|r| (r[field].clone(), r["id"].as_str().expect("id").to_owned()))
        .collect();
    rows.sort_by(|(a, a_id), (b, b_id)| match (a.as_i64(), b.as_i64()) {
        (Some(a), Some(b)) => (a, a_id).cmp(&(b, b_id)),
        _ => {
            let time = |v: &Value| {
                v.as_str()
                    .and_then(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok())
            };
            (time(a), a_id).cmp(&(time(b), b_id))
        }
    });
    rows.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn every_ordering_breaks_ties_by_id_in_both_directions() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let created = publish_all(&app, &ada, &[30, 10, 30, 20, 10, 30, 10]).await;

    for (field, key) in [
        ("CREATED_AT", "createdAt"),
        ("COOK_TIME", "cookTime"),
        ("NUM_OF_SERVINGS", "numOfServings"),
    ] {
        let ascending = sorted_ids(&created, key);
        let descending: Vec<String> = ascending.iter().rev().cloned().collect();
        for (direction, expected) in [("ASC", ascending), ("DESC", descending)] {
            let order = json!({ "orderBy": { "field": field, "direction": direction } });
            let seen = all_pages(&app, order, 2, || async {}).await;
            assert_eq!(seen, expected, "{field} {direction}");
        }
    }
}

#[tokio::test]
async fn the_default_order_is_newest_first_and_total_count_spans_all_pages() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let created = publish_all(&app, &ada, &[10, 20, 30]).await;
    create(&app, &ada, input("A draft")).await;

    let first = recipes(&app, json!({ "first": 2 }), None).await;
    let cursor = first["data"]["recipes"]["pageInfo"]["endCursor"].clone();
    let second = recipes(&app, json!({ "first": 2, "after": cursor }), None).await;

    let newest: Vec<&str> = created
        .iter()
        .rev()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids(&first["data"]["recipes"]), newest[..2]);
    assert_eq!(ids(&second["data"]["recipes"]), newest[2..]);
    assert_eq!(first["data"]["recipes"]["totalCount"], 3);
    assert_eq!(second["data"]["recipes"]["totalCount"], 3);
    assert_eq!(
        second["data"]["recipes"]["pageInfo"],
        json!({ "hasNextPage": false, "endCursor": second["data"]["recipes"]["edges"][0]["cursor"] })
    );
}

#[tokio::test]
async fn first_must_be_between_0_and_100() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    publish_all(&app, &ada, &[10]).await;

    for first in [101, 1000, -1] {
        let body = recipes(&app, json!({ "first": first }), None).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "first: {first}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "first");
        assert_eq!(body["data"], Value::Null);
    }
    let hundred = recipes(&app, json!({ "first": 100 }), None).await;
    assert_eq!(ids(&hundred["data"]["recipes"]).len(), 1);
    let none = recipes(&app, json!({ "first": 0 }), None).await;
    assert_eq!(
        none["data"]["recipes"],
        json!({ "totalCount": 1, "pageInfo": { "hasNextPage": true, "endCursor": null }, "edges": [] })
    );
}

#[tokio::test]
async fn garbled_cursors_and_cursors_of_another_ordering_are_refused() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    publish_all(&app, &ada, &[10, 20]).await;
    let by_cook_time = json!({ "field": "COOK_TIME", "direction": "ASC" });
    let page = recipes(&app, json!({ "first": 1, "orderBy": by_cook_time }), None).await;
    let cook_time_cursor = page["data"]["recipes"]["pageInfo"]["endCursor"].clone();
    assert!(cook_time_cursor.is_string(), "{page}");

    for variables in [
        json!({ "after": "garbage!" }),
        json!({ "after": "djE6Y3JlYXRlZF9hdDpkZXNjOm5vdzpub25l" }),
        json!({ "after": cook_time_cursor }),
        json!({ "after": cook_time_cursor, "orderBy": { "field": "COOK_TIME", "direction": "DESC" } }),
    ] {
        let body = recipes(&app, variables.clone(), None).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{variables}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "after");
    }
    let same_order = recipes(
        &app,
        json!({ "after": cook_time_cursor, "orderBy": by_cook_time }),
        None,
    )
    .await;
    assert_eq!(names(&same_order["data"]["recipes"]), ["Recipe 1"]);
}

#[tokio::test]
async fn search_treats_wildcards_and_quotes_as_text_and_ignores_case() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let texts = [
        ("100% Rye", "", ""),
        ("1000 Rye", "", ""),
        ("Snake_case stew", "", ""),
        ("SnakeXcase stew", "", ""),
        (r"Back\slash bread", "", ""),
        ("Pie", r#"Grandma's "best" pie"#, ""),
        ("Éclair", "", ""),
        ("Paella", "", "rice, SAFFRON, prawns"),
        ("Soup", "", ""),
    ];
    for (name, description, ingredients) in texts {
        let mut recipe = input(name);
        recipe["description"] = json!(description);
        recipe["ingredients"] = json!(ingredients);
        recipe["directions"] = json!("Add zucchini.");
        create_published(&app, &ada, recipe).await;
    }
    create(&app, &ada, input("Rye draft")).await;

    let cases: [(&str, &[&str]); 10] = [
        ("%", &["100% Rye"]),
        ("_", &["Snake_case stew"]),
        (r"\", &[r"Back\slash bread"]),
        (r#"'s "BEST"#, &["Pie"]),
        ("rYE", &["1000 Rye", "100% Rye"]),
        ("ÉCLAIR", &["Éclair"]),
        ("éclair", &["Éclair"]),
        ("saffron", &["Paella"]),
        ("zucchini", &[]),
        (
            "  ",
            &[
                "Soup",
                "Paella",
                "Éclair",
                "Pie",
                r"Back\slash bread",
                "SnakeXcase stew",
                "Snake_case stew",
                "1000 Rye",
                "100% Rye",
            ],
        ),
    ];
    for (search, expected) in cases {
        let body = recipes(&app, json!({ "search": search }), None).await;
        assert_eq!(
            names(&body["data"]["recipes"]),
            expected,
            "search {search:?}: {body}"
        );
        assert_eq!(
            body["data"]["recipes"]["totalCount"],
            expected.len(),
            "search {search:?}"
        );
    }
}

#[tokio::test]
async fn an_authors_recipes_page_through_the_loader_like_any_listing() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let created = publish_all(&app, &ada, &[10, 20, 30, 40, 50]).await;
    create(&app, &ada, input("Ada's draft")).await;
    publish_all(&app, &bob, &[15]).await;

    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let vars = json!({ "username": "ada", "first": 2, "after": after });
        let body = op(&app, "UserRecipes", vars, Some(&bob.access)).await;
        let page = &body["data"]["user"]["recipes"];
        assert_eq!(page["totalCount"], 5, "{body}");
        seen.extend(ids(page));
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }

    let newest: Vec<&str> = created
        .iter()
        .rev()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(seen, newest);
}
