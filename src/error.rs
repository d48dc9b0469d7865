//! The one error type of the server and its one mapping to a GraphQL error: a human `message`
//! and a stable `extensions.code` (plus `extensions.field` for input errors). Internal failures
//! are logged with a short correlation id and reach the client as that id alone.
//!
//! `AppError` deliberately does not implement `Display`: async-graphql converts any `Display`
//! type into an error *without* extensions, so `?` would silently drop the code. Without it,
//! the only way into a GraphQL error is the `From` impl below, which always sets the code.

use std::{fmt, sync::Arc};

use sea_orm::DbErr;

/// Shared so that an error can be cloned (the guard reports one failure to several fields).
type Source = Arc<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Debug)]
pub enum AppError {
    BadUserInput {
        field: Option<&'static str>,
        message: String,
    },
    Unauthenticated(String),
    TokenExpired,
    TokenRevoked,
    TokenReused,
    FreshTokenRequired,
    Forbidden(String),
    NotFound(String),
    /// Too many failed attempts: try again after this many seconds.
    TooManyRequests {
        retry_after: u64,
    },
    /// A dependency (database, Redis) is down or unreachable.
    Unavailable(Source),
    /// A bug or an unexpected failure; the source is logged, never sent.
    Internal(Source),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(Arc::from(err.into()))
    }

    /// The stable machine-readable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::TokenRevoked => "TOKEN_REVOKED",
            Self::TokenReused => "TOKEN_REUSED",
            Self::FreshTokenRequired => "FRESH_TOKEN_REQUIRED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::TooManyRequests { .. } => "TOO_MANY_REQUESTS",
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message a person reads. Internal details never appear here.
    pub fn message(&self) -> String {
        match self {
            Self::BadUserInput { message, .. } => message.clone(),
            Self::Unauthenticated(m) | Self::Forbidden(m) | Self::NotFound(m) => m.clone(),
            Self::TokenExpired => "The token has expired: refresh it or log in again.".into(),
            Self::TokenRevoked => "The token has been revoked: log in again.".into(),
            Self::TokenReused => {
                "This refresh token was already used, so the whole login session has been revoked: log in again.".into()
            }
            Self::FreshTokenRequired => {
                "This operation needs a fresh access token: log in again with your password.".into()
            }
            Self::TooManyRequests { retry_after } => format!(
                "Too many failed attempts: try again in {retry_after} seconds."
            ),
            Self::Unavailable(_) => "A service the server depends on is unavailable.".into(),
            Self::Internal(_) => "Internal server error.".into(),
        }
    }

    /// The GraphQL error for this failure; internal ones are logged here with their id.
    pub fn to_graphql(&self) -> async_graphql::Error {
        let mut message = self.message();
        if let Self::Internal(source) | Self::Unavailable(source) = self {
            let reference = correlation_id();
            tracing::error!(%reference, code = self.code(), error = %source, "request failed");
            message = format!("{} Reference: {reference}.", message);
        }
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", self.code());
        if let Self::BadUserInput {
            field: Some(field), ..
        } = self
        {
            ext.set("field", *field);
        }
        if let Self::TooManyRequests { retry_after } = self {
            ext.set("retryAfter", *retry_after);
        }
        async_graphql::Error {
            message,
            source: None,
            extensions: Some(ext),
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        err.to_graphql()
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(Arc::new(err)),
            other => Self::Internal(Arc::new(other)),
        }
    }
}

impl From<redis::RedisError> for AppError {
    fn from(err: redis::RedisError) -> Self {
        Self::Unavailable(Arc::new(err))
    }
}

/// A bare `Display` for logs and tests; clients only ever see [`AppError::to_graphql`].
pub struct Shown<'a>(pub &'a AppError);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.code(), self.0.message())
    }
}

/// A short id that ties a client's error report to the full entry in the log.
fn correlation_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id[..12].to_owned()
}
