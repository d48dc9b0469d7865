//! Turning a client's page request (`first`, `after`, `orderBy`, `search`) into a database
//! [`Window`] and [`Filter`], and the fetched rows back into a [`Page`] with cursors.

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::cursor;
use crate::{
    db::{
        self,
        recipe_pages::{Filter, Order, Position, Window},
        recipes::Recipe,
    },
    error::{AppError, AppResult},
};

pub const DEFAULT_FIRST: i32 = 20;
pub const MAX_FIRST: i32 = 100;
/// Longest accepted search text, in characters.
pub const MAX_SEARCH: usize = 100;

/// A page request as the client sent it.
#[derive(Clone, Debug, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub order: Order,
}

impl PageArgs {
    /// The window to fetch: one row more than asked, to learn whether another page follows.
    pub fn window(&self) -> AppResult<Window> {
        let first = self.first.unwrap_or(DEFAULT_FIRST);
        if !(0..=MAX_FIRST).contains(&first) {
            return Err(AppError::input(
                "first",
                format!("`first` must be 0 to {MAX_FIRST}; fetch more with `after`."),
            ));
        }
        let after = self
            .after
            .as_deref()
            .map(|c| cursor::decode(c, self.order))
            .transpose()?;
        Ok(Window {
            order: self.order,
            after,
            limit: first as u64 + 1,
        })
    }
}

/// The page of the recipes `filter` selects that `args` asks for.
pub async fn fetch(db: &impl ConnectionTrait, filter: &Filter, args: &PageArgs) -> AppResult<Page> {
    let window = args.window()?;
    let rows = db::recipe_pages::page(db, filter, &window).await?;
    Ok(Page::new(rows, &window))
}

/// Which recipes a listing shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Visibility {
    #[default]
    All,
    Public,
    Private,
}

/// The filter for `author`'s recipes seen by `viewer`: the author sees what they ask for,
/// everybody else sees the published ones, whatever they ask for.
/// How many recipes `filter` lists, over all pages.
pub async fn count(db: &impl ConnectionTrait, filter: &Filter) -> AppResult<u64> {
    db::recipe_pages::count(db, filter).await
}

pub fn author_filter(author: Uuid, viewer: Option<Uuid>, visibility: Visibility) -> Filter {
    let published = match visibility {
        _ if viewer != Some(author) => Some(true),
        Visibility::All => None,
        Visibility::Public => Some(true),
        Visibility::Private => Some(false),
    };
    Filter {
        author: Some(author),
        published,
        search: None,
    }
}

/// The filter of the public listing: published recipes, optionally matching `search`.
pub fn published_filter(search: Option<&str>) -> AppResult<Filter> {
    Ok(Filter {
        author: None,
        published: Some(true),
        search: search_text(search)?,
    })
}

/// The trimmed search text; `None` when there is nothing to search for.
fn search_text(search: Option<&str>) -> AppResult<Option<String>> {
    let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if search.chars().count() > MAX_SEARCH || search.chars().any(char::is_control) {
        return Err(AppError::input(
            "search",
            format!("`search` must be one line of at most {MAX_SEARCH} characters."),
        ));
    }
    Ok(Some(search.to_owned()))
}

/// One page of recipes, in the order they were fetched in.
#[derive(Clone, Debug)]
pub struct Page {
    pub rows: Vec<Recipe>,
    pub has_next_page: bool,
    /// The ordering the rows are in, which their cursors name.
    pub order: Order,
}

impl Page {
    /// The page made of `rows`, fetched for `window` (which asked for one row too many).
    pub fn new(mut rows: Vec<Recipe>, window: &Window) -> Self {
        let wanted = usize::try_from(window.limit.saturating_sub(1)).unwrap_or(usize::MAX);
        let has_next_page = rows.len() > wanted;
        rows.truncate(wanted);
        Self {
            rows,
            has_next_page,
            order: window.order,
        }
    }

    /// The cursor of `recipe` in this page's ordering. Encoded only when a client asks for
    /// it: most pages are read without their cursors.
    pub fn cursor(order: Order, recipe: &Recipe) -> String {
        cursor::encode(order, &Position::of(recipe, order.field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_bounded() {
        let args = |first| PageArgs {
            first: Some(first),
            ..PageArgs::default()
        };
        assert_eq!(args(100).window().ok().map(|w| w.limit), Some(101));
        assert_eq!(args(0).window().ok().map(|w| w.limit), Some(1));
        assert!(args(101).window().is_err());
        assert!(args(-1).window().is_err());
        assert_eq!(PageArgs::default().window().ok().map(|w| w.limit), Some(21));
    }

    #[test]
    fn only_the_author_chooses_what_they_see() {
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            author_filter(ada, Some(ada), Visibility::Private).published,
            Some(false)
        );
        assert_eq!(
            author_filter(ada, Some(ada), Visibility::All).published,
            None
        );
        assert_eq!(
            author_filter(ada, Some(bob), Visibility::Private).published,
            Some(true)
        );
        assert_eq!(
            author_filter(ada, None, Visibility::All).published,
            Some(true)
        );
    }

    #[test]
    fn blank_searches_are_no_searches() {
        assert_eq!(search_text(Some("  ")).ok(), Some(None));
        assert_eq!(search_text(Some(" Rye ")).ok(), Some(Some("Rye".into())));
        assert!(search_text(Some(&"x".repeat(101))).is_err());
    }
}
