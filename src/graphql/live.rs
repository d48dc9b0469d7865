//! What keeps a long-lived request honest, whatever carries it (WebSocket or SSE): how many
//! connections a user and an address may hold ([`Connections`]), and when a connection's
//! credentials stop being good ([`lapse`]): at the access token's `exp`, or within one check
//! interval of a revocation of the token or its session, on whichever instance it happened
//! (the denylist is shared), and at once where the denylist's in-process copy hears of it.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use uuid::Uuid;

use crate::auth::{
    denylist::{Revocable, Watch},
    guard::{Principal, TokenCheck},
};

/// Why a connection's credentials stopped being good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lapse {
    TokenExpired,
    TokenRevoked,
    /// The denylist could not be asked: the token is refused, as a request's would be.
    Unavailable,
}

impl Lapse {
    /// The error code, as a request with this token would get it.
    pub fn code(self) -> &'static str {
        match self {
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::TokenRevoked => "TOKEN_REVOKED",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
        }
    }
}

/// Resolves when `principal`'s access token expires by `check`'s clock, or is found revoked
/// (token or login session).
///
/// Where the denylist's in-process copy hears of every revocation (SQLite; Redis while its
/// pub/sub is followed), a revocation wakes this at once and nothing runs in between: an idle
/// connection costs no CPU. Otherwise (PostgreSQL without Redis, or Redis's pub/sub down) the
/// denylist is asked every `every`. A copy that stops hearing wakes its watchers, who go back
/// to asking.
pub async fn lapse(principal: &Principal, check: &TokenCheck, every: Duration) -> Lapse {
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
    loop {
        match check.denylist.any_revoked(&items).await {
            Ok(false) => {}
            Ok(true) => return Lapse::TokenRevoked,
            Err(_) => return Lapse::Unavailable,
        }
        let heard = watch.is_some() && check.denylist.hears_every_revocation();
        tokio::select! {
            () = &mut expiry => {
                // The timer runs on real time; a clock moved by tests is read again.
                if check.clock.unix_now() > claims.exp {
                    return Lapse::TokenExpired;
                }
                expiry.as_mut().reset(tokio::time::Instant::now() + every);
            }
            () = &mut woken => woken = Box::pin(revoked(watch.as_ref())),
            _ = ticks.tick(), if !heard => {}
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

/// Open long-lived connections, counted per user and per client address.
pub struct Connections {
    per_user: Mutex<HashMap<Uuid, usize>>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    max_per_user: usize,
    max_per_address: usize,
}

/// Which limit refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TooMany {
    ForUser,
    ForAddress,
}

impl TooMany {
    pub fn message(self) -> &'static str {
        match self {
            Self::ForUser => "This account holds as many subscription connections as it may.",
            Self::ForAddress => "This address holds as many subscription connections as it may.",
        }
    }
}

/// One admitted connection's place; given back when dropped.
pub struct Slot {
    connections: Arc<Connections>,
    user: Option<Uuid>,
    address: Option<IpAddr>,
}

impl Connections {
    pub fn new(max_per_user: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            per_user: Mutex::default(),
            per_address: Mutex::default(),
            max_per_user,
            max_per_address,
        })
    }

    /// A place for a connection from `address` (when known).
    pub fn admit_address(self: &Arc<Self>, address: Option<IpAddr>) -> Result<Slot, TooMany> {
        if let Some(ip) = address {
            take(&mut lock(&self.per_address), ip, self.max_per_address)
                .ok_or(TooMany::ForAddress)?;
        }
        Ok(Slot {
            connections: Arc::clone(self),
            user: None,
            address,
        })
    }

    /// Counts the connection of `slot` against `user` too, once it has proved who it is.
    pub fn admit_user(&self, slot: &mut Slot, user: Uuid) -> Result<(), TooMany> {
        if slot.user.is_some() {
            return Ok(());
        }
        take(&mut lock(&self.per_user), user, self.max_per_user).ok_or(TooMany::ForUser)?;
        slot.user = Some(user);
        Ok(())
    }
}

fn lock<K>(map: &Mutex<HashMap<K, usize>>) -> MutexGuard<'_, HashMap<K, usize>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

fn take<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K, max: usize) -> Option<()> {
    let count = map.entry(key).or_insert(0);
    if *count >= max {
        return None;
    }
    *count += 1;
    Some(())
}

fn give_back<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
    if let Some(count) = map.get_mut(&key) {
        *count -= 1;
        if *count == 0 {
            map.remove(&key);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(ip) = self.address {
            give_back(&mut lock(&self.connections.per_address), ip);
        }
        if let Some(user) = self.user {
            give_back(&mut lock(&self.connections.per_user), user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_user_and_address_and_given_back() {
        let connections = Connections::new(1, 2);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let user = Uuid::new_v4();
        let mut first = connections.admit_address(Some(ip)).expect("room");
        connections.admit_user(&mut first, user).expect("room");
        let mut second = connections.admit_address(Some(ip)).expect("room");
        assert_eq!(
            connections.admit_user(&mut second, user).err(),
            Some(TooMany::ForUser)
        );
        assert_eq!(
            connections.admit_address(Some(ip)).err(),
            Some(TooMany::ForAddress)
        );
        drop(first);
        connections
            .admit_user(&mut second, user)
            .expect("given back");
        assert!(connections.admit_address(Some(ip)).is_ok());
    }
}
