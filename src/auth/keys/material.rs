//! One key in memory: made here, read from an operator's PEM file, or rebuilt from its stored
//! form. An asymmetric key's id (`kid`) is the RFC 7638 thumbprint of its public JWK, so every
//! instance and every verifier names it the same way without being told.

use hkdf::Hkdf;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    jwk::{Jwk, PublicKeyUse, ThumbprintHash},
};
use p256::pkcs8::EncodePrivateKey;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The algorithms that sign access tokens (`JWT_ALGORITHM`): ES256 (the default), EdDSA, HS256.
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256];

/// The JOSE name of `alg` (`ES256`, `EdDSA`, ...).
pub fn alg_name(alg: Algorithm) -> String {
    format!("{alg:?}")
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0:?} keys are not made here: choose ES256 or EdDSA")]
    NotAsymmetric(Algorithm),
    #[error("the key is not a P-256 (ES256) or Ed25519 (EdDSA) private key in PKCS#8 PEM: {0}")]
    Unreadable(String),
    #[error(
        "the stored key {0} cannot be decrypted with this JWT_SECRET (was the secret changed? `smilecook keys revoke {0}` makes a new key under this secret)"
    )]
    Sealed(String),
    #[error("the stored public key {kid} is not a valid JWK: {reason}")]
    Public { kid: String, reason: String },
}

/// A private key that signs access tokens, with its public half.
pub struct KeyPair {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub public: PublicKey,
    /// The PKCS#8 DER of a key made here (what is stored, sealed); none for a file's key.
    pkcs8: Option<Zeroizing<Vec<u8>>>,
}

/// The half of a key that verifies, and the JWK it is published as.
#[derive(Clone)]
pub struct PublicKey {
    pub kid: String,
    pub alg: Algorithm,
    pub decoding: DecodingKey,
    pub jwk: Jwk,
}

/// The DER prefix of an Ed25519 private key in PKCS#8 v1 (RFC 8410): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl KeyPair {
    /// A new random key.
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        let der = match alg {
            Algorithm::ES256 => loop {
                rand::rng().fill_bytes(seed.as_mut());
                // A scalar of zero or past the group order is refused: about 2^-32 of draws.
                if let Ok(secret) = p256::SecretKey::from_slice(seed.as_ref()) {
                    let document = secret
                        .to_pkcs8_der()
                        .map_err(|e| KeyError::Unreadable(e.to_string()))?;
                    break Zeroizing::new(document.as_bytes().to_vec());
                }
            },
            Algorithm::EdDSA => {
                rand::rng().fill_bytes(seed.as_mut());
                let mut der = Zeroizing::new(ED25519_PKCS8_PREFIX.to_vec());
                der.extend_from_slice(seed.as_ref());
                der
            }
            other => return Err(KeyError::NotAsymmetric(other)),
        };
        Self::from_pkcs8(alg, der)
    }

    /// A stored key, from its PKCS#8 DER.
    pub fn from_pkcs8(alg: Algorithm, der: Zeroizing<Vec<u8>>) -> Result<Self, KeyError> {
        let encoding = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_der(der.as_slice()),
            Algorithm::EdDSA => EncodingKey::from_ed_der(der.as_slice()),
            other => return Err(KeyError::NotAsymmetric(other)),
        };
        let mut pair = Self::from_encoding(alg, encoding)?;
        pair.pkcs8 = Some(der);
        Ok(pair)
    }

    /// An operator's key from a PEM file (PKCS#8 `PRIVATE KEY`), P-256 or Ed25519.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        if let Ok(encoding) = EncodingKey::from_ed_pem(pem)
            && let Ok(pair) = Self::from_encoding(Algorithm::EdDSA, encoding)
        {
            return Ok(pair);
        }
        let encoding =
            EncodingKey::from_ec_pem(pem).map_err(|e| KeyError::Unreadable(e.to_string()))?;
        Self::from_encoding(Algorithm::ES256, encoding)
    }

    fn from_encoding(alg: Algorithm, encoding: EncodingKey) -> Result<Self, KeyError> {
        let unreadable = |e: jsonwebtoken::errors::Error| KeyError::Unreadable(e.to_string());
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).map_err(unreadable)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(unreadable)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(unreadable)?;
        Ok(Self {
            kid: kid.clone(),
            alg,
            encoding,
            public: PublicKey {
                kid,
                alg,
                decoding,
                jwk,
            },
            pkcs8: None,
        })
    }

    /// The PKCS#8 DER of a key made here.
    pub fn pkcs8(&self) -> Option<&[u8]> {
        self.pkcs8.as_deref().map(Vec::as_slice)
    }
}

impl PublicKey {
    /// A stored public JWK, checked to be the key its id and algorithm say it is.
    pub fn from_stored(kid: &str, alg: &str, jwk_json: &str) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::Public {
            kid: kid.to_owned(),
            reason,
        };
        let alg = [Algorithm::ES256, Algorithm::EdDSA]
            .into_iter()
            .find(|known| alg_name(*known) == alg)
            .ok_or_else(|| invalid(format!("unknown algorithm {alg}")))?;
        let jwk: Jwk = serde_json::from_str(jwk_json).map_err(|e| invalid(e.to_string()))?;
        let thumbprint = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| invalid(e.to_string()))?;
        if thumbprint != kid {
            return Err(invalid("its thumbprint is not its kid".into()));
        }
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            decoding,
            jwk,
        })
    }
}

/// The server secret as an HMAC key: it signs refresh tokens always (only this server reads
/// them) and access tokens under HS256. Its id is derived from the secret one way, so that it
/// names the key without revealing anything about it.
pub struct HmacKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
}

impl HmacKey {
    pub fn new(secret: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut id = [0u8; 12];
        Hkdf::<Sha256>::new(Some(b"smilecook key id"), secret)
            .expand(b"hmac", &mut id)
            .expect("12 bytes is a valid HKDF-SHA-256 output length");
        use base64::Engine as _;
        let kid = format!(
            "hs-{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
        );
        Ok(Self {
            kid,
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
        })
    }
}
