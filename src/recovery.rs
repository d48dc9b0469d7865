//! What an account holder proves by mail. Forgotten passwords: `request_password_reset` asks
//! for a single-use token by mail, `reset_password` trades it for a new password and ends every
//! session of the account. Email addresses: a registration's mail (`accounts::register`) or
//! `resend_verification` carries a token that `verify_email` takes, after which the account
//! holds its address (`db::users`); `EMAIL_VERIFICATION` says what an unverified account may
//! not do (`accounts::require_verified`).
//!
//! Nothing tells a stranger whether an address has an account, and nothing lets anybody turn
//! the server's mail against a mailbox:
//! - a request does the same work whatever the address: it checks the address, counts the
//!   request against its throttles (per mailbox and per client address) and writes a row to
//!   `mail_requests`. Everything that depends on the address (the look-up, the token, the
//!   mail) is done later by a worker on a timer of its own ([`spawn_worker`]), off the request
//!   path: a request answers the same, and in the same time, and so does the next one;
//! - the worker writes mail through the outbox's caps per mailbox (`mail::Outbox`), mail the
//!   owner asked for (resets, verifications) first and on a lane of its own.
//!
//! Only a token's SHA-256 is stored; the token (256 random bits) exists in the mail alone,
//! expires (`PASSWORD_RESET_TTL`, 30 minutes; 7 days for a verification), works once, and a
//! reset token dies with any change of the password made after it was asked for. Links put
//! the token in the URL's fragment, which browsers never send to a server.

use std::{net::IpAddr, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeDelta, Utc};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rand::RngCore;
use sea_orm::{DatabaseTransaction, TransactionTrait};

use crate::{
    auth::throttle::{Action, Subjects},
    db::{
        self,
        mail_requests::{self, Kind},
        users::{Proved, User},
    },
    error::{AppError, AppResult},
    mail::{Class, Content},
    state::AppState,
    tasks::BackgroundTask,
    validate,
};

/// Asks for a reset token for the account holding `email`, mailed after answering (if there is
/// such an account).
pub async fn request_password_reset(
    state: &AppState,
    email: &str,
    client: Option<IpAddr>,
) -> AppResult<()> {
    request_mail(state, Action::PasswordReset, Kind::Reset, email, client).await
}

/// Asks for a new verification token for the accounts whose address `email` is not proved yet,
/// mailed after answering.
pub async fn resend_verification(
    state: &AppState,
    email: &str,
    client: Option<IpAddr>,
) -> AppResult<()> {
    request_mail(
        state,
        Action::Verification,
        Kind::Verification,
        email,
        client,
    )
    .await
}

/// The work of a request for mail, the same for every address: checked, throttled, written.
async fn request_mail(
    state: &AppState,
    action: Action,
    kind: Kind,
    email: &str,
    client: Option<IpAddr>,
) -> AppResult<()> {
    let email = validate::email(email)?;
    let mailbox = validate::mailbox(&email);
    let subjects = Subjects {
        mailbox: Some(&mailbox),
        client,
        ..Subjects::default()
    };
    state.throttle.reserve(action, subjects).await?;
    let now = state.tokens.clock.now();
    mail_requests::insert(&state.db, kind, &email, None, now).await
}

/// Sets `new_password` on the account of `token` and ends every session of it.
pub async fn reset_password(state: &AppState, token: &str, new_password: String) -> AppResult<()> {
    validate::password("newPassword", &new_password)?;
    let invalid = || invalid_token("reset");
    let token = plausible_token(token).ok_or_else(invalid)?;
    let now = state.tokens.clock.now();
    let Some((user_id, issued)) = db::password_resets::take(&state.db, &hash(token), now).await?
    else {
        return Err(invalid());
    };
    let Some(credentials) = db::users::credentials(&state.db, user_id).await? else {
        return Err(invalid()); // The account is gone.
    };
    if credentials
        .password_changed_at
        .is_some_and(|at| at >= issued)
    {
        return Err(invalid()); // The password changed after this token was asked for.
    }
    let new_hash = state.hasher.hash(new_password).await?;
    let epoch = credentials.epoch;
    if !db::users::reset_password(&state.db, user_id, new_hash, epoch, now).await? {
        return Err(invalid()); // Another change (a second token, changePassword) came first.
    }
    crate::accounts::end_all_sessions(state, user_id).await
}

/// Proves the address the token was mailed to: the account holds it from now on.
pub async fn verify_email(state: &AppState, token: &str) -> AppResult<()> {
    let invalid = || invalid_token("verification");
    let token = plausible_token(token).ok_or_else(invalid)?;
    let now = state.tokens.clock.now();
    let Some((user, email)) = db::email_verifications::take(&state.db, &hash(token), now).await?
    else {
        return Err(invalid());
    };
    let txn = state.db.begin().await?;
    let proved = db::users::mark_email_verified(&txn, user, &email, now).await?;
    txn.commit().await?;
    match proved {
        Proved::Held => Ok(()),
        Proved::HeldByAnother => Err(AppError::input(
            "token",
            "Another account has proved this address first, so this one cannot hold it.",
        )),
        Proved::Nothing => {
            // Verified already (a second mail's token), or no longer the account's address.
            let current = db::users::find_by_id(&state.db, user).await?;
            match current.is_some_and(|u| u.email_verified_at.is_some()) {
                true => Ok(()),
                false => Err(invalid()),
            }
        }
    }
}

/// How often the worker turns requests into mail. A timer of its own, not the requests: what
/// it does for an address never runs right after that address's request.
const TICK: Duration = Duration::from_millis(250);
/// Requests of one class handled per tick.
const BATCH: u64 = 50;

/// The worker of this instance: every [`TICK`], the requests mail owners asked for, then those
/// of registrations, oldest first. Any instance may take any request (each is taken once).
pub fn spawn_worker(state: AppState) -> BackgroundTask {
    BackgroundTask::spawn(async move {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            for kinds in [&[Kind::Reset, Kind::Verification][..], &[Kind::Registered]] {
                if let Err(error) = work_through(&state, kinds).await {
                    tracing::warn!(error = ?error, "mail requests could not be read");
                }
            }
        }
    })
}

async fn work_through(state: &AppState, kinds: &[Kind]) -> AppResult<()> {
    for request in mail_requests::oldest(&state.db, kinds, BATCH).await? {
        if let Err(error) = answer(state, &request).await {
            tracing::warn!(error = ?error, "a mail request could not be answered");
        }
    }
    Ok(())
}

/// Takes `request` and writes its mail, in one transaction.
async fn answer(state: &AppState, request: &mail_requests::Model) -> AppResult<()> {
    let txn = state.db.begin().await?;
    if !mail_requests::take(&txn, request.id).await? {
        return Ok(()); // Another instance's worker took it.
    }
    let written = match request.kind() {
        Some(Kind::Reset) => mail_reset(state, &txn, request).await?,
        Some(Kind::Verification) => mail_verifications(state, &txn, request).await?,
        Some(Kind::Registered) => mail_registration(state, &txn, request).await?,
        None => None,
    };
    txn.commit().await?;
    if let Some(class) = written {
        state.outbox.wake(class);
    }
    Ok(())
}

/// A reset token for the holder of the address, unless the password changed since the
/// request.
async fn mail_reset(
    state: &AppState,
    txn: &DatabaseTransaction,
    request: &mail_requests::Model,
) -> AppResult<Option<Class>> {
    let Some(user) = db::users::holder_of(txn, &request.email).await? else {
        return Ok(None);
    };
    let credentials = db::users::credentials(txn, user.id).await?;
    let changed = credentials.and_then(|c| c.password_changed_at);
    if changed.is_some_and(|at| at >= request.created_at)
        || !room(state, txn, &user.email, Class::Owner).await?
    {
        return Ok(None);
    }
    let token = new_token();
    let ttl = TimeDelta::from_std(state.config.password_reset_ttl).unwrap_or(TimeDelta::MAX);
    let expires = request
        .created_at
        .checked_add_signed(ttl)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    db::password_resets::create(txn, hash(&token), user.id, request.created_at, expires).await?;
    let minutes = state.config.password_reset_ttl.as_secs() / 60;
    let content = reset_mail(&state.config.public_url(), &user, &token, minutes);
    enqueue(state, txn, &user.email, content, Class::Owner).await
}

/// A verification token for each account (the newest few) whose address this is, unproved,
/// unless an account has proved it already (then none of them can hold it).
async fn mail_verifications(
    state: &AppState,
    txn: &DatabaseTransaction,
    request: &mail_requests::Model,
) -> AppResult<Option<Class>> {
    let holder = db::users::holder_of(txn, &request.email).await?;
    if holder.is_some_and(|h| h.email_verified_at.is_some()) {
        return Ok(None);
    }
    let mut written = None;
    for user in db::users::unverified_with(txn, &request.email, 3).await? {
        written = written.or(mail_verification(state, txn, &user, request, Class::Owner).await?);
    }
    Ok(written)
}

/// A registration's mail: a notice to the account that holds the address already, else a
/// verification token for the new account.
async fn mail_registration(
    state: &AppState,
    txn: &DatabaseTransaction,
    request: &mail_requests::Model,
) -> AppResult<Option<Class>> {
    let Some(user) = request.user_id else {
        return Ok(None);
    };
    let Some(user) = db::users::find_by_id(txn, user).await? else {
        return Ok(None);
    };
    match db::users::holder_of(txn, &request.email).await? {
        Some(holder) if holder.id != user.id => {
            if !room(state, txn, &holder.email, Class::Bulk).await? {
                return Ok(None);
            }
            let content = taken_notice(&state.config.public_url(), &holder);
            enqueue(state, txn, &holder.email, content, Class::Bulk).await
        }
        _ if user.email_verified_at.is_none() => {
            mail_verification(state, txn, &user, request, Class::Bulk).await
        }
        _ => Ok(None),
    }
}

/// How long a mailed verification token works.
const VERIFICATION_TTL: TimeDelta = TimeDelta::days(7);

async fn mail_verification(
    state: &AppState,
    txn: &DatabaseTransaction,
    user: &User,
    request: &mail_requests::Model,
    class: Class,
) -> AppResult<Option<Class>> {
    if !room(state, txn, &user.email, class).await? {
        return Ok(None);
    }
    let token = new_token();
    let issued = request.created_at;
    let expires = issued + VERIFICATION_TTL;
    db::email_verifications::create(txn, hash(&token), user.id, &user.email, issued, expires)
        .await?;
    let content = verification_mail(&state.config.public_url(), user, &token);
    enqueue(state, txn, &user.email, content, class).await
}

/// Whether the mailbox of `to` has room for one more mail of `class` (else the request is
/// dropped: the mailbox has had its share for now).
async fn room(
    state: &AppState,
    txn: &DatabaseTransaction,
    to: &str,
    class: Class,
) -> AppResult<bool> {
    let room = state
        .outbox
        .room(txn, to, class, &state.tokens.clock)
        .await?;
    if !room {
        tracing::info!(
            ?class,
            "a mailbox has had its share of mail for now: a request was dropped"
        );
    }
    Ok(room)
}

async fn enqueue(
    state: &AppState,
    txn: &DatabaseTransaction,
    to: &str,
    content: Content,
    class: Class,
) -> AppResult<Option<Class>> {
    (state.outbox)
        .enqueue(txn, to, content, class, &state.tokens.clock)
        .await?;
    Ok(Some(class))
}

fn reset_mail(base: &str, user: &User, token: &str, minutes: u64) -> Content {
    let link = graphiql_link(
        base,
        &format!(
            "mutation ResetPassword {{\n  resetPassword(token: \"{token}\", newPassword: \"\")\n}}"
        ),
    );
    Content {
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
    }
}

fn verification_mail(base: &str, user: &User, token: &str) -> Content {
    let link = graphiql_link(
        base,
        &format!("mutation VerifyEmail {{\n  verifyEmail(token: \"{token}\")\n}}"),
    );
    Content {
        subject: "Verify your email address for Smilecook".into(),
        text: format!(
            "Hello {name},\n\nPlease confirm that {email} is the address of your Smilecook \
             account {name}. This token works once, for 7 days:\n\n{token}\n\nRun this in \
             GraphiQL:\n\n{link}\n\nIf you did not register on Smilecook as {name}, ignore \
             this mail.\n",
            name = user.username,
            email = user.email
        ),
        html: format!(
            "<p>Hello {name},</p><p>Please confirm that {email} is the address of your \
             Smilecook account {name}. This token works once, for 7 days:</p>\
             <p><code>{token}</code></p><p><a href=\"{link}\">Open it in GraphiQL</a>.</p>\
             <p>If you did not register on Smilecook as {name}, ignore this mail.</p>",
            name = html_escape(&user.username),
            email = html_escape(&user.email),
            link = html_escape(&link)
        ),
    }
}

/// The mail to an address's holder when someone registers with it again.
fn taken_notice(base: &str, holder: &User) -> Content {
    let reset = graphiql_link(
        base,
        &format!(
            "mutation RequestPasswordReset {{\n  requestPasswordReset(email: \"{}\")\n}}",
            holder.email
        ),
    );
    Content {
        subject: "Someone registered on Smilecook with your address".into(),
        text: format!(
            "Hello {name},\n\nSomeone registered a new Smilecook account with this address, \
             which belongs to your account {name}. The new account cannot use the address, \
             and nothing of yours has changed. If it was you, log in as {name}; if you forgot \
             your password, reset it:\n\n{reset}\n\nOtherwise ignore this mail.\n",
            name = holder.username
        ),
        html: format!(
            "<p>Hello {name},</p><p>Someone registered a new Smilecook account with this \
             address, which belongs to your account {name}. The new account cannot use the \
             address, and nothing of yours has changed. If it was you, log in as {name}; if \
             you forgot your password, <a href=\"{reset}\">reset it</a>.</p><p>Otherwise \
             ignore this mail.</p>",
            name = html_escape(&holder.username),
            reset = html_escape(&reset)
        ),
    }
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
    crate::auth::secret::sha256_hex(token)
}

/// GraphiQL at `base`, opened on `operation`. The operation goes in the URL's fragment, which a
/// browser never sends to a server (nor to a proxy, nor into a server's log): the page reads it
/// and removes it from the address bar and the history.
fn graphiql_link(base: &str, operation: &str) -> String {
    let encoded = utf8_percent_encode(operation, NON_ALPHANUMERIC);
    format!("{}/graphql#query={encoded}", base.trim_end_matches('/'))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
