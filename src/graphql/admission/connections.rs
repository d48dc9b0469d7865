//! How many long-lived connections (WebSocket, SSE) a user and a client address may hold at
//! once: a [`Slot`] is one connection's place, given back when it is dropped.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use uuid::Uuid;

use crate::{error::AppError, lifecycle::Live, observe};

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

impl From<TooMany> for AppError {
    fn from(too_many: TooMany) -> Self {
        let whose = match too_many {
            TooMany::ForUser => "account",
            TooMany::ForAddress => "address",
        };
        AppError::TooManyConnections(format!(
            "This {whose} holds as many subscription connections as it may: close one first."
        ))
    }
}

/// One admitted connection's place; given back when dropped.
pub struct Slot {
    connections: Arc<Connections>,
    user: Option<Uuid>,
    address: Option<IpAddr>,
    /// Counts the connection while it runs, so that a stopping server waits for its close,
    /// and in the live-connection gauge.
    pub(super) live: Option<(Live, observe::Live)>,
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
            live: None,
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
