//! The `signing_keys` table: every key of the deployment, the private part encrypted (the
//! encryption is `auth::keys::store`'s). Rows are only added and marked revoked here; which key
//! signs and which only verify is decided from the dates (`auth::keys`).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, QueryOrder, entity::prelude::*, sea_query::Expr};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub alg: String,
    pub generation: i64,
    pub public_jwk: String,
    pub private_key: String,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Every key, oldest generation first.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .order_by_asc(Column::Generation)
        .all(db)
        .await
}

/// Adds `key`; false when a key of its generation exists already (another instance rotated).
pub async fn insert(db: &impl ConnectionTrait, key: Model) -> Result<bool, DbErr> {
    let row = ActiveModel {
        kid: Set(key.kid),
        alg: Set(key.alg),
        generation: Set(key.generation),
        public_jwk: Set(key.public_jwk),
        private_key: Set(key.private_key),
        created_at: Set(key.created_at),
        activates_at: Set(key.activates_at),
        revoked_at: Set(key.revoked_at),
    };
    match row.insert(db).await {
        Ok(_) => Ok(true),
        Err(err) if super::unique_violation(&err).is_some() => Ok(false),
        Err(err) => Err(err),
    }
}

/// Marks key `kid` revoked at `now`; false when there is no such key, or it was revoked before.
pub async fn revoke(
    db: &impl ConnectionTrait,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::Kid.eq(kid))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Makes key `kid` sign from `now` on (it was waiting to): after a revocation of the key that
/// signed.
pub async fn activate(
    db: &impl ConnectionTrait,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::ActivatesAt, Expr::value(now))
        .filter(Column::Kid.eq(kid))
        .filter(Column::ActivatesAt.gt(now))
        .exec(db)
        .await?;
    Ok(())
}
