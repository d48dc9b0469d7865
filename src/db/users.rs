//! The `users` table. Lookups go through the lower-cased `*_key` columns, whose unique indexes
//! make username and email unique case-insensitively.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    entity::prelude::*,
    sea_query::{Condition, ExprTrait},
};

use crate::error::{AppError, AppResult};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub username: String,
    pub username_key: String,
    pub email: String,
    pub email_key: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    /// Raised by every change of credentials (`migrations/`, `accounts.rs`).
    pub credential_epoch: i64,
    /// When the address was proved by a mailed token (none: not yet).
    pub email_verified_at: Option<DateTime<Utc>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A user as the rest of the server sees it: everything but the password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub email_verified_at: Option<DateTime<Utc>>,
}

impl From<Model> for User {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            username: m.username,
            email: m.email,
            created_at: m.created_at,
            email_verified_at: m.email_verified_at,
        }
    }
}

/// Inserts a user; a duplicate username or email becomes a BAD_USER_INPUT naming the field.
pub async fn insert(
    db: &impl ConnectionTrait,
    username: &str,
    email: &str,
    password_hash: String,
) -> AppResult<User> {
    let row = ActiveModel {
        id: Set(Uuid::now_v7()),
        username: Set(username.to_owned()),
        username_key: Set(username.to_lowercase()),
        email: Set(email.to_owned()),
        email_key: Set(email.to_lowercase()),
        password_hash: Set(password_hash),
        created_at: Set(crate::time::now()),
        credential_epoch: Set(0),
        email_verified_at: Set(None),
    };
    match row.insert(db).await {
        Ok(model) => Ok(model.into()),
        Err(err) => match super::unique_violation(&err) {
            Some(message) if message.contains("email") => Err(AppError::input(
                "email",
                "This email is already registered.",
            )),
            Some(_) => Err(AppError::input(
                "username",
                "This username is already taken.",
            )),
            None => Err(err.into()),
        },
    }
}

/// What a password is checked against: the stored hash and the credential epoch, read together.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub hash: String,
    pub epoch: i64,
}

/// The user and credentials for a login name (username or email, any case).
pub async fn find_credentials(
    db: &impl ConnectionTrait,
    login: &str,
) -> AppResult<Option<(User, Credentials)>> {
    let key = login.trim().to_lowercase();
    let found = Entity::find()
        .filter(
            Condition::any()
                .add(Column::UsernameKey.eq(key.as_str()))
                .add(Column::EmailKey.eq(key.as_str())),
        )
        .one(db)
        .await?;
    Ok(found.map(|m| {
        let credentials = Credentials {
            hash: m.password_hash.clone(),
            epoch: m.credential_epoch,
        };
        (m.into(), credentials)
    }))
}

/// The credentials of the account `id`, if it exists.
pub async fn credentials(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Credentials>> {
    Ok(Entity::find_by_id(id).one(db).await?.map(|m| Credentials {
        hash: m.password_hash,
        epoch: m.credential_epoch,
    }))
}

/// Replaces the hash `expected` with `hash` (the same password under new parameters); false
/// when the hash has changed since it was read.
pub async fn rehash_password(
    db: &impl ConnectionTrait,
    id: Uuid,
    expected: &str,
    hash: String,
) -> AppResult<bool> {
    replace_hash(db, id, expected, hash, false).await
}

/// Sets a new password in place of the hash `expected` that it was checked against, and
/// raises the credential epoch; false when the hash has changed since it was read.
pub async fn change_password(
    db: &impl ConnectionTrait,
    id: Uuid,
    expected: &str,
    hash: String,
) -> AppResult<bool> {
    replace_hash(db, id, expected, hash, true).await
}

/// Sets a new password whatever the old one was (a reset by mailed token), raising the
/// credential epoch.
pub async fn reset_password(db: &impl ConnectionTrait, id: Uuid, hash: String) -> AppResult<bool> {
    let result = Entity::update_many()
        .col_expr(Column::PasswordHash, Expr::value(hash))
        .col_expr(Column::CredentialEpoch, next_epoch())
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records that account `id` proved `email` at `now`; false when that is no longer its
/// address (or it was proved already).
pub async fn mark_email_verified(
    db: &impl ConnectionTrait,
    id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let result = Entity::update_many()
        .col_expr(Column::EmailVerifiedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::EmailKey.eq(email.to_lowercase()))
        .filter(Column::EmailVerifiedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The account with this email, in any case.
pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> AppResult<Option<User>> {
    let key = email.trim().to_lowercase();
    let found = Entity::find()
        .filter(Column::EmailKey.eq(key.as_str()))
        .one(db)
        .await?;
    Ok(found.map(User::from))
}

/// The compare-and-swap both of the above are.
async fn replace_hash(
    db: &impl ConnectionTrait,
    id: Uuid,
    expected: &str,
    hash: String,
    raise_epoch: bool,
) -> AppResult<bool> {
    let mut update = Entity::update_many().col_expr(Column::PasswordHash, Expr::value(hash));
    if raise_epoch {
        update = update.col_expr(Column::CredentialEpoch, next_epoch());
    }
    let result = update
        .filter(Column::Id.eq(id))
        .filter(Column::PasswordHash.eq(expected))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

fn next_epoch() -> Expr {
    Expr::col(Column::CredentialEpoch).add(1)
}

/// Raises the credential epoch of the account `id` (a logout of every session).
pub async fn raise_credential_epoch(db: &impl ConnectionTrait, id: Uuid) -> AppResult<()> {
    Entity::update_many()
        .col_expr(Column::CredentialEpoch, next_epoch())
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn find_by_id(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<User>> {
    Ok(Entity::find_by_id(id).one(db).await?.map(User::from))
}

pub async fn find_by_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<Vec<User>> {
    let rows = Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(User::from).collect())
}

pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> AppResult<Option<User>> {
    let found = Entity::find()
        .filter(Column::UsernameKey.eq(username.trim().to_lowercase()))
        .one(db)
        .await?;
    Ok(found.map(User::from))
}
