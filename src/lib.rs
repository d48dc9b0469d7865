//! Smilecook GraphQL: a recipe-sharing GraphQL API with JSON Web Token security.
//!
//! # Layout
//! - [`config`]: the clap configuration (flags and environment variables).
//! - [`startup`]: connect, migrate, bind; `app()` builds the router for `main` and tests.
//! - [`http`]: the transports: GraphQL over HTTP (`http::graphql`), over WebSocket (`ws`) and
//!   over Server-Sent Events (`sse`), content negotiation, which pages may open a socket
//!   (`origin`), GraphiQL, the OAuth endpoints for other services (`oauth`: JWKS, metadata,
//!   introspection), and the layers around every route (CORS, a timeout, panics,
//!   tracing).
//! - [`request`]: what a transport knows of the caller, handed to the pipeline.
//! - [`graphql`]: the one request pipeline (`execute`), its admission (`admission`: what may
//!   run, for every transport), rate limits (`ratelimit`: budgets per address and per user
//!   that each operation spends its `cost` from) and checks (`limits`, `nesting`, `shape`),
//!   the schema (one part per area, `subscription` among them), the per-request loaders.
//! - [`accounts`]: register, login, refresh, logout, change password, sessions.
//! - [`recovery`]: what is proved by mail (resets, verification) and the worker that turns
//!   requests for mail into mail.
//! - [`recipes`]: recipe rules: fields (`input`), who sees and changes what, pagination
//!   (`listing`, `cursor`).
//! - [`introspection`]: token introspection (RFC 7662) and the services allowed to ask.
//! - [`validate`]: input rules (usernames, addresses, passwords).
//! - [`auth`]: tokens (`jwt`), signing keys (`keys`: made, stored sealed, rotated, revoked,
//!   published as a JWKS), proof of possession (`dpop`: DPoP proofs, their replay cache and
//!   nonces), passwords (`password`, hashed on the low-priority threads of
//!   `hash_pool`), revocation (`denylist`), throttles (`throttle`, one table of rules), the
//!   request's identity (`guard`, which needs only a `TokenCheck`: keys, denylist, clock) and
//!   the signing secret (`secret`).
//! - [`mail`]: the outbox (caps per mailbox), its worker and senders. [`events`]: the recipe
//!   event bus, shared between instances.
//! - [`db`]: sea-orm entities and small query functions; migrations live in `migrations/`.
//! - [`state`]: [`state::AppState`], shared by every request.
//! - [`error`]: the one error enum and its mapping to `extensions.code`, and the refusals of
//!   whole requests: every code a client meets.
//! - [`telemetry`]: the log (text or JSON lines) and OpenTelemetry traces over OTLP, off unless
//!   configured; continuing a caller's `traceparent`.
//! - [`observe`]: metrics: one function per thing counted, the HTTP middleware, and the
//!   Prometheus recorder and `/metrics` router served on `METRICS_BIND`.
//! - [`time`]: the clock that tokens and sessions expire by. [`tasks`]: background tasks.
//!   [`lifecycle`]: serving, draining, stopping (graceful shutdown).
//! - [`seed`]: demo data for `smilecook seed`.
//!
//! Requests flow one way: transport (`http`) -> pipeline (`graphql::execute`, admitted by
//! `graphql::admission`) -> resolver -> domain function (`accounts`, `recovery`, `recipes`) ->
//! db function. Resolvers reach the database only
//! through domain functions or the request's loaders (`graphql::loaders`), which batch db
//! lookups; db types may pass through them, db calls may not. Which module may import which is
//! checked by `tests/architecture.rs`.

pub mod accounts;
pub mod auth;
pub mod cache;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod introspection;
pub mod lifecycle;
pub mod mail;
pub mod observe;
pub mod recipes;
pub mod recovery;
pub mod request;
pub mod seed;
pub mod startup;
pub mod state;
pub mod tasks;
pub mod telemetry;
pub mod time;
pub mod validate;
