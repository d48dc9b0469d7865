//! Recipes: who may see and change which, and the flows that write them. `input` holds the
//! field rules, `listing` and `cursor` the pagination rules.
//!
//! Like every domain module, a flow (a write: create, update, publish, delete) takes the
//! [`AppState`] every request shares; a query that the per-request loaders and subscriptions
//! share (visibility, pages) takes just the database connection it reads.
//!
//! Visibility: a published recipe is visible to everyone, a draft to its author only; for
//! anyone else a draft does not exist (NOT_FOUND, never a hint). Changing someone else's
//! published recipe is FORBIDDEN. Every write is validated completely before anything is
//! written, and ownership is part of the write's own WHERE clause. Every write that changed
//! something is announced on the event bus once committed (`crate::events`).

pub mod cursor;
pub mod input;
pub mod listing;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::{
    accounts::{self, Gate},
    db::{self, recipes::Recipe},
    error::{AppError, AppResult},
    events::{Change, RecipeEvent},
    state::AppState,
    time,
};
use input::{NewRecipe, RecipeChanges};

/// Times a write is retried when another write to the same recipe slipped in between.
const WRITE_ATTEMPTS: usize = 5;

/// Saves a new draft by `author`.
pub async fn create(state: &AppState, author: Uuid, new: NewRecipe) -> AppResult<Recipe> {
    let (db, events) = (&state.db, &state.events);
    let new = new.validate()?;
    let now = time::now();
    let recipe = Recipe {
        id: Uuid::now_v7(),
        author_id: author,
        name: new.name,
        description: new.description,
        num_of_servings: new.num_of_servings,
        cook_time: new.cook_time,
        ingredients: new.ingredients,
        directions: new.directions,
        is_publish: false,
        created_at: now,
        updated_at: now,
    };
    db::recipes::insert(db, &recipe).await?;
    events.publish(event(Change::Created, &recipe)).await;
    Ok(recipe)
}

/// The recipe if `viewer` may see it: published, or the viewer's own draft. An id that is not
/// a UUID names no recipe, so it is `None` too.
pub async fn find_visible(
    db: &impl ConnectionTrait,
    viewer: Option<Uuid>,
    id: &str,
) -> AppResult<Option<Recipe>> {
    let Some(id) = parse_id(id) else {
        return Ok(None);
    };
    let recipe = db::recipes::find(db, id).await?;
    Ok(recipe.filter(|r| may_see(r, viewer)))
}

/// Whether `viewer` may see `recipe`: everyone a published one, its author a draft.
pub fn may_see(recipe: &Recipe, viewer: Option<Uuid>) -> bool {
    recipe.is_publish || viewer == Some(recipe.author_id)
}

/// Applies `changes` to `user`'s recipe; `updated_at` always advances.
pub async fn update(
    state: &AppState,
    user: Uuid,
    id: &str,
    changes: RecipeChanges,
) -> AppResult<Recipe> {
    let changes = changes.validate()?;
    let (db, events) = (&state.db, &state.events);
    let (recipe, _) = modify(db, user, id, |recipe| {
        changes.apply(recipe);
        true
    })
    .await?;
    events.publish(event(Change::Updated, &recipe)).await;
    Ok(recipe)
}

/// Publishes or unpublishes `user`'s recipe. Idempotent: a recipe already in that state is
/// returned unchanged (its `updated_at` included). Publishing needs a verified address where
/// `EMAIL_VERIFICATION` says so (EMAIL_NOT_VERIFIED).
pub async fn set_published(
    state: &AppState,
    user: Uuid,
    id: &str,
    published: bool,
) -> AppResult<Recipe> {
    let (db, events) = (&state.db, &state.events);
    if published {
        let account = db::users::find_by_id(db, user).await?;
        let account = account
            .ok_or_else(|| AppError::Unauthenticated("This account no longer exists.".into()))?;
        accounts::require_verified(state, &account, Gate::Publish)?;
    }
    let (recipe, written) = modify(db, user, id, |recipe| {
        let changed = recipe.is_publish != published;
        recipe.is_publish = published;
        changed
    })
    .await?;
    if written {
        let change = if published {
            Change::Published
        } else {
            Change::Unpublished
        };
        events.publish(event(change, &recipe)).await;
    }
    Ok(recipe)
}

/// Deletes `user`'s recipe with one conditional DELETE; returns its id.
pub async fn delete(state: &AppState, user: Uuid, id: &str) -> AppResult<Uuid> {
    let (db, events) = (&state.db, &state.events);
    let id = parse_id(id).ok_or_else(not_found)?;
    if db::recipes::delete_owned(db, id, user).await? {
        let deleted = RecipeEvent {
            change: Change::Deleted,
            recipe: id,
            author: user,
            published: false,
        };
        events.publish(deleted).await;
        return Ok(id);
    }
    // Nothing deleted: say why, without revealing someone else's draft.
    match db::recipes::find(db, id).await? {
        Some(recipe) if recipe.is_publish => Err(forbidden()),
        _ => Err(not_found()),
    }
}

/// Reads `user`'s recipe, lets `change` edit a copy (it says whether anything changed) and
/// writes the copy back only if nobody wrote the row since it was read (a conditional UPDATE
/// on `updated_at`, so no lost update and no stale `search_text`); otherwise reads again.
/// Returns the recipe and whether it was written.
async fn modify(
    db: &impl ConnectionTrait,
    user: Uuid,
    id: &str,
    change: impl Fn(&mut Recipe) -> bool,
) -> AppResult<(Recipe, bool)> {
    let id = parse_id(id).ok_or_else(not_found)?;
    for _ in 0..WRITE_ATTEMPTS {
        let current = owned(db, user, id).await?;
        let mut next = current.clone();
        if !change(&mut next) {
            return Ok((current, false));
        }
        next.updated_at = after(current.updated_at);
        if db::recipes::replace(db, &next, current.updated_at).await? {
            return Ok((next, true));
        }
    }
    Err(AppError::internal(
        "a recipe kept changing under concurrent writes",
    ))
}

/// The recipe if `user` wrote it; FORBIDDEN for someone else's published recipe; NOT_FOUND
/// for someone else's draft, exactly as for a missing one.
async fn owned(db: &impl ConnectionTrait, user: Uuid, id: Uuid) -> AppResult<Recipe> {
    match db::recipes::find(db, id).await? {
        Some(recipe) if recipe.author_id == user => Ok(recipe),
        Some(recipe) if recipe.is_publish => Err(forbidden()),
        _ => Err(not_found()),
    }
}

/// Now, or a microsecond after `previous` if the clock has not moved past it: `updated_at`
/// strictly advances with every write, which the conditional UPDATE relies on.
fn after(previous: DateTime<Utc>) -> DateTime<Utc> {
    time::now().max(previous + TimeDelta::microseconds(1))
}

fn parse_id(id: &str) -> Option<Uuid> {
    Uuid::parse_str(id.trim()).ok()
}

fn event(change: Change, recipe: &Recipe) -> RecipeEvent {
    RecipeEvent {
        change,
        recipe: recipe.id,
        author: recipe.author_id,
        published: recipe.is_publish,
    }
}

fn not_found() -> AppError {
    AppError::NotFound("No recipe has this id.".into())
}

fn forbidden() -> AppError {
    AppError::Forbidden("Only its author may change this recipe.".into())
}
