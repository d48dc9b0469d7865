//! Batched lookups for nested fields. A page of recipes asks for each recipe's author, and a
//! page of authors for each one's recipes; the [`DataLoader`] gathers the keys asked for
//! concurrently and this loader answers each kind with one statement, so a page of 100 costs
//! the same few statements as a page of 5.
//!
//! One loader serves every kind of key (the `DataLoader` keeps a queue per key type). It does
//! not cache: it lives as long as the schema, and a cache would outlive the request.

use std::collections::HashMap;

use async_graphql::{Context, dataloader::DataLoader, dataloader::Loader};
use sea_orm::DatabaseConnection;
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

pub struct DbLoader {
    db: DatabaseConnection,
}

pub fn data_loader(db: DatabaseConnection) -> DataLoader<DbLoader> {
    DataLoader::new(DbLoader { db }, tokio::spawn)
}

pub(crate) fn loader<'a>(ctx: &Context<'a>) -> &'a DataLoader<DbLoader> {
    ctx.data_unchecked::<DataLoader<DbLoader>>()
}

/// A user, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserId(pub Uuid);

/// A window of one author's recipes (`filter.author` is set; `filter.search` is ignored).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuthorPage {
    pub filter: Filter,
    pub window: Window,
}

/// How many recipes one author's `filter` selects (`filter.search` is ignored).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuthorCount(pub Filter);

type Loaded<K, V> = Result<HashMap<K, V>, async_graphql::Error>;

impl Loader<UserId> for DbLoader {
    type Value = User;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[UserId]) -> Loaded<UserId, User> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let users = db::users::find_by_ids(&self.db, &ids)
            .await
            .map_err(graphql)?;
        Ok(users.into_iter().map(|u| (UserId(u.id), u)).collect())
    }
}

impl Loader<AuthorPage> for DbLoader {
    type Value = Vec<Recipe>;
    type Error = async_graphql::Error;

    /// One statement per distinct (visibility, window) among the keys, usually one.
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
