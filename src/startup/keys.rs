//! The keys a server (or the `smilecook keys` command) signs and verifies with, from the
//! configuration: HS256 with the secret, an operator's PEM files, or the key set in the
//! database with its refresh task.

use std::{fs, sync::Arc};

use jsonwebtoken::Algorithm;
use sea_orm::DatabaseConnection;

use super::StartupError;
use crate::{
    auth::keys::{
        Keys,
        material::{HmacKey, KeyPair},
        refresh,
        ring::{Expected, Ring},
        schedule::Schedule,
        store::KeyStore,
    },
    config::Config,
    tasks::BackgroundTask,
    time::Clock,
};

fn expected(config: &Config) -> Expected {
    Expected {
        issuer: config.jwt_issuer.clone(),
        audience: config.jwt_audience.clone(),
    }
}

fn invalid(what: &str, err: impl std::fmt::Display) -> StartupError {
    StartupError::Config(format!("{what}: {err}"))
}

/// The stored key set of `config`'s deployment.
pub fn store(
    config: &Config,
    secret: &[u8],
    db: DatabaseConnection,
    clock: Clock,
) -> Result<KeyStore, StartupError> {
    let schedule = Schedule {
        publish_ahead: config.key_publish_ahead,
        interval: config.key_rotation_interval,
        outlived_by: config.access_token_ttl + config.jwt_leeway,
    };
    KeyStore::new(
        db,
        secret,
        config.jwt_algorithm,
        schedule,
        expected(config),
        clock,
    )
    .map_err(|e| invalid("signing keys", e))
}

/// The key set of `config`'s deployment for the `smilecook keys` command: the same database
/// and secret as the servers.
pub async fn for_command(config: &Config) -> Result<KeyStore, StartupError> {
    if config.jwt_algorithm == Algorithm::HS256 || !config.signing_key_files.is_empty() {
        return Err(StartupError::Config(
            "keys are managed here only when JWT_ALGORITHM is ES256 or EdDSA and SIGNING_KEY_FILES is not set".into(),
        ));
    }
    let secret = super::resolve_secret(config)?;
    let db = super::connect_and_migrate(&config.database_url).await?;
    store(config, &secret, db, Clock::system())
}

/// The keys of a serving instance, and the task that keeps stored ones current (if any).
pub async fn load(
    config: &Config,
    secret: &[u8],
    db: &DatabaseConnection,
    clock: &Clock,
) -> Result<(Arc<Keys>, Option<BackgroundTask>), StartupError> {
    let hmac = HmacKey::new(secret).map_err(|e| invalid("JWT_SECRET", e))?;
    if config.jwt_algorithm == Algorithm::HS256 {
        let ring = Ring::symmetric(&hmac, &expected(config));
        return Ok((Arc::new(with_ring(config, ring)), None));
    }
    if !config.signing_key_files.is_empty() {
        let mut pairs = Vec::new();
        for path in &config.signing_key_files {
            let pem = fs::read(path).map_err(|e| invalid(&path.display().to_string(), e))?;
            let pair =
                KeyPair::from_pem(&pem).map_err(|e| invalid(&path.display().to_string(), e))?;
            pairs.push(pair);
        }
        let publics: Vec<_> = pairs.iter().map(|pair| pair.public.clone()).collect();
        let ring = Ring::asymmetric(&hmac, &pairs[0], &publics, Vec::new(), &expected(config));
        return Ok((Arc::new(with_ring(config, ring)), None));
    }
    if config.key_publish_ahead < config.jwks_max_age {
        tracing::warn!(
            "KEY_PUBLISH_AHEAD is shorter than JWKS_MAX_AGE: a verifier with a cached JWKS may meet a token of a key it has not seen, and must refetch"
        );
    }
    let store = store(config, secret, db.clone(), clock.clone())?;
    let ring = store.ring().await.map_err(|e| invalid("signing keys", e))?;
    let keys = Arc::new(with_ring(config, ring));
    let task = refresh::spawn(store, keys.clone(), config.keys_refresh_interval);
    Ok((keys, Some(task)))
}

fn with_ring(config: &Config, ring: Ring) -> Keys {
    Keys::with_ring(ring, expected(config), config.jwt_leeway)
}
