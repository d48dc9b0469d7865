//! The `mail_requests` table: what a request asked to be mailed (a password reset, a
//! verification, a registration's mail), written by the request in the same breath as what it
//! announces and turned into mail by a worker (`recovery::spawn_worker`), so that the request
//! does the same work whatever the address and answers before anything is looked up.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, QueryOrder, QuerySelect, entity::prelude::*};

use crate::error::AppResult;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub email: String,
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// What was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A password reset for the account holding the address (`requestPasswordReset`).
    Reset,
    /// A new verification mail for the accounts claiming the address (`resendVerification`).
    Verification,
    /// The mail of a registration: a verification, or a notice to the address's holder.
    Registered,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Reset, Kind::Verification, Kind::Registered];

    fn name(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Verification => "verify",
            Self::Registered => "registered",
        }
    }

    /// Asked for by the address's owner (served first), rather than caused by anybody.
    pub fn owner_asked(self) -> bool {
        self != Self::Registered
    }
}

impl Model {
    pub fn kind(&self) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == self.kind)
    }
}

pub async fn insert(
    db: &impl ConnectionTrait,
    kind: Kind,
    email: &str,
    user_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(kind.name().to_owned()),
        email: Set(email.to_owned()),
        user_id: Set(user_id),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Up to `limit` of the oldest requests of `kinds`.
pub async fn oldest(
    db: &impl ConnectionTrait,
    kinds: &[Kind],
    limit: u64,
) -> AppResult<Vec<Model>> {
    let names = kinds.iter().map(|k| k.name());
    Ok(Entity::find()
        .filter(Column::Kind.is_in(names))
        .order_by_asc(Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// Takes request `id` for this worker: true unless another worker took it first.
pub async fn take(db: &impl ConnectionTrait, id: Uuid) -> AppResult<bool> {
    let result = Entity::delete_by_id(id).exec(db).await?;
    Ok(result.rows_affected == 1)
}
