//! Reading and forging tokens, as an attacker could: a JWT's header and payload are base64url
//! JSON that anyone can read and rewrite; only the signature needs the secret.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The decoded header of `token`.
pub fn header(token: &str) -> Value {
    part(token, 0)
}

/// The decoded payload (claims) of `token`.
pub fn payload(token: &str) -> Value {
    part(token, 1)
}

/// `token` with its payload replaced and its header and signature kept.
pub fn with_payload(token: &str, payload: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    format!("{}.{}.{}", parts[0], encode(payload), parts[2])
}

/// `claims` signed with `secret` by `algorithm`, as any holder of the secret could.
pub fn sign(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("HMAC key");
    jsonwebtoken::encode(&Header::new(algorithm), claims, &key).expect("token signed")
}

/// `claims` with `{"alg":"none"}` and an empty signature.
pub fn unsigned(claims: &Value) -> String {
    let header = json!({ "alg": "none", "typ": "JWT" });
    format!("{}.{}.", encode(&header), encode(claims))
}

/// `payload` with `key` set to `value`.
pub fn with_claim(payload: &Value, key: &str, value: Value) -> Value {
    let mut payload = payload.clone();
    payload[key] = value;
    payload
}

fn part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).expect("a JWT has three parts");
    let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url");
    serde_json::from_slice(&bytes).expect("a JSON object")
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}
