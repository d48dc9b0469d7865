//! Persisted documents: the operations clients refer to by id instead of sending their text.
//! `id` is what a client sends (`documentId`, or an automatic persisted query's SHA-256);
//! `hash` is the SHA-256 of `body` (hex), which finds a trusted document sent as text.
//! Trusted rows come from a frontend's manifest; the others were registered by clients
//! (automatic persisted queries) and are kept to a number, oldest `created_at` first out.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("persisted_documents")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("hash"))
                    .col(text("body"))
                    .col(boolean("trusted"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("persisted_documents_hash")
                    .table("persisted_documents")
                    .col("hash")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("persisted_documents_trusted_created")
                    .table("persisted_documents")
                    .col("trusted")
                    .col("created_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("persisted_documents").to_owned())
            .await
    }
}
