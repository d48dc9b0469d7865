//! Mail: written to the outbox (`db::outbox`) by whoever has something to say, in the same
//! breath as what it announces, and delivered by one worker per instance, so that sending never
//! blocks a request and survives an SMTP outage and a restart.
//!
//! The worker claims due mails for a while, hands each to the [`Sender`], marks it sent once
//! the SMTP server has taken it, and otherwise tries again with a doubling pause (1 s up to 10
//! minutes). A mail is sent once unless the process dies between the SMTP server's answer and
//! the mark; then the claim lapses and it is sent again, with the same `Message-ID` (its outbox
//! id), which mail systems use to drop the copy.
//!
//! Without `SMTP_URL`, mails go to a folder (`mail/` beside an SQLite database) as `.eml`
//! files, and in development to the log too, so that someone in GraphiQL can follow the links.

use std::{path::PathBuf, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};
use sea_orm::DatabaseConnection;

use crate::{db, tasks::BackgroundTask, time::Clock};

/// How the worker delivers.
#[derive(Clone)]
pub enum Sender {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// Written as files into `dir`, and logged when `log` (development).
    Folder {
        dir: PathBuf,
        from: Mailbox,
        log: bool,
    },
}

/// Why a mail was not sent; it is tried again.
pub type SendError = Box<dyn std::error::Error + Send + Sync>;

impl Sender {
    /// From `SMTP_URL` (`smtp://host:port`, `smtps://user:pass@host`, or with `?tls=required`).
    pub fn smtp(url: &str, from: Mailbox) -> Result<Self, SendError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(Self::Smtp { transport, from })
    }

    async fn send(&self, mail: &db::outbox::Model) -> Result<(), SendError> {
        let from = match self {
            Self::Smtp { from, .. } | Self::Folder { from, .. } => from.clone(),
        };
        let message = Message::builder()
            .message_id(Some(format!("<{}@smilecook>", mail.id)))
            .from(from)
            .to(mail.recipient.parse()?)
            .subject(&mail.subject)
            .multipart(MultiPart::alternative_plain_html(
                mail.text_body.clone(),
                mail.html_body.clone(),
            ))?;
        match self {
            Self::Smtp { transport, .. } => {
                transport.send(message).await?;
            }
            Self::Folder { dir, log, .. } => {
                tokio::fs::create_dir_all(dir).await?;
                let path = dir.join(format!("{}.eml", mail.id));
                tokio::fs::write(&path, message.formatted()).await?;
                if *log {
                    tracing::info!(
                        to = %mail.recipient,
                        subject = %mail.subject,
                        file = %path.display(),
                        "mail (development: not sent)\n{}",
                        mail.text_body
                    );
                }
            }
        }
        Ok(())
    }
}

/// The plain and HTML forms of one mail.
pub struct Content {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Writes `content` for `to` into the outbox; the worker sends it.
pub async fn enqueue(
    db: &impl sea_orm::ConnectionTrait,
    to: &str,
    content: Content,
    clock: &Clock,
) -> crate::error::AppResult<()> {
    let mail = db::outbox::NewMail {
        recipient: to.to_owned(),
        subject: content.subject,
        text_body: content.text,
        html_body: content.html,
    };
    db::outbox::enqueue(db, mail, clock.now()).await?;
    Ok(())
}

const POLL: Duration = Duration::from_millis(500);
const CLAIM: Duration = Duration::from_secs(60);
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(600);

/// The worker: every half second, sends what is due.
pub fn spawn_worker(db: DatabaseConnection, sender: Sender, clock: Clock) -> BackgroundTask {
    BackgroundTask::spawn(async move {
        let mut ticks = tokio::time::interval(POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = deliver_due(&db, &sender, &clock).await {
                tracing::warn!(error = ?error, "the mail outbox could not be read");
            }
        }
    })
}

async fn deliver_due(
    db: &DatabaseConnection,
    sender: &Sender,
    clock: &Clock,
) -> crate::error::AppResult<()> {
    let now = clock.now();
    let claim = now + chrono::TimeDelta::from_std(CLAIM).unwrap_or_default();
    for mail in db::outbox::claim_due(db, now, claim, 20).await? {
        match sender.send(&mail).await {
            Ok(()) => db::outbox::mark_sent(db, mail.id, clock.now()).await?,
            Err(error) => {
                let pause = RETRY_FIRST
                    .saturating_mul(2u32.saturating_pow(mail.attempts.clamp(0, 20) as u32))
                    .min(RETRY_MAX);
                let next = clock.now() + chrono::TimeDelta::from_std(pause).unwrap_or_default();
                tracing::warn!(%error, attempts = mail.attempts + 1, retry_in = ?pause, "a mail was not sent");
                db::outbox::retry_at(db, mail.id, next, &error.to_string()).await?;
            }
        }
    }
    Ok(())
}
