//! The server's life after start-up, for a deployment that replaces instances without cutting
//! anybody off:
//!
//! 1. serving;
//! 2. draining, from SIGTERM: `/readyz` answers 503 so that the load balancer stops sending new
//!    work here, while everything still works for `SHUTDOWN_DELAY` (the balancer needs a few
//!    probes to notice);
//! 3. stopping: new connections are refused, requests in flight finish, WebSockets close with
//!    1001 (going away) and event streams end without `complete`, so that their clients
//!    reconnect, to another instance; after `SHUTDOWN_GRACE` whatever is left is cut.
//!
//! Long-lived connections hold a [`Live`] token for as long as they run, so that stopping can
//! wait for their close frames to be written.

use tokio_util::{
    sync::CancellationToken,
    task::{TaskTracker, task_tracker::TaskTrackerToken},
};

/// Cheap to clone: one `Arc` (the pipeline is cloned per request, and a `CancellationToken`'s
/// clone and drop each take a lock).
#[derive(Clone, Default)]
pub struct Lifecycle(std::sync::Arc<Inner>);

#[derive(Default)]
struct Inner {
    draining: CancellationToken,
    stopping: CancellationToken,
    /// When stopping began: what is left of `SHUTDOWN_GRACE` counts from here.
    stopped_at: std::sync::OnceLock<tokio::time::Instant>,
    connections: TaskTracker,
}

/// One long-lived connection, counted while it runs.
pub struct Live(#[allow(dead_code)] TaskTrackerToken);

impl Lifecycle {
    /// From now on `/readyz` answers 503.
    pub fn drain(&self) {
        self.0.draining.cancel();
    }

    pub fn is_draining(&self) -> bool {
        self.0.draining.is_cancelled()
    }

    /// Ends every long-lived connection (and drains, if that had not begun).
    pub fn stop(&self) {
        self.0.stopped_at.get_or_init(tokio::time::Instant::now);
        self.0.draining.cancel();
        self.0.stopping.cancel();
        self.0.connections.close();
    }

    /// Resolves once [`Lifecycle::stop`] is called (at once if it was).
    pub async fn stopping(&self) {
        self.0.stopping.cancelled().await;
    }

    /// How long ago stopping began (zero before).
    pub fn since_stop(&self) -> std::time::Duration {
        self.0
            .stopped_at
            .get()
            .map_or_else(Default::default, |at| at.elapsed())
    }

    /// A token for a long-lived connection, held until it has closed.
    pub fn live(&self) -> Live {
        Live(self.0.connections.token())
    }

    /// Long-lived connections open now.
    pub fn connections(&self) -> usize {
        self.0.connections.len()
    }

    /// Resolves once stopping has begun and every long-lived connection has closed.
    pub async fn closed(&self) {
        self.stopping().await;
        self.0.connections.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopping_waits_for_the_connections_it_ends() {
        use futures_util::FutureExt;
        let lifecycle = Lifecycle::default();
        let live = lifecycle.live();
        assert!(!lifecycle.is_draining());
        assert_eq!(lifecycle.closed().now_or_never(), None, "not stopping yet");
        lifecycle.drain();
        assert!(lifecycle.is_draining());
        lifecycle.stop();
        assert_eq!(lifecycle.stopping().now_or_never(), Some(()));
        assert_eq!(
            lifecycle.closed().now_or_never(),
            None,
            "a connection is open"
        );
        assert_eq!(lifecycle.connections(), 1);
        drop(live);
        assert_eq!(lifecycle.closed().now_or_never(), Some(()));
    }

    #[tokio::test(start_paused = true)]
    async fn the_grace_counts_from_when_stopping_began() {
        let lifecycle = Lifecycle::default();
        tokio::time::advance(std::time::Duration::from_secs(3600)).await;
        assert_eq!(lifecycle.since_stop(), std::time::Duration::ZERO);
        lifecycle.stop();
        tokio::time::advance(std::time::Duration::from_secs(5)).await;
        lifecycle.stop(); // again: the first one counts
        assert_eq!(lifecycle.since_stop(), std::time::Duration::from_secs(5));
    }
}
