//! What every request shares; cheap to clone (everything inside is a handle or an `Arc`).

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    auth::{denylist::SharedDenylist, jwt::Keys, password::PasswordHasher, throttle::Throttle},
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
