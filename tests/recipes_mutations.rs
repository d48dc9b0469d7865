//! Recipe mutations over HTTP: creating, updating, publishing and deleting, with their
//! ownership rules (FORBIDDEN for someone else's published recipe, NOT_FOUND for someone
//! else's draft exactly as for a missing one).

mod common;
mod recipe_helpers;

use common::{TestApp, TestUser, error_code, spawn_app};
use recipe_helpers::{create, input, op, publish, world::world};
use serde_json::{Value, json};

#[tokio::test]
async fn a_new_recipe_is_a_draft_holding_exactly_what_was_sent() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    let mut recipe = create(&app, &ada, input("Tomato soup")).await;

    for generated in ["id", "createdAt", "updatedAt"] {
        assert!(
            recipe[generated].is_string(),
            "{generated} missing: {recipe}"
        );
        recipe[generated] = json!("…");
    }
    assert_eq!(
        recipe,
        json!({
            "id": "…", "name": "Tomato soup", "description": "A test recipe.",
            "numOfServings": 2, "cookTime": 30, "ingredients": "water\nsalt",
            "directions": "Boil the water. Add salt.", "isPublish": false,
            "createdAt": "…", "updatedAt": "…",
            "author": { "id": ada.id, "username": "ada" },
        })
    );
}

/// Runs `operation` on `id` as `user` and returns the error code.
async fn code_of(app: &TestApp, operation: &str, id: &str, user: &TestUser) -> Option<String> {
    let vars = match operation {
        "UpdateRecipe" => json!({ "id": id, "input": { "name": "Taken over" } }),
        _ => json!({ "id": id }),
    };
    let body = op(app, operation, vars, Some(&user.access)).await;
    error_code(&body).map(str::to_owned)
}

const WRITES: [&str; 4] = [
    "UpdateRecipe",
    "DeleteRecipe",
    "PublishRecipe",
    "UnpublishRecipe",
];

#[tokio::test]
async fn changing_someone_elses_published_recipe_is_forbidden() {
    let w = world().await;

    for operation in WRITES {
        let code = code_of(&w.app, operation, &w.published, &w.bob).await;
        assert_eq!(code.as_deref(), Some("FORBIDDEN"), "{operation}");
    }
    let after = w.recipe(&w.published, None).await;
    assert_eq!(after["data"]["recipe"]["name"], "Ada's soup");
    assert_eq!(after["data"]["recipe"]["isPublish"], true);
}

#[tokio::test]
async fn someone_elses_draft_is_not_found_exactly_like_a_missing_recipe() {
    let w = world().await;
    let missing = "00000000-0000-0000-0000-000000000000";

    for operation in WRITES {
        for id in [w.draft.as_str(), missing, "not-a-uuid"] {
            let code = code_of(&w.app, operation, id, &w.bob).await;
            assert_eq!(code.as_deref(), Some("NOT_FOUND"), "{operation} {id}");
        }
    }
    let draft = w.recipe(&w.draft, Some(&w.ada.access)).await;
    assert_eq!(draft["data"]["recipe"]["name"], "Ada's secret stew");
    assert_eq!(draft["data"]["recipe"]["isPublish"], false);
}

#[tokio::test]
async fn recipe_mutations_need_an_access_token() {
    let w = world().await;

    let create = op(&w.app, "CreateRecipe", json!({ "input": input("x") }), None).await;
    let publish = op(&w.app, "PublishRecipe", json!({ "id": w.draft }), None).await;

    assert_eq!(error_code(&create), Some("UNAUTHENTICATED"));
    assert_eq!(error_code(&publish), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn publishing_and_unpublishing_are_idempotent() {
    let w = world().await;
    let token = Some(w.ada.access.as_str());

    let first = publish(&w.app, &w.ada, &w.draft).await;
    let again = publish(&w.app, &w.ada, &w.draft).await;
    assert_eq!(first["isPublish"], true);
    assert_eq!(
        again, first,
        "publishing twice changes nothing the second time"
    );

    let vars = json!({ "id": w.draft });
    let hidden = op(&w.app, "UnpublishRecipe", vars.clone(), token).await;
    let hidden_again = op(&w.app, "UnpublishRecipe", vars, token).await;
    assert_eq!(hidden["data"]["unpublishRecipe"]["isPublish"], false);
    assert_eq!(hidden_again, hidden);
    assert_eq!(
        w.recipe(&w.draft, None).await,
        json!({ "data": { "recipe": null } })
    );
}

#[tokio::test]
async fn a_partial_update_keeps_absent_fields_and_advances_updated_at() {
    let w = world().await;
    let before = w.recipe(&w.published, None).await["data"]["recipe"].clone();

    let vars = json!({ "id": w.published, "input": { "description": "", "cookTime": 45 } });
    let body = op(&w.app, "UpdateRecipe", vars, Some(&w.ada.access)).await;

    let after = body["data"]["updateRecipe"].clone();
    let mut expected = before.clone();
    expected["description"] = json!("");
    expected["cookTime"] = json!(45);
    expected["updatedAt"] = after["updatedAt"].clone();
    assert_eq!(after, expected, "{body}");
    assert!(timestamp(&after["updatedAt"]) > timestamp(&before["updatedAt"]));
    assert_eq!(w.recipe(&w.published, None).await["data"]["recipe"], after);
}

#[tokio::test]
async fn a_failed_update_changes_nothing() {
    let w = world().await;
    let before = w.recipe(&w.published, None).await;

    for bad in [
        json!({ "name": "A fine new name", "cookTime": 301 }),
        json!({ "name": "A fine new name", "description": null }),
    ] {
        let vars = json!({ "id": w.published, "input": bad });
        let body = op(&w.app, "UpdateRecipe", vars, Some(&w.ada.access)).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    }

    assert_eq!(w.recipe(&w.published, None).await, before);
}

#[tokio::test]
async fn a_deleted_recipe_is_gone() {
    let w = world().await;
    let vars = json!({ "id": w.published });

    let deleted = op(&w.app, "DeleteRecipe", vars.clone(), Some(&w.ada.access)).await;
    let again = op(&w.app, "DeleteRecipe", vars, Some(&w.ada.access)).await;

    assert_eq!(deleted, json!({ "data": { "deleteRecipe": w.published } }));
    assert_eq!(error_code(&again), Some("NOT_FOUND"));
    assert_eq!(
        w.recipe(&w.published, None).await,
        json!({ "data": { "recipe": null } })
    );
    assert_eq!(w.public_ids(None).await, [w.bobs.as_str()]);
}

fn timestamp(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an RFC 3339 timestamp")
}

#[tokio::test]
async fn a_later_field_of_the_same_operation_sees_an_earlier_write() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;

    let vars = json!({ "one": input("Soup"), "two": input("Stew") });
    let body = op(&app, "CreateTwo", vars, Some(&ada.access)).await;

    let count = |alias: &str| body["data"][alias]["author"]["recipes"]["totalCount"].clone();
    assert_eq!((count("one"), count("two")), (json!(1), json!(2)), "{body}");
}
