//! `User` and the queries about people: `me` and `user(username)`. `User.recipes` is answered
//! in `recipe.rs`.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::{
    connection::{RecipeConnection, weight},
    recipe::recipes_of,
    recipe_input::Visibility,
    require_user, state, viewer,
};
use crate::{accounts, db::users};

/// A person on Smilecook. The email is shown to its owner only.
pub struct User {
    user: users::User,
    /// Known to be the caller's own account (the result of `register`, `login`, `me`...),
    /// whose email is shown even before the client holds a token.
    own: bool,
}

impl User {
    /// Someone as anybody may see them.
    pub fn public(user: users::User) -> Self {
        Self { user, own: false }
    }

    /// The caller's own account.
    pub fn own(user: users::User) -> Self {
        Self { user, own: true }
    }
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.user.id.to_string())
    }

    async fn username(&self) -> &str {
        &self.user.username
    }

    /// The account's email: visible to its owner only, null for everyone else.
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        // Boxed, as the database work of every repeated type is (see `recipe.rs`).
        let owner = self.own
            || Box::pin(viewer(ctx))
                .await?
                .is_some_and(|p| p.user_id == self.user.id);
        Ok(owner.then_some(self.user.email.as_str()))
    }

    /// Whether the email address has been verified (a mailed token): visible to its owner
    /// only, null for everyone else.
    async fn email_verified(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        let owner = self.own
            || Box::pin(viewer(ctx))
                .await?
                .is_some_and(|p| p.user_id == self.user.id);
        Ok(owner.then_some(self.user.email_verified_at.is_some()))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.user.created_at
    }

    /// This person's recipes, newest first. Others see the published ones only, whatever
    /// `visibility` they ask for; the person themselves sees what they ask for.
    #[graphql(complexity = "weight(first, child_complexity)")]
    async fn recipes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(Visibility::All)")] visibility: Option<Visibility>,
        #[graphql(default = 20, desc = "0 to 100.")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<RecipeConnection> {
        Box::pin(recipes_of(ctx, self.user.id, visibility, first, after)).await
    }
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The caller's own account (needs an access token).
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let principal = require_user(ctx).await?;
        Ok(User::own(accounts::me(state(ctx), principal).await?))
    }

    /// A person by username (any case); null when nobody has it.
    async fn user(&self, ctx: &Context<'_>, username: String) -> Result<Option<User>> {
        let user = accounts::find_by_username(state(ctx), &username).await?;
        Ok(user.map(User::public))
    }
}
