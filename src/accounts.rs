//! Account flows: register, login, refresh, logout, change password, the caller's sessions.
//! Each takes the state and plain values and returns domain types; the GraphQL resolvers are
//! thin wrappers around them.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};

use uuid::Uuid;

use crate::{
    auth::{
        denylist::Revocable,
        dpop::proof::Proved,
        guard::Principal,
        jwt::{Claims, Confirmation, TokenType},
        password::Verified,
        throttle::{Account, Action, Pass, Subjects},
    },
    config::EmailVerification,
    db::{
        self,
        mail_requests::Kind,
        users::{Credentials, User},
    },
    error::{AppError, AppResult},
    observe::{self, Login, Revocation},
    request::DpopProof,
    state::AppState,
    validate,
};

/// What `login` and `refreshToken` hand out.
pub struct Tokens {
    /// Bound to the client's key (DPoP): sent as `Authorization: DPoP <token>`.
    pub bound: bool,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user: User,
}

/// Registers an account (throttled per client address and per mailbox) and asks for its mail,
/// which a worker writes after answering (`recovery`): a verification, or, when another
/// account holds the address already, a notice to that account. Where addresses are verified
/// (`EMAIL_VERIFICATION` other than `none`) the new account only claims its address until it
/// proves it, so a registration with a held address is created and answered exactly like one
/// with a new address: nothing tells the registrant which it was. In development (`none`) the
/// account holds its address at once, and a held one is named.
pub async fn register(
    state: &AppState,
    username: &str,
    email: &str,
    password: String,
    client: Option<IpAddr>,
) -> AppResult<User> {
    let username = validate::username(username)?;
    let email = validate::email(email)?;
    validate::password("password", &password)?;
    let mailbox = validate::mailbox(&email);
    let subjects = Subjects {
        mailbox: Some(&mailbox),
        client,
        ..Subjects::default()
    };
    state.throttle.reserve(Action::Register, subjects).await?;
    let hash = state.hasher.hash(password).await?;
    let holds = state.config.email_verification() == EmailVerification::None;
    let txn = sea_orm::TransactionTrait::begin(&state.db).await?;
    let user = db::users::insert(&txn, &username, &email, hash, holds).await?;
    let now = state.tokens.clock.now();
    db::mail_requests::insert(&txn, Kind::Registered, &email, Some(user.id), now).await?;
    txn.commit().await?;
    // `user(username:)` answers differently now: cached public answers are stale.
    state.events.public_change().await;
    Ok(user)
}

/// The account of a signed-in caller (UNAUTHENTICATED once it no longer exists).
pub async fn me(state: &AppState, principal: &Principal) -> AppResult<User> {
    let user = db::users::find_by_id(&state.db, principal.user_id).await?;
    user.ok_or_else(|| AppError::Unauthenticated("This account no longer exists.".into()))
}

/// Somebody by username, in any case.
pub async fn find_by_username(state: &AppState, username: &str) -> AppResult<Option<User>> {
    db::users::find_by_username(&state.db, username).await
}

/// Where a login comes from: the client's address and user agent, as the transport saw them.
#[derive(Clone, Debug, Default)]
pub struct Device {
    pub client: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The key its DPoP proof was signed with (RFC 9449): the session's tokens are bound to
    /// it. None for a Bearer login.
    pub key: Option<Proved>,
}

/// Checks the password (throttled per login name, account and client address, see
/// `auth::throttle`) and opens a session.
pub async fn login(
    state: &AppState,
    login: &str,
    password: String,
    device: Device,
) -> AppResult<Tokens> {
    let found = db::users::find_credentials(&state.db, login).await?;
    let account = found.as_ref().map(|(user, _)| Account {
        id: user.id,
        username: &user.username,
        email: user.holds_email.then_some(user.email.as_str()),
    });
    let subjects = Subjects {
        login_name: Some(login),
        account,
        client: device.client,
        mailbox: None,
    };
    let reserved = state.throttle.reserve(Action::Login, subjects).await;
    let (pass, attempt) = reserved.inspect_err(|e| observe::login(refused(e)))?;
    if pass == Pass::Silent {
        // As long as a wrong password takes, and answered the same.
        state.hasher.verify(password, None).await?;
        observe::login(Login::Locked);
        return Err(wrong_login());
    }
    let checked = check_password(state, found, password).await;
    let Some((user, credentials)) = checked.inspect_err(|_| observe::login(Login::Failed))? else {
        observe::login(Login::Wrong);
        return Err(wrong_login());
    };
    state.throttle.succeeded(&attempt).await?;
    // Only a correct password learns that the address is unverified.
    require_verified(state, &user, Gate::Login)
        .inspect_err(|_| observe::login(Login::Unverified))?;
    let opened = open_session(state, user, credentials.epoch, device).await;
    observe::login(match &opened {
        Ok(_) => Login::Success,
        Err(_) => Login::Failed,
    });
    opened
}

/// The outcome of a login the throttle refused (or could not decide on).
fn refused(error: &AppError) -> Login {
    match error {
        AppError::TooManyRequests { .. } => Login::Throttled,
        _ => Login::Failed,
    }
}

fn wrong_login() -> AppError {
    AppError::Unauthenticated("Wrong username, email or password.".into())
}

/// The user whose password this is, among what `find_credentials` found; unknown users cost a
/// full hash too. A hash made under outdated parameters is replaced, unless the password
/// changed meanwhile (the replacement would bring the old password back).
async fn check_password(
    state: &AppState,
    found: Option<(User, Credentials)>,
    password: String,
) -> AppResult<Option<(User, Credentials)>> {
    let stored = found.as_ref().map(|(_, c)| c.hash.clone());
    let verified = state.hasher.verify(password, stored).await?;
    let (Some((user, credentials)), Verified::Yes { rehash }) = (found, verified) else {
        return Ok(None);
    };
    if let Some(hash) = rehash {
        db::users::rehash_password(&state.db, user.id, &credentials.hash, hash).await?;
    }
    Ok(Some((user, credentials)))
}

/// Opens a session for `user`, whose password was checked against credentials of `epoch`.
///
/// A change of credentials (`change_password`, `logout` of all sessions) raises the epoch
/// first and then revokes every live session. So the epoch is read again once the session
/// exists: if it still holds, the change has not raised it yet and will find this session;
/// if it moved, the session is ended here and its tokens are never handed out.
async fn open_session(
    state: &AppState,
    user: User,
    epoch: i64,
    device: Device,
) -> AppResult<Tokens> {
    let sid = Uuid::new_v4();
    let now = state.tokens.clock.now();
    let session_expires = now + to_delta(state.config.refresh_token_ttl);
    let cnf = device.key.map(|proved| Confirmation { jkt: proved.jkt });
    let (tokens, refresh) = issue(state, user, sid, true, now, session_expires, cnf)?;
    let user_id = tokens.user.id;
    let session = db::sessions::NewSession {
        id: sid,
        user_id,
        refresh_jti: refresh.jti,
        created_at: now,
        expires_at: session_expires,
        user_agent: device.user_agent,
        client_network: device.client.map(network),
    };
    db::sessions::create(&state.db, session).await?;
    let current = db::users::credentials(&state.db, user_id).await?;
    if current.is_none_or(|c| c.epoch != epoch) {
        db::sessions::mark_revoked(&state.db, &[sid], now).await?;
        observe::revoked(Revocation::LoginRace, 1);
        return Err(AppError::Unauthenticated(
            "The account's credentials changed during this login: log in again.".into(),
        ));
    }
    Ok(tokens)
}

pub async fn refresh(
    state: &AppState,
    token: &str,
    proof: Option<&DpopProof>,
) -> AppResult<Tokens> {
    let now = state.tokens.clock.now();
    let claims = (state.tokens.keys)
        .verify(token.trim(), TokenType::Refresh, now.timestamp())?
        .claims;
    let revoked = [Revocable::Token(claims.jti), Revocable::Session(claims.sid)];
    if state.tokens.denylist.any_revoked(&revoked).await? {
        return Err(AppError::TokenRevoked);
    }
    let session = db::sessions::find(&state.db, claims.sid)
        .await?
        .filter(|s| s.user_id == claims.sub && s.revoked_at.is_none())
        .ok_or(AppError::TokenRevoked)?;
    if idle(state, &session, now) {
        revoke_sessions(state, &[claims.sid], Revocation::Idle).await?;
        return Err(AppError::Unauthenticated(
            "This login session was idle too long and has ended: log in again.".into(),
        ));
    }
    let cnf = proven_binding(state, &claims, proof, now).await?;
    let user = db::users::find_by_id(&state.db, claims.sub)
        .await?
        .ok_or(AppError::TokenRevoked)?;
    let (tokens, next) = issue(state, user, claims.sid, false, now, session.expires_at, cnf)?;
    if !db::sessions::rotate(&state.db, claims.sid, claims.jti, next.jti, now).await? {
        let session = db::sessions::find(&state.db, claims.sid).await?;
        if session.is_none_or(|s| s.revoked_at.is_some()) {
            return Err(AppError::TokenRevoked); // Revoked while this refresh ran.
        }
        // Already rotated: this token was stolen or replayed. End the whole login session.
        observe::refresh_reused();
        revoke_sessions(state, &[claims.sid], Revocation::Reuse).await?;
        return Err(AppError::TokenReused);
    }
    observe::refresh_rotated();
    Ok(tokens)
}

/// The binding of a refresh token, proven again: a bound session refreshes only with a proof
/// by its key. Without a proof, or with one by another key, the token was taken from its
/// client: the whole login session ends, as for a reused token. A proof by the right key
/// that is stale or replayed is refused, and the session kept.
async fn proven_binding(
    state: &AppState,
    claims: &Claims,
    proof: Option<&DpopProof>,
    now: DateTime<Utc>,
) -> AppResult<Option<Confirmation>> {
    let dpop = &state.tokens.dpop;
    let Some(cnf) = &claims.cnf else {
        if dpop.required {
            return Err(AppError::InvalidDpopProof(
                "This server accepts DPoP-bound sessions only: log in again with a DPoP proof."
                    .into(),
            ));
        }
        return Ok(None);
    };
    let presented = match proof {
        Some(proof) => Some(dpop.prove(proof, None, now.timestamp_millis()).await?),
        None => None,
    };
    if presented.is_none_or(|proved| proved.jkt != cnf.jkt) {
        revoke_sessions(state, &[claims.sid], Revocation::KeyMismatch).await?;
        return Err(AppError::InvalidDpopProof(
            "This refresh token is bound to a key and came without a proof by it, so its login session has been ended: log in again.".into(),
        ));
    }
    Ok(Some(cnf.clone()))
}

/// Revokes the caller's access token and login session, or every session with `all_sessions`
/// (raising the credential epoch first, so that a login in flight cannot open one after it:
/// see [`open_session`]).
pub async fn logout(state: &AppState, principal: &Principal, all_sessions: bool) -> AppResult<()> {
    let mut sessions = vec![principal.claims.sid];
    let cause = match all_sessions {
        true => Revocation::LogoutAll,
        false => Revocation::Logout,
    };
    if all_sessions {
        db::users::raise_credential_epoch(&state.db, principal.user_id).await?;
        sessions.extend(live_sessions(state, principal.user_id, None).await?);
    }
    let token = (Revocable::Token(principal.claims.jti), principal.claims.exp);
    state.tokens.denylist.revoke(&[token]).await?;
    revoke_sessions(state, &sessions, cause).await
}

/// Checks the current password (throttled with the account's logins, see `auth::throttle`),
/// sets the new one in place of the hash it was checked against, raising the credential epoch,
/// then ends every other login session of the account.
pub async fn change_password(
    state: &AppState,
    principal: &Principal,
    current: String,
    new: String,
    client: Option<IpAddr>,
) -> AppResult<()> {
    if !principal.claims.fresh {
        return Err(AppError::FreshTokenRequired);
    }
    validate::password("newPassword", &new)?;
    let user_id = principal.user_id;
    let Some(stored) = db::users::credentials(&state.db, user_id).await? else {
        return Err(AppError::Unauthenticated(
            "This account no longer exists.".into(),
        ));
    };
    let user = db::users::find_by_id(&state.db, user_id).await?;
    let account = user.as_ref().map(|user| Account {
        id: user.id,
        username: &user.username,
        email: user.holds_email.then_some(user.email.as_str()),
    });
    let subjects = Subjects {
        account,
        client,
        ..Subjects::default()
    };
    let (_, attempt) = state
        .throttle
        .reserve(Action::CheckPassword, subjects)
        .await?;
    let wrong = || AppError::input("currentPassword", "The current password is wrong.");
    if state
        .hasher
        .verify(current, Some(stored.hash.clone()))
        .await?
        == Verified::No
    {
        return Err(wrong());
    }
    state.throttle.succeeded(&attempt).await?;
    let hash = state.hasher.hash(new).await?;
    let now = state.tokens.clock.now();
    if !db::users::change_password(&state.db, user_id, &stored.hash, hash, now).await? {
        return Err(wrong()); // Changed by another request since it was read.
    }
    let others = live_sessions(state, user_id, Some(principal.claims.sid)).await?;
    revoke_sessions(state, &others, Revocation::PasswordChange).await
}

/// Ends every live session of `user` (after a password reset by mailed token).
pub async fn end_all_sessions(state: &AppState, user: Uuid) -> AppResult<()> {
    let live = live_sessions(state, user, None).await?;
    revoke_sessions(state, &live, Revocation::Reset).await
}

/// The ids of `user`'s live sessions (neither revoked nor expired), but `except`.
async fn live_sessions(state: &AppState, user: Uuid, except: Option<Uuid>) -> AppResult<Vec<Uuid>> {
    let now = state.tokens.clock.now();
    let live = db::sessions::live_for_user(&state.db, user, now).await?;
    Ok(live
        .into_iter()
        .map(|s| s.id)
        .filter(|sid| Some(*sid) != except)
        .collect())
}

/// EMAIL_NOT_VERIFIED when `EMAIL_VERIFICATION` keeps `action` from unverified `user`.
pub fn require_verified(state: &AppState, user: &db::users::User, action: Gate) -> AppResult<()> {
    let gated = match state.config.email_verification() {
        EmailVerification::None => false,
        EmailVerification::Publish => action == Gate::Publish,
        EmailVerification::Login => true,
    };
    match gated && user.email_verified_at.is_none() {
        true => Err(AppError::EmailNotVerified),
        false => Ok(()),
    }
}

/// What `EMAIL_VERIFICATION` can keep from an account until its address is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Login,
    Publish,
}

/// Whether `session` has gone unused for longer than `SESSION_IDLE_TIMEOUT` at `now`.
fn idle(state: &AppState, session: &db::sessions::Model, now: DateTime<Utc>) -> bool {
    now - session.last_used() > to_delta(state.config.session_idle_timeout)
}

/// The caller's live login sessions (neither revoked, expired nor idle), most recently used
/// first.
pub async fn sessions(
    state: &AppState,
    principal: &Principal,
) -> AppResult<Vec<db::sessions::Model>> {
    let now = state.tokens.clock.now();
    let mut live: Vec<_> = db::sessions::live_for_user(&state.db, principal.user_id, now)
        .await?
        .into_iter()
        .filter(|session| !idle(state, session, now))
        .collect();
    live.sort_by_key(|session| std::cmp::Reverse(session.last_used()));
    Ok(live)
}

/// Ends one of the caller's sessions (NOT_FOUND for an id that is not one of theirs, live).
pub async fn revoke_session(state: &AppState, principal: &Principal, id: &str) -> AppResult<()> {
    let not_found = || AppError::NotFound("None of your live sessions has this id.".into());
    let id = Uuid::parse_str(id.trim()).map_err(|_| not_found())?;
    let now = state.tokens.clock.now();
    let session = db::sessions::find(&state.db, id)
        .await?
        .filter(|s| s.user_id == principal.user_id && s.revoked_at.is_none() && s.expires_at > now)
        .ok_or_else(not_found)?;
    revoke_sessions(state, &[session.id], Revocation::RevokeSession).await
}

/// Ends every session of the caller but the one asking; how many. Raises the credential epoch
/// first, so that a login in flight cannot open a session after this has returned.
pub async fn revoke_other_sessions(state: &AppState, principal: &Principal) -> AppResult<usize> {
    db::users::raise_credential_epoch(&state.db, principal.user_id).await?;
    let others = live_sessions(state, principal.user_id, Some(principal.claims.sid)).await?;
    revoke_sessions(state, &others, Revocation::RevokeOthers).await?;
    Ok(others.len())
}

/// The network of `ip`, as much of an address as a session shows: a /24 for IPv4, a /48 for
/// IPv6 (an IPv4-mapped address counts as IPv4).
pub fn network(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{prefix}/48")
        }
    }
}

/// Denylists the sessions (their tokens die with them) and marks them revoked in the database;
/// counted by `cause` once they are.
async fn revoke_sessions(state: &AppState, sids: &[Uuid], cause: Revocation) -> AppResult<()> {
    if sids.is_empty() {
        return Ok(());
    }
    // An entry must outlive every token of the session; none lives past login + refresh TTL.
    let now = state.tokens.clock.now();
    let until = now.timestamp() + state.config.refresh_token_ttl.as_secs() as i64;
    let entries: Vec<_> = sids
        .iter()
        .map(|s| (Revocable::Session(*s), until))
        .collect();
    state.tokens.denylist.revoke(&entries).await?;
    db::sessions::mark_revoked(&state.db, sids, now).await?;
    observe::revoked(cause, sids.len());
    Ok(())
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
    cnf: Option<Confirmation>,
) -> AppResult<(Tokens, Claims)> {
    let iat = now.timestamp();
    let session_exp = session_expires.timestamp();
    let access_exp = (iat + state.config.access_token_ttl.as_secs() as i64).min(session_exp);
    let keys = &state.tokens.keys;
    let mut access = keys.claims(user.id, sid, TokenType::Access, fresh, iat, access_exp);
    let mut refresh = keys.claims(user.id, sid, TokenType::Refresh, false, iat, session_exp);
    access.cnf = cnf.clone();
    refresh.cnf = cnf.clone();
    let tokens = Tokens {
        bound: cnf.is_some(),
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
