//! The `sessions` table: one row per login. Rotation is a conditional update, so of two
//! concurrent refreshes of the same token exactly one matches the row.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, entity::prelude::*};

use crate::error::AppResult;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_jti: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A login session about to be written.
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_jti: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn create(db: &impl ConnectionTrait, session: NewSession) -> AppResult<()> {
    ActiveModel {
        id: Set(session.id),
        user_id: Set(session.user_id),
        refresh_jti: Set(session.refresh_jti),
        created_at: Set(session.created_at),
        expires_at: Set(session.expires_at),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Model>> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

/// Moves the session from `old_jti` to `new_jti`; false when `old_jti` is no longer current.
pub async fn rotate(
    db: &impl ConnectionTrait,
    id: Uuid,
    old_jti: Uuid,
    new_jti: Uuid,
) -> AppResult<bool> {
    let result = Entity::update_many()
        .col_expr(Column::RefreshJti, Expr::value(new_jti))
        .filter(Column::Id.eq(id))
        .filter(Column::RefreshJti.eq(old_jti))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn mark_revoked(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> AppResult<()> {
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The user's sessions that are neither revoked nor expired at `now`.
pub async fn live_for_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::RevokedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .all(db)
        .await?)
}
