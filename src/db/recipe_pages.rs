//! Listing recipes with keyset pagination: a page starts strictly after a [`Position`] (the
//! order column's value and the id, the tie-break), so fetching page 1000 costs what page 1
//! costs, and rows inserted meanwhile never shift later pages. Each ordering has an index
//! `(is_publish | author_id, column, id)` that serves it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    QueryOrder, QuerySelect, QueryTrait, Select,
    entity::prelude::*,
    sea_query::{Alias, Asterisk, Condition, Expr, ExprTrait, LikeExpr, Query, UnionType},
};

use super::recipes::{Column, Entity, Recipe};
use crate::error::AppResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderField {
    CreatedAt,
    CookTime,
    NumOfServings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Asc,
    Desc,
}

/// An ordering: one column, then `id` in the same direction so that ties have a stable order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Order {
    pub field: OrderField,
    pub direction: Direction,
}

impl Default for Order {
    /// Newest first.
    fn default() -> Self {
        Self {
            field: OrderField::CreatedAt,
            direction: Direction::Desc,
        }
    }
}

/// The value of a row's order column.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SortValue {
    Time(DateTime<Utc>),
    Int(i32),
}

/// A row's place in an ordering.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    pub value: SortValue,
    pub id: Uuid,
}

impl Position {
    pub fn of(recipe: &Recipe, field: OrderField) -> Self {
        let value = match field {
            OrderField::CreatedAt => SortValue::Time(recipe.created_at),
            OrderField::CookTime => SortValue::Int(recipe.cook_time),
            OrderField::NumOfServings => SortValue::Int(recipe.num_of_servings),
        };
        Self {
            value,
            id: recipe.id,
        }
    }
}

/// Which rows: `author` restricts to one author, `published` to published recipes or to
/// drafts, `search` to rows whose name, description or ingredients contain it (any case).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    pub author: Option<Uuid>,
    pub published: Option<bool>,
    pub search: Option<String>,
}

/// Which slice of the ordered rows: at most `limit` rows strictly after `after`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub order: Order,
    pub after: Option<Position>,
    pub limit: u64,
}

/// One page of the rows `filter` selects, in one statement.
pub async fn page(
    db: &impl ConnectionTrait,
    filter: &Filter,
    window: &Window,
) -> AppResult<Vec<Recipe>> {
    let rows = select(filter, window).all(db).await?;
    Ok(rows.into_iter().map(Recipe::from).collect())
}

/// The same window of several authors' recipes, in one statement: a UNION ALL of one
/// index-served keyset query per author. Rows come grouped by author, each group in order.
pub async fn pages_by_author(
    db: &impl ConnectionTrait,
    authors: &[Uuid],
    published: Option<bool>,
    window: &Window,
) -> AppResult<Vec<Recipe>> {
    let mut branches = authors.iter().enumerate().map(|(i, author)| {
        let filter = Filter {
            author: Some(*author),
            published,
            search: None,
        };
        // Wrapped as a subquery: both backends refuse ORDER BY/LIMIT on a bare UNION branch.
        Query::select()
            .column(Asterisk)
            .from_subquery(
                select(&filter, window).into_query(),
                Alias::new(format!("p{i}")),
            )
            .to_owned()
    });
    let Some(mut union) = branches.next() else {
        return Ok(Vec::new());
    };
    for branch in branches {
        union.union(UnionType::All, branch);
    }
    let statement = db.get_database_backend().build(&union);
    let rows = Entity::find().from_raw_sql(statement).all(db).await?;
    Ok(rows.into_iter().map(Recipe::from).collect())
}

/// How many rows `filter` selects.
pub async fn count(db: &impl ConnectionTrait, filter: &Filter) -> AppResult<u64> {
    Ok(Entity::find().filter(condition(filter)).count(db).await?)
}

/// How many recipes each of `authors` has (absent: none), in one statement.
pub async fn count_by_author(
    db: &impl ConnectionTrait,
    authors: &[Uuid],
    published: Option<bool>,
) -> AppResult<HashMap<Uuid, u64>> {
    let mut query = Entity::find()
        .select_only()
        .column(Column::AuthorId)
        .column_as(Column::Id.count(), "n")
        .filter(Column::AuthorId.is_in(authors.iter().copied()))
        .group_by(Column::AuthorId);
    if let Some(published) = published {
        query = query.filter(Column::IsPublish.eq(published));
    }
    let rows: Vec<(Uuid, i64)> = query.into_tuple().all(db).await?;
    Ok(rows
        .into_iter()
        .map(|(author, n)| (author, u64::try_from(n).unwrap_or(0)))
        .collect())
}

fn select(filter: &Filter, window: &Window) -> Select<Entity> {
    let column = match window.order.field {
        OrderField::CreatedAt => Column::CreatedAt,
        OrderField::CookTime => Column::CookTime,
        OrderField::NumOfServings => Column::NumOfServings,
    };
    let order = match window.order.direction {
        Direction::Asc => sea_orm::Order::Asc,
        Direction::Desc => sea_orm::Order::Desc,
    };
    let mut query = Entity::find().filter(condition(filter));
    if let Some(after) = &window.after {
        let row = Expr::tuple([Expr::col(column), Expr::col(Column::Id)]);
        let value = match &after.value {
            SortValue::Time(t) => Expr::val(*t),
            SortValue::Int(n) => Expr::val(*n),
        };
        let cursor = Expr::tuple([value, Expr::val(after.id)]);
        query = query.filter(match window.order.direction {
            Direction::Asc => row.gt(cursor),
            Direction::Desc => row.lt(cursor),
        });
    }
    query
        .order_by(column, order.clone())
        .order_by(Column::Id, order)
        .limit(window.limit)
}

fn condition(filter: &Filter) -> Condition {
    let mut condition = Condition::all();
    if let Some(author) = filter.author {
        condition = condition.add(Column::AuthorId.eq(author));
    }
    if let Some(published) = filter.published {
        condition = condition.add(Column::IsPublish.eq(published));
    }
    if let Some(search) = &filter.search {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        condition =
            condition.add(Expr::col(Column::SearchText).like(LikeExpr::new(pattern).escape('\\')));
    }
    condition
}

/// Makes `%`, `_` and `\` match themselves in a LIKE pattern with `ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_and_the_escape_character_are_escaped() {
        assert_eq!(escape_like(r"50%_off\now"), r"50\%\_off\\now");
        assert_eq!(
            escape_like("plain 'quoted' \"text\""),
            "plain 'quoted' \"text\""
        );
    }
}
