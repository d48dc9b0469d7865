//! One DPoP proof (RFC 9449, section 4.3), checked against the request it came with: a JWT of
//! `typ: dpop+jwt`, signed by an asymmetric algorithm of the configured list with the public
//! key in its own header (no private part), naming this request's method (`htm`) and URL
//! (`htu`, compared without query and fragment, scheme and host case-insensitive, default
//! ports dropped), issued (`iat`) within the allowed age, and, with an access token, carrying
//! `ath`, the token's SHA-256. Replays are the replay cache's to catch (`jti`).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    jwk::{AlgorithmParameters, Jwk, ThumbprintHash},
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{error::AppError, request::DpopProof};

/// The longest proof read; a longer one is refused unread.
pub const MAX_PROOF: usize = 4096;
/// The longest `jti` accepted (RFC 9449 asks for 96 random bits or more).
const MAX_JTI: usize = 128;
/// How far in the future a proof's `iat` may be (the client's clock ahead of ours).
const FUTURE_SKEW: i64 = 5;

/// What proofs are accepted (`DPOP_ALGORITHMS`, `DPOP_PROOF_MAX_AGE`).
#[derive(Clone, Debug)]
pub struct ProofRules {
    pub algorithms: Vec<Algorithm>,
    /// Seconds a proof stays acceptable after its `iat` (and the replay cache keeps its `jti`).
    pub max_age: i64,
}

/// A proof that passed every check but the replay cache's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proved {
    /// The RFC 7638 thumbprint of the proof's key: what tokens are bound to (`cnf.jkt`).
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// The server nonce it carries, if any.
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: Option<String>,
    nonce: Option<String>,
}

fn invalid(reason: &str) -> AppError {
    AppError::InvalidDpopProof(reason.into())
}

/// Checks `presented` (its request: method and URL) at `now`, and its `ath` against
/// `access_token` when given.
pub fn check(
    presented: &DpopProof,
    rules: &ProofRules,
    access_token: Option<&str>,
    now: i64,
) -> Result<Proved, AppError> {
    let proof = presented.proof.as_str();
    if proof.len() > MAX_PROOF {
        return Err(invalid("The DPoP proof is too long."));
    }
    let header = decode_header(proof).map_err(|_| invalid("The DPoP proof is not a JWT."))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(invalid("A DPoP proof has `typ: dpop+jwt`."));
    }
    if !rules.algorithms.contains(&header.alg) {
        return Err(invalid("The DPoP proof's algorithm is not accepted here."));
    }
    let jwk = header
        .jwk
        .as_ref()
        .ok_or_else(|| invalid("The DPoP proof carries no `jwk`."))?;
    if holds_private_part(proof) {
        return Err(invalid("The DPoP proof's `jwk` holds a private key."));
    }
    let (jkt, key) = public_key(jwk, header.alg)?;
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = decode::<Claims>(proof, &key, &validation)
        .map_err(|_| invalid("The DPoP proof's signature or claims are invalid."))?
        .claims;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI {
        return Err(invalid("The DPoP proof's `jti` is missing or too long."));
    }
    if claims.htm != presented.method {
        return Err(invalid("The DPoP proof is for another HTTP method."));
    }
    if normalized(&claims.htu).as_deref() != normalized(&presented.url).as_deref() {
        return Err(invalid("The DPoP proof is for another URL."));
    }
    if claims.iat > now + FUTURE_SKEW || claims.iat < now - rules.max_age {
        return Err(invalid(
            "The DPoP proof is too old or from the future: make a new one.",
        ));
    }
    if let Some(token) = access_token {
        let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        if claims.ath.as_deref() != Some(hash.as_str()) {
            return Err(invalid(
                "The DPoP proof's `ath` is not this access token's hash.",
            ));
        }
    }
    Ok(Proved {
        jkt,
        jti: claims.jti,
        iat: claims.iat,
        nonce: claims.nonce,
    })
}

/// The key of an asymmetric `jwk` fit for `alg`, and its thumbprint.
fn public_key(jwk: &Jwk, alg: Algorithm) -> Result<(String, DecodingKey), AppError> {
    let fits = matches!(
        (&jwk.algorithm, alg),
        (
            AlgorithmParameters::EllipticCurve(_),
            Algorithm::ES256 | Algorithm::ES384
        ) | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
            | (
                AlgorithmParameters::RSA(_),
                Algorithm::RS256 | Algorithm::PS256
            )
    );
    if !fits {
        return Err(invalid("The DPoP proof's key does not fit its algorithm."));
    }
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| invalid("The DPoP proof's key has no thumbprint."))?;
    let key =
        DecodingKey::from_jwk(jwk).map_err(|_| invalid("The DPoP proof's key is unusable."))?;
    Ok((jkt, key))
}

/// Whether the header's `jwk` has a private member (`d`, or RSA's primes).
fn holds_private_part(proof: &str) -> bool {
    let Some(bytes) = proof
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
    else {
        return true;
    };
    let Ok(header) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return true;
    };
    ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|member| header["jwk"].get(member).is_some())
}

/// `url` as RFC 9449 compares it: scheme and host lower-cased, the default port dropped, no
/// query or fragment, an empty path as `/`.
pub fn normalized(url: &str) -> Option<String> {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let uri: axum::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let host = authority.host().to_ascii_lowercase();
    let port = match (scheme.as_str(), authority.port_u16()) {
        ("http", Some(80)) | ("https", Some(443)) | (_, None) => String::new(),
        (_, Some(port)) => format!(":{port}"),
    };
    let path = match uri.path() {
        "" => "/",
        path => path,
    };
    Some(format!("{scheme}://{host}{port}{path}"))
}

#[cfg(test)]
mod tests {
    use super::normalized;

    #[test]
    fn urls_compare_without_query_fragment_case_or_default_port() {
        let same = [
            "HTTPS://Example.COM:443/graphql?x=1",
            "https://example.com/graphql#f",
        ];
        for url in same {
            assert_eq!(
                normalized(url).as_deref(),
                Some("https://example.com/graphql")
            );
        }
        assert_ne!(
            normalized("https://example.com/GraphQL"),
            normalized("https://example.com/graphql")
        );
        assert_eq!(
            normalized("http://127.0.0.1:8000").as_deref(),
            Some("http://127.0.0.1:8000/")
        );
        assert_eq!(normalized("not a url"), None);
    }
}
