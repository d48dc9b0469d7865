//! What a page costs in SQL statements, counted at the database driver for one HTTP request.
//!
//! The counter ([`smilecook::db::stats`]) counts what requests execute, process-wide (the
//! server's background workers use a handle it does not count), so this file holds a single
//! test: no other server in this test process executes statements while it measures.

mod common;
mod recipe_helpers;

use common::{TestApp, error_code, spawn_app_with};
use recipe_helpers::{create, create_published, input, op};
use serde_json::{Value, json};
use smilecook::db::stats::statements_executed;

/// Runs one request and returns its response and the statements it executed.
async fn measured(app: &TestApp, name: &str, variables: Value) -> (Value, u64) {
    let before = statements_executed();
    let body = op(app, name, variables, None).await;
    let spent = statements_executed() - before;
    assert_eq!(error_code(&body), None, "{body}");
    (body, spent)
}

#[tokio::test]
async fn a_page_costs_the_same_few_statements_for_5_recipes_as_for_100() {
    // An hour between denylist prunings: no background statement lands inside a measurement.
    let app = spawn_app_with(&["--denylist-prune-interval=1h"]).await;
    let mut authors = Vec::new();
    for name in ["ada", "bob", "cyd", "dee"] {
        authors.push(app.user(name).await);
    }
    for i in 0..100 {
        let author = &authors[i % authors.len()];
        create_published(&app, author, input(&format!("Recipe {i}"))).await;
    }
    create(&app, &authors[0], input("A draft")).await;

    let (small, small_cost) = measured(&app, "RecipesWithAuthors", json!({ "first": 5 })).await;
    let (large, large_cost) = measured(&app, "RecipesWithAuthors", json!({ "first": 100 })).await;

    let edges = large["data"]["recipes"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 100);
    assert_eq!(edges[0]["node"]["author"]["recipes"]["totalCount"], 25);
    assert_eq!(small["data"]["recipes"]["totalCount"], 100);
    // The page, its COUNT, the authors, their recipe pages, their COUNTs: one statement each.
    assert_eq!(small_cost, 5, "statements for a page of 5");
    assert_eq!(
        large_cost, small_cost,
        "a page of 100 must cost what a page of 5 costs"
    );

    // Without `totalCount` selected, no COUNT runs: the page is one statement.
    let (names, names_cost) = measured(&app, "RecipeNames", json!({ "first": 100 })).await;
    assert_eq!(
        names["data"]["recipes"]["edges"].as_array().map(Vec::len),
        Some(100)
    );
    assert_eq!(names_cost, 1, "statements for a page without totalCount");
}
