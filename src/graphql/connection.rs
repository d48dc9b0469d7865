//! `RecipeConnection`, `RecipeEdge` and `PageInfo`: Relay-style pages of recipes. Pages move
//! forward only (`first`/`after`). What a client does not select costs nothing: `totalCount` is
//! a resolver of its own, so the COUNT query runs only when selected, and cursors are encoded
//! only when `cursor`, `startCursor` or `endCursor` is asked for.

use std::sync::Arc;

use async_graphql::{Context, Object, Result};
use uuid::Uuid;

use super::{
    loaders::{AuthorCount, request_loader},
    recipe::Recipe,
    state,
};
use crate::{
    db::recipe_pages::{Filter, Order},
    recipes::listing::{self, MAX_FIRST, Page, Visibility},
};

/// The complexity of a list field: its children weigh once per item asked for (`first`,
/// bounded as the resolver bounds it, so that an over-limit `first` gets its own clear error).
pub fn weight(first: Option<i32>, child_complexity: usize) -> usize {
    let items = first
        .unwrap_or(crate::recipes::listing::DEFAULT_FIRST)
        .clamp(1, MAX_FIRST);
    (items as usize).saturating_mul(child_complexity)
}

/// How `totalCount` is computed: a plain COUNT, or through the loader for an author's
/// recipes (one grouped COUNT for the author and the other authors of the same page).
pub(crate) enum Total {
    Query(Filter),
    Author {
        author: Uuid,
        viewer: Option<Uuid>,
        visibility: Visibility,
    },
}

pub struct RecipeConnection {
    edges: Vec<RecipeEdge>,
    has_next_page: bool,
    total: Total,
}

impl RecipeConnection {
    pub(crate) fn new(page: Page, total: Total) -> Self {
        let mut authors: Vec<Uuid> = page.rows.iter().map(|r| r.author_id).collect();
        authors.sort_unstable();
        authors.dedup();
        let authors: Arc<[Uuid]> = authors.into();
        let order = page.order;
        let edges = page
            .rows
            .into_iter()
            .map(|recipe| RecipeEdge {
                order,
                node: Recipe::in_page(recipe, Arc::clone(&authors)),
            })
            .collect();
        Self {
            edges,
            has_next_page: page.has_next_page,
            total,
        }
    }

    pub(crate) fn first_node(&self) -> Option<&Recipe> {
        self.edges.first().map(|edge| &edge.node)
    }
}

#[Object]
impl RecipeConnection {
    async fn edges(&self) -> &[RecipeEdge] {
        &self.edges
    }

    async fn page_info(&self) -> PageInfo<'_> {
        PageInfo { connection: self }
    }

    /// How many recipes the whole listing holds (all pages; `first` and `after` ignored).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count = match &self.total {
            Total::Query(filter) => listing::count(&state(ctx).db, filter).await?,
            Total::Author {
                author,
                viewer,
                visibility,
            } => {
                let key = |a: Uuid| AuthorCount(listing::author_filter(a, *viewer, *visibility));
                let loader = request_loader(ctx)?;
                let keys: Vec<AuthorCount> =
                    loader.siblings(*author).iter().map(|a| key(*a)).collect();
                loader.load_together(keys, key(*author)).await?.unwrap_or(0)
            }
        };
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

pub struct RecipeEdge {
    order: Order,
    node: Recipe,
}

impl RecipeEdge {
    fn cursor(&self) -> String {
        Page::cursor(self.order, self.node.row())
    }
}

#[Object]
impl RecipeEdge {
    /// Pass as `after` to continue after this recipe.
    #[graphql(name = "cursor")]
    async fn cursor_field(&self) -> String {
        self.cursor()
    }

    async fn node(&self) -> &Recipe {
        &self.node
    }
}

pub struct PageInfo<'a> {
    connection: &'a RecipeConnection,
}

#[Object]
impl<'a> PageInfo<'a> {
    /// Whether more recipes follow this page.
    async fn has_next_page(&self) -> bool {
        self.connection.has_next_page
    }

    /// Always false: pages are fetched forward, with `first` and `after`.
    async fn has_previous_page(&self) -> bool {
        false
    }

    async fn start_cursor(&self) -> Option<String> {
        self.connection.edges.first().map(RecipeEdge::cursor)
    }

    /// Pass as `after` to fetch the next page; null when the page is empty.
    async fn end_cursor(&self) -> Option<String> {
        self.connection.edges.last().map(RecipeEdge::cursor)
    }
}
