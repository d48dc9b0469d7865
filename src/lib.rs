//! Smilecook GraphQL: a recipe-sharing GraphQL API with JSON Web Token security.
//!
//! # Layout
//! - [`config`]: the clap configuration (flags and environment variables).
//! - [`startup`]: connect, migrate, bind; `app()` builds the router for `main` and tests.
//! - [`http`]: the HTTP transport: GraphQL over HTTP (`http::graphql`), content negotiation,
//!   GraphiQL, and the layers around every route (limits, CORS, timeouts, panics, tracing).
//! - [`request`]: what a transport knows of the caller, handed to the pipeline.
//! - [`graphql`]: the one request pipeline (`execute`) and its checks (`limits`, `nesting`,
//!   `shape`), the schema (one part per area), the per-request loaders.
//! - [`accounts`]: register, login, refresh, logout, change password.
//! - [`recipes`]: recipe rules: fields (`input`), who sees and changes what, pagination
//!   (`listing`, `cursor`).
//! - [`auth`]: tokens (`jwt`), passwords (`password`, hashed on the low-priority threads of
//!   `hash_pool`), revocation (`denylist`), throttling of password checks (`throttle`), the
//!   request's identity (`guard`, which needs only a `TokenCheck`: keys, denylist, clock) and
//!   the signing secret (`secret`).
//! - [`db`]: sea-orm entities and small query functions; migrations live in `migrations/`.
//! - [`state`]: [`state::AppState`], shared by every request.
//! - [`error`]: the one error enum and its mapping to `extensions.code`, and the refusals of
//!   whole requests.
//! - [`time`]: the clock that tokens and sessions expire by. [`tasks`]: background tasks.
//! - [`seed`]: demo data for `smilecook seed`.
//!
//! Requests flow one way: transport (`http`) -> pipeline (`graphql::execute`) -> resolver ->
//! domain function (`accounts`, `recipes`) -> db function. Resolvers reach the database only
//! through domain functions or the request's loaders (`graphql::loaders`), which batch db
//! lookups; db types may pass through them, db calls may not. Which module may import which is
//! checked by `tests/architecture.rs`.

pub mod accounts;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod mail;
pub mod recipes;
pub mod recovery;
pub mod request;
pub mod seed;
pub mod startup;
pub mod state;
pub mod tasks;
pub mod time;
pub mod validate;
