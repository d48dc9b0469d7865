//! Keeps one instance's ring in step with the database: a short poll (`KEYS_REFRESH_INTERVAL`)
//! that also settles the schedule (so the next key is published and takes over on time even
//! if no `smilecook keys` command runs), and an early load when a token names a key this
//! instance does not know yet. A new or revoked key is seen within one interval.

use std::{sync::Arc, time::Duration};

use super::Keys;
use super::store::KeyStore;
use crate::tasks::BackgroundTask;

/// The shortest gap between two loads: unknown `kid`s sent in a flood cost one small query
/// per gap, not one per request.
const MIN_GAP: Duration = Duration::from_millis(100);

pub fn spawn(store: KeyStore, keys: Arc<Keys>, every: Duration) -> BackgroundTask {
    keys.enable_reload();
    BackgroundTask::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = keys.reload_wanted() => {}
            }
            match store.ring_unless(&keys.ring().fingerprint).await {
                Ok(Some(ring)) => keys.install_if_changed(ring),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "signing keys could not be reloaded"),
            }
            keys.loaded();
            tokio::time::sleep(MIN_GAP).await;
        }
    })
}
