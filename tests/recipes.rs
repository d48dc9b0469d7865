//! Who sees which recipes over HTTP, from three viewpoints: anonymous, the author, someone
//! else; through `recipes`, `recipe`, `myRecipes` and `User.recipes`.

mod common;
mod recipe_helpers;

use common::error_code;
use recipe_helpers::{op, world::world};
use serde_json::json;

#[tokio::test]
async fn anonymous_visitors_see_published_recipes_only() {
    let w = world().await;

    assert_eq!(
        w.public_ids(None).await,
        [w.bobs.as_str(), w.published.as_str()]
    );
    assert_eq!(
        w.recipe(&w.published, None).await["data"]["recipe"]["name"],
        "Ada's soup"
    );
    assert_eq!(
        w.recipe(&w.draft, None).await,
        json!({ "data": { "recipe": null } })
    );
    assert_eq!(
        w.user_recipes("ada", "ALL", None).await,
        [w.published.as_str()]
    );
    assert_eq!(
        w.user_recipes("ada", "PRIVATE", None).await,
        [w.published.as_str()]
    );
    let mine = op(&w.app, "MyRecipes", json!({}), None).await;
    assert_eq!(error_code(&mine), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn the_author_sees_their_drafts_where_they_ask_for_them() {
    let w = world().await;
    let token = Some(w.ada.access.as_str());

    // The public listing stays public, even for the author.
    assert_eq!(
        w.public_ids(token).await,
        [w.bobs.as_str(), w.published.as_str()]
    );
    assert_eq!(
        w.recipe(&w.draft, token).await["data"]["recipe"]["isPublish"],
        false
    );
    assert_eq!(
        w.my_ids("ALL", &w.ada).await,
        [w.draft.as_str(), w.published.as_str()]
    );
    assert_eq!(w.my_ids("PUBLIC", &w.ada).await, [w.published.as_str()]);
    assert_eq!(w.my_ids("PRIVATE", &w.ada).await, [w.draft.as_str()]);
    assert_eq!(
        w.user_recipes("ada", "ALL", token).await,
        [w.draft.as_str(), w.published.as_str()]
    );
    assert_eq!(
        w.user_recipes("ada", "PRIVATE", token).await,
        [w.draft.as_str()]
    );
}

#[tokio::test]
async fn another_user_never_sees_someone_elses_drafts() {
    let w = world().await;
    let token = Some(w.bob.access.as_str());

    assert_eq!(
        w.recipe(&w.draft, token).await,
        json!({ "data": { "recipe": null } })
    );
    assert_eq!(
        w.user_recipes("ada", "ALL", token).await,
        [w.published.as_str()]
    );
    assert_eq!(
        w.user_recipes("ada", "PRIVATE", token).await,
        [w.published.as_str()]
    );
    assert_eq!(w.my_ids("ALL", &w.bob).await, [w.bobs.as_str()]);
    let page = op(&w.app, "UserRecipes", json!({ "username": "ada" }), token).await;
    assert_eq!(page["data"]["user"]["recipes"]["totalCount"], 1);
}

#[tokio::test]
async fn an_id_that_is_no_recipe_reads_as_null() {
    let w = world().await;

    for id in ["not-a-uuid", "", "00000000-0000-0000-0000-000000000000"] {
        assert_eq!(
            w.recipe(id, Some(&w.ada.access)).await,
            json!({ "data": { "recipe": null } })
        );
    }
}
