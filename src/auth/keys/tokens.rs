//! [`Keys`] signs tokens and verifies them with
//! every check set explicitly (the algorithm pinned to the key the token names, issuer,
//! audience, `nbf`, `typ`, leeway) rather than left to the library's defaults. `exp` and `nbf`
//! are compared with the time the caller passes (its [`crate::time::Clock`]).
//!
//! Access tokens are signed by the current key of the ring (`auth::keys`), ES256 or EdDSA,
//! with `kid` and `typ: at+jwt` (RFC 9068); refresh tokens, which only this server reads, by
//! the server secret (HS256). Under `JWT_ALGORITHM=HS256` the secret signs both. A verified
//! access token is remembered (bounded, least recently used first out) so that the next
//! request with it skips the signature check; expiry, type and the key's standing are
//! checked again on every use, and revocation by the caller (the denylist).

use std::{
    num::NonZeroUsize,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwap;
use jsonwebtoken::{Header, decode, decode_header, encode, errors::ErrorKind};
use lru::LruCache;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use super::{
    material::HmacKey,
    ring::{Expected, Ring},
};
use crate::{
    auth::jwt::{ACCESS_TYPE, Claims, TokenType, Verified},
    error::{AppError, AppResult},
};

/// How many verified access tokens one instance remembers.
const REMEMBERED: usize = 16_384;
/// How long a request waits for a reload when its token names an unknown key.
const RELOAD_WAIT: Duration = Duration::from_secs(3);

/// Signing and verifying keys with the pinned validation rules; built once, kept in state,
/// their ring swapped when the key set changes.
pub struct Keys {
    ring: ArcSwap<Ring>,
    expected: Expected,
    leeway: i64,
    remembered: Mutex<LruCache<Box<str>, Verified>>,
    /// Whether verified access tokens are remembered (off to measure a cold verification).
    remembering: bool,
    /// Bumped whenever the ring changes: connections check that their key still stands.
    changes: watch::Sender<u64>,
    reload: Reload,
}

/// The way a request asks the refresh task for an early load, and hears it done.
struct Reload {
    enabled: AtomicBool,
    wanted: Notify,
    loads: watch::Sender<u64>,
}

/// Why a token was refused: a key this instance does not know may be one it has not loaded.
enum Refused {
    UnknownKey,
    Error(AppError),
}

impl From<AppError> for Refused {
    fn from(err: AppError) -> Self {
        Self::Error(err)
    }
}

impl Keys {
    /// HS256 with `secret` alone (`JWT_ALGORITHM=HS256`, and the unit tests).
    pub fn new(
        secret: &[u8],
        issuer: &str,
        audience: &str,
        leeway: Duration,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        let expected = Expected {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        };
        let ring = Ring::symmetric(&HmacKey::new(secret)?, &expected);
        Ok(Self::with_ring(ring, expected, leeway))
    }

    pub fn with_ring(ring: Ring, expected: Expected, leeway: Duration) -> Self {
        Self {
            ring: ArcSwap::from_pointee(ring),
            expected,
            leeway: i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX),
            remembered: Mutex::new(LruCache::new(
                NonZeroUsize::new(REMEMBERED).unwrap_or(NonZeroUsize::MIN),
            )),
            remembering: true,
            changes: watch::Sender::new(0),
            reload: Reload {
                enabled: AtomicBool::new(false),
                wanted: Notify::new(),
                loads: watch::Sender::new(0),
            },
        }
    }

    /// These keys, remembering verified tokens or not (the `guard` benchmark measures both).
    pub fn remembering(mut self, on: bool) -> Self {
        self.remembering = on;
        self
    }

    /// The ring in use now.
    pub fn ring(&self) -> Arc<Ring> {
        self.ring.load_full()
    }

    /// Swaps in `ring` when its keys or their states differ from the ring in use.
    pub fn install_if_changed(&self, ring: Ring) {
        if self.ring.load().fingerprint == ring.fingerprint {
            return;
        }
        tracing::info!(keys = ?ring.fingerprint, "signing keys changed");
        self.ring.store(Arc::new(ring));
        self.forget_verified();
        self.changes.send_modify(|n| *n += 1);
    }

    /// Wakes on every change of the ring.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Whether tokens of `token_type` signed by `kid` are still accepted.
    pub fn accepts(&self, kid: &str, token_type: TokenType) -> bool {
        self.ring.load().accepts(kid, token_type)
    }

    /// Claims for a new token of `token_type`, valid from `now` until `exp`.
    pub fn claims(
        &self,
        user_id: Uuid,
        sid: Uuid,
        token_type: TokenType,
        fresh: bool,
        now: i64,
        exp: i64,
    ) -> Claims {
        Claims {
            sub: user_id,
            jti: Uuid::new_v4(),
            token_type,
            fresh,
            sid,
            iat: now,
            nbf: now,
            exp,
            iss: self.expected.issuer.clone(),
            aud: self.expected.audience.clone(),
            cnf: None,
        }
    }

    pub fn sign(&self, claims: &Claims) -> AppResult<String> {
        let ring = self.ring.load();
        let signer = ring.signer(claims.token_type);
        let mut header = Header::new(signer.alg);
        header.kid = Some(signer.kid.clone());
        header.typ = Some(match claims.token_type {
            TokenType::Access => ACCESS_TYPE.into(),
            TokenType::Refresh => "JWT".into(),
        });
        encode(&header, claims, &signer.encoding).map_err(AppError::internal)
    }

    /// Verifies signature, header and registered claims at the Unix time `now`, then that the
    /// token is of the expected type. A key this instance does not know is refused here;
    /// [`Keys::verify_reloading`] first asks for a reload.
    pub fn verify(&self, token: &str, expected: TokenType, now: i64) -> AppResult<Verified> {
        match self.check(token, expected, now) {
            Ok(verified) => Ok(verified),
            Err(Refused::UnknownKey) => Err(unknown_key()),
            Err(Refused::Error(err)) => Err(err),
        }
    }

    /// [`Keys::verify`], but a token naming an unknown key waits for one reload of the key set
    /// (another instance may have published a key this one has not seen yet), then is
    /// checked once more.
    pub async fn verify_reloading(
        &self,
        token: &str,
        expected: TokenType,
        now: i64,
    ) -> AppResult<Verified> {
        match self.check(token, expected, now) {
            Ok(verified) => return Ok(verified),
            Err(Refused::Error(err)) => return Err(err),
            Err(Refused::UnknownKey) if !self.reload.enabled.load(Ordering::Acquire) => {
                return Err(unknown_key());
            }
            Err(Refused::UnknownKey) => {}
        }
        let mut loads = self.reload.loads.subscribe();
        loads.mark_unchanged();
        self.reload.wanted.notify_one();
        let _ = tokio::time::timeout(RELOAD_WAIT, loads.changed()).await;
        self.verify(token, expected, now)
    }

    fn check(&self, token: &str, expected: TokenType, now: i64) -> Result<Verified, Refused> {
        if let Some(verified) = self.remembered(token, expected) {
            self.check_times(&verified.claims, now)?;
            return Ok(verified);
        }
        let header = decode_header(token).map_err(|err| rejection(err.kind()))?;
        let ring = self.ring.load();
        let Some(verifier) = ring.verifier(header.kid.as_deref()) else {
            if header.kid.as_deref().is_some_and(|kid| ring.revoked(kid)) {
                return Err(AppError::TokenRevoked.into());
            }
            return Err(Refused::UnknownKey);
        };
        let claims = decode::<Claims>(token, &verifier.decoding, &verifier.validation)
            .map_err(|err| rejection(err.kind()))?
            .claims;
        self.check_times(&claims, now)?;
        if claims.token_type != expected {
            return Err(wrong_type(expected).into());
        }
        if !verifier.accepts(expected) {
            return Err(AppError::Unauthenticated(
                "The token is signed by a key that does not sign this kind of token.".into(),
            )
            .into());
        }
        let typ_ok = match expected {
            TokenType::Access => header.typ.as_deref().is_some_and(is_access_type),
            TokenType::Refresh => !header.typ.as_deref().is_some_and(is_access_type),
        };
        // Access tokens from before `typ` was set were HS256 and name no key.
        if !typ_ok && header.kid.is_some() {
            return Err(AppError::Unauthenticated(
                "The token's `typ` header does not match its kind.".into(),
            )
            .into());
        }
        let kid: Arc<str> = header.kid.unwrap_or_default().into();
        let verified = Verified { claims, kid };
        if self.remembering && expected == TokenType::Access && !verified.kid.is_empty() {
            self.remember(token, &verified);
        }
        Ok(verified)
    }

    fn check_times(&self, claims: &Claims, now: i64) -> AppResult<()> {
        if claims.exp < now.saturating_sub(self.leeway) {
            return Err(AppError::TokenExpired);
        }
        if claims.nbf > now.saturating_add(self.leeway) {
            return Err(rejection(&ErrorKind::ImmatureSignature));
        }
        Ok(())
    }

    /// A token verified before, whose key still stands for its type.
    fn remembered(&self, token: &str, expected: TokenType) -> Option<Verified> {
        if !self.remembering {
            return None;
        }
        let verified = self.remembered.lock().ok()?.get(token).cloned()?;
        (verified.claims.token_type == expected
            && self.ring.load().accepts(&verified.kid, expected))
        .then_some(verified)
    }

    fn remember(&self, token: &str, verified: &Verified) {
        if let Ok(mut remembered) = self.remembered.lock() {
            remembered.put(token.into(), verified.clone());
        }
    }

    fn forget_verified(&self) {
        if let Ok(mut remembered) = self.remembered.lock() {
            remembered.clear();
        }
    }

    /// Lets [`Keys::verify_reloading`] ask the refresh task for early loads.
    pub(crate) fn enable_reload(&self) {
        self.reload.enabled.store(true, Ordering::Release);
    }

    /// Resolves when a request asks for an early load.
    pub(crate) async fn reload_wanted(&self) {
        self.reload.wanted.notified().await;
    }

    /// Tells waiting requests that a load finished.
    pub(crate) fn loaded(&self) {
        self.reload.loads.send_modify(|n| *n += 1);
    }
}

fn is_access_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(ACCESS_TYPE) || typ.eq_ignore_ascii_case("application/at+jwt")
}

fn unknown_key() -> AppError {
    AppError::Unauthenticated("The token is signed by a key this server does not know.".into())
}

fn wrong_type(expected: TokenType) -> AppError {
    AppError::Unauthenticated(match expected {
        TokenType::Access => "A refresh token cannot be used as an access token.".into(),
        TokenType::Refresh => "An access token cannot be used as a refresh token.".into(),
    })
}

/// Plain words for each way a token can fail verification.
fn rejection(kind: &ErrorKind) -> AppError {
    let message = match kind {
        ErrorKind::ExpiredSignature => return AppError::TokenExpired,
        ErrorKind::InvalidSignature => "The token's signature is invalid.",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            "The token is not signed with its key's algorithm."
        }
        ErrorKind::InvalidIssuer => "The token was issued by someone else.",
        ErrorKind::InvalidAudience => "The token is meant for another audience.",
        ErrorKind::ImmatureSignature => "The token is not valid yet.",
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => {
            "The token lacks a required claim."
        }
        _ => "The token is malformed.",
    };
    AppError::Unauthenticated(message.into())
}
