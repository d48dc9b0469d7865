//! The keys one instance holds at a time: which key signs each kind of token, which keys
//! verify (each with validation rules pinned to its own algorithm), and the JWKS that
//! publishes their public halves. A ring is built whole and swapped in whole.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation, jwk::JwkSet};
use sha2::{Digest, Sha256};

use super::{
    material::{HmacKey, KeyPair, PublicKey},
    schedule::KeyState,
};
use crate::auth::jwt::TokenType;

/// Signs one kind of token.
#[derive(Clone)]
pub struct Signer {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
}

/// Verifies tokens that name it, of the kinds it is for.
pub struct Verifier {
    pub decoding: DecodingKey,
    pub validation: Validation,
    access: bool,
    refresh: bool,
}

impl Verifier {
    pub fn accepts(&self, token_type: TokenType) -> bool {
        match token_type {
            TokenType::Access => self.access,
            TokenType::Refresh => self.refresh,
        }
    }
}

/// The JWKS document, as served, with its entity tag.
pub struct Published {
    pub body: String,
    pub etag: String,
}

/// What every token must say besides its signature.
#[derive(Clone, Debug)]
pub struct Expected {
    pub issuer: String,
    pub audience: String,
}

impl Expected {
    /// Validation pinned to `alg`: the algorithm comes from the key, never from the token.
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        // Checked against the server's clock in `Keys::verify`; their presence is required.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = true;
        validation.reject_tokens_expiring_in_less_than = 0;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation
    }
}

pub struct Ring {
    verifiers: HashMap<String, Verifier>,
    access: Signer,
    refresh: Signer,
    /// The key of tokens that name none (refresh tokens from before keys had ids).
    unnamed: String,
    pub jwks: Published,
    /// The algorithms of the keys that verify access tokens, for the server's metadata.
    pub access_algorithms: Vec<Algorithm>,
    /// (kid, state) of every key: what changed between two loads.
    pub fingerprint: Vec<(String, KeyState)>,
}

impl Ring {
    /// Whether `kid` names a revoked key (its tokens are revoked, not merely unknown).
    pub fn revoked(&self, kid: &str) -> bool {
        self.fingerprint
            .iter()
            .any(|(known, state)| known == kid && *state == KeyState::Revoked)
    }
}

impl Ring {
    /// HS256 alone: the server secret signs and verifies everything; nothing is published.
    pub fn symmetric(hmac: &HmacKey, expected: &Expected) -> Self {
        let signer = Signer {
            kid: hmac.kid.clone(),
            alg: Algorithm::HS256,
            encoding: hmac.encoding.clone(),
        };
        let verifier = Verifier {
            decoding: hmac.decoding.clone(),
            validation: expected.validation(Algorithm::HS256),
            access: true,
            refresh: true,
        };
        Self {
            verifiers: HashMap::from([(hmac.kid.clone(), verifier)]),
            access: signer.clone(),
            refresh: signer,
            unnamed: hmac.kid.clone(),
            jwks: publish(&[]),
            access_algorithms: vec![Algorithm::HS256],
            fingerprint: Vec::new(),
        }
    }

    /// `signer` signs access tokens, every key of `published` verifies them; the secret signs
    /// and verifies refresh tokens only.
    pub fn asymmetric(
        hmac: &HmacKey,
        signer: &KeyPair,
        published: &[PublicKey],
        fingerprint: Vec<(String, KeyState)>,
        expected: &Expected,
    ) -> Self {
        let mut ring = Self::symmetric(hmac, expected);
        if let Some(secret) = ring.verifiers.get_mut(&hmac.kid) {
            secret.access = false;
        }
        for key in published.iter().chain([&signer.public]) {
            ring.verifiers.insert(
                key.kid.clone(),
                Verifier {
                    decoding: key.decoding.clone(),
                    validation: expected.validation(key.alg),
                    access: true,
                    refresh: false,
                },
            );
        }
        ring.access = Signer {
            kid: signer.kid.clone(),
            alg: signer.alg,
            encoding: signer.encoding.clone(),
        };
        ring.jwks = publish(published);
        ring.access_algorithms = vec![signer.alg];
        for key in published {
            if !ring.access_algorithms.contains(&key.alg) {
                ring.access_algorithms.push(key.alg);
            }
        }
        ring.fingerprint = fingerprint;
        ring
    }

    pub fn signer(&self, token_type: TokenType) -> &Signer {
        match token_type {
            TokenType::Access => &self.access,
            TokenType::Refresh => &self.refresh,
        }
    }

    /// The key a token's header names (`None`: the secret, for tokens from before key ids).
    pub fn verifier(&self, kid: Option<&str>) -> Option<&Verifier> {
        self.verifiers.get(kid.unwrap_or(&self.unnamed))
    }

    /// Whether tokens of `token_type` signed by `kid` are still accepted.
    pub fn accepts(&self, kid: &str, token_type: TokenType) -> bool {
        self.verifiers
            .get(kid)
            .is_some_and(|verifier| verifier.accepts(token_type))
    }
}

fn publish(keys: &[PublicKey]) -> Published {
    let set = JwkSet {
        keys: keys.iter().map(|key| key.jwk.clone()).collect(),
    };
    let body = serde_json::to_string(&set).unwrap_or_else(|_| r#"{"keys":[]}"#.into());
    let digest = Sha256::digest(body.as_bytes());
    let etag = format!(
        "\"{}\"",
        digest[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    Published { body, etag }
}
