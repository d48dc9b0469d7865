//! Services allowed to ask the token introspection endpoint (RFC 7662): a client id and the
//! SHA-256 of its secret (the secret is 256 random bits, shown once by `smilecook clients add`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("service_clients")
                    .if_not_exists()
                    .col(string("client_id").primary_key())
                    .col(string("secret_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("service_clients").to_owned())
            .await
    }
}
