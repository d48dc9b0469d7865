//! The `users` table. Lookups go through the lower-cased `*_key` columns, whose unique indexes
//! make usernames and held addresses unique case-insensitively.
//!
//! An account *claims* the address in `email` (normalized, `validate::email`) from its
//! registration, and *holds* it once `email_key` is that address: at registration where
//! addresses are not verified (`EMAIL_VERIFICATION=none`), else when a mailed token proves it.
//! Until then `email_key` is [`claim_key`], which no address can be. Only a held address
//! logs in and receives password resets; any number of accounts may claim an address, so
//! that registering tells nobody whether it is held already.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, QueryOrder, QuerySelect, entity::prelude::*, sea_query::ExprTrait,
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
    /// When the password was last changed (a reset token issued before then is dead).
    pub password_changed_at: Option<DateTime<Utc>>,
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
    /// Whether the account holds `email` (see the module documentation), or only claims it.
    pub holds_email: bool,
}

impl From<Model> for User {
    fn from(m: Model) -> Self {
        Self {
            holds_email: m.email_key == m.email,
            id: m.id,
            username: m.username,
            email: m.email,
            created_at: m.created_at,
            email_verified_at: m.email_verified_at,
        }
    }
}

/// The `email_key` of an account that claims its address without holding it: unique, and
/// never an address (no `@`).
fn claim_key(id: Uuid) -> String {
    format!("~{}", id.simple())
}

/// Inserts a user with a normalized `email`, which it holds at once when `holds_email`; a
/// taken username (or held address) becomes a BAD_USER_INPUT naming the field.
pub async fn insert(
    db: &impl ConnectionTrait,
    username: &str,
    email: &str,
    password_hash: String,
    holds_email: bool,
) -> AppResult<User> {
    let id = Uuid::now_v7();
    let email_key = match holds_email {
        true => email.to_owned(),
        false => claim_key(id),
    };
    let row = ActiveModel {
        id: Set(id),
        username: Set(username.to_owned()),
        username_key: Set(username.to_lowercase()),
        email: Set(email.to_owned()),
        email_key: Set(email_key),
        password_hash: Set(password_hash),
        created_at: Set(crate::time::now()),
        credential_epoch: Set(0),
        email_verified_at: Set(None),
        password_changed_at: Set(None),
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
    pub password_changed_at: Option<DateTime<Utc>>,
}

impl From<&Model> for Credentials {
    fn from(m: &Model) -> Self {
        Self {
            hash: m.password_hash.clone(),
            epoch: m.credential_epoch,
            password_changed_at: m.password_changed_at,
        }
    }
}

/// The user and credentials for a login name: a username, or an address the account holds
/// (any case).
pub async fn find_credentials(
    db: &impl ConnectionTrait,
    login: &str,
) -> AppResult<Option<(User, Credentials)>> {
    let key = login.trim().to_lowercase();
    // Usernames have no `@`; held addresses always have one, claim keys never.
    let column = match key.contains('@') {
        true => Column::EmailKey,
        false => Column::UsernameKey,
    };
    let found = Entity::find()
        .filter(column.eq(key.as_str()))
        .one(db)
        .await?;
    Ok(found.map(|m| {
        let credentials = Credentials::from(&m);
        (m.into(), credentials)
    }))
}

/// The credentials of the account `id`, if it exists.
pub async fn credentials(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Credentials>> {
    Ok(Entity::find_by_id(id)
        .one(db)
        .await?
        .as_ref()
        .map(Credentials::from))
}

/// Replaces the hash `expected` with `hash` (the same password under new parameters); false
/// when the hash has changed since it was read.
pub async fn rehash_password(
    db: &impl ConnectionTrait,
    id: Uuid,
    expected: &str,
    hash: String,
) -> AppResult<bool> {
    replace_hash(db, id, expected, hash, None).await
}

/// Sets a new password in place of the hash `expected` that it was checked against at `now`,
/// raising the credential epoch; false when the hash has changed since it was read.
pub async fn change_password(
    db: &impl ConnectionTrait,
    id: Uuid,
    expected: &str,
    hash: String,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    replace_hash(db, id, expected, hash, Some(now)).await
}

/// Sets a new password whatever the old one was (a reset by mailed token) at `now`, raising
/// the credential epoch; false when the epoch is no longer `epoch` (another change won).
pub async fn reset_password(
    db: &impl ConnectionTrait,
    id: Uuid,
    hash: String,
    epoch: i64,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let result = Entity::update_many()
        .col_expr(Column::PasswordHash, Expr::value(hash))
        .col_expr(Column::CredentialEpoch, next_epoch())
        .col_expr(Column::PasswordChangedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::CredentialEpoch.eq(epoch))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// What proving an address did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proved {
    /// The account holds the address now.
    Held,
    /// Nothing: the account is gone, verified already, or claims another address now.
    Nothing,
    /// Another account proved the address first and holds it.
    HeldByAnother,
}

/// Records that account `id` proved `email` at `now`: it holds the address from now on,
/// in place of an account that held it without proof (registered where addresses were not
/// verified), which keeps its claim.
pub async fn mark_email_verified(
    db: &impl ConnectionTrait,
    id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> AppResult<Proved> {
    let holder = Entity::find()
        .filter(Column::EmailKey.eq(email))
        .one(db)
        .await?;
    if let Some(holder) = holder.filter(|h| h.id != id && h.email_verified_at.is_none()) {
        Entity::update_many()
            .col_expr(Column::EmailKey, Expr::value(claim_key(holder.id)))
            .filter(Column::Id.eq(holder.id))
            .filter(Column::EmailVerifiedAt.is_null())
            .exec(db)
            .await?;
    }
    let proved = Entity::update_many()
        .col_expr(Column::EmailVerifiedAt, Expr::value(now))
        .col_expr(Column::EmailKey, Expr::value(email))
        .filter(Column::Id.eq(id))
        .filter(Column::Email.eq(email))
        .filter(Column::EmailVerifiedAt.is_null())
        .exec(db)
        .await;
    match proved {
        Ok(result) if result.rows_affected == 1 => Ok(Proved::Held),
        Ok(_) => Ok(Proved::Nothing),
        Err(err) if super::unique_violation(&err).is_some() => Ok(Proved::HeldByAnother),
        Err(err) => Err(err.into()),
    }
}

/// The account holding the address `email` (normalized), if any.
pub async fn holder_of(db: &impl ConnectionTrait, email: &str) -> AppResult<Option<User>> {
    let found = Entity::find()
        .filter(Column::EmailKey.eq(email))
        .one(db)
        .await?;
    Ok(found.map(User::from))
}

/// Up to `limit` accounts, newest first, whose address `email` (normalized) is not proved yet.
pub async fn unverified_with(
    db: &impl ConnectionTrait,
    email: &str,
    limit: u64,
) -> AppResult<Vec<User>> {
    let found = Entity::find()
        .filter(Column::Email.eq(email))
        .filter(Column::EmailVerifiedAt.is_null())
        .order_by_desc(Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?;
    Ok(found.into_iter().map(User::from).collect())
}

/// The compare-and-swap of a rehash and of a change (which raises the epoch, `changed_at`).
async fn replace_hash(
    db: &impl ConnectionTrait,
    id: Uuid,
    expected: &str,
    hash: String,
    changed_at: Option<DateTime<Utc>>,
) -> AppResult<bool> {
    let mut update = Entity::update_many().col_expr(Column::PasswordHash, Expr::value(hash));
    if let Some(now) = changed_at {
        update = update
            .col_expr(Column::CredentialEpoch, next_epoch())
            .col_expr(Column::PasswordChangedAt, Expr::value(now));
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
