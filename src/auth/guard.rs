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
    dpop::{Dpop, Scheme},
    jwt::{Claims, TokenType, Verified},
    keys::Keys,
};
use crate::{
    error::{AppError, AppResult},
    request::DpopEvidence,
    time::Clock,
};

/// What checking a token needs: the keys, the denylist, the DPoP rules and replay cache, and
/// the clock `exp` is read against.
#[derive(Clone)]
pub struct TokenCheck {
    pub keys: Arc<Keys>,
    pub denylist: SharedDenylist,
    pub dpop: Dpop,
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
    dpop: Option<DpopEvidence>,
    verified: OnceCell<Result<Option<Principal>, AppError>>,
    /// Where the caller's user id is recorded once known (the request's spans).
    spans: Vec<tracing::Span>,
}

impl Auth {
    /// From the raw `Authorization` header value, if any, and the request's DPoP proof.
    pub fn new(header: Option<String>, dpop: Option<DpopEvidence>) -> Self {
        Self {
            header,
            dpop,
            verified: OnceCell::new(),
            spans: Vec::new(),
        }
    }

    /// Credentials verified already (the answer of another `Auth`'s [`Auth::principal`]): the
    /// pipeline verifies them before execution, to charge the user's rate limit, and hands the
    /// answer to the request, so that a DPoP proof is never checked (and spent) twice.
    pub fn verified(verified: Result<Option<Principal>, AppError>) -> Self {
        Self {
            header: None,
            dpop: None,
            verified: OnceCell::new_with(Some(verified)),
            spans: Vec::new(),
        }
    }

    /// Records the caller's id in the `user_id` field of `spans` when the token is verified, so
    /// that what is logged and traced afterwards names the user (never the token).
    pub fn recorded_in(mut self, spans: impl IntoIterator<Item = tracing::Span>) -> Self {
        self.spans = spans.into_iter().collect();
        self
    }

    /// The caller if a valid token was presented, `None` without one, an error for a bad one.
    pub async fn principal(&self, check: &TokenCheck) -> Result<Option<&Principal>, &AppError> {
        let verify = async {
            let verified = verify_header(check, self.header.as_deref(), self.dpop.as_ref()).await;
            if let Ok(Some(principal)) = &verified {
                for span in &self.spans {
                    span.record("user_id", tracing::field::display(principal.user_id));
                }
            }
            verified
        };
        self.verified
            .get_or_init(|| verify)
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

async fn verify_header(
    check: &TokenCheck,
    header: Option<&str>,
    dpop: Option<&DpopEvidence>,
) -> AppResult<Option<Principal>> {
    match header {
        Some(header) => {
            let now_ms = check.clock.now().timestamp_millis();
            let presented = Presented { header, dpop };
            let verified = authenticate(
                &check.keys,
                &*check.denylist,
                &check.dpop,
                presented,
                now_ms,
            );
            verified.await.map(Some)
        }
        None => Ok(None),
    }
}

/// What a request presents: its `Authorization` header and its DPoP proof, if any.
#[derive(Clone, Copy, Debug)]
pub struct Presented<'a> {
    pub header: &'a str,
    pub dpop: Option<&'a DpopEvidence>,
}

/// The whole check of one request's credentials at `now_ms` (Unix milliseconds): the scheme
/// (`Bearer`, or `DPoP` for a bound token), signature and claims, token type, the denylist
/// (token and login session), then for a bound token its proof. No user is loaded.
pub async fn authenticate(
    keys: &Keys,
    denylist: &dyn Denylist,
    dpop: &Dpop,
    presented: Presented<'_>,
    now_ms: i64,
) -> AppResult<Principal> {
    let (scheme, token) = credentials(presented.header)?;
    let now = now_ms.div_euclid(1000);
    let Verified { claims, kid } = keys.verify_reloading(token, TokenType::Access, now).await?;
    let items = [Revocable::Token(claims.jti), Revocable::Session(claims.sid)];
    if denylist.any_revoked(&items).await? {
        return Err(AppError::TokenRevoked);
    }
    dpop.check_binding(&claims, scheme, token, presented.dpop, now_ms)
        .await?;
    Ok(Principal {
        user_id: claims.sub,
        claims,
        kid,
    })
}

/// The scheme and token of a `Bearer <token>` or `DPoP <token>` header (schemes are
/// case-insensitive, RFC 7235).
fn credentials(header: &str) -> AppResult<(Scheme, &str)> {
    let malformed = || {
        AppError::Unauthenticated(
            "The Authorization header must be `Bearer <token>` (or `DPoP <token>` for a bound token) with a non-empty token.".into(),
        )
    };
    let (scheme, token) = header.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    let scheme = match scheme {
        s if s.eq_ignore_ascii_case("bearer") => Scheme::Bearer,
        s if s.eq_ignore_ascii_case("dpop") => Scheme::Dpop,
        _ => return Err(malformed()),
    };
    if token.is_empty() {
        return Err(malformed());
    }
    Ok((scheme, token))
}

#[cfg(test)]
mod tests {
    use super::{Scheme, credentials};

    #[test]
    fn authorization_headers_are_parsed_strictly() {
        assert_eq!(
            credentials("Bearer abc").ok(),
            Some((Scheme::Bearer, "abc"))
        );
        assert_eq!(
            credentials("bearer  abc ").ok(),
            Some((Scheme::Bearer, "abc"))
        );
        assert_eq!(credentials("DPoP abc").ok(), Some((Scheme::Dpop, "abc")));
        assert!(credentials("Basic abc").is_err());
        assert!(credentials("Bearer").is_err());
        assert!(credentials("Bearer ").is_err());
    }
}
