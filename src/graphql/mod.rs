//! The GraphQL API: the schema is merged from one part per area (`auth`, `user`, `recipe`,
//! `session`, `subscription`),
//! `execute` is the one pipeline every transport runs requests through (with the checks of
//! `limits`, `nesting` and `shape`, and the rate limits of `ratelimit`, which each operation
//! spends its `cost` from), `loaders` batch lookups, `spans` are the trace spans of
//! validation, execution and root fields. Resolvers are thin: they read
//! the context, call the domain functions and map their types.

pub mod admission;
pub mod auth;
pub mod connection;
pub mod cost;
pub mod doc_cache;
pub mod execute;
pub mod limits;
pub mod loaders;
pub mod nesting;
pub mod persisted;
pub mod ratelimit;
pub mod recipe;
pub mod recipe_input;
pub mod schema;
pub mod session;
pub mod shape;
pub mod spans;
pub mod subscription;
pub mod user;
pub mod variables;

use async_graphql::Context;

use crate::{
    auth::guard::{Auth, Principal},
    error::AppError,
    state::AppState,
};

pub(crate) fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// The caller, or UNAUTHENTICATED / TOKEN_EXPIRED / TOKEN_REVOKED.
pub(crate) async fn require_user<'a>(ctx: &Context<'a>) -> Result<&'a Principal, AppError> {
    match ctx.data_opt::<Auth>() {
        Some(auth) => auth.require(&state(ctx).tokens).await,
        None => Err(AppError::Unauthenticated(
            "No credentials were sent.".into(),
        )),
    }
}

/// The caller if a token was sent; an error if the token is bad; `None` without one.
pub(crate) async fn viewer<'a>(ctx: &Context<'a>) -> Result<Option<&'a Principal>, AppError> {
    match ctx.data_opt::<Auth>() {
        Some(auth) => (auth.principal(&state(ctx).tokens).await).map_err(AppError::clone),
        None => Ok(None),
    }
}
