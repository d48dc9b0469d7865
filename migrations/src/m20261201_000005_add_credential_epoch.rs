//! A counter per account that every change of its credentials raises (a new password, a
//! logout of all sessions). A login compares it before and after opening its session, so that
//! no session opened with the old credentials outlives a change that has returned.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(big_integer("credential_epoch").default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .drop_column("credential_epoch")
                    .to_owned(),
            )
            .await
    }
}
