//! Helpers shared by the recipe tests: the named operations, a valid input, and shortcuts to
//! create, publish and page through recipes over HTTP.
#![allow(dead_code)]

use serde_json::{Value, json};

use crate::common::{TestApp, TestUser, error_code};

pub const RECIPES: &str = include_str!("../operations/recipes.graphql");

/// A valid `CreateRecipeInput` named `name`.
pub fn input(name: &str) -> Value {
    json!({
        "name": name,
        "description": "A test recipe.",
        "numOfServings": 2,
        "cookTime": 30,
        "ingredients": "water\nsalt",
        "directions": "Boil the water. Add salt.",
    })
}

/// Creates a draft and returns it; panics on an error.
pub async fn create(app: &TestApp, user: &TestUser, input: Value) -> Value {
    let body = app
        .op(
            RECIPES,
            "CreateRecipe",
            json!({ "input": input }),
            Some(&user.access),
        )
        .await;
    assert_eq!(error_code(&body), None, "createRecipe failed: {body}");
    body["data"]["createRecipe"].clone()
}

/// Creates and publishes a recipe; returns the published recipe.
pub async fn create_published(app: &TestApp, user: &TestUser, input: Value) -> Value {
    let draft = create(app, user, input).await;
    publish(app, user, id(&draft)).await
}

pub async fn publish(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let body = app
        .op(
            RECIPES,
            "PublishRecipe",
            json!({ "id": id }),
            Some(&user.access),
        )
        .await;
    assert_eq!(error_code(&body), None, "publishRecipe failed: {body}");
    body["data"]["publishRecipe"].clone()
}

pub fn id(recipe: &Value) -> &str {
    recipe["id"].as_str().expect("a recipe id")
}

/// The node ids of a connection, in order.
pub fn ids(connection: &Value) -> Vec<String> {
    field(connection, "id")
}

/// The node names of a connection, in order.
pub fn names(connection: &Value) -> Vec<String> {
    field(connection, "name")
}

fn field(connection: &Value, name: &str) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|e| e["node"][name].as_str().expect("a string field").to_owned())
        .collect()
}

/// Runs the `Recipes` operation; returns the whole response.
pub async fn recipes(app: &TestApp, variables: Value, token: Option<&str>) -> Value {
    app.op(RECIPES, "Recipes", variables, token).await
}

/// Every page of `Recipes` with `variables` (plus `first` and `after`), with `between` run
/// after each page; returns the ids in the order received.
pub async fn all_pages<F, Fut>(
    app: &TestApp,
    mut variables: Value,
    first: i64,
    mut between: F,
) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut seen = Vec::new();
    variables["first"] = json!(first);
    for _ in 0..1000 {
        let body = recipes(app, variables.clone(), None).await;
        let page = &body["data"]["recipes"];
        seen.extend(ids(page));
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return seen;
        }
        variables["after"] = page["pageInfo"]["endCursor"].clone();
        between().await;
    }
    panic!("pagination never ended");
}
