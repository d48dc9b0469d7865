//! What every request shares; cheap to clone (everything inside is a handle or an `Arc`).

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    auth::{
        denylist::SharedDenylist,
        jwt::Keys,
        password::PasswordHasher,
        throttle::{LoginThrottle, Policy},
    },
    config::Config,
};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub keys: Arc<Keys>,
    pub denylist: SharedDenylist,
    pub hasher: PasswordHasher,
    pub throttle: Arc<Throttle>,
    pub config: Arc<Config>,
}

/// Login throttling: the store and the policy for accounts and for client addresses.
pub struct Throttle {
    pub store: Box<dyn LoginThrottle>,
    pub account: Policy,
    pub address: Policy,
}
