//! The `mail_outbox` table: mail written in the same breath as what it announces, delivered by
//! `crate::mail`'s worker. A row is claimed for a while before it is sent (a conditional update,
//! so that two workers never send the same row at once), marked sent after the SMTP server has
//! taken it, and otherwise tried again later.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, QueryOrder, QuerySelect, entity::prelude::*, sea_query::ExprTrait,
};

use crate::error::AppResult;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A mail to send.
pub struct NewMail {
    pub recipient: String,
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
        subject: Set(mail.subject),
        text_body: Set(mail.text_body),
        html_body: Set(mail.html_body),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(now),
        sent_at: Set(None),
        last_error: Set(None),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// Up to `limit` unsent mails due at `now`, each claimed until `until` (a row another worker
/// claimed first is left to it).
pub async fn claim_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
) -> AppResult<Vec<Model>> {
    let due = Entity::find()
        .filter(Column::SentAt.is_null())
        .filter(Column::NextAttemptAt.lte(now))
        .order_by_asc(Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await?;
    let mut claimed = Vec::with_capacity(due.len());
    for mail in due {
        let result = Entity::update_many()
            .col_expr(Column::NextAttemptAt, Expr::value(until))
            .filter(Column::Id.eq(mail.id))
            .filter(Column::SentAt.is_null())
            .filter(Column::NextAttemptAt.eq(mail.next_attempt_at))
            .exec(db)
            .await?;
        if result.rows_affected == 1 {
            claimed.push(mail);
        }
    }
    Ok(claimed)
}

pub async fn mark_sent(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> AppResult<()> {
    Entity::update_many()
        .col_expr(Column::SentAt, Expr::value(now))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// After a failed attempt: tried again at `next`.
pub async fn retry_at(
    db: &impl ConnectionTrait,
    id: Uuid,
    next: DateTime<Utc>,
    error: &str,
) -> AppResult<()> {
    let error: String = error.chars().take(500).collect();
    Entity::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(next))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::LastError, Expr::value(error))
        .filter(Column::Id.eq(id))
        .filter(Column::SentAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
