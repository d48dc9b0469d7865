//! What an account holder sees of their login sessions: when each was last used (its last
//! refresh, for the idle timeout too), the user agent that logged in, and a coarse client
//! address (a /24 or /48 network, never the full address).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 3] = ["last_used_at", "user_agent", "client_network"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        let columns = [
            timestamp_with_time_zone_null("last_used_at"),
            string_null("user_agent"),
            string_null("client_network"),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table("sessions")
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("sessions")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
