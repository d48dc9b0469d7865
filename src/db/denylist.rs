//! The `token_denylist` table behind the SQL denylist store.

use sea_orm::{ActiveValue::Set, entity::prelude::*};

use crate::error::AppResult;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_denylist")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub async fn insert(db: &impl ConnectionTrait, entries: &[(String, i64)]) -> AppResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows = entries.iter().map(|(key, expires_at)| ActiveModel {
        key: Set(key.clone()),
        expires_at: Set(*expires_at),
    });
    Entity::insert_many(rows)
        .on_conflict_do_nothing_on([Column::Key])
        .exec(db)
        .await?;
    Ok(())
}

/// Every `(key, expires_at)` in the table (at start-up, so the bare database error).
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, DbErr> {
    let rows = Entity::find().all(db).await?;
    Ok(rows.into_iter().map(|m| (m.key, m.expires_at)).collect())
}

pub async fn any_present(db: &impl ConnectionTrait, keys: &[String]) -> AppResult<bool> {
    let found = Entity::find()
        .filter(Column::Key.is_in(keys.iter().cloned()))
        .count(db)
        .await?;
    Ok(found > 0)
}

pub async fn delete_expired(db: &impl ConnectionTrait, now: i64) -> AppResult<u64> {
    let result = Entity::delete_many()
        .filter(Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
