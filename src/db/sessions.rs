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
    /// The last refresh (none yet: the login).
    pub last_used_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    /// The client's network (`203.0.113.0/24`, `2001:db8:1::/48`), never its address.
    pub client_network: Option<String>,
}

impl Model {
    /// When the session was last used: its last refresh, or its login.
    pub fn last_used(&self) -> DateTime<Utc> {
        self.last_used_at.unwrap_or(self.created_at)
    }
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
    pub user_agent: Option<String>,
    pub client_network: Option<String>,
}

pub async fn create(db: &impl ConnectionTrait, session: NewSession) -> AppResult<()> {
    ActiveModel {
        id: Set(session.id),
        user_id: Set(session.user_id),
        refresh_jti: Set(session.refresh_jti),
        created_at: Set(session.created_at),
        expires_at: Set(session.expires_at),
        revoked_at: Set(None),
        last_used_at: Set(Some(session.created_at)),
        user_agent: Set(session.user_agent),
        client_network: Set(session.client_network),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Model>> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

/// Moves the session from `old_jti` to `new_jti`, used at `now`; false when `old_jti` is no
/// longer current.
pub async fn rotate(
    db: &impl ConnectionTrait,
    id: Uuid,
    old_jti: Uuid,
    new_jti: Uuid,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let result = Entity::update_many()
        .col_expr(Column::RefreshJti, Expr::value(new_jti))
        .col_expr(Column::LastUsedAt, Expr::value(now))
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
