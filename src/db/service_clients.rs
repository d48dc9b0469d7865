//! The `service_clients` table: services that may introspect tokens, each with the SHA-256 of
//! its secret. A secret is 256 random bits, so a fast hash is enough (nothing to guess), and an
//! introspection costs microseconds rather than an argon2 run.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, QueryOrder, entity::prelude::*};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Adds a client; false when the id is taken.
pub async fn insert(
    db: &impl ConnectionTrait,
    client_id: &str,
    secret_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let row = ActiveModel {
        client_id: Set(client_id.to_owned()),
        secret_hash: Set(secret_hash.to_owned()),
        created_at: Set(now),
    };
    match row.insert(db).await {
        Ok(_) => Ok(true),
        Err(err) if super::unique_violation(&err).is_some() => Ok(false),
        Err(err) => Err(err),
    }
}

pub async fn find(db: &impl ConnectionTrait, client_id: &str) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(client_id.to_owned()).one(db).await
}

pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
    Entity::find().order_by_asc(Column::CreatedAt).all(db).await
}

/// Removes a client; false when there was none.
pub async fn remove(db: &impl ConnectionTrait, client_id: &str) -> Result<bool, DbErr> {
    let result = Entity::delete_by_id(client_id.to_owned()).exec(db).await?;
    Ok(result.rows_affected == 1)
}
