//! One admission for every transport: whether a connection and each operation may run. A
//! transport reads and writes its wire and asks here, so the same request gets the same answer
//! whether it came over HTTP, a WebSocket or Server-Sent Events:
//!
//! - every operation runs within `MAX_CONCURRENT_REQUESTS` (else SERVER_BUSY) and
//!   `REQUEST_TIMEOUT` (else REQUEST_TIMEOUT): [`Admission::run`], called by the pipeline for
//!   each query and mutation whatever carries it (a subscription is bounded by its
//!   connection instead);
//! - a long-lived connection (WebSocket, SSE) takes a place for its client address when it
//!   opens ([`Admission::connect`]) and one for its user once its credentials are checked
//!   ([`Admission::authenticate`]): a bad token is refused with its code (TOKEN_EXPIRED,
//!   UNAUTHENTICATED, ...), never taken as anonymous;
//! - its credentials hold for its life, not once: [`Admission::lapse`] resolves with the
//!   error that ends it (TOKEN_EXPIRED at `exp`, TOKEN_REVOKED at a revocation);
//! - it ends when the server stops ([`Admission::going_away`]), and the server waits for it to
//!   have said so (`lifecycle`).
//!
//! Adding a transport means writing its wire codec and calling these; nothing to copy.

mod connections;
mod lapse;

use std::{future::Future, net::IpAddr, sync::Arc, time::Duration};

use tokio::sync::Semaphore;

pub use self::connections::{Connections, Slot, TooMany};
use crate::{
    auth::guard::{Auth, Principal, TokenCheck},
    error::{AppError, AppResult, Refusal, RequestError},
    lifecycle::Lifecycle,
    observe::{self, Transport},
    request::DpopEvidence,
};

/// The limits admission applies, from the configuration.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Operations running at once, on every transport (`MAX_CONCURRENT_REQUESTS`).
    pub concurrent: usize,
    /// Longest an operation may run (`REQUEST_TIMEOUT`).
    pub timeout: Duration,
    /// Long-lived connections per user and per client address.
    pub connections_per_user: usize,
    pub connections_per_address: usize,
    /// How often a connection whose denylist copy may miss a revocation asks the denylist.
    pub revocation_check: Duration,
}

#[derive(Clone)]
pub struct Admission {
    tokens: TokenCheck,
    connections: Arc<Connections>,
    permits: Arc<Semaphore>,
    timeout: Duration,
    revocation_check: Duration,
    lifecycle: Lifecycle,
}

impl Admission {
    pub fn new(tokens: TokenCheck, limits: &Limits, lifecycle: Lifecycle) -> Self {
        Self {
            lifecycle,
            tokens,
            connections: Connections::new(
                limits.connections_per_user,
                limits.connections_per_address,
            ),
            permits: Arc::new(Semaphore::new(limits.concurrent)),
            timeout: limits.timeout,
            revocation_check: limits.revocation_check,
        }
    }

    /// What checks a request's credentials (the pipeline verifies them before it charges a
    /// user's rate limit).
    pub fn tokens(&self) -> &TokenCheck {
        &self.tokens
    }

    /// Runs one operation: at once when fewer than `MAX_CONCURRENT_REQUESTS` run (else
    /// SERVER_BUSY, and nothing runs), for at most `REQUEST_TIMEOUT` (else REQUEST_TIMEOUT: the
    /// operation is dropped at its next await).
    pub async fn run<T>(&self, operation: impl Future<Output = T>) -> Result<T, RequestError> {
        let Ok(_permit) = self.permits.try_acquire() else {
            return Err(RequestError::new(
                Refusal::ServerBusy,
                "The server is handling too many requests: retry shortly.",
            ));
        };
        tokio::time::timeout(self.timeout, operation)
            .await
            .map_err(|_| {
                RequestError::new(
                    Refusal::RequestTimeout,
                    "The request took too long and was stopped.",
                )
            })
    }

    /// A place for a long-lived connection from `client` over `transport`, counted (for the
    /// limits, for a stopping server and in the live-connection gauge) until it is dropped;
    /// TOO_MANY_CONNECTIONS when the address holds its share.
    pub fn connect(&self, client: Option<IpAddr>, transport: Transport) -> AppResult<Slot> {
        let mut slot = self.connections.admit_address(client)?;
        slot.live = Some((self.lifecycle.live(), observe::Live::connection(transport)));
        Ok(slot)
    }

    /// Resolves when the server stops: the connection closes so that its client reconnects
    /// to another instance (WebSocket 1001; an event stream ends without `complete`).
    pub async fn going_away(&self) {
        self.lifecycle.stopping().await;
    }

    /// The credentials a connection presents (`Bearer <token>`, `DPoP <token>` with its
    /// proof, or none): none makes an anonymous connection; bad ones are refused with their
    /// error; good ones take a place for their user in `slot` (TOO_MANY_CONNECTIONS beyond the
    /// user's share). A bound token's proof is checked here, once: the connection's operations
    /// then carry the proven key (`DpopEvidence::Proven`), not the spent proof.
    pub async fn authenticate(
        &self,
        slot: &mut Slot,
        authorization: Option<String>,
        dpop: Option<DpopEvidence>,
    ) -> AppResult<Option<Principal>> {
        let auth = Auth::new(authorization, dpop);
        let principal = auth
            .principal(&self.tokens)
            .await
            .map_err(AppError::clone)?
            .cloned();
        if let Some(principal) = &principal {
            self.connections.admit_user(slot, principal.user_id)?;
        }
        Ok(principal)
    }

    /// Resolves with the error that ends a connection authenticated as `principal`: its
    /// token's expiry, its revocation, or a denylist that cannot be asked. Never, for an
    /// anonymous connection.
    pub async fn lapse(&self, principal: Option<&Principal>) -> AppError {
        match principal {
            Some(principal) => lapse::lapse(principal, &self.tokens, self.revocation_check).await,
            None => std::future::pending().await,
        }
    }
}
