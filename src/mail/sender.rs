//! How mail leaves: over SMTP (`SMTP_URL`, with lettre), or into a folder in development. A
//! failed send says whether it may pass: a refusal for good (the SMTP server's 5xx, an address
//! that cannot be sent to) is given up, a refusal for now (4xx) is tried again later, and a
//! server that cannot be reached puts the worker into waiting for it (`worker.rs`).

use std::{path::PathBuf, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use crate::db;

/// How the worker delivers.
#[derive(Clone)]
pub enum Sender {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// Written as files into `dir`; with `log` (development) the log names each file (never
    /// its contents: a mail holds tokens).
    Folder {
        dir: PathBuf,
        from: Mailbox,
        log: bool,
    },
}

/// Why a mail was not sent.
#[derive(Debug)]
pub enum SendFailure {
    /// It never will be: give it up.
    Refused(String),
    /// The server answered "not now": try again later.
    Deferred(String),
    /// The server could not be reached (or the folder written): wait until it can.
    Unreachable(String),
}

impl SendFailure {
    pub fn reason(&self) -> &str {
        match self {
            Self::Refused(r) | Self::Deferred(r) | Self::Unreachable(r) => r,
        }
    }
}

impl Sender {
    /// From `SMTP_URL` (`smtp://host:port`, `smtps://user:pass@host`, or with `?tls=required`).
    pub fn smtp(url: &str, from: Mailbox) -> Result<Self, lettre::transport::smtp::Error> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(Self::Smtp { transport, from })
    }

    /// Sends `mail`, in a span that names the mail's id only (never its address or content).
    #[tracing::instrument(name = "mail.send", skip_all, fields(mail_id = %mail.id))]
    pub async fn send(&self, mail: &db::outbox::Model) -> Result<(), SendFailure> {
        let message = self.message(mail)?;
        match self {
            Self::Smtp { transport, .. } => match transport.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendFailure::Refused(e.to_string())),
                Err(e) if e.is_transient() => Err(SendFailure::Deferred(e.to_string())),
                Err(e) => Err(SendFailure::Unreachable(e.to_string())),
            },
            Self::Folder { dir, log, .. } => {
                let unreachable = |e: std::io::Error| SendFailure::Unreachable(e.to_string());
                tokio::fs::create_dir_all(dir).await.map_err(unreachable)?;
                let path = dir.join(format!("{}.eml", mail.id));
                let written = tokio::fs::write(&path, message.formatted()).await;
                written.map_err(unreachable)?;
                if *log {
                    tracing::info!(
                        subject = %mail.subject,
                        file = %path.display(),
                        "mail written to a file (development: not sent)"
                    );
                }
                Ok(())
            }
        }
    }

    /// Whether the SMTP server answers now (a NOOP on a new connection).
    pub async fn reachable(&self) -> bool {
        match self {
            Self::Smtp { transport, .. } => transport.test_connection().await.unwrap_or(false),
            Self::Folder { .. } => true,
        }
    }

    fn message(&self, mail: &db::outbox::Model) -> Result<Message, SendFailure> {
        let (Self::Smtp { from, .. } | Self::Folder { from, .. }) = self;
        let refused = |e: &dyn std::fmt::Display| SendFailure::Refused(e.to_string());
        // The same parser that checked the address at registration (`validate::email`).
        let to: lettre::Address = mail.recipient.parse().map_err(|e| refused(&e))?;
        Message::builder()
            .message_id(Some(format!("<{}@smilecook>", mail.id)))
            .from(from.clone())
            .to(Mailbox::new(None, to))
            .subject(&mail.subject)
            .multipart(MultiPart::alternative_plain_html(
                mail.text_body.clone(),
                mail.html_body.clone(),
            ))
            .map_err(|e| refused(&e))
    }
}
