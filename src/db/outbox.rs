//! The `mail_outbox` table: mail written in the same breath as what it announces, delivered by
//! `crate::mail`'s worker. A row is claimed for a while before it is sent (a conditional update,
//! so that two workers never send the same row at once), marked sent after the SMTP server has
//! taken it, tried again later after a failure that may pass, and given up after one that will
//! not. Each row counts against its mailbox for a window (`count_recent`), after which a sent
//! or failed row is deleted (`prune`).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    Condition, QueryOrder, QuerySelect,
    entity::prelude::*,
    sea_query::{Expr, ExprTrait},
};

use crate::error::AppResult;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub recipient: String,
    /// What the mail counts against (`validate::mailbox`).
    pub mailbox: String,
    /// 0: asked for by the mailbox's owner; 1: caused by anybody (`mail::Class`).
    pub priority: i16,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A mail to send.
pub struct NewMail {
    pub recipient: String,
    pub mailbox: String,
    pub priority: i16,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

pub async fn enqueue(
    db: &impl ConnectionTrait,
    mail: NewMail,
    now: DateTime<Utc>,
) -> AppResult<Uuid> {
    let id = Uuid::now_v7();
    ActiveModel {
        id: Set(id),
        recipient: Set(mail.recipient),
        mailbox: Set(mail.mailbox),
        priority: Set(mail.priority),
        subject: Set(mail.subject),
        text_body: Set(mail.text_body),
        html_body: Set(mail.html_body),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
        last_error: Set(None),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// The mails written to `mailbox` since `since`: how many in all, and of them how many of
/// `priority`.
pub async fn count_recent(
    db: &impl ConnectionTrait,
    mailbox: &str,
    since: DateTime<Utc>,
    priority: i16,
) -> AppResult<(u64, u64)> {
    let recent = Entity::find()
        .select_only()
        .column(Column::Priority)
        .filter(Column::Mailbox.eq(mailbox))
        .filter(Column::CreatedAt.gt(since))
        .into_tuple::<i16>()
        .all(db)
        .await?;
    let of_priority = recent.iter().filter(|p| **p == priority).count();
    Ok((recent.len() as u64, of_priority as u64))
}

/// Unsent, not given up, and not claimed by anybody at `now`.
fn waiting(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Column::SentAt.is_null())
        .add(Column::FailedAt.is_null())
        .add(
            Condition::any()
                .add(Column::ClaimedUntil.is_null())
                .add(Column::ClaimedUntil.lte(now)),
        )
}

/// The next mail of `priority` due at `now`, claimed until `until` (none when every due mail
/// is claimed by another worker).
pub async fn claim_next(
    db: &impl ConnectionTrait,
    priority: i16,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> AppResult<Option<Model>> {
    let due = Entity::find()
        .filter(Column::Priority.eq(priority))
        .filter(waiting(now))
        .filter(Column::NextAttemptAt.lte(now))
        .order_by_asc(Column::NextAttemptAt)
        .limit(4)
        .all(db)
        .await?;
    for mail in due {
        let claimed = Entity::update_many()
            .col_expr(Column::ClaimedUntil, Expr::value(until))
            .filter(Column::Id.eq(mail.id))
            .filter(waiting(now))
            .exec(db)
            .await?;
        if claimed.rows_affected == 1 {
            return Ok(Some(mail));
        }
    }
    Ok(None)
}

/// Gives back the claims on `ids` (of a worker that stops), for any worker to take at once.
pub async fn release(db: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<()> {
    Entity::update_many()
        .col_expr(
            Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::SentAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn mark_sent(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> AppResult<()> {
    finish(db, id, Column::SentAt, now, None).await
}

/// After a failure that will not pass (the address or the message is refused for good).
pub async fn give_up(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    error: &str,
) -> AppResult<()> {
    finish(db, id, Column::FailedAt, now, Some(error)).await
}

async fn finish(
    db: &impl ConnectionTrait,
    id: Uuid,
    column: Column,
    now: DateTime<Utc>,
    error: Option<&str>,
) -> AppResult<()> {
    let mut update = Entity::update_many()
        .col_expr(column, Expr::value(now))
        .col_expr(
            Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1));
    if let Some(error) = error {
        update = update.col_expr(Column::LastError, Expr::value(short(error)));
    }
    update.filter(Column::Id.eq(id)).exec(db).await?;
    Ok(())
}

/// After a failed attempt that may pass: tried again at `next`.
pub async fn retry_at(
    db: &impl ConnectionTrait,
    id: Uuid,
    next: DateTime<Utc>,
    error: &str,
) -> AppResult<()> {
    Entity::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(next))
        .col_expr(
            Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::LastError, Expr::value(short(error)))
        .filter(Column::Id.eq(id))
        .filter(Column::SentAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Whether some mail waits out a back-off at `now` (the SMTP server was found down).
pub async fn backed_off(db: &impl ConnectionTrait, now: DateTime<Utc>) -> AppResult<bool> {
    let waiting = Entity::find()
        .filter(waiting(now))
        .filter(Column::Attempts.gt(0))
        .filter(Column::NextAttemptAt.gt(now))
        .limit(1)
        .all(db)
        .await?;
    Ok(!waiting.is_empty())
}

/// When the oldest mail neither sent nor given up was written (none when none waits).
pub async fn oldest_unsent(db: &impl ConnectionTrait) -> AppResult<Option<DateTime<Utc>>> {
    let oldest = Entity::find()
        .filter(Column::SentAt.is_null())
        .filter(Column::FailedAt.is_null())
        .order_by_asc(Column::CreatedAt)
        .one(db)
        .await?;
    Ok(oldest.map(|mail| mail.created_at))
}

/// Makes every mail that waits out a back-off due at `now` (the SMTP server is back); how many.
pub async fn bring_forward(db: &impl ConnectionTrait, now: DateTime<Utc>) -> AppResult<u64> {
    let result = Entity::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(now))
        .filter(waiting(now))
        .filter(Column::NextAttemptAt.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Deletes sent and given-up mail written before `done_before`, and mail still unsent that
/// was written before `unsent_before` (too old to matter); how many of the latter.
pub async fn prune(
    db: &impl ConnectionTrait,
    done_before: DateTime<Utc>,
    unsent_before: DateTime<Utc>,
) -> AppResult<u64> {
    let done = Condition::any()
        .add(Column::SentAt.is_not_null())
        .add(Column::FailedAt.is_not_null());
    Entity::delete_many()
        .filter(done)
        .filter(Column::CreatedAt.lt(done_before))
        .exec(db)
        .await?;
    let stale = Entity::delete_many()
        .filter(Column::CreatedAt.lt(unsent_before))
        .exec(db)
        .await?;
    Ok(stale.rows_affected)
}

fn short(error: &str) -> String {
    error.chars().take(500).collect()
}
