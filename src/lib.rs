//! Smilecook GraphQL: a recipe-sharing GraphQL API with JSON Web Token security.
//!
//! # Layout
//! - [`config`]: the clap configuration (flags and environment variables).
//! - [`startup`]: connect, migrate, bind; `app()` builds the router for `main` and tests.
//! - [`http`]: the layers around every route (limits, CORS, timeouts, panics, tracing).
//! - [`state`]: [`state::AppState`], shared by every request.
//! - [`error`]: the one error enum and its mapping to `extensions.code`.
//! - [`auth`]: tokens (`jwt`), passwords (`password`, hashed on the low-priority threads of
//!   `hash_pool`), revocation (`denylist`), login lockouts (`throttle`), the request's identity
//!   (`guard`) and the signing secret (`secret`).
//! - [`accounts`]: register, login, refresh, logout, change password.
//! - [`recipes`]: recipe rules: fields (`input`), who sees and changes what, pagination
//!   (`listing`, `cursor`).
//! - [`seed`]: demo data for `smilecook seed`.
//! - [`graphql`]: the schema (one part per area), the HTTP handler.
//! - [`db`]: sea-orm entities and small query functions; migrations live in `migrations/`.
//!
//! Data flows one way: HTTP handler -> resolver -> domain function -> db function.

pub mod accounts;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod recipes;
pub mod request;
pub mod seed;
pub mod startup;
pub mod state;
pub mod tasks;
pub mod time;
pub mod validate;
