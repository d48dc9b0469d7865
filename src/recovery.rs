//! What an account holder proves by mail. Forgotten passwords: `request_password_reset` mails
//! a single-use token, `reset_password` trades it for a new password and ends every session of
//! the account. Email addresses: registration mails a verification token (`send_verification`),
//! `verify_email` takes it, `resend_verification` mails a new one (`EMAIL_VERIFICATION` says
//! what an unverified account may not do: `accounts::require_verified`).
//!
//! Nothing tells a stranger whether an address has an account: the request answers the same at
//! once whatever the address, and does its work (look-up, token, mail) after answering. It is
//! throttled per email and per client address like failed logins are. Only the token's SHA-256
//! is stored; the token (256 random bits) exists in the mail alone and expires
//! (`PASSWORD_RESET_TTL`, 30 minutes).

use std::net::IpAddr;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{
    auth::throttle::Reservation,
    config::EmailVerification,
    db,
    error::{AppError, AppResult},
    mail::{self, Content},
    state::AppState,
    validate,
};

/// Answers at once; mails a reset token if `email` belongs to an account (after answering).
pub async fn request_password_reset(
    state: &AppState,
    email: &str,
    client: Option<IpAddr>,
) -> AppResult<()> {
    let email = reserve_mail(state, "reset", email, client).await?;
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(error) = mail_reset_token(&state, &email).await {
            tracing::warn!(error = ?error, "a password reset could not be prepared");
        }
    });
    Ok(())
}

async fn mail_reset_token(state: &AppState, email: &str) -> AppResult<()> {
    let Some(user) = db::users::find_by_email(&state.db, email).await? else {
        return Ok(());
    };
    let token = new_token();
    let now = state.tokens.clock.now();
    let ttl = TimeDelta::from_std(state.config.password_reset_ttl).unwrap_or(TimeDelta::MAX);
    let minutes = state.config.password_reset_ttl.as_secs() / 60;
    let link = graphiql_link(
        &state.config.public_url(),
        &format!(
            "mutation ResetPassword {{\n  resetPassword(token: \"{token}\", newPassword: \"\")\n}}"
        ),
    );
    let content = Content {
        subject: "Reset your Smilecook password".into(),
        text: format!(
            "Hello {name},\n\nSomeone (we hope you) asked to reset the password of your Smilecook \
             account. This token works once, for {minutes} minutes:\n\n{token}\n\nRun this in \
             GraphiQL with a new password:\n\n{link}\n\nIf it was not you, ignore this mail: \
             your password stays as it is.\n",
            name = user.username
        ),
        html: format!(
            "<p>Hello {name},</p><p>Someone (we hope you) asked to reset the password of your \
             Smilecook account. This token works once, for {minutes} minutes:</p>\
             <p><code>{token}</code></p><p><a href=\"{link}\">Open it in GraphiQL</a> and \
             choose a new password.</p><p>If it was not you, ignore this mail: your password \
             stays as it is.</p>",
            name = html_escape(&user.username),
            link = html_escape(&link)
        ),
    };
    let txn = sea_orm::TransactionTrait::begin(&state.db).await?;
    db::password_resets::create(&txn, hash(&token), user.id, now, now + ttl).await?;
    mail::enqueue(&txn, &user.email, content, &state.tokens.clock).await?;
    txn.commit().await?;
    Ok(())
}

/// Sets `new_password` on the account of `token` and ends every session of it.
pub async fn reset_password(state: &AppState, token: &str, new_password: String) -> AppResult<()> {
    validate::password("newPassword", &new_password)?;
    let invalid = || invalid_token("reset");
    let token = plausible_token(token).ok_or_else(invalid)?;
    let now = state.tokens.clock.now();
    let Some(user_id) = db::password_resets::take(&state.db, &hash(token), now).await? else {
        return Err(invalid());
    };
    let new_hash = state.hasher.hash(new_password).await?;
    if !db::users::reset_password(&state.db, user_id, new_hash).await? {
        return Err(invalid()); // The account is gone.
    }
    crate::accounts::end_all_sessions(state, user_id).await
}

/// How long a mailed verification token works.
const VERIFICATION_TTL: TimeDelta = TimeDelta::days(7);

/// Mails `user` a token that proves their address (after registration, or when asked again).
pub async fn send_verification(state: &AppState, user: &db::users::User) -> AppResult<()> {
    let token = new_token();
    let now = state.tokens.clock.now();
    let link = graphiql_link(
        &state.config.public_url(),
        &format!("mutation VerifyEmail {{\n  verifyEmail(token: \"{token}\")\n}}"),
    );
    let content = Content {
        subject: "Verify your email address for Smilecook".into(),
        text: format!(
            "Hello {name},\n\nPlease confirm that {email} is your address. This token works \
             once, for 7 days:\n\n{token}\n\nRun this in GraphiQL:\n\n{link}\n\nIf you did \
             not register on Smilecook, ignore this mail.\n",
            name = user.username,
            email = user.email
        ),
        html: format!(
            "<p>Hello {name},</p><p>Please confirm that {email} is your address. This token \
             works once, for 7 days:</p><p><code>{token}</code></p><p><a href=\"{link}\">Open \
             it in GraphiQL</a>.</p><p>If you did not register on Smilecook, ignore this \
             mail.</p>",
            name = html_escape(&user.username),
            email = html_escape(&user.email),
            link = html_escape(&link)
        ),
    };
    let txn = sea_orm::TransactionTrait::begin(&state.db).await?;
    let expires = now + VERIFICATION_TTL;
    db::email_verifications::create(&txn, hash(&token), user.id, &user.email, now, expires).await?;
    mail::enqueue(&txn, &user.email, content, &state.tokens.clock).await?;
    txn.commit().await?;
    Ok(())
}

/// Registers an account and mails it a verification token. Where addresses are verified
/// (`EMAIL_VERIFICATION` other than `none`), an address that already has an account is not
/// told apart from a new one: the answer looks like a registration (an account that was never
/// created, so nobody can log into it), and the address's owner is mailed that someone tried.
/// The password is hashed either way, so the two take the same time.
pub async fn register(
    state: &AppState,
    username: &str,
    email: &str,
    password: String,
) -> AppResult<db::users::User> {
    match crate::accounts::register(state, username, email, password).await {
        Ok(user) => {
            // The account stands even if its mail cannot be written: `resendVerification`.
            if let Err(error) = send_verification(state, &user).await {
                tracing::warn!(error = ?error, "a verification mail could not be prepared");
            }
            Ok(user)
        }
        Err(AppError::BadUserInput {
            field: Some("email"),
            ..
        }) if state.config.email_verification() != EmailVerification::None => {
            let email = validate::email(email)?;
            if let Some(owner) = db::users::find_by_email(&state.db, &email).await? {
                mail::enqueue(
                    &state.db,
                    &owner.email,
                    taken_notice(state, &owner),
                    &state.tokens.clock,
                )
                .await?;
            }
            Ok(db::users::User {
                id: uuid::Uuid::now_v7(),
                username: validate::username(username)?,
                email,
                created_at: state.tokens.clock.now(),
                email_verified_at: None,
            })
        }
        Err(error) => Err(error),
    }
}

/// The mail to an address's owner when someone registers with it again.
fn taken_notice(state: &AppState, owner: &db::users::User) -> Content {
    let reset = graphiql_link(
        &state.config.public_url(),
        &format!(
            "mutation RequestPasswordReset {{\n  requestPasswordReset(email: \"{}\")\n}}",
            owner.email
        ),
    );
    Content {
        subject: "Someone tried to register on Smilecook with your address".into(),
        text: format!(
            "Hello {name},\n\nSomeone tried to register a new Smilecook account with this \
             address, which already belongs to your account. If it was you, log in as {name}; \
             if you forgot your password, reset it:\n\n{reset}\n\nOtherwise ignore this \
             mail: nothing has changed.\n",
            name = owner.username
        ),
        html: format!(
            "<p>Hello {name},</p><p>Someone tried to register a new Smilecook account with this \
             address, which already belongs to your account. If it was you, log in as {name}; \
             if you forgot your password, <a href=\"{reset}\">reset it</a>.</p><p>Otherwise \
             ignore this mail: nothing has changed.</p>",
            name = html_escape(&owner.username),
            reset = html_escape(&reset)
        ),
    }
}

/// Proves the address the token was mailed to.
pub async fn verify_email(state: &AppState, token: &str) -> AppResult<()> {
    let invalid = || invalid_token("verification");
    let token = plausible_token(token).ok_or_else(invalid)?;
    let now = state.tokens.clock.now();
    let Some((user, email)) = db::email_verifications::take(&state.db, &hash(token), now).await?
    else {
        return Err(invalid());
    };
    if !db::users::mark_email_verified(&state.db, user, &email, now).await? {
        // Verified already (a second mail's token), or no longer the account's address.
        let current = db::users::find_by_id(&state.db, user).await?;
        if current.is_none_or(|u| u.email_verified_at.is_none()) {
            return Err(invalid());
        }
    }
    Ok(())
}

/// Answers at once; mails a new verification token if `email` belongs to an account whose
/// address is not verified yet (after answering, as for a password reset).
pub async fn resend_verification(
    state: &AppState,
    email: &str,
    client: Option<IpAddr>,
) -> AppResult<()> {
    let email = reserve_mail(state, "verify", email, client).await?;
    let state = state.clone();
    tokio::spawn(async move {
        let sent = match db::users::find_by_email(&state.db, &email).await {
            Ok(Some(user)) if user.email_verified_at.is_none() => {
                send_verification(&state, &user).await
            }
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            tracing::warn!(error = ?error, "a verification mail could not be prepared");
        }
    });
    Ok(())
}

/// The address of a request for mail (`kind`: what is mailed), valid and within its
/// allowances per address and per client; TOO_MANY_REQUESTS beyond them.
async fn reserve_mail(
    state: &AppState,
    kind: &str,
    email: &str,
    client: Option<IpAddr>,
) -> AppResult<String> {
    let email = validate::email(email)?;
    let attempt = state.throttle.mail_request(kind, &email, client);
    if let Reservation::Locked { retry_after } = state.throttle.reserve(&attempt).await? {
        return Err(AppError::TooManyRequests { retry_after });
    }
    Ok(email)
}

/// `token` trimmed, unless it cannot be one of ours (empty, or far too long to hash).
fn plausible_token(token: &str) -> Option<&str> {
    let token = token.trim();
    (!token.is_empty() && token.len() <= 128).then_some(token)
}

/// The error for a `kind` token that is unknown, used or expired.
fn invalid_token(kind: &str) -> AppError {
    AppError::input(
        "token",
        format!("This {kind} token is unknown, used or expired: ask for a new one."),
    )
}

/// A new token: 256 random bits, URL-safe base64 (43 characters).
fn new_token() -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    URL_SAFE_NO_PAD.encode(secret)
}

fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// GraphiQL at `base`, opened on `operation`.
fn graphiql_link(base: &str, operation: &str) -> String {
    let encoded = utf8_percent_encode(operation, NON_ALPHANUMERIC);
    format!("{}/graphql?query={encoded}", base.trim_end_matches('/'))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
