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

/// `claims` signed with `key` under `header`, whatever it says.
pub fn sign_as(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).expect("token signed")
}

/// A header for `algorithm` naming key `kid`, with `typ`.
pub fn header_for(algorithm: Algorithm, kid: &str, typ: &str) -> Header {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    header.typ = Some(typ.to_owned());
    header
}

/// `claims` with `{"alg":"none"}` and an empty signature.
pub fn unsigned(claims: &Value) -> String {
    unsigned_with(&json!({ "alg": "none", "typ": "JWT" }), claims)
}

/// `claims` under any `header` JSON, with an empty signature.
pub fn unsigned_with(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", encode(header), encode(claims))
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
