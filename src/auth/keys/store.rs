//! The key set in the database, shared by every instance of a deployment and by the
//! `smilecook keys` command: making the first key, publishing the next one ahead of its turn,
//! replacing a revoked one, and building the [`Ring`] an instance verifies with. Of two
//! instances creating a key at once, one wins (unique generation) and the other reads it.

use chrono::{DateTime, Utc};
use jsonwebtoken::Algorithm;
use sea_orm::{DatabaseConnection, DbErr};

use super::{
    material::{HmacKey, KeyError, KeyPair, PublicKey, alg_name},
    ring::{Expected, Ring},
    schedule::{self, Dated, KeyState, Plan, Schedule},
    sealed::Sealer,
};
use crate::{db::signing_keys, time::Clock};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the signing keys cannot be read or written: {0}")]
    Database(#[from] DbErr),
    #[error("{0}")]
    Refused(String),
}

pub struct KeyStore {
    db: DatabaseConnection,
    sealer: Sealer,
    hmac: HmacKey,
    alg: Algorithm,
    schedule: Schedule,
    expected: Expected,
    clock: Clock,
}

/// A key and its state, as `smilecook keys list` shows it.
pub struct Listed {
    pub key: signing_keys::Model,
    pub dated: Dated,
}

impl KeyStore {
    pub fn new(
        db: DatabaseConnection,
        secret: &[u8],
        alg: Algorithm,
        schedule: Schedule,
        expected: Expected,
        clock: Clock,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            db,
            sealer: Sealer::new(secret),
            hmac: HmacKey::new(secret).map_err(|e| KeyError::Unreadable(e.to_string()))?,
            alg,
            schedule,
            expected,
            clock,
        })
    }

    /// The rows after doing what the schedule asks (a first key, the next one, a replacement).
    pub async fn settle(&self) -> Result<Vec<signing_keys::Model>, StoreError> {
        // Each step changes what the next plan sees; three cover the longest chain (activate a
        // waiting key, then publish its successor).
        for _ in 0..3 {
            let rows = signing_keys::all(&self.db).await?;
            let now = self.clock.now();
            match schedule::plan(&rows, now, &self.schedule, self.alg) {
                Plan::Nothing => return Ok(rows),
                Plan::Create { activates_at } => {
                    self.create(&rows, activates_at).await?;
                }
                Plan::Activate { kid } => signing_keys::activate(&self.db, &kid, now).await?,
            }
        }
        Ok(signing_keys::all(&self.db).await?)
    }

    /// Adds a key of the configured algorithm signing from `activates_at`; false when another
    /// instance added one of the same generation first.
    async fn create(
        &self,
        rows: &[signing_keys::Model],
        activates_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let pair = KeyPair::generate(self.alg)?;
        let der = pair.pkcs8().ok_or(KeyError::NotAsymmetric(self.alg))?;
        let generation = rows.iter().map(|row| row.generation).max().unwrap_or(0) + 1;
        let row = signing_keys::Model {
            kid: pair.kid.clone(),
            alg: alg_name(pair.alg),
            generation,
            public_jwk: serde_json::to_string(&pair.public.jwk)
                .map_err(|e| KeyError::Unreadable(e.to_string()))?,
            private_key: self.sealer.seal(&pair.kid, der)?,
            created_at: self.clock.now(),
            activates_at,
            revoked_at: None,
        };
        let added = signing_keys::insert(&self.db, row).await?;
        if added {
            tracing::info!(kid = %pair.kid, %activates_at, "signing key created");
        }
        Ok(added)
    }

    /// The ring to verify and sign with now, after settling the schedule.
    pub async fn ring(&self) -> Result<Ring, StoreError> {
        // Against no fingerprint, a ring is always built.
        self.ring_unless(&[])
            .await?
            .ok_or_else(|| StoreError::Refused("no key set was read".into()))
    }

    /// The ring to use now, or `None` when its keys and their states are still `fingerprint`'s
    /// (the poll's common case: one query, no key decoded).
    pub async fn ring_unless(
        &self,
        fingerprint: &[(String, KeyState)],
    ) -> Result<Option<Ring>, StoreError> {
        let rows = self.settle().await?;
        let dated = schedule::states(&rows, self.clock.now(), &self.schedule);
        let same = rows.len() == fingerprint.len()
            && rows
                .iter()
                .zip(&dated)
                .zip(fingerprint)
                .all(|((row, dated), (kid, state))| row.kid == *kid && dated.state == *state);
        if same && !fingerprint.is_empty() {
            return Ok(None);
        }
        let mut published = Vec::new();
        let mut current = None;
        for (row, dated) in rows.iter().zip(&dated) {
            if dated.state.published() {
                published.push(PublicKey::from_stored(&row.kid, &row.alg, &row.public_jwk)?);
            }
            if dated.state == KeyState::Current {
                current = Some(row);
            }
        }
        let current = current.ok_or_else(|| {
            StoreError::Refused("no signing key is current after settling".into())
        })?;
        let alg = PublicKey::from_stored(&current.kid, &current.alg, &current.public_jwk)?.alg;
        let der = self.sealer.open(&current.kid, &current.private_key)?;
        let signer = KeyPair::from_pkcs8(alg, der)?;
        let fingerprint = rows
            .iter()
            .zip(&dated)
            .map(|(row, dated)| (row.kid.clone(), dated.state))
            .collect();
        Ok(Some(Ring::asymmetric(
            &self.hmac,
            &signer,
            &published,
            fingerprint,
            &self.expected,
        )))
    }

    /// Every key with its state, oldest first.
    pub async fn list(&self) -> Result<Vec<Listed>, StoreError> {
        let rows = self.settle().await?;
        let dated = schedule::states(&rows, self.clock.now(), &self.schedule);
        Ok(rows
            .into_iter()
            .zip(dated)
            .map(|(key, dated)| Listed { key, dated })
            .collect())
    }

    /// Publishes a new key now, signing after the publish-ahead window (`smilecook keys
    /// rotate`). Refused while a key waits already: rotating twice would skip one.
    pub async fn rotate(&self) -> Result<signing_keys::Model, StoreError> {
        let rows = self.settle().await?;
        let now = self.clock.now();
        let dated = schedule::states(&rows, now, &self.schedule);
        if let Some((waiting, dated)) = rows
            .iter()
            .zip(&dated)
            .find(|(_, dated)| dated.state == KeyState::Next)
        {
            return Err(StoreError::Refused(format!(
                "key {} is already waiting to sign (from {}); rotate again after that",
                waiting.kid,
                dated.until.map_or_else(String::new, |t| t.to_rfc3339())
            )));
        }
        let activates_at = now
            + chrono::TimeDelta::from_std(self.schedule.publish_ahead)
                .unwrap_or(chrono::TimeDelta::MAX);
        self.create(&rows, activates_at).await?;
        let rows = signing_keys::all(&self.db).await?;
        rows.into_iter()
            .max_by_key(|row| row.generation)
            .ok_or_else(|| StoreError::Refused("the new key was not stored".into()))
    }

    /// Refuses key `kid`'s tokens from now on, everywhere; a revoked current key is replaced
    /// at once. False when there is no such key or it was revoked already.
    pub async fn revoke(&self, kid: &str) -> Result<bool, StoreError> {
        let revoked = signing_keys::revoke(&self.db, kid, self.clock.now()).await?;
        self.settle().await?;
        Ok(revoked)
    }
}
