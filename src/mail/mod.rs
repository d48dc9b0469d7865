//! Mail: written to the outbox (`db::outbox`) by whoever has something to say, in the same
//! breath as what it announces, and delivered by a worker per instance (`worker.rs`), so that
//! sending never blocks a request and survives an SMTP outage and a restart.
//!
//! Mail cannot be turned into a weapon against a mailbox: each mailbox gets at most
//! `MAIL_PER_MAILBOX` mails per `MAIL_WINDOW`, whatever their kind ([`Outbox::room`]). Mail that
//! anybody can cause ([`Class::Bulk`]: a registration's verification, the notice that someone
//! registered with an address) may take half of that, so that mail the mailbox's owner asks
//! for ([`Class::Owner`]: a password reset, a new verification) always has room; and it is
//! delivered by a lane of its own, never queued behind bulk.
//!
//! Without `SMTP_URL`, mails go to a folder (`mail/` beside an SQLite database) as `.eml`
//! files, and in development the log names each file.

mod sender;
mod worker;

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;

pub use self::{
    sender::{SendFailure, Sender},
    worker::{Worker, spawn_worker},
};
use crate::{db, error::AppResult, observe, time::Clock, validate};

/// The plain and HTML forms of one mail.
pub struct Content {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Who caused a mail: the mailbox's owner asking for it, or anybody.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Owner,
    Bulk,
}

impl Class {
    pub const ALL: [Class; 2] = [Class::Owner, Class::Bulk];

    fn priority(self) -> i16 {
        match self {
            Self::Owner => 0,
            Self::Bulk => 1,
        }
    }
}

/// Where mail is written: the caps per mailbox and the wake-up of this instance's worker.
#[derive(Clone)]
pub struct Outbox {
    per_mailbox: u64,
    window: Duration,
    wake: Arc<[Notify; 2]>,
}

impl Outbox {
    pub fn new(per_mailbox: u32, window: Duration) -> Self {
        Self {
            per_mailbox: u64::from(per_mailbox),
            window,
            wake: Arc::new([Notify::new(), Notify::new()]),
        }
    }

    /// Whether one more mail of `class` to `to` fits in its mailbox's allowance at `clock`'s
    /// time: fewer than `MAIL_PER_MAILBOX` in the window, and for bulk fewer than half of it.
    pub async fn room(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        to: &str,
        class: Class,
        clock: &Clock,
    ) -> AppResult<bool> {
        let since = crate::time::before(clock.now(), self.window);
        let mailbox = validate::mailbox(to);
        let (all, of_class) =
            db::outbox::count_recent(db, &mailbox, since, class.priority()).await?;
        Ok(match class {
            Class::Owner => all < self.per_mailbox,
            Class::Bulk => all < self.per_mailbox && of_class < self.per_mailbox / 2,
        })
    }

    /// Writes `content` for `to` (check [`Outbox::room`] first); the worker sends it once the
    /// surrounding transaction commits.
    pub async fn enqueue(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        to: &str,
        content: Content,
        class: Class,
        clock: &Clock,
    ) -> AppResult<()> {
        let mail = db::outbox::NewMail {
            recipient: to.to_owned(),
            mailbox: validate::mailbox(to),
            priority: class.priority(),
            subject: content.subject,
            text_body: content.text,
            html_body: content.html,
        };
        db::outbox::enqueue(db, mail, clock.now()).await?;
        // Counted once written, though a caller's transaction may still roll it back.
        observe::mail_queued();
        Ok(())
    }

    /// Tells this instance's worker that mail of `class` waits (after the commit).
    pub fn wake(&self, class: Class) {
        self.wake[class.priority() as usize].notify_one();
    }

    fn lane(&self, class: Class) -> &Notify {
        &self.wake[class.priority() as usize]
    }
}
