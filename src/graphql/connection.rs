//! `RecipeConnection`, `RecipeEdge` and `PageInfo`: Relay-style pages of recipes. Pages move
//! forward only (`first`/`after`). `totalCount` is a resolver of its own, so the COUNT query
//! runs only when a client selects it.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, SimpleObject};
use uuid::Uuid;

use super::{
    loaders::{AuthorCount, request_loader},
    recipe::Recipe,
    state,
};
use crate::{
    db::{self, recipe_pages::Filter},
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
    page_info: PageInfo,
    total: Total,
}

impl RecipeConnection {
    pub(crate) fn new(page: Page, total: Total) -> Self {
        let page_info = PageInfo {
            has_next_page: page.has_next_page,
            has_previous_page: false,
            start_cursor: page.edges.first().map(|(cursor, _)| cursor.clone()),
            end_cursor: page.edges.last().map(|(cursor, _)| cursor.clone()),
        };
        let mut authors: Vec<Uuid> = page.edges.iter().map(|(_, r)| r.author_id).collect();
        authors.sort_unstable();
        authors.dedup();
        let authors: Arc<[Uuid]> = authors.into();
        let edges = page
            .edges
            .into_iter()
            .map(|(cursor, recipe)| RecipeEdge {
                cursor,
                node: Recipe::in_page(recipe, Arc::clone(&authors)),
            })
            .collect();
        Self {
            edges,
            page_info,
            total,
        }
    }
}

#[Object]
impl RecipeConnection {
    async fn edges(&self) -> &[RecipeEdge] {
        &self.edges
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many recipes the whole listing holds (all pages; `first` and `after` ignored).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count = match &self.total {
            Total::Query(filter) => db::recipe_pages::count(&state(ctx).db, filter).await?,
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

#[derive(SimpleObject)]
pub struct RecipeEdge {
    /// Pass as `after` to continue after this recipe.
    pub cursor: String,
    pub node: Recipe,
}

#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether more recipes follow this page.
    pub has_next_page: bool,
    /// Always false: pages are fetched forward, with `first` and `after`.
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    /// Pass as `after` to fetch the next page; null when the page is empty.
    pub end_cursor: Option<String>,
}
