//! What every request shares; cheap to clone (everything inside is a handle or an `Arc`).

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    auth::{guard::TokenCheck, password::PasswordHasher, throttle::Throttle},
    config::Config,
    events::Events,
    lifecycle::Lifecycle,
    mail::Outbox,
};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// The keys, the denylist and the clock: what checks tokens, and what issues and revokes
    /// them.
    pub tokens: TokenCheck,
    pub hasher: PasswordHasher,
    pub throttle: Arc<Throttle>,
    /// Recipe changes, for subscriptions.
    pub events: Events,
    /// Where mail is written, with its caps per mailbox.
    pub outbox: Outbox,
    /// Serving, draining or stopping: long-lived connections end when the server stops.
    pub lifecycle: Lifecycle,
    pub config: Arc<Config>,
}
