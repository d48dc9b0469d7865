//! Account mutations: register, login, refreshToken, logout, changePassword, and the
//! forgotten-password pair requestPasswordReset and resetPassword.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};

use super::{require_user, state, user::User};
use crate::{
    accounts,
    auth::dpop::proof::Proved,
    error::AppError,
    recovery,
    request::{ClientAddr, DpopProof, UserAgent},
};

#[derive(InputObject)]
pub struct RegisterInput {
    /// 3-30 letters, digits or underscores; unique regardless of case.
    pub username: String,
    /// A bare address (`ada@example.com`), stored lower-cased; visible to its owner only.
    /// Where addresses are verified, the account holds it once the mailed token proves it.
    pub email: String,
    /// At least 8 characters.
    pub password: String,
}

#[derive(InputObject)]
pub struct LoginInput {
    /// Username or email.
    pub login: String,
    pub password: String,
}

/// Tokens for an authenticated session. Send the access token as
/// `Authorization: Bearer <accessToken>` (or, when `tokenType` is "DPoP", as
/// `Authorization: DPoP <accessToken>` with a DPoP proof); trade the refresh token for new
/// ones when it expires.
#[derive(SimpleObject)]
pub struct AuthPayload {
    pub access_token: String,
    pub refresh_token: String,
    /// "Bearer", or "DPoP" for tokens bound to the key of the login's DPoP proof (RFC 9449).
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: User,
}

impl From<accounts::Tokens> for AuthPayload {
    fn from(t: accounts::Tokens) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            token_type: if t.bound { "DPoP" } else { "Bearer" },
            expires_in: t.expires_in,
            user: User::own(t.user),
        }
    }
}

/// The key a login's DPoP proof proves, if it came with one (DPOP_REQUIRED: it must).
async fn login_key(ctx: &Context<'_>) -> Result<Option<Proved>, AppError> {
    let state = state(ctx);
    let dpop = &state.tokens.dpop;
    match ctx.data_opt::<DpopProof>() {
        Some(proof) => {
            let now = state.tokens.clock.now().timestamp_millis();
            Ok(Some(dpop.prove(proof, None, now).await?))
        }
        None if dpop.required => Err(AppError::InvalidDpopProof(
            "This server accepts DPoP-bound sessions only: log in with a DPoP proof.".into(),
        )),
        None => Ok(None),
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an account and mails it a verification token. Log in afterwards to get
    /// tokens. Where addresses are verified (`EMAIL_VERIFICATION` other than `none`), the
    /// account logs in by username until the token proves its address, and an address that
    /// another account holds is answered and created like a new one (that account's owner is
    /// mailed instead), so that registering tells nobody which addresses have accounts.
    /// Throttled per client address and per mailbox (TOO_MANY_REQUESTS).
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<User> {
        let client = ctx.data_opt::<ClientAddr>().map(|c| c.0);
        let (username, email) = (&input.username, &input.email);
        let user = accounts::register(state(ctx), username, email, input.password, client).await?;
        Ok(User::own(user))
    }

    /// Checks the password and starts a login session. The access token is fresh. With a
    /// `DPoP` proof header (RFC 9449) the session's tokens are bound to the proof's key.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let device = accounts::Device {
            client: ctx.data_opt::<ClientAddr>().map(|c| c.0),
            user_agent: ctx.data_opt::<UserAgent>().map(|a| a.0.clone()),
            key: login_key(ctx).await?,
        };
        let tokens = accounts::login(state(ctx), &input.login, input.password, device).await?;
        Ok(tokens.into())
    }

    /// Trades a refresh token for a new (non-fresh) access token and a new refresh token. The
    /// presented token stops working; presenting it again ends the whole login session.
    /// A refresh token bound to a key (DPoP) needs a proof by that key: without one the whole
    /// login session ends.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        let proof = ctx.data_opt::<DpopProof>();
        Ok(accounts::refresh(state(ctx), &refresh_token, proof)
            .await?
            .into())
    }

    /// Revokes this access token and its login session; with `allSessions`, every session of
    /// the account.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        // Nullable, as clients declare it (`$all: Boolean`): an omitted nullable variable
        // arrives as null, which a `Boolean!` argument would refuse despite its default.
        #[graphql(default_with = "Some(false)")] all_sessions: Option<bool>,
    ) -> Result<bool> {
        let principal = require_user(ctx).await?;
        accounts::logout(state(ctx), principal, all_sessions.unwrap_or(false)).await?;
        Ok(true)
    }

    /// Mails a single-use token to reset the password of the account with this email, if
    /// there is one. Answers `true` at once either way (nothing tells whether the address has
    /// an account); throttled per email and per client address (TOO_MANY_REQUESTS).
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        let client = ctx.data_opt::<ClientAddr>().map(|c| c.0);
        recovery::request_password_reset(state(ctx), &email, client).await?;
        Ok(true)
    }

    /// Proves the account's email address with the token from the verification mail (sent at
    /// registration, or by `resendVerification`). An unknown, used or expired token answers
    /// BAD_USER_INPUT on `token`.
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        recovery::verify_email(state(ctx), &token).await?;
        Ok(true)
    }

    /// Mails a new verification token to this address if it belongs to an account that is not
    /// verified yet. Answers `true` at once either way; throttled like `requestPasswordReset`.
    async fn resend_verification(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        let client = ctx.data_opt::<ClientAddr>().map(|c| c.0);
        recovery::resend_verification(state(ctx), &email, client).await?;
        Ok(true)
    }

    /// Sets a new password with the token from `requestPasswordReset`'s mail, and ends every
    /// session of the account. A token works once, until it expires; an unknown, used or
    /// expired one answers BAD_USER_INPUT on `token`.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<bool> {
        recovery::reset_password(state(ctx), &token, new_password).await?;
        Ok(true)
    }

    /// Changes the password (needs a fresh access token, from `login`) and ends every other
    /// login session of the account.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<bool> {
        let principal = require_user(ctx).await?;
        let client = ctx.data_opt::<ClientAddr>().map(|c| c.0);
        let (current, new) = (current_password, new_password);
        accounts::change_password(state(ctx), principal, current, new, client).await?;
        Ok(true)
    }
}
