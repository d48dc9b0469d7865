//! A small world for the recipe tests: Ada with a published recipe and a draft, Bob with a
//! published recipe, and shortcuts to look at it from any viewpoint.

use serde_json::{Value, json};

use super::{create, create_published, id, ids, input, op};
use crate::common::{TestApp, TestUser, spawn_app};

/// Ada with one published recipe and one draft; Bob with one published recipe.
pub struct World {
    pub app: TestApp,
    pub ada: TestUser,
    pub bob: TestUser,
    pub published: String,
    pub draft: String,
    pub bobs: String,
}

pub async fn world() -> World {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let published = id(&create_published(&app, &ada, input("Ada's soup")).await).to_owned();
    let draft = id(&create(&app, &ada, input("Ada's secret stew")).await).to_owned();
    let bobs = id(&create_published(&app, &bob, input("Bob's bread")).await).to_owned();
    World {
        app,
        ada,
        bob,
        published,
        draft,
        bobs,
    }
}

impl World {
    pub async fn recipe(&self, id: &str, token: Option<&str>) -> Value {
        op(&self.app, "Recipe", json!({ "id": id }), token).await
    }

    pub async fn public_ids(&self, token: Option<&str>) -> Vec<String> {
        let body = super::recipes(&self.app, json!({}), token).await;
        ids(&body["data"]["recipes"])
    }

    pub async fn user_recipes(
        &self,
        username: &str,
        visibility: &str,
        token: Option<&str>,
    ) -> Vec<String> {
        let vars = json!({ "username": username, "visibility": visibility });
        let body = op(&self.app, "UserRecipes", vars, token).await;
        ids(&body["data"]["user"]["recipes"])
    }

    pub async fn my_ids(&self, visibility: &str, user: &TestUser) -> Vec<String> {
        let vars = json!({ "visibility": visibility });
        let body = op(&self.app, "MyRecipes", vars, Some(&user.access)).await;
        ids(&body["data"]["myRecipes"])
    }
}
