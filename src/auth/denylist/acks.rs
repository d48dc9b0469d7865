//! Read-your-revocation across instances: a revocation announced on Redis is answered by every
//! instance that follows the channel once it has the entry in its copy, and the revoking
//! instance waits for those answers before its `logout` returns.
//!
//! Without this, an instance trusted its copy while the announcement was still on its way:
//! a token logged out on instance A was accepted once by instance B in 65 immediate tries. Now
//! B has the entry before A answers. Redis says how many subscribers a `PUBLISH` reached, so A
//! knows how many answers to wait for; it waits [`WAIT`] at most (an instance that took the
//! message but cannot answer is failing, and stops trusting its copy within the heartbeat of
//! `sync.rs`).

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;
use uuid::Uuid;

/// The longest a revocation waits for the other instances.
pub const WAIT: Duration = Duration::from_secs(2);

/// This instance's revocations that wait for their answers.
pub struct Acks {
    instance: Uuid,
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, watch::Sender<usize>>>,
}

/// One announced revocation's answers so far; it stops being counted when dropped.
pub struct Pending<'a> {
    acks: &'a Acks,
    pub seq: u64,
    heard: watch::Receiver<usize>,
}

impl Default for Acks {
    fn default() -> Self {
        Self {
            instance: Uuid::new_v4(),
            next: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
        }
    }
}

impl Acks {
    /// The name answers to this instance are addressed to.
    pub fn instance(&self) -> Uuid {
        self.instance
    }

    /// Starts counting the answers to a revocation about to be announced.
    pub fn expect(&self) -> Pending<'_> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, heard) = watch::channel(0);
        self.waiting().insert(seq, tx);
        Pending {
            acks: self,
            seq,
            heard,
        }
    }

    /// An instance has applied revocation `seq` (unknown or finished ones are ignored).
    pub fn heard(&self, seq: u64) {
        if let Some(tx) = self.waiting().get(&seq) {
            tx.send_modify(|n| *n += 1);
        }
    }

    fn waiting(&self) -> MutexGuard<'_, HashMap<u64, watch::Sender<usize>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Pending<'_> {
    /// Waits until `receivers` instances have answered, or [`WAIT`] has passed: true if all did.
    pub async fn all_heard(mut self, receivers: usize) -> bool {
        let heard = self.heard.wait_for(|n| *n >= receivers);
        matches!(tokio::time::timeout(WAIT, heard).await, Ok(Ok(_)))
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.acks.waiting().remove(&self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_revocation_is_done_once_every_receiver_has_answered() {
        let acks = Acks::default();
        let pending = acks.expect();
        let seq = pending.seq;
        acks.heard(seq);
        acks.heard(seq + 100); // someone else's: ignored
        acks.heard(seq);
        assert!(pending.all_heard(2).await);
        assert!(acks.waiting().is_empty(), "forgotten once done");
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_answer_stops_the_wait_after_the_limit() {
        let acks = Acks::default();
        let pending = acks.expect();
        acks.heard(pending.seq);
        assert!(!pending.all_heard(2).await);
    }
}
