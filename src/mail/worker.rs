//! The worker that empties the outbox: two lanes, one per [`Class`], so that mail a mailbox's
//! owner asks for never waits behind mail that anybody can cause, and a pruner.
//!
//! A lane claims the next due mail of its class, hands it to the [`Sender`] and marks it sent.
//! A mail refused for good is given up; one deferred by the server is tried again with a
//! doubling pause (1 s up to 10 minutes). When the server cannot be reached, the lane stops
//! sending and asks it every few seconds whether it answers again (a NOOP on a new
//! connection); the moment it does, every mail that waits out a back-off is due again, so the
//! mail held up by an outage goes out within seconds of its end, and after a restart too (a
//! lane that starts with backed-off mail asks first).
//!
//! A mail is sent once unless the process dies between the SMTP server's answer and the mark;
//! then the claim lapses and it is sent again, with the same `Message-ID` (its outbox id),
//! which mail systems use to drop the copy. A server that stops ([`Worker::stop`]) claims no
//! more, lets a send under way finish, and gives back a claim it still holds, so that another
//! instance sends that mail at once rather than after the claim's minute.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use chrono::TimeDelta;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Class, Outbox, SendFailure, Sender};
use crate::{
    db,
    error::AppResult,
    observe::{self, MailFailure},
    time::{self, Clock},
};

/// How often the age of the oldest waiting mail is measured.
const MEASURE: Duration = Duration::from_secs(15);
/// How often a lane with nothing to send looks again (mail written by other instances).
const POLL: Duration = Duration::from_millis(500);
/// How often a lane asks a server it could not reach whether it answers again.
const PROBE: Duration = Duration::from_secs(2);
const CLAIM: Duration = Duration::from_secs(60);
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(600);
/// How often sent mail past the window is deleted.
const PRUNE: Duration = Duration::from_secs(60);
/// Mail still unsent after this long is dropped: whatever it announced has expired.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What a lane needs.
#[derive(Clone)]
struct Lane {
    db: DatabaseConnection,
    sender: Sender,
    clock: Clock,
    outbox: Outbox,
    stop: CancellationToken,
    /// The mail this instance's lanes have claimed and not yet recorded.
    held: Arc<Mutex<HashSet<Uuid>>>,
}

/// The worker of this instance: a lane per class and the pruner. Dropped, it stops at once;
/// [`Worker::stop`] stops it cleanly.
pub struct Worker {
    task: tokio::task::JoinHandle<()>,
    stop: CancellationToken,
    held: Arc<Mutex<HashSet<Uuid>>>,
    db: DatabaseConnection,
}

pub fn spawn_worker(
    db: DatabaseConnection,
    sender: Sender,
    clock: Clock,
    outbox: Outbox,
    window: Duration,
) -> Worker {
    let lane = Lane {
        db: db.clone(),
        sender,
        clock,
        outbox,
        stop: CancellationToken::new(),
        held: Arc::default(),
    };
    let (stop, held) = (lane.stop.clone(), Arc::clone(&lane.held));
    let task = tokio::spawn(async move {
        tokio::join!(
            lane.clone().run(Class::Owner),
            lane.clone().run(Class::Bulk),
            lane.clone().measure(),
            lane.prune(window),
        );
    });
    Worker {
        task,
        stop,
        held,
        db,
    }
}

impl Worker {
    /// Claims no more mail, waits up to `within` for the sends under way, then gives back the
    /// claims still held (a send cut short may have reached the server: its copy carries the
    /// same `Message-ID`).
    pub async fn stop(mut self, within: Duration) {
        self.stop.cancel();
        if tokio::time::timeout(within, &mut self.task).await.is_err() {
            self.task.abort();
        }
        let held: Vec<Uuid> = lock(&self.held).drain().collect();
        if held.is_empty() {
            return;
        }
        match db::outbox::release(&self.db, &held).await {
            Ok(()) => tracing::info!(mails = held.len(), "mail claims given back"),
            Err(error) => tracing::warn!(error = ?error, "mail claims could not be given back"),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(held: &Mutex<HashSet<Uuid>>) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
    held.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lane {
    async fn run(self, class: Class) {
        let mut down = self.backed_off().await;
        while !self.stop.is_cancelled() {
            if down {
                down = !self.server_back().await;
                continue;
            }
            match self.next(class).await {
                Ok(Some(mail)) => down = self.deliver(mail).await,
                Ok(None) => self.idle(class).await,
                Err(error) => {
                    tracing::warn!(error = ?error, "the mail outbox could not be read");
                    self.pause(POLL).await;
                }
            }
        }
    }

    /// Whether mail waits out a back-off (at start: the server was down before a restart).
    async fn backed_off(&self) -> bool {
        db::outbox::backed_off(&self.db, self.clock.now())
            .await
            .unwrap_or(false)
    }

    /// After a pause, whether the server answers again; if so, brings the waiting mail forward.
    async fn server_back(&self) -> bool {
        if !self.sender.reachable().await {
            self.pause(PROBE).await;
            return false;
        }
        match db::outbox::bring_forward(&self.db, self.clock.now()).await {
            Ok(n) if n > 0 => tracing::info!(mails = n, "the mail server answers again"),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = ?error, "the mail outbox could not be read"),
        }
        true
    }

    /// Waits `pause`, or less if the worker stops.
    async fn pause(&self, pause: Duration) {
        let _ = tokio::time::timeout(pause, self.stop.cancelled()).await;
    }

    async fn next(&self, class: Class) -> AppResult<Option<db::outbox::Model>> {
        let now = self.clock.now();
        let until = now + TimeDelta::from_std(CLAIM).unwrap_or_default();
        let mail = db::outbox::claim_next(&self.db, class.priority(), now, until).await?;
        if let Some(mail) = &mail {
            lock(&self.held).insert(mail.id);
        }
        Ok(mail)
    }

    /// Waits for mail of `class`: woken by this instance's writes, or after [`POLL`].
    async fn idle(&self, class: Class) {
        let woken = self.outbox.lane(class).notified();
        tokio::select! {
            _ = tokio::time::timeout(POLL, woken) => {}
            () = self.stop.cancelled() => {}
        }
    }

    /// Sends `mail` and records the outcome; true when the server could not be reached.
    async fn deliver(&self, mail: db::outbox::Model) -> bool {
        let outcome = self.sender.send(&mail).await;
        let now = self.clock.now();
        let recorded = match &outcome {
            Ok(()) => {
                observe::mail_sent();
                db::outbox::mark_sent(&self.db, mail.id, now).await
            }
            Err(SendFailure::Refused(reason)) => {
                observe::mail_failed(MailFailure::GivenUp);
                tracing::warn!(%reason, "a mail was refused for good and given up");
                db::outbox::give_up(&self.db, mail.id, now, reason).await
            }
            Err(failure) => {
                let pause = RETRY_FIRST
                    .saturating_mul(2u32.saturating_pow(mail.attempts.clamp(0, 20) as u32))
                    .min(RETRY_MAX);
                let next = now + TimeDelta::from_std(pause).unwrap_or_default();
                let reason = failure.reason();
                observe::mail_failed(MailFailure::Retry);
                tracing::warn!(%reason, attempts = mail.attempts + 1, retry_in = ?pause, "a mail was not sent");
                db::outbox::retry_at(&self.db, mail.id, next, reason).await
            }
        };
        match recorded {
            Ok(()) => {
                lock(&self.held).remove(&mail.id);
            }
            Err(error) => tracing::warn!(error = ?error, "a mail's outcome could not be recorded"),
        }
        matches!(outcome, Err(SendFailure::Unreachable(_)))
    }

    /// Waits for the next of `ticks`: false once the worker stops.
    async fn tick(&self, ticks: &mut tokio::time::Interval) -> bool {
        tokio::select! {
            _ = ticks.tick() => true,
            () = self.stop.cancelled() => false,
        }
    }

    /// Every [`MEASURE`]: how long the oldest unsent mail has waited, for the metrics (a
    /// no-op without them but for one cheap query).
    async fn measure(self) {
        let mut ticks = tokio::time::interval(MEASURE);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while self.tick(&mut ticks).await {
            let now = self.clock.now();
            match db::outbox::oldest_unsent(&self.db).await {
                Ok(oldest) => {
                    let waited = oldest.map_or(TimeDelta::zero(), |created| now - created);
                    observe::mail_oldest_waiting(waited.to_std().unwrap_or_default());
                }
                Err(error) => tracing::warn!(error = ?error, "the mail outbox could not be read"),
            }
        }
    }

    /// Every [`PRUNE`]: deletes sent and given-up mail past the window, and unsent mail past
    /// [`GIVE_UP_AFTER`].
    async fn prune(self, window: Duration) {
        let mut ticks = tokio::time::interval(PRUNE);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while self.tick(&mut ticks).await {
            let now = self.clock.now();
            let (done, stale) = (time::before(now, window), time::before(now, GIVE_UP_AFTER));
            match db::outbox::prune(&self.db, done, stale).await {
                Ok(0) => {}
                Ok(dropped) => {
                    tracing::warn!(mails = dropped, "unsent mail older than a day was dropped")
                }
                Err(error) => tracing::warn!(error = ?error, "the mail outbox could not be pruned"),
            }
        }
    }
}
