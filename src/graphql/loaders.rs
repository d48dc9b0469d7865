//! Batched lookups for nested fields, so that a page of 100 recipes with their authors (and
//! the authors' recipes) costs the same few statements as a page of 5.
//!
//! Each request gets its own [`RequestLoader`] (installed by the HTTP handler). Authors load
//! through a cell per page (see `author_pages`); recipe lists and counts through an
//! async-graphql `DataLoader` over [`DbLoader`], which answers each kind of key with one
//! statement, with a cache that lives as long as the request, used in turns. Objects resolved side by side know
//! their siblings (the recipes of one page know the page's authors; an author met in a page
//! knows the page's other authors), and the first of them to need something loads it for all
//! of them while the others wait for their turn and find it in the cache. That makes the count
//! exact: a `DataLoader` left to batch by its timer alone splits a large page into several
//! batches whenever resolving the page outlasts the timer.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex as StdMutex},
};

use async_graphql::{
    Context, Result,
    dataloader::{DataLoader, HashMapCache, Loader},
};
use sea_orm::DatabaseConnection;
use tokio::sync::{Mutex, OnceCell};
use uuid::Uuid;

use crate::{
    db::{
        self,
        recipe_pages::{Filter, Window},
        recipes::Recipe,
        users::User,
    },
    error::AppError,
};

/// A window of one author's recipes (`filter.author` is set; `filter.search` is ignored).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuthorPage {
    pub filter: Filter,
    pub window: Window,
}

/// How many recipes one author's `filter` selects (`filter.search` is ignored).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuthorCount(pub Filter);

/// The request's loader: see the module documentation.
pub struct RequestLoader {
    loader: DataLoader<DbLoader, HashMapCache>,
    turn: Mutex<()>,
    /// For each author met in a page, the authors of that page.
    siblings: StdMutex<HashMap<Uuid, Arc<[Uuid]>>>,
    /// Authors, loaded once per page: the page's first `author` field loads them all while
    /// the others wait on the same cell. No timer and no spawned task, unlike a `DataLoader`
    /// (which halved the throughput of a page with authors).
    author_pages: StdMutex<Vec<(Arc<[Uuid]>, AuthorCell)>>,
    /// Every user loaded in this request, so a later page asks only for new ones.
    users: StdMutex<HashMap<Uuid, User>>,
    db: DatabaseConnection,
}

type AuthorCell = Arc<OnceCell<HashMap<Uuid, User>>>;

pub(crate) fn request_loader<'a>(ctx: &Context<'a>) -> Result<&'a RequestLoader> {
    ctx.data::<RequestLoader>()
}

impl RequestLoader {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            loader: DataLoader::with_cache(
                DbLoader { db: db.clone() },
                tokio::spawn,
                HashMapCache::default(),
            ),
            turn: Mutex::new(()),
            siblings: StdMutex::new(HashMap::new()),
            author_pages: StdMutex::new(Vec::new()),
            users: StdMutex::new(HashMap::new()),
            db,
        }
    }

    /// The author `id`, loaded together with the other authors of its page.
    pub async fn user(&self, id: Uuid, page_authors: &Arc<[Uuid]>) -> Result<Option<User>> {
        if let Ok(mut siblings) = self.siblings.lock() {
            let known = siblings
                .get(&id)
                .is_some_and(|s| Arc::ptr_eq(s, page_authors));
            if !known {
                for author in page_authors.iter() {
                    siblings.insert(*author, Arc::clone(page_authors));
                }
            }
        }
        let cell = self.author_cell(page_authors);
        let authors = cell
            .get_or_try_init(|| self.fetch_users(page_authors))
            .await?;
        Ok(authors.get(&id).cloned())
    }

    fn author_cell(&self, page_authors: &Arc<[Uuid]>) -> AuthorCell {
        let mut pages = self.author_pages.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, cell)) = pages.iter().find(|(p, _)| Arc::ptr_eq(p, page_authors)) {
            return Arc::clone(cell);
        }
        let cell = AuthorCell::default();
        pages.push((Arc::clone(page_authors), Arc::clone(&cell)));
        cell
    }

    /// The users `ids`, with one statement for those this request has not loaded yet.
    async fn fetch_users(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, User>> {
        let missing: Vec<Uuid> = {
            let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
            ids.iter()
                .filter(|id| !users.contains_key(id))
                .copied()
                .collect()
        };
        if !missing.is_empty() {
            let loaded = db::users::find_by_ids(&self.db, &missing).await?;
            let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
            users.extend(loaded.into_iter().map(|u| (u.id, u)));
        }
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        Ok(ids
            .iter()
            .filter_map(|id| Some((*id, users.get(id)?.clone())))
            .collect())
    }

    /// The authors loaded together with `author` (just `author` when it was not met in a page).
    pub fn siblings(&self, author: Uuid) -> Arc<[Uuid]> {
        let known = self
            .siblings
            .lock()
            .ok()
            .and_then(|s| s.get(&author).cloned());
        known.unwrap_or_else(|| Arc::from([author]))
    }

    /// Forgets the recipe pages and counts loaded so far: a mutation changed recipes, and a
    /// later field of the same operation must see the change.
    pub fn forget_recipes(&self) {
        self.loader.clear::<AuthorPage>();
        self.loader.clear::<AuthorCount>();
    }

    /// Loads `keys` in one batch unless they are cached, and returns the value of `wanted`.
    /// One load at a time: a sibling's load that is still in flight is never repeated.
    pub async fn load_together<K, V>(&self, keys: Vec<K>, wanted: K) -> Result<Option<V>>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        V: Send + Sync + Clone + 'static,
        DbLoader: Loader<K, Value = V, Error = async_graphql::Error>,
    {
        let _turn = self.turn.lock().await;
        let mut found = self
            .loader
            .load_many(keys.into_iter().chain([wanted.clone()]))
            .await?;
        Ok(found.remove(&wanted))
    }
}

/// Gives every request its own [`RequestLoader`].
/// Answers each kind of key with one statement per batch.
pub struct DbLoader {
    db: DatabaseConnection,
}

type Loaded<K, V> = Result<HashMap<K, V>, async_graphql::Error>;

impl Loader<AuthorPage> for DbLoader {
    type Value = Vec<Recipe>;
    type Error = async_graphql::Error;

    /// One statement per distinct (visibility, window) among the keys.
    async fn load(&self, keys: &[AuthorPage]) -> Loaded<AuthorPage, Vec<Recipe>> {
        let mut groups: HashMap<(Option<bool>, &Window), Vec<&AuthorPage>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.filter.published, &key.window))
                .or_default()
                .push(key);
        }
        let mut pages = HashMap::new();
        for ((published, window), keys) in groups {
            let authors: Vec<Uuid> = keys.iter().filter_map(|k| k.filter.author).collect();
            let rows = db::recipe_pages::pages_by_author(&self.db, &authors, published, window)
                .await
                .map_err(graphql)?;
            let mut by_author: HashMap<Uuid, Vec<Recipe>> = HashMap::new();
            for row in rows {
                by_author.entry(row.author_id).or_default().push(row);
            }
            for key in keys {
                let rows = key.filter.author.and_then(|a| by_author.remove(&a));
                pages.insert(key.clone(), rows.unwrap_or_default());
            }
        }
        Ok(pages)
    }
}

impl Loader<AuthorCount> for DbLoader {
    type Value = u64;
    type Error = async_graphql::Error;

    /// One statement per distinct visibility among the keys.
    async fn load(&self, keys: &[AuthorCount]) -> Loaded<AuthorCount, u64> {
        let mut groups: HashMap<Option<bool>, Vec<&AuthorCount>> = HashMap::new();
        for key in keys {
            groups.entry(key.0.published).or_default().push(key);
        }
        let mut counts = HashMap::new();
        for (published, keys) in groups {
            let authors: Vec<Uuid> = keys.iter().filter_map(|k| k.0.author).collect();
            let found = db::recipe_pages::count_by_author(&self.db, &authors, published)
                .await
                .map_err(graphql)?;
            for key in keys {
                let count = key.0.author.and_then(|a| found.get(&a)).copied();
                counts.insert(key.clone(), count.unwrap_or(0));
            }
        }
        Ok(counts)
    }
}

fn graphql(err: AppError) -> async_graphql::Error {
    err.to_graphql()
}
