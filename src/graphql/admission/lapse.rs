//! When a long-lived connection's credentials stop being good: at the access token's `exp`,
//! or within one check interval of a revocation of the token or its session, on whichever
//! instance it happened (the denylist is shared), and at once where the denylist's in-process
//! copy hears of it; or when the key that signed the token is revoked (seen within one
//! `KEYS_REFRESH_INTERVAL`).

use std::time::Duration;

use crate::{
    auth::{
        denylist::{Revocable, Watch},
        guard::{Principal, TokenCheck},
        jwt::TokenType,
    },
    error::AppError,
};

/// Resolves when `principal`'s access token expires by `check`'s clock (TOKEN_EXPIRED), is
/// found revoked, token or login session (TOKEN_REVOKED), or the denylist cannot be asked
/// (SERVICE_UNAVAILABLE: the token is refused, as a request's would be).
///
/// Where the denylist's in-process copy hears of every revocation (SQLite; Redis while its
/// pub/sub is followed), a revocation wakes this at once and nothing runs in between: an idle
/// connection costs no CPU. Otherwise (PostgreSQL without Redis, or Redis's pub/sub down) the
/// denylist is asked every `every`. A copy that stops hearing wakes its watchers, who go back
/// to asking.
pub async fn lapse(principal: &Principal, check: &TokenCheck, every: Duration) -> AppError {
    let claims = &principal.claims;
    let left = claims.exp.saturating_sub(check.clock.unix_now()).max(0);
    let expiry =
        tokio::time::sleep(Duration::from_secs(left.unsigned_abs()) + Duration::from_millis(1));
    tokio::pin!(expiry);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let items = [Revocable::Token(claims.jti), Revocable::Session(claims.sid)];
    let watch = check.denylist.watch(&items);
    // Registered before every question, so that a revocation in between is not missed.
    let mut woken = Box::pin(revoked(watch.as_ref()));
    let mut keys = check.keys.changes();
    loop {
        if !check.keys.accepts(&principal.kid, TokenType::Access) {
            return AppError::TokenRevoked;
        }
        match check.denylist.any_revoked(&items).await {
            Ok(false) => {}
            Ok(true) => return AppError::TokenRevoked,
            Err(error) => return error,
        }
        let heard = watch.is_some() && check.denylist.hears_every_revocation();
        tokio::select! {
            () = &mut expiry => {
                // The timer runs on real time; a clock moved by tests is read again.
                if check.clock.unix_now() > claims.exp {
                    return AppError::TokenExpired;
                }
                expiry.as_mut().reset(tokio::time::Instant::now() + every);
            }
            () = &mut woken => woken = Box::pin(revoked(watch.as_ref())),
            _ = ticks.tick(), if !heard => {}
            // A revoked signing key: checked at the top of the loop.
            Ok(()) = keys.changed() => {}
        }
    }
}

/// The next wake-up of `watch`, registered now (never, without one).
fn revoked(watch: Option<&Watch>) -> impl Future<Output = ()> + '_ {
    let next = watch.map(Watch::revoked);
    async move {
        match next {
            Some(next) => next.await,
            None => std::future::pending().await,
        }
    }
}
