//! Account mutations: register, login, refreshToken, logout, changePassword.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};

use super::{require_user, state, user::User};
use crate::{
    accounts,
    request::{ClientAddr, UserAgent},
};

#[derive(InputObject)]
pub struct RegisterInput {
    /// 3-30 letters, digits or underscores; unique regardless of case.
    pub username: String,
    /// Unique regardless of case; visible to its owner only.
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
/// `Authorization: Bearer <accessToken>`; trade the refresh token for new ones when it expires.
#[derive(SimpleObject)]
pub struct AuthPayload {
    pub access_token: String,
    pub refresh_token: String,
    /// Always "Bearer".
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
            token_type: "Bearer",
            expires_in: t.expires_in,
            user: User::own(t.user),
        }
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an account. Log in afterwards to get tokens.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<User> {
        let user =
            accounts::register(state(ctx), &input.username, &input.email, input.password).await?;
        Ok(User::own(user))
    }

    /// Checks the password and starts a login session. The access token is fresh.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let device = accounts::Device {
            client: ctx.data_opt::<ClientAddr>().map(|c| c.0),
            user_agent: ctx.data_opt::<UserAgent>().map(|a| a.0.clone()),
        };
        let tokens = accounts::login(state(ctx), &input.login, input.password, device).await?;
        Ok(tokens.into())
    }

    /// Trades a refresh token for a new (non-fresh) access token and a new refresh token. The
    /// presented token stops working; presenting it again ends the whole login session.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        Ok(accounts::refresh(state(ctx), &refresh_token).await?.into())
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
