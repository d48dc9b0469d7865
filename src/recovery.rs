//! Forgotten passwords: `request_password_reset` mails a single-use token, `reset_password`
//! trades it for a new password and ends every session of the account.
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
    let email = validate::email(email)?;
    let attempt = state.throttle.reset_request(&email, client);
    if let Reservation::Locked { retry_after } = state.throttle.reserve(&attempt).await? {
        return Err(AppError::TooManyRequests { retry_after });
    }
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
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = URL_SAFE_NO_PAD.encode(secret);
    let now = state.tokens.clock.now();
    let ttl = TimeDelta::from_std(state.config.password_reset_ttl).unwrap_or(TimeDelta::MAX);
    let minutes = state.config.password_reset_ttl.as_secs() / 60;
    let link = reset_link(&state.config.public_url(), &token);
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
    let invalid = || {
        AppError::input(
            "token",
            "This reset token is unknown, used or expired: ask for a new one.",
        )
    };
    let token = token.trim();
    if token.is_empty() || token.len() > 128 {
        return Err(invalid());
    }
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

fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// GraphiQL at `base`, opened on the mutation that uses `token`.
fn reset_link(base: &str, token: &str) -> String {
    let query = format!(
        "mutation ResetPassword {{\n  resetPassword(token: \"{token}\", newPassword: \"\")\n}}"
    );
    let encoded = utf8_percent_encode(&query, NON_ALPHANUMERIC);
    format!("{}/graphql?query={encoded}", base.trim_end_matches('/'))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
