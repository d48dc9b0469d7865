//! Recipe events: what a write changed, published by the recipe rules once the write is
//! committed, and followed by subscriptions. An event names the recipe, its author and whether
//! it is published after the change; subscribers read the recipe themselves and decide what
//! their subscriber may see.
//!
//! One bus per server, in-process (a broadcast channel): a subscriber that falls more than
//! [`CAPACITY`] events behind loses the oldest and is told how many (its subscription decides
//! what that means).

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Events a slow subscriber may fall behind by before it loses some.
pub const CAPACITY: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Created,
    Updated,
    Published,
    Unpublished,
    Deleted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeEvent {
    pub change: Change,
    pub recipe: Uuid,
    pub author: Uuid,
    /// Whether the recipe is published after the change (false once deleted).
    pub published: bool,
}

/// The bus; cheap to clone.
#[derive(Clone)]
pub struct Events(broadcast::Sender<RecipeEvent>);

impl Default for Events {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl Events {
    /// Announces a committed change to every current subscriber (none is fine).
    pub fn publish(&self, event: RecipeEvent) {
        let _ = self.0.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<RecipeEvent> {
        self.0.subscribe()
    }
}
