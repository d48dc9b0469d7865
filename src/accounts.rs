//! Account flows: register, login, refresh, logout, change password. Each takes the state and
//! plain values and returns domain types; the GraphQL resolvers are thin wrappers around them.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::{
    auth::{
        denylist::Revocable,
        guard::Principal,
        jwt::{Claims, TokenType},
        password::Verified,
    },
    db::{self, users::User},
    error::{AppError, AppResult},
    state::AppState,
    validate,
};

/// What `login` and `refreshToken` hand out.
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user: User,
}

pub async fn register(
    state: &AppState,
    username: &str,
    email: &str,
    password: String,
) -> AppResult<User> {
    let username = validate::username(username)?;
    let email = validate::email(email)?;
    validate::password("password", &password)?;
    let hash = state.hasher.hash(password).await?;
    db::users::insert(&state.db, &username, &email, hash).await
}

/// Checks the password (throttled per account and per client address) and opens a session.
pub async fn login(
    state: &AppState,
    login: &str,
    password: String,
    client: Option<IpAddr>,
) -> AppResult<Tokens> {
    let throttle = &state.throttle;
    let found = db::users::find_credentials(&state.db, login).await?;
    // An account is throttled by its id, whether its username or its email was typed; a login
    // that names no account, by its text, so that guessing at it locks just the same.
    let account_key = match &found {
        Some((user, _)) => format!("user:{}", user.id),
        None => format!("login:{}", login.trim().to_lowercase()),
    };
    let mut keys = vec![(account_key, &throttle.account)];
    if let Some(ip) = client {
        keys.push((format!("ip:{ip}"), &throttle.address));
    }
    let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    if let Some(retry_after) = throttle.store.retry_after(&names).await? {
        return Err(AppError::TooManyRequests { retry_after });
    }
    match check_password(state, found, password).await? {
        Some(user) => {
            throttle.store.success(&names[0]).await?;
            open_session(state, user).await
        }
        None => {
            throttle.store.failure(&keys).await?;
            Err(AppError::Unauthenticated(
                "Wrong username, email or password.".into(),
            ))
        }
    }
}

/// The user whose password this is, among what `find_credentials` found; unknown users cost a
/// full hash too.
async fn check_password(
    state: &AppState,
    found: Option<(User, String)>,
    password: String,
) -> AppResult<Option<User>> {
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let verified = state.hasher.verify(password, stored).await?;
    let (Some(user), Verified::Yes { rehash }) = (user, verified) else {
        return Ok(None);
    };
    if let Some(hash) = rehash {
        db::users::set_password_hash(&state.db, user.id, hash).await?;
    }
    Ok(Some(user))
}

async fn open_session(state: &AppState, user: User) -> AppResult<Tokens> {
    let sid = Uuid::new_v4();
    let now = Utc::now();
    let session_expires = now + to_delta(state.config.refresh_token_ttl);
    let (tokens, refresh) = issue(state, user, sid, true, now, session_expires)?;
    db::sessions::create(&state.db, sid, tokens.user.id, refresh.jti, session_expires).await?;
    Ok(tokens)
}

pub async fn refresh(state: &AppState, token: &str) -> AppResult<Tokens> {
    let claims = state.keys.verify(token.trim(), TokenType::Refresh)?;
    let revoked = [Revocable::Token(claims.jti), Revocable::Session(claims.sid)];
    if state.denylist.any_revoked(&revoked).await? {
        return Err(AppError::TokenRevoked);
    }
    let session = db::sessions::find(&state.db, claims.sid)
        .await?
        .filter(|s| s.user_id == claims.sub && s.revoked_at.is_none())
        .ok_or(AppError::TokenRevoked)?;
    let user = db::users::find_by_id(&state.db, claims.sub)
        .await?
        .ok_or(AppError::TokenRevoked)?;
    let (tokens, next) = issue(
        state,
        user,
        claims.sid,
        false,
        Utc::now(),
        session.expires_at,
    )?;
    if !db::sessions::rotate(&state.db, claims.sid, claims.jti, next.jti).await? {
        // Already rotated: this token was stolen or replayed. End the whole login session.
        revoke_sessions(state, &[claims.sid]).await?;
        return Err(AppError::TokenReused);
    }
    Ok(tokens)
}

/// Revokes the caller's access token and login session, or every session with `all_sessions`.
pub async fn logout(state: &AppState, principal: &Principal, all_sessions: bool) -> AppResult<()> {
    let mut sessions = vec![principal.claims.sid];
    if all_sessions {
        let live = db::sessions::live_for_user(&state.db, principal.user_id).await?;
        sessions.extend(live.into_iter().map(|s| s.id));
    }
    state
        .denylist
        .revoke(&[(Revocable::Token(principal.claims.jti), principal.claims.exp)])
        .await?;
    revoke_sessions(state, &sessions).await
}

pub async fn change_password(
    state: &AppState,
    principal: &Principal,
    current: String,
    new: String,
) -> AppResult<()> {
    if !principal.claims.fresh {
        return Err(AppError::FreshTokenRequired);
    }
    validate::password("newPassword", &new)?;
    let stored = db::users::password_hash(&state.db, principal.user_id).await?;
    if stored.is_none() {
        return Err(AppError::Unauthenticated(
            "This account no longer exists.".into(),
        ));
    }
    if state.hasher.verify(current, stored).await? == Verified::No {
        return Err(AppError::input(
            "currentPassword",
            "The current password is wrong.",
        ));
    }
    let hash = state.hasher.hash(new).await?;
    db::users::set_password_hash(&state.db, principal.user_id, hash).await?;
    let others: Vec<_> = db::sessions::live_for_user(&state.db, principal.user_id)
        .await?
        .into_iter()
        .map(|s| s.id)
        .filter(|sid| *sid != principal.claims.sid)
        .collect();
    revoke_sessions(state, &others).await
}

/// Denylists the sessions (their tokens die with them) and marks them revoked in the database.
async fn revoke_sessions(state: &AppState, sids: &[Uuid]) -> AppResult<()> {
    if sids.is_empty() {
        return Ok(());
    }
    // An entry must outlive every token of the session; none lives past login + refresh TTL.
    let until = Utc::now().timestamp() + state.config.refresh_token_ttl.as_secs() as i64;
    let entries: Vec<_> = sids
        .iter()
        .map(|s| (Revocable::Session(*s), until))
        .collect();
    state.denylist.revoke(&entries).await?;
    db::sessions::mark_revoked(&state.db, sids).await
}

/// Signs an access and a refresh token for `user` in session `sid`. The access token never
/// outlives the session; the refresh token expires exactly when the session does.
fn issue(
    state: &AppState,
    user: User,
    sid: Uuid,
    fresh: bool,
    now: DateTime<Utc>,
    session_expires: DateTime<Utc>,
) -> AppResult<(Tokens, Claims)> {
    let iat = now.timestamp();
    let session_exp = session_expires.timestamp();
    let access_exp = (iat + state.config.access_token_ttl.as_secs() as i64).min(session_exp);
    let keys = &state.keys;
    let access = keys.claims(user.id, sid, TokenType::Access, fresh, iat, access_exp);
    let refresh = keys.claims(user.id, sid, TokenType::Refresh, false, iat, session_exp);
    let tokens = Tokens {
        access_token: keys.sign(&access)?,
        refresh_token: keys.sign(&refresh)?,
        expires_in: access_exp - iat,
        user,
    };
    Ok((tokens, refresh))
}

fn to_delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}
