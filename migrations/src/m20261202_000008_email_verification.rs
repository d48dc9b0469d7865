//! Verified email addresses: when an account's address was proved (accounts that existed
//! before count as verified), and the mailed tokens that prove it (only their hash).

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
                    .add_column(timestamp_with_time_zone_null("email_verified_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("UPDATE users SET email_verified_at = created_at")
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("email_verifications")
                    .if_not_exists()
                    .col(string("token_hash").primary_key())
                    .col(uuid("user_id"))
                    .col(string("email"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("email_verifications", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("email_verifications").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .drop_column("email_verified_at")
                    .to_owned(),
            )
            .await
    }
}
