//! Token introspection (RFC 7662) for services that must see a logout or a revocation at once
//! rather than at the token's expiry: the registered services that may ask (a client id and a
//! secret, managed by `smilecook clients`), and the answer for one token. An inactive token
//! (expired, revoked, unknown, malformed) is `{"active": false}` and nothing else.

use std::net::IpAddr;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::{
    auth::{
        denylist::Revocable,
        jwt::{TokenType, Verified},
        throttle::{Action, Subjects},
    },
    db::service_clients,
    error::AppResult,
    state::AppState,
};

/// The longest client id; a longer one is refused unread.
pub const MAX_CLIENT_ID: usize = 64;

/// The client id of the tokens this server issues: its own GraphQL clients.
pub const FIRST_PARTY_CLIENT: &str = "smilecook";

fn hash(secret: &str) -> String {
    crate::auth::secret::sha256_hex(secret)
}

/// Registers a service; its secret, shown once, or `None` when the id is taken.
pub async fn add_client(
    db: &impl ConnectionTrait,
    client_id: &str,
) -> Result<Option<String>, DbErr> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let added = service_clients::insert(db, client_id, &hash(&secret), crate::time::now()).await?;
    Ok(added.then_some(secret))
}

/// Whether `client_id` and `secret` are a registered service's. Failures are counted by the
/// throttle (per client id and per address) and answered TOO_MANY_REQUESTS past the
/// allowance; a correct secret is never refused by a lockout, so guessing cannot lock a
/// service out (the secret is 256 random bits: the throttle limits noise, not luck).
pub async fn authenticate(
    state: &AppState,
    client_id: &str,
    secret: &str,
    address: Option<IpAddr>,
) -> AppResult<bool> {
    let known = if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID {
        None
    } else {
        service_clients::find(&state.db, client_id).await?
    };
    // The same hash and comparison whether or not the client exists.
    let wanted = known.map_or_else(|| hash(""), |client| client.secret_hash);
    let matches =
        bool::from(hash(secret).as_bytes().ct_eq(wanted.as_bytes())) && !secret.is_empty();
    if matches {
        return Ok(true);
    }
    let name: String = client_id.chars().take(MAX_CLIENT_ID).collect();
    let subjects = Subjects {
        login_name: Some(&name),
        client: address,
        ..Subjects::default()
    };
    state.throttle.reserve(Action::ClientAuth, subjects).await?;
    Ok(false)
}

/// The introspection answer for `token`.
pub async fn introspect(state: &AppState, token: &str) -> AppResult<Value> {
    let check = &state.tokens;
    let now = check.clock.unix_now();
    let keys = &check.keys;
    let verified = match keys.verify_reloading(token, TokenType::Access, now).await {
        Ok(verified) => Some((verified, "access")),
        Err(_) => keys
            .verify(token, TokenType::Refresh, now)
            .ok()
            .map(|verified| (verified, "refresh")),
    };
    let Some((Verified { claims, .. }, kind)) = verified else {
        return Ok(inactive());
    };
    let items = [Revocable::Token(claims.jti), Revocable::Session(claims.sid)];
    if check.denylist.any_revoked(&items).await? {
        return Ok(inactive());
    }
    let mut answer = json!({
        "active": true,
        "sub": claims.sub,
        "client_id": FIRST_PARTY_CLIENT,
        "token_type": "Bearer",
        "token_use": kind,
        "exp": claims.exp,
        "iat": claims.iat,
        "nbf": claims.nbf,
        "jti": claims.jti,
        "iss": claims.iss,
        "aud": claims.aud,
    });
    if let Some(cnf) = &claims.cnf {
        // Bound (DPoP): the caller must see a proof by this key before trusting the token.
        answer["cnf"] = json!({ "jkt": cnf.jkt });
        answer["token_type"] = json!("DPoP");
    }
    Ok(answer)
}

fn inactive() -> Value {
    json!({ "active": false })
}
