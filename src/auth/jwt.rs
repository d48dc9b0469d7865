//! Signed tokens: the claims we issue, their two kinds, and what a verified token is. Signing
//! and verifying is `auth::keys::Keys`'s, with the keys of the ring.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
    /// The key the token is bound to (DPoP, RFC 9449): it works only with a proof by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// `cnf` (RFC 7800): the RFC 7638 thumbprint of the key a token is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

/// A token that passed every check, and the key that signed it.
#[derive(Clone, Debug)]
pub struct Verified {
    pub claims: Claims,
    pub kid: Arc<str>,
}

/// The media type of access tokens (RFC 9068), in the header's short form.
pub const ACCESS_TYPE: &str = "at+jwt";
