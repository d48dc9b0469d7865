//! A DPoP client key (RFC 9449), as a client library keeps one, and the proofs it signs; and
//! proofs as an attacker would bend them (any header, any claims).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, EncodingKey,
    jwk::{Jwk, ThumbprintHash},
};
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub struct DpopKey {
    encoding: EncodingKey,
    pub jwk: Value,
    pub thumbprint: String,
}

impl DpopKey {
    /// A new P-256 key.
    pub fn new() -> Self {
        let secret = loop {
            let bytes: Vec<u8> = (0..2)
                .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
                .collect();
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let der = secret.to_pkcs8_der().expect("PKCS#8");
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).expect("JWK");
        let thumbprint = jwk.thumbprint(ThumbprintHash::SHA256).expect("thumbprint");
        let mut jwk = serde_json::to_value(&jwk).expect("JSON");
        if let Some(members) = jwk.as_object_mut() {
            members.remove("alg");
        }
        Self {
            encoding,
            jwk,
            thumbprint,
        }
    }

    /// A fresh proof for `method` on `url`, issued at `iat`, for `token` (its `ath`) if any.
    pub fn proof(&self, method: &str, url: &str, token: Option<&str>, iat: i64) -> String {
        self.proof_with_nonce(method, url, token, iat, None)
    }

    /// [`DpopKey::proof`] carrying the server's `nonce`.
    pub fn proof_with_nonce(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        iat: i64,
        nonce: Option<&str>,
    ) -> String {
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": url,
            "iat": iat,
        });
        if let Some(token) = token {
            claims["ath"] = json!(ath(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.sign(&self.header(), &claims)
    }

    /// The header a proof by this key has.
    pub fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk })
    }

    /// `claims` under `header`, whatever they say, signed by this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"));
        let message = format!("{}.{}", encode(header), encode(claims));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, Algorithm::ES256)
                .expect("signed");
        format!("{message}.{signature}")
    }
}

/// The `ath` of an access token: its SHA-256, base64url.
pub fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}
