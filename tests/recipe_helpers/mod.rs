//! Helpers shared by the recipe tests: the named operations, a valid input, and shortcuts to
//! create, publish and page through recipes over HTTP.
#![allow(dead_code)]

use serde_json::{Value, json};

use crate::common::{TestApp, TestUser, error_code};

pub mod world;

pub const RECIPES: &str = include_str!("../operations/recipes.graphql");

/// Runs the operation `name` of `recipes.graphql`, sending only that operation and the
/// fragments it spreads, as a client does. (async-graphql weighs every operation of a document
/// against the complexity limit, so sending the whole file would count all of them.)
pub async fn op(app: &TestApp, name: &str, variables: Value, token: Option<&str>) -> Value {
    app.op(&document(name), name, variables, token).await
}

fn document(name: &str) -> String {
    let definitions: Vec<&str> = RECIPES.split("\n\n").map(str::trim).collect();
    let operation = definitions
        .iter()
        .map(|d| {
            d.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .find(|d| {
            let header = d.split(['(', '{']).next().unwrap_or("");
            header.split_whitespace().nth(1) == Some(name)
        })
        .unwrap_or_else(|| panic!("no operation {name} in recipes.graphql"));
    let fragments = definitions.iter().filter(|d| {
        let fragment = d
            .strip_prefix("fragment ")
            .and_then(|f| f.split_whitespace().next());
        fragment.is_some_and(|f| operation.contains(&format!("...{f}")))
    });
    let mut document = operation.clone();
    for fragment in fragments {
        document.push_str("\n\n");
        document.push_str(fragment);
    }
    document
}

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
    let body = op(
        app,
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
    let body = op(
        app,
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
    op(app, "Recipes", variables, token).await
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
