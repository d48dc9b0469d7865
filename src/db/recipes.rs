//! The `recipes` table: the entity, the [`Recipe`] the rest of the server sees (everything but
//! the derived `search_text`), and single-row reads and writes. Listings live in
//! [`super::recipe_pages`].
//!
//! `search_text` is derived here, on every write, from the name, description and ingredients,
//! lower-cased in Rust so that case folding is identical on SQLite and PostgreSQL.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    entity::prelude::*,
};

use crate::error::AppResult;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recipes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub author_id: Uuid,
    pub name: String,
    pub description: String,
    pub num_of_servings: i32,
    pub cook_time: i32,
    pub ingredients: String,
    pub directions: String,
    pub is_publish: bool,
    pub search_text: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A recipe as the rest of the server sees it. `cook_time` is in minutes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipe {
    pub id: Uuid,
    pub author_id: Uuid,
    pub name: String,
    pub description: String,
    pub num_of_servings: i32,
    pub cook_time: i32,
    pub ingredients: String,
    pub directions: String,
    pub is_publish: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Model> for Recipe {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            author_id: m.author_id,
            name: m.name,
            description: m.description,
            num_of_servings: m.num_of_servings,
            cook_time: m.cook_time,
            ingredients: m.ingredients,
            directions: m.directions,
            is_publish: m.is_publish,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Separates the fields inside `search_text`. Recipe text never holds control characters
/// (validation refuses them), so a search cannot match across two fields.
pub const SEARCH_SEPARATOR: &str = "\u{1f}";

/// The text searches run against: name, description and ingredients, lower-cased.
pub fn search_text(recipe: &Recipe) -> String {
    [&recipe.name, &recipe.description, &recipe.ingredients]
        .map(String::as_str)
        .join(SEARCH_SEPARATOR)
        .to_lowercase()
}

fn active(r: &Recipe) -> ActiveModel {
    ActiveModel {
        id: Set(r.id),
        author_id: Set(r.author_id),
        name: Set(r.name.clone()),
        description: Set(r.description.clone()),
        num_of_servings: Set(r.num_of_servings),
        cook_time: Set(r.cook_time),
        ingredients: Set(r.ingredients.clone()),
        directions: Set(r.directions.clone()),
        is_publish: Set(r.is_publish),
        search_text: Set(search_text(r)),
        created_at: Set(r.created_at),
        updated_at: Set(r.updated_at),
    }
}

pub async fn insert(db: &impl ConnectionTrait, recipe: &Recipe) -> AppResult<()> {
    Entity::insert(active(recipe))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Rows per INSERT: 12 parameters each stays far below SQLite's and PostgreSQL's limits.
const INSERT_CHUNK: usize = 500;

/// Inserts many recipes with one statement per [`INSERT_CHUNK`] rows (run it in a
/// transaction to make the whole batch atomic).
pub async fn insert_many(db: &impl ConnectionTrait, recipes: &[Recipe]) -> AppResult<()> {
    for chunk in recipes.chunks(INSERT_CHUNK) {
        Entity::insert_many(chunk.iter().map(active))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Recipe>> {
    Ok(Entity::find_by_id(id).one(db).await?.map(Recipe::from))
}

/// Writes `recipe` over its row in one conditional UPDATE, only if the row still belongs to
/// `recipe.author_id` and still carries `read_updated_at` (nobody wrote it since it was read).
/// Returns whether the row was written.
pub async fn replace(
    db: &impl ConnectionTrait,
    recipe: &Recipe,
    read_updated_at: DateTime<Utc>,
) -> AppResult<bool> {
    let values = ActiveModel {
        id: NotSet,
        author_id: NotSet,
        created_at: NotSet,
        ..active(recipe)
    };
    let result = Entity::update_many()
        .set(values)
        .filter(Column::Id.eq(recipe.id))
        .filter(Column::AuthorId.eq(recipe.author_id))
        .filter(Column::UpdatedAt.eq(read_updated_at))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes the recipe if `author_id` wrote it, in one statement; returns whether it did.
pub async fn delete_owned(db: &impl ConnectionTrait, id: Uuid, author_id: Uuid) -> AppResult<bool> {
    let result = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::AuthorId.eq(author_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
