//! DPoP (RFC 9449): tokens bound to a key the client holds, so that a copied token is useless
//! without it. `proof` checks one proof against its request; `replay` remembers the proofs
//! seen (each is good once). Binding (`cnf.jkt` in the tokens) is the accounts' and the
//! guard's: [`Dpop`] is what they are given.

pub mod nonce;
pub mod proof;
pub mod replay;

use std::sync::Arc;

use jsonwebtoken::Algorithm;

use self::{
    proof::{ProofRules, Proved},
    replay::{MemoryReplayCache, ReplayCache},
};
use crate::{
    auth::jwt::Claims,
    error::{AppError, AppResult},
    request::{DpopEvidence, DpopProof},
};

/// The proof rules and the replay cache, built once, shared by every request.
#[derive(Clone)]
pub struct Dpop {
    pub rules: ProofRules,
    pub replay: Arc<dyn ReplayCache>,
    /// `DPOP_REQUIRED`: tokens are issued bound only, and unbound ones are refused.
    pub required: bool,
    /// `DPOP_NONCE`: proofs must carry the server's current nonce.
    pub nonces: Option<nonce::Nonces>,
}

impl Default for Dpop {
    /// ES256 and EdDSA proofs up to a minute old, remembered in this process; not required.
    fn default() -> Self {
        Self {
            rules: ProofRules {
                algorithms: vec![Algorithm::ES256, Algorithm::EdDSA],
                max_age: 60,
            },
            replay: Arc::new(MemoryReplayCache::default()),
            required: false,
            nonces: None,
        }
    }
}

/// How the `Authorization` header presented its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

impl Dpop {
    /// The proof rule of an access token with `claims`, presented under `scheme`: a bound token
    /// needs `DPoP` and a proof by its key for this request, an unbound one `Bearer` (and is
    /// refused under `DPOP_REQUIRED`).
    pub async fn check_binding(
        &self,
        claims: &Claims,
        scheme: Scheme,
        token: &str,
        presented: Option<&DpopEvidence>,
        now_ms: i64,
    ) -> AppResult<()> {
        match (&claims.cnf, scheme) {
            (Some(cnf), Scheme::Dpop) => {
                let jkt = match presented {
                    Some(DpopEvidence::Proof(proof)) => {
                        self.prove(proof, Some(token), now_ms).await?.jkt
                    }
                    Some(DpopEvidence::Proven { jkt }) => jkt.clone(),
                    None => {
                        return Err(AppError::InvalidDpopProof(
                            "This token is bound to a key: send a DPoP proof with it.".into(),
                        ));
                    }
                };
                if jkt != cnf.jkt {
                    return Err(AppError::InvalidDpopProof(
                        "The DPoP proof is signed by another key than the token is bound to."
                            .into(),
                    ));
                }
                Ok(())
            }
            (Some(_), Scheme::Bearer) => Err(AppError::InvalidDpopProof(
                "This token is bound to a key: send it as `Authorization: DPoP <token>` with a DPoP proof.".into(),
            )),
            (None, Scheme::Dpop) => Err(AppError::Unauthenticated(
                "This token is not bound to a key: send it as `Authorization: Bearer <token>`."
                    .into(),
            )),
            (None, Scheme::Bearer) if self.required => Err(AppError::InvalidDpopProof(
                "This server accepts DPoP-bound tokens only: log in again with a DPoP proof."
                    .into(),
            )),
            (None, Scheme::Bearer) => Ok(()),
        }
    }

    /// Checks `presented` (for `access_token`, when one comes with it) at `now_ms`, then that
    /// it was not used before.
    pub async fn prove(
        &self,
        presented: &DpopProof,
        access_token: Option<&str>,
        now_ms: i64,
    ) -> AppResult<Proved> {
        let now = now_ms.div_euclid(1000);
        let proved = proof::check(presented, &self.rules, access_token, now)?;
        if let Some(nonces) = &self.nonces
            && !proved
                .nonce
                .as_deref()
                .is_some_and(|nonce| nonces.accepts(nonce, now))
        {
            return Err(AppError::UseDpopNonce);
        }
        // Remembered until no clock could accept it any more.
        let until = (proved.iat + self.rules.max_age + 1).saturating_mul(1000);
        if !self
            .replay
            .first_use(&proved.jkt, &proved.jti, now_ms, until.max(now_ms + 1))
            .await?
        {
            return Err(AppError::InvalidDpopProof(
                "This DPoP proof was used before: make a new one for every request.".into(),
            ));
        }
        Ok(proved)
    }
}
