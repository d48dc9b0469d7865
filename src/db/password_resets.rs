//! The `password_resets` table: one row per reset requested, keyed by the hash of its token
//! (the token itself is only ever in the mail). Using one is a conditional update, so a token
//! works once even when presented twice at the same moment.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, entity::prelude::*};

use crate::error::AppResult;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "password_resets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub async fn create(
    db: &impl ConnectionTrait,
    token_hash: String,
    user_id: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> AppResult<()> {
    ActiveModel {
        token_hash: Set(token_hash),
        user_id: Set(user_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Marks the unused, unexpired reset of `token_hash` used at `now`: its account and when it
/// was asked for, or `None` when there is no such reset (unknown, used, expired, or used by a
/// concurrent call).
pub async fn take(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<(Uuid, DateTime<Utc>)>> {
    let Some(reset) = Entity::find_by_id(token_hash.to_owned()).one(db).await? else {
        return Ok(None);
    };
    let result = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::TokenHash.eq(token_hash))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok((result.rows_affected == 1).then_some((reset.user_id, reset.created_at)))
}
