//! Signed tokens: the claims we issue, the keys built once from configuration, and a decoder
//! whose every check is set explicitly (algorithm pinned to HS256, issuer, audience, `nbf`,
//! leeway) rather than left to the library's defaults. `exp` and `nbf` are compared with the
//! time the caller passes (its [`crate::time::Clock`]), not the library's own reading.

use std::time::Duration;

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode, errors::ErrorKind,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// What a token says. Nothing personal beyond the user id: anyone can read a JWT's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub jti: Uuid,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    pub fresh: bool,
    /// The login session this token belongs to.
    pub sid: Uuid,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// Signing and verifying keys with the pinned validation rules; built once, kept in state.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    leeway: i64,
}

impl Keys {
    pub fn new(
        secret: &[u8],
        issuer: &str,
        audience: &str,
        leeway: Duration,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        // Checked against the caller's clock in `verify`; their presence is still required.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = true;
        validation.reject_tokens_expiring_in_less_than = 0;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX),
        })
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
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        }
    }

    pub fn sign(&self, claims: &Claims) -> AppResult<String> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding).map_err(AppError::internal)
    }

    /// Verifies signature and registered claims at the Unix time `now`, then that the token is
    /// of the expected type.
    pub fn verify(&self, token: &str, expected: TokenType, now: i64) -> AppResult<Claims> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| rejection(err.kind()))?
            .claims;
        if claims.exp < now.saturating_sub(self.leeway) {
            return Err(AppError::TokenExpired);
        }
        if claims.nbf > now.saturating_add(self.leeway) {
            return Err(rejection(&ErrorKind::ImmatureSignature));
        }
        if claims.token_type != expected {
            return Err(AppError::Unauthenticated(match expected {
                TokenType::Access => "A refresh token cannot be used as an access token.".into(),
                TokenType::Refresh => "An access token cannot be used as a refresh token.".into(),
            }));
        }
        Ok(claims)
    }
}

/// Plain words for each way a token can fail verification.
fn rejection(kind: &ErrorKind) -> AppError {
    let message = match kind {
        ErrorKind::ExpiredSignature => return AppError::TokenExpired,
        ErrorKind::InvalidSignature => "The token's signature is invalid.",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            "The token is not signed with the expected algorithm (HS256)."
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
