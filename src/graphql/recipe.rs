//! `Recipe`, the recipe queries (`recipes`, `recipe`, `myRecipes`, and `User.recipes` through
//! [`recipes_of`]) and the recipe mutations. Rules live in [`crate::recipes`].
//!
//! Fields of the types that repeat in a page (`Recipe`, `User`) box whatever they await on the
//! database. async-graphql runs every field of an object in one future as large as the
//! largest field's, copied onto the heap for each field: a sea-orm query held inline would
//! make `id` and `name` cost as much as `author`, twenty times per page.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    connection::{RecipeConnection, Total, weight},
    loaders::{AuthorPage, request_loader},
    recipe_input::{CreateRecipeInput, RecipeOrder, UpdateRecipeInput, Visibility},
    require_user, state,
    user::User,
    viewer,
};
use crate::{
    db,
    error::AppError,
    recipes::{
        self,
        listing::{self, Page, PageArgs},
    },
};

/// A recipe. Drafts (`isPublish: false`) are visible to their author only.
pub struct Recipe {
    recipe: db::recipes::Recipe,
    /// The authors of the page this recipe came in, loaded together.
    page_authors: Arc<[Uuid]>,
    /// Its author when already read (a subscription event's snapshot).
    known_author: Option<db::users::User>,
}

impl Recipe {
    pub fn new(recipe: db::recipes::Recipe) -> Self {
        let page_authors = Arc::from([recipe.author_id]);
        Self::in_page(recipe, page_authors)
    }

    pub(crate) fn in_page(recipe: db::recipes::Recipe, page_authors: Arc<[Uuid]>) -> Self {
        Self {
            recipe,
            page_authors,
            known_author: None,
        }
    }

    /// A recipe whose author has been read already (`None`: it will be loaded if asked).
    pub fn with_author(recipe: db::recipes::Recipe, author: Option<db::users::User>) -> Self {
        let author = author.filter(|a| a.id == recipe.author_id);
        Self {
            known_author: author,
            ..Self::new(recipe)
        }
    }

    /// This recipe's author, loaded together with the other authors of its page (once per
    /// page: later calls find them loaded).
    async fn load_author(&self, ctx: &Context<'_>) -> Result<Option<db::users::User>> {
        if let Some(author) = &self.known_author {
            return Ok(Some(author.clone()));
        }
        let loader = request_loader(ctx)?;
        // Boxed: see the module documentation.
        Box::pin(loader.user(self.recipe.author_id, &self.page_authors)).await
    }

    pub(crate) fn row(&self) -> &db::recipes::Recipe {
        &self.recipe
    }
}

#[Object]
impl Recipe {
    async fn id(&self) -> ID {
        ID(self.recipe.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.recipe.name
    }

    async fn description(&self) -> &str {
        &self.recipe.description
    }

    async fn num_of_servings(&self) -> i32 {
        self.recipe.num_of_servings
    }

    /// Minutes.
    async fn cook_time(&self) -> i32 {
        self.recipe.cook_time
    }

    async fn ingredients(&self) -> &str {
        &self.recipe.ingredients
    }

    async fn directions(&self) -> &str {
        &self.recipe.directions
    }

    /// Whether everybody can see it; false for a draft.
    async fn is_publish(&self) -> bool {
        self.recipe.is_publish
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.recipe.created_at
    }

    /// Advances with every change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.recipe.updated_at
    }

    async fn author(&self, ctx: &Context<'_>) -> Result<User> {
        let author = self.load_author(ctx).await?;
        author
            .map(User::public)
            .ok_or_else(|| AppError::internal("a recipe's author does not exist").into())
    }
}

#[derive(Default)]
pub struct RecipeQuery;

#[Object]
impl RecipeQuery {
    /// Published recipes, newest first unless `orderBy` says otherwise. `search` matches the
    /// name, description or ingredients, ignoring case; `%`, `_` and `\` are plain characters.
    #[graphql(complexity = "weight(first, child_complexity)")]
    async fn recipes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "0 to 100.")] first: Option<i32>,
        #[graphql(desc = "A `cursor` or `endCursor` from the previous page.")] after: Option<
            String,
        >,
        search: Option<String>,
        order_by: Option<RecipeOrder>,
    ) -> Result<RecipeConnection> {
        let filter = listing::published_filter(search.as_deref())?;
        let args = PageArgs {
            first,
            after,
            order: order_by.map(Into::into).unwrap_or_default(),
        };
        let page = listing::fetch(&state(ctx).db, &filter, &args).await?;
        Ok(with_authors(ctx, RecipeConnection::new(page, Total::Query(filter))).await)
    }

    /// A published recipe, or the caller's own draft; null otherwise (also for an id that is
    /// not a recipe id at all).
    async fn recipe(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Recipe>> {
        let viewer = viewer(ctx).await?.map(|p| p.user_id);
        let recipe = recipes::find_visible(&state(ctx).db, viewer, &id).await?;
        Ok(recipe.map(Recipe::new))
    }

    /// The caller's recipes, newest first (needs an access token).
    #[graphql(complexity = "weight(first, child_complexity)")]
    async fn my_recipes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(Visibility::All)")] visibility: Option<Visibility>,
        #[graphql(default = 20, desc = "0 to 100.")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<RecipeConnection> {
        let me = require_user(ctx).await?.user_id;
        let visibility = visibility.unwrap_or_default().into();
        let filter = listing::author_filter(me, Some(me), visibility);
        let args = PageArgs {
            first,
            after,
            order: Default::default(),
        };
        let page = listing::fetch(&state(ctx).db, &filter, &args).await?;
        Ok(with_authors(ctx, RecipeConnection::new(page, Total::Query(filter))).await)
    }
}

/// Loads the page's authors right after the page when the selection asks for
/// `edges { node { author } }`. Every `author` field then finds them ready; left to
/// themselves, the first would load them while the others wait on its cell and are woken and
/// polled again when it is filled. Should this load fail, each `author` field tries again and
/// reports its own error, as it would have anyway.
async fn with_authors(ctx: &Context<'_>, connection: RecipeConnection) -> RecipeConnection {
    let Some(first) = connection.first_node() else {
        return connection;
    };
    let author = ctx
        .look_ahead()
        .field("edges")
        .field("node")
        .field("author");
    if author.exists() {
        first.load_author(ctx).await.ok();
    }
    connection
}

/// `User.recipes`: the author's recipes the caller may see, newest first, batched across all
/// the authors of a page by the loader.
pub(crate) async fn recipes_of(
    ctx: &Context<'_>,
    author: Uuid,
    visibility: Option<Visibility>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<RecipeConnection> {
    let viewer = viewer(ctx).await?.map(|p| p.user_id);
    let visibility = visibility.unwrap_or_default().into();
    let args = PageArgs {
        first,
        after,
        order: Default::default(),
    };
    let window = args.window()?;
    let key = |a: Uuid| AuthorPage {
        filter: listing::author_filter(a, viewer, visibility),
        window: window.clone(),
    };
    let loader = request_loader(ctx)?;
    let keys: Vec<AuthorPage> = loader.siblings(author).iter().map(|a| key(*a)).collect();
    let rows = loader.load_together(keys, key(author)).await?;
    let total = Total::Author {
        author,
        viewer,
        visibility,
    };
    Ok(RecipeConnection::new(
        Page::new(rows.unwrap_or_default(), &window),
        total,
    ))
}

#[derive(Default)]
pub struct RecipeMutation;

#[Object]
impl RecipeMutation {
    /// Saves a new draft; publish it with `publishRecipe`.
    async fn create_recipe(&self, ctx: &Context<'_>, input: CreateRecipeInput) -> Result<Recipe> {
        let me = require_user(ctx).await?.user_id;
        let recipe = recipes::create(state(ctx), me, input.into()).await?;
        Ok(written(ctx, recipe))
    }

    /// Changes the fields present in `input`, all or none of them.
    async fn update_recipe(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateRecipeInput,
    ) -> Result<Recipe> {
        let me = require_user(ctx).await?.user_id;
        let changes = input.changes()?;
        let recipe = recipes::update(state(ctx), me, &id, changes).await?;
        Ok(written(ctx, recipe))
    }

    /// Deletes one of the caller's recipes and returns its id.
    async fn delete_recipe(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let me = require_user(ctx).await?.user_id;
        let deleted = recipes::delete(state(ctx), me, &id).await?;
        if let Ok(loader) = request_loader(ctx) {
            loader.forget_recipes();
        }
        Ok(ID(deleted.to_string()))
    }

    /// Makes one of the caller's recipes visible to everybody (no change if it already is).
    async fn publish_recipe(&self, ctx: &Context<'_>, id: ID) -> Result<Recipe> {
        set_published(ctx, id, true).await
    }

    /// Turns one of the caller's recipes back into a draft (no change if it already is one).
    async fn unpublish_recipe(&self, ctx: &Context<'_>, id: ID) -> Result<Recipe> {
        set_published(ctx, id, false).await
    }
}

async fn set_published(ctx: &Context<'_>, id: ID, published: bool) -> Result<Recipe> {
    let me = require_user(ctx).await?.user_id;
    let recipe = recipes::set_published(state(ctx), me, &id, published).await?;
    Ok(written(ctx, recipe))
}

/// The recipe a mutation wrote; recipe lists the request loaded before are forgotten.
fn written(ctx: &Context<'_>, recipe: db::recipes::Recipe) -> Recipe {
    if let Ok(loader) = request_loader(ctx) {
        loader.forget_recipes();
    }
    Recipe::new(recipe)
}
