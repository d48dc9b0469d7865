//! The request's identity. The request pipeline puts the credentials a transport read into
//! the GraphQL context as an [`Auth`]; the first resolver that needs a user verifies them
//! (signature, claims, type, denylist) and the result is kept for the rest of the request.
//! Public fields never ask, so they stay public; a token that is present but bad is an error,
//! never "anonymous". [`authenticate`] is that check alone, without HTTP or GraphQL (the
//! `guard` benchmark runs it); a [`TokenCheck`] holds exactly what it needs.

use std::sync::Arc;

use tokio::sync::OnceCell;
use uuid::Uuid;

use super::{
    denylist::{Denylist, Revocable, SharedDenylist},
    jwt::{Claims, TokenType, Verified},
    keys::Keys,
};
use crate::{
    error::{AppError, AppResult},
    time::Clock,
};

/// What checking a token needs: the keys, the denylist, and the clock `exp` is read against.
#[derive(Clone)]
pub struct TokenCheck {
    pub keys: Arc<Keys>,
    pub denylist: SharedDenylist,
    pub clock: Clock,
}

/// Who is calling, as proven by a valid access token.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: Uuid,
    pub claims: Claims,
    /// The key that signed the token: a connection ends when it is revoked.
    pub kid: Arc<str>,
}

/// What the client presented, verified on first use.
pub struct Auth {
    header: Option<String>,
    verified: OnceCell<Result<Option<Principal>, AppError>>,
}

impl Auth {
    /// From the raw `Authorization` header value, if any.
    pub fn new(header: Option<String>) -> Self {
        Self {
            header,
            verified: OnceCell::new(),
        }
    }

    /// The caller if a valid token was presented, `None` without one, an error for a bad one.
    pub async fn principal(&self, check: &TokenCheck) -> Result<Option<&Principal>, &AppError> {
        self.verified
            .get_or_init(|| verify_header(check, self.header.as_deref()))
            .await
            .as_ref()
            .map(Option::as_ref)
    }

    /// The caller, or UNAUTHENTICATED when no token was presented.
    pub async fn require(&self, check: &TokenCheck) -> Result<&Principal, AppError> {
        match self.principal(check).await {
            Ok(Some(principal)) => Ok(principal),
            Ok(None) => Err(AppError::Unauthenticated(
                "This operation needs an access token: send `Authorization: Bearer <token>`."
                    .into(),
            )),
            Err(err) => Err(err.clone()),
        }
    }
}

async fn verify_header(check: &TokenCheck, header: Option<&str>) -> AppResult<Option<Principal>> {
    match header {
        Some(header) => {
            let now = check.clock.unix_now();
            let verified = authenticate(&check.keys, &*check.denylist, header, now).await;
            verified.map(Some)
        }
        None => Ok(None),
    }
}

/// The whole check of one request's `Authorization` header at the Unix time `now`: bearer
/// syntax, signature and claims, token type, then the denylist (token and login session). No
/// user is loaded.
pub async fn authenticate(
    keys: &Keys,
    denylist: &dyn Denylist,
    header: &str,
    now: i64,
) -> AppResult<Principal> {
    let token = bearer_token(header)?;
    let Verified { claims, kid } = keys.verify_reloading(token, TokenType::Access, now).await?;
    let items = [Revocable::Token(claims.jti), Revocable::Session(claims.sid)];
    if denylist.any_revoked(&items).await? {
        return Err(AppError::TokenRevoked);
    }
    Ok(Principal {
        user_id: claims.sub,
        claims,
        kid,
    })
}

/// The token of a `Bearer <token>` header (the scheme is case-insensitive, RFC 7235).
fn bearer_token(header: &str) -> AppResult<&str> {
    let malformed = || {
        AppError::Unauthenticated(
            "The Authorization header must be `Bearer <token>` with a non-empty token.".into(),
        )
    };
    let (scheme, token) = header.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_headers_are_parsed_strictly() {
        assert_eq!(bearer_token("Bearer abc").ok(), Some("abc"));
        assert_eq!(bearer_token("bearer  abc ").ok(), Some("abc"));
        assert!(bearer_token("Basic abc").is_err());
        assert!(bearer_token("Bearer").is_err());
        assert!(bearer_token("Bearer ").is_err());
    }
}
