//! Accounts. `username_key` and `email_key` hold the lower-cased forms so that uniqueness is
//! case-insensitive and enforced by the database (the same on SQLite and PostgreSQL).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(string_len("username", 30))
                    .col(string_len_uniq("username_key", 30))
                    .col(string_len("email", 254))
                    .col(string_len_uniq("email_key", 254))
                    .col(string("password_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("users").to_owned())
            .await
    }
}
