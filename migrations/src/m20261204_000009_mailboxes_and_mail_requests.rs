//! Mail that cannot be turned into a weapon, and addresses that are mailboxes.
//!
//! - `users.email` holds the address normalized (lower-cased); an index serves the look-ups of
//!   accounts that claim an address without holding it yet (`email_key` is unique and holds the
//!   address only once it is the account's: see `src/db/users.rs`).
//! - `users.password_changed_at`: a reset token issued before it no longer works.
//! - `mail_outbox`: a priority (0: asked for by the address's owner, such as a reset; 1: mail
//!   anybody can cause, such as a registration's), the mailbox it counts against (capped per
//!   window), a claim of its own (so that a mail backed off during an outage can be brought
//!   forward without touching a claimed one) and a final failure.
//! - `mail_requests`: what was asked for by mail (a reset, a verification, a registration's
//!   mail), written by the request and turned into mail by a worker, off the request path.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("UPDATE users SET email = email_key")
            .await?;
        add_column(
            manager,
            "users",
            timestamp_with_time_zone_null("password_changed_at"),
        )
        .await?;
        create_index(manager, "users_email", "users", &["email"]).await?;

        add_column(
            manager,
            "mail_outbox",
            string("mailbox").default("").to_owned(),
        )
        .await?;
        db.execute_unprepared("UPDATE mail_outbox SET mailbox = lower(recipient)")
            .await?;
        add_column(
            manager,
            "mail_outbox",
            small_integer("priority").default(1).to_owned(),
        )
        .await?;
        add_column(
            manager,
            "mail_outbox",
            timestamp_with_time_zone_null("claimed_until"),
        )
        .await?;
        add_column(
            manager,
            "mail_outbox",
            timestamp_with_time_zone_null("failed_at"),
        )
        .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("mail_outbox_due")
                    .table("mail_outbox")
                    .to_owned(),
            )
            .await?;
        let queue = ["priority", "sent_at", "next_attempt_at"];
        create_index(manager, "mail_outbox_queue", "mail_outbox", &queue).await?;
        let mailbox = ["mailbox", "created_at"];
        create_index(manager, "mail_outbox_mailbox", "mail_outbox", &mailbox).await?;

        manager
            .create_table(
                Table::create()
                    .table("mail_requests")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(string("kind"))
                    .col(string("email"))
                    .col(uuid_null("user_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "mail_requests_due",
            "mail_requests",
            &["created_at"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("mail_requests").to_owned())
            .await?;
        for index in ["mail_outbox_queue", "mail_outbox_mailbox"] {
            manager
                .drop_index(Index::drop().name(index).table("mail_outbox").to_owned())
                .await?;
        }
        let due = ["sent_at", "next_attempt_at"];
        create_index(manager, "mail_outbox_due", "mail_outbox", &due).await?;
        for column in ["mailbox", "priority", "claimed_until", "failed_at"] {
            drop_column(manager, "mail_outbox", column).await?;
        }
        manager
            .drop_index(Index::drop().name("users_email").table("users").to_owned())
            .await?;
        drop_column(manager, "users", "password_changed_at").await
    }
}

/// One column per statement: SQLite adds one at a time.
async fn add_column(
    manager: &SchemaManager<'_>,
    table: &'static str,
    mut column: ColumnDef,
) -> Result<(), DbErr> {
    let alter = Table::alter()
        .table(table)
        .add_column(&mut column)
        .to_owned();
    manager.alter_table(alter).await
}

async fn drop_column(
    manager: &SchemaManager<'_>,
    table: &'static str,
    column: &'static str,
) -> Result<(), DbErr> {
    let alter = Table::alter().table(table).drop_column(column).to_owned();
    manager.alter_table(alter).await
}

async fn create_index(
    manager: &SchemaManager<'_>,
    name: &'static str,
    table: &'static str,
    columns: &[&'static str],
) -> Result<(), DbErr> {
    let mut index = Index::create().name(name).table(table).to_owned();
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index).await
}
