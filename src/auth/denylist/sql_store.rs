//! The denylist in the database's `token_denylist` table: survives restarts, and every instance
//! on the database sees every revocation at once.

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, DbErr};

use super::{Denylist, Revocable};
use crate::{db, error::AppResult};

pub struct SqlDenylist {
    db: DatabaseConnection,
}

impl SqlDenylist {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Every entry in the table, to fill an in-process copy. A key that names nothing we
    /// revoke could never match a check, so it is skipped.
    pub async fn entries(&self) -> Result<Vec<(Revocable, i64)>, DbErr> {
        let rows = db::denylist::all(&self.db).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, expires_at)| Some((Revocable::parse(&key)?, expires_at)))
            .collect())
    }
}

#[async_trait]
impl Denylist for SqlDenylist {
    async fn revoke(&self, entries: &[(Revocable, i64)]) -> AppResult<()> {
        let rows: Vec<_> = entries.iter().map(|(r, exp)| (r.key(), *exp)).collect();
        db::denylist::insert(&self.db, &rows).await
    }

    async fn any_revoked(&self, items: &[Revocable]) -> AppResult<bool> {
        let keys: Vec<_> = items.iter().map(|r| r.key()).collect();
        db::denylist::any_present(&self.db, &keys).await
    }

    async fn prune(&self, now: i64) -> AppResult<u64> {
        db::denylist::delete_expired(&self.db, now).await
    }

    fn source(&self) -> &'static str {
        "database"
    }
}
