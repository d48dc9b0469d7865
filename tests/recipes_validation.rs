//! Recipe field rules over HTTP: every bound just inside and just outside, trimming, and
//! what the schema itself refuses (unknown fields, lists too heavy for the complexity limit).
//! A refused write writes nothing.

mod common;
mod recipe_helpers;

use common::{TestApp, TestUser, error_code, spawn_app};
use recipe_helpers::{create, id, input, op};
use serde_json::{Value, json};

/// (field, accepted values, refused values): the values sit just inside and just outside
/// each bound.
fn bounds() -> Vec<(&'static str, Vec<Value>, Vec<Value>)> {
    let text = |n: usize| json!("x".repeat(n));
    vec![
        (
            "name",
            vec![text(1), text(100), json!("é".repeat(100))],
            vec![text(0), json!("   "), text(101)],
        ),
        ("description", vec![text(0), text(200)], vec![text(201)]),
        (
            "numOfServings",
            vec![json!(1), json!(50)],
            vec![json!(0), json!(51), json!(-1)],
        ),
        (
            "cookTime",
            vec![json!(1), json!(300)],
            vec![json!(0), json!(301)],
        ),
        ("ingredients", vec![text(0), text(1000)], vec![text(1001)]),
        ("directions", vec![text(0), text(1000)], vec![text(1001)]),
    ]
}

async fn create_with(app: &TestApp, user: &TestUser, field: &str, value: &Value) -> Value {
    let mut recipe = input("Bounds");
    recipe[field] = value.clone();
    op(
        app,
        "CreateRecipe",
        json!({ "input": recipe }),
        Some(&user.access),
    )
    .await
}

async fn my_recipe_count(app: &TestApp, user: &TestUser) -> Value {
    let body = op(app, "MyRecipes", json!({ "first": 0 }), Some(&user.access)).await;
    body["data"]["myRecipes"]["totalCount"].clone()
}

fn assert_refused(body: &Value, field: &str) {
    assert_eq!(error_code(body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    assert_eq!(body["data"], Value::Null);
}

#[tokio::test]
async fn every_bound_is_checked_when_creating() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let mut accepted = 0;

    for (field, good, bad) in bounds() {
        for value in good {
            let body = create_with(&app, &ada, field, &value).await;
            assert_eq!(
                body["data"]["createRecipe"][field], value,
                "{field}: {body}"
            );
            accepted += 1;
        }
        for value in bad {
            assert_refused(&create_with(&app, &ada, field, &value).await, field);
        }
    }

    assert_eq!(
        my_recipe_count(&app, &ada).await,
        accepted,
        "a refused create wrote a row"
    );
}

#[tokio::test]
async fn every_bound_is_checked_when_updating() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let recipe = create(&app, &ada, input("Bounds")).await;
    let update = |input: Value| {
        let vars = json!({ "id": id(&recipe), "input": input });
        let app = &app;
        let token = ada.access.clone();
        async move { op(app, "UpdateRecipe", vars, Some(&token)).await }
    };

    for (field, good, bad) in bounds() {
        for value in bad {
            assert_refused(&update(json!({ field: value })).await, field);
        }
        for value in good {
            let body = update(json!({ field: value })).await;
            assert_eq!(
                body["data"]["updateRecipe"][field], value,
                "{field}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn text_is_trimmed_before_it_is_measured_and_stored() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let long_name = "n".repeat(100);
    let mut recipe = input(&format!("  {long_name}\t "));
    recipe["description"] = json!("\n  Short and sweet.  \n");
    recipe["directions"] = json!("  1. Mix.\n2. Bake.  ");

    let created = create(&app, &ada, recipe).await;

    assert_eq!(created["name"], long_name.as_str());
    assert_eq!(created["description"], "Short and sweet.");
    assert_eq!(created["directions"], "1. Mix.\n2. Bake.");
    let spaces_only = json!({ "id": id(&created), "input": { "name": "   " } });
    let body = op(&app, "UpdateRecipe", spaces_only, Some(&ada.access)).await;
    assert_refused(&body, "name");
}

#[tokio::test]
async fn names_are_one_line_and_no_text_holds_control_characters() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    assert_refused(
        &create_with(&app, &ada, "name", &json!("Two\nlines")).await,
        "name",
    );
    let nul = json!("nul \u{0} byte");
    assert_refused(
        &create_with(&app, &ada, "ingredients", &nul).await,
        "ingredients",
    );
    assert_eq!(my_recipe_count(&app, &ada).await, 0);
}

#[tokio::test]
async fn the_schema_refuses_unknown_fields_and_missing_required_ones() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let mut unknown = input("Soup");
    unknown["calories"] = json!(120);
    let mut missing = input("Soup");
    missing.as_object_mut().expect("object").remove("cookTime");

    for recipe in [
        unknown,
        missing,
        json!({ "name": "Soup", "cookTime": null }),
    ] {
        let body = op(
            &app,
            "CreateRecipe",
            json!({ "input": recipe }),
            Some(&ada.access),
        )
        .await;
        assert!(body["errors"].is_array(), "{body}");
        assert_eq!(body["data"]["createRecipe"], Value::Null);
    }
    let vars =
        json!({ "id": "00000000-0000-0000-0000-000000000000", "input": { "isPublish": true } });
    let body = op(&app, "UpdateRecipe", vars, Some(&ada.access)).await;
    assert!(
        body["errors"].is_array(),
        "isPublish is not an update field: {body}"
    );
    assert_eq!(my_recipe_count(&app, &ada).await, 0);
}

#[tokio::test]
async fn nested_lists_weigh_by_their_first_against_the_complexity_limit() {
    let app = spawn_app().await;

    let small = op(
        &app,
        "NestedRecipes",
        json!({ "outer": 20, "inner": 5 }),
        None,
    )
    .await;
    let large = op(
        &app,
        "NestedRecipes",
        json!({ "outer": 100, "inner": 100 }),
        None,
    )
    .await;

    assert_eq!(small, json!({ "data": { "recipes": { "edges": [] } } }));
    assert_eq!(error_code(&large), Some("QUERY_TOO_COMPLEX"), "{large}");
    let message = large["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("complexity is 30300"), "{message}");
}
