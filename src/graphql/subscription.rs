//! The subscriptions, fed by the recipe event bus (`crate::events`). Every event is checked
//! against what this subscriber may see, with the identity the connection proved: a draft never
//! reaches anyone but its author.
//!
//! A subscriber that falls more than `events::CAPACITY` events behind gets a last error,
//! SLOW_CONSUMER, and its subscription ends: no queue grows without bound.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Result, SimpleObject, Subscription};
use futures_util::{Stream, StreamExt, stream};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::{recipe::Recipe, require_user, state, viewer};
use crate::{
    error::AppError,
    events::{self, Announced, Follower},
    observe, recipes,
    state::AppState,
};

#[derive(Default)]
pub struct RecipeSubscription;

/// What happened to a recipe.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RecipeChange {
    Created,
    Updated,
    Published,
    Unpublished,
    Deleted,
}

impl From<events::Change> for RecipeChange {
    fn from(change: events::Change) -> Self {
        match change {
            events::Change::Created => Self::Created,
            events::Change::Updated => Self::Updated,
            events::Change::Published => Self::Published,
            events::Change::Unpublished => Self::Unpublished,
            events::Change::Deleted => Self::Deleted,
        }
    }
}

/// One change of a recipe.
#[derive(SimpleObject)]
pub struct RecipeChangeEvent {
    pub change: RecipeChange,
    pub id: ID,
    /// The recipe after the change; null once the subscriber may no longer see it (deleted,
    /// or turned back into a draft of someone else's), which is the last event of
    /// `recipeChanged`.
    pub recipe: Option<Recipe>,
}

#[Subscription]
impl RecipeSubscription {
    /// Recipes as they are published, for everyone.
    async fn recipe_published(&self, ctx: &Context<'_>) -> impl Stream<Item = Result<Recipe>> {
        let state = state(ctx).clone();
        follow(state.events.subscribe().ready()).filter_map(move |event| {
            let state = state.clone();
            async move {
                let event = match event {
                    Ok(event) if event.event.change == events::Change::Published => event,
                    Ok(_) => return None,
                    Err(lagged) => return Some(Err(lagged)),
                };
                visible(&state, None, &event).await.transpose()
            }
        })
    }

    /// Changes to one recipe the caller may see (a published one, or their own draft). When
    /// it is deleted, or unpublished while the caller is not its author, one last event with
    /// a null `recipe` says so, and the subscription ends.
    async fn recipe_changed(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = Result<RecipeChangeEvent>>> {
        let viewer = viewer(ctx).await?.map(|p| p.user_id);
        let state = state(ctx).clone();
        // Following before reading: a change between the two is not missed.
        let receiver = state.events.subscribe();
        let not_found = || AppError::NotFound("No recipe you may see has this id.".into());
        let recipe = recipes::find_visible(&state.db, viewer, &id)
            .await?
            .ok_or_else(not_found)?;
        let id = recipe.id;
        let changes = follow(receiver.ready())
            .filter(move |e| std::future::ready(e.as_ref().map_or(true, |e| e.event.recipe == id)));
        let events = changes.then(move |event| {
            let state = state.clone();
            async move { change_event(&state, viewer, event).await }
        });
        Ok(until_gone(events))
    }

    /// Changes to the caller's own recipes, drafts included (needs an access token).
    async fn my_recipe_events(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<RecipeChangeEvent>>> {
        let me = require_user(ctx).await?.user_id;
        let state = state(ctx).clone();
        let mine = follow(state.events.subscribe().ready())
            .filter(move |e| std::future::ready(e.as_ref().map_or(true, |e| e.event.author == me)));
        Ok(mine.then(move |event| {
            let state = state.clone();
            async move { change_event(&state, Some(me), event).await }
        }))
    }
}

/// The events of `receiver`, and a SLOW_CONSUMER error (after which nothing) if it falls
/// behind the bus; ends with the bus.
fn follow(follower: Follower) -> impl Stream<Item = Result<Arc<Announced>, async_graphql::Error>> {
    stream::unfold(Some(follower), |follower| async move {
        let mut follower = follower?;
        match follower.receiver.recv().await {
            Ok(event) => {
                observe::event_delivered();
                Some((Ok(event), Some(follower)))
            }
            Err(RecvError::Lagged(missed)) => {
                observe::events_dropped(missed);
                Some((Err(slow_consumer(missed)), None))
            }
            Err(RecvError::Closed) => None,
        }
    })
}

fn slow_consumer(missed: u64) -> async_graphql::Error {
    AppError::SlowConsumer { missed }.into()
}

/// The recipe `announced` names if `viewer` may see it after the change, from the snapshot
/// all subscribers share.
async fn visible(
    state: &AppState,
    viewer: Option<Uuid>,
    announced: &Announced,
) -> Result<Option<Recipe>> {
    let snapshot = announced.snapshot(&state.db).await?;
    let recipe = snapshot
        .recipe
        .as_ref()
        .filter(|recipe| recipes::may_see(recipe, viewer));
    Ok(recipe.map(|recipe| Recipe::with_author(recipe.clone(), snapshot.author.clone())))
}

async fn change_event(
    state: &AppState,
    viewer: Option<Uuid>,
    announced: Result<Arc<Announced>>,
) -> Result<RecipeChangeEvent> {
    let announced = announced?;
    let event = &announced.event;
    Ok(RecipeChangeEvent {
        change: event.change.into(),
        id: ID(event.recipe.to_string()),
        recipe: visible(state, viewer, &announced).await?,
    })
}

/// Passes `events` on until one says the recipe is gone from view (or an error), then ends at
/// once: the subscription completes with that event and gives its place back, rather than
/// waiting for an event that will never come.
fn until_gone(
    events: impl Stream<Item = Result<RecipeChangeEvent>>,
) -> impl Stream<Item = Result<RecipeChangeEvent>> {
    let events = Box::pin(events);
    stream::unfold(Some(events), |events| async move {
        let mut events = events?;
        let event = events.next().await?;
        let last = event.as_ref().map_or(true, |e| e.recipe.is_none());
        Some((event, (!last).then_some(events)))
    })
}
