//! The token denylist of the SQL store: a revoked token (`jti:<uuid>`) or login session
//! (`sid:<uuid>`) with the time after which the entry is useless and may be pruned.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("token_denylist")
                    .if_not_exists()
                    .col(string_len("key", 64).primary_key())
                    .col(big_integer("expires_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_token_denylist_expires_at")
                    .table("token_denylist")
                    .col("expires_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("token_denylist").to_owned())
            .await
    }
}
