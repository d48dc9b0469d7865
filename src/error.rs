//! The one error type of the server and its one mapping to a GraphQL error: a human `message`
//! and a stable `extensions.code` (plus `extensions.field` for input errors). Internal failures
//! are logged with a short correlation id and reach the client as that id alone.
//!
//! Requests refused as a whole (by the HTTP layer, or by the checks before execution) are
//! [`RequestError`]s: one [`Refusal`] per code, rendered into HTTP in one place
//! (`http::problem`) and into GraphQL errors here.
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
    /// A DPoP proof is missing or does not prove possession for this request (RFC 9449).
    InvalidDpopProof(String),
    /// A DPoP proof lacks the server's current nonce (`DPOP_NONCE`; the `DPoP-Nonce` header
    /// of every answer carries it).
    UseDpopNonce,
    /// The account's email address has not been verified yet (`EMAIL_VERIFICATION`).
    EmailNotVerified,
    Forbidden(String),
    NotFound(String),
    /// Too many attempts: try again after this many seconds.
    TooManyRequests {
        retry_after: u64,
    },
    /// The account or the client address holds as many long-lived connections as it may.
    TooManyConnections(String),
    /// A subscription fell this many events behind the event bus and was ended.
    SlowConsumer {
        missed: u64,
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
            Self::InvalidDpopProof(_) => "INVALID_DPOP_PROOF",
            Self::UseDpopNonce => "USE_DPOP_NONCE",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::TooManyRequests { .. } => "TOO_MANY_REQUESTS",
            Self::TooManyConnections(_) => "TOO_MANY_CONNECTIONS",
            Self::SlowConsumer { .. } => "SLOW_CONSUMER",
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message a person reads. Internal details never appear here.
    pub fn message(&self) -> String {
        match self {
            Self::BadUserInput { message, .. } => message.clone(),
            Self::Unauthenticated(m)
            | Self::InvalidDpopProof(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::TooManyConnections(m) => m.clone(),
            Self::TokenExpired => "The token has expired: refresh it or log in again.".into(),
            Self::TokenRevoked => "The token has been revoked: log in again.".into(),
            Self::TokenReused => {
                "This refresh token was already used, so the whole login session has been revoked: log in again.".into()
            }
            Self::FreshTokenRequired => {
                "This operation needs a fresh access token: log in again with your password.".into()
            }
            Self::UseDpopNonce => "This server asks for its nonce in DPoP proofs: sign a new proof with the nonce of the `DPoP-Nonce` header.".into(),
            Self::EmailNotVerified => {
                "Verify your email address first: follow the link in the mail we sent, or ask \
                 for a new one with resendVerification."
                    .into()
            }
            Self::TooManyRequests { retry_after } => format!(
                "Too many attempts: try again in {retry_after} seconds."
            ),
            Self::SlowConsumer { missed } => format!(
                "This subscription fell {missed} events behind and was ended: read faster, or \
                 subscribe again."
            ),
            Self::Unavailable(_) => "A service the server depends on is unavailable.".into(),
            Self::Internal(_) => "Internal server error.".into(),
        }
    }

    /// Every code an `AppError` can carry (kept beside the enum; tests/error_codes.rs holds the
    /// README's table to this list and to [`Refusal::ALL`]).
    pub const CODES: [&'static str; 16] = [
        "BAD_USER_INPUT",
        "UNAUTHENTICATED",
        "TOKEN_EXPIRED",
        "TOKEN_REVOKED",
        "TOKEN_REUSED",
        "FRESH_TOKEN_REQUIRED",
        "INVALID_DPOP_PROOF",
        "USE_DPOP_NONCE",
        "EMAIL_NOT_VERIFIED",
        "FORBIDDEN",
        "NOT_FOUND",
        "TOO_MANY_REQUESTS",
        "TOO_MANY_CONNECTIONS",
        "SLOW_CONSUMER",
        "SERVICE_UNAVAILABLE",
        "INTERNAL_SERVER_ERROR",
    ];

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
    /// Counted here: every Redis failure that reaches a request or a task passes this way.
    fn from(err: redis::RedisError) -> Self {
        crate::observe::redis_error();
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

/// Why a request was refused as a whole, before any field ran; each has its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    BadRequest,
    UnsupportedMediaType,
    MethodNotAllowed,
    PayloadTooLarge,
    NotAcceptable,
    RequestTimeout,
    ServerBusy,
    TooManyRequests,
    InternalServerError,
    QueryTooLarge,
    TooManyAliases,
    TooManyRootFields,
    QueryTooDeep,
    QueryTooComplex,
    IntrospectionDisabled,
    ValidationFailed,
    BadUserInput,
    /// A browser page of another origin opened a WebSocket (`Origin` not allowed).
    ForbiddenOrigin,
    /// The client address holds as many long-lived connections as it may.
    TooManyConnections,
    /// A persisted document's id that this server does not know (the client may send the
    /// text with it).
    PersistedQueryNotFound,
    /// A document the server's policy does not run (`PERSISTED_DOCUMENTS`).
    DocumentNotTrusted,
}

impl Refusal {
    /// Every refusal (tests/error_codes.rs holds the README's table to their codes).
    pub const ALL: [Refusal; 21] = [
        Self::BadRequest,
        Self::UnsupportedMediaType,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::NotAcceptable,
        Self::RequestTimeout,
        Self::ServerBusy,
        Self::TooManyRequests,
        Self::InternalServerError,
        Self::QueryTooLarge,
        Self::TooManyAliases,
        Self::TooManyRootFields,
        Self::QueryTooDeep,
        Self::QueryTooComplex,
        Self::IntrospectionDisabled,
        Self::ValidationFailed,
        Self::BadUserInput,
        Self::ForbiddenOrigin,
        Self::TooManyConnections,
        Self::PersistedQueryNotFound,
        Self::DocumentNotTrusted,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::NotAcceptable => "NOT_ACCEPTABLE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::ServerBusy => "SERVER_BUSY",
            Self::TooManyRequests => "TOO_MANY_REQUESTS",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
            Self::QueryTooLarge => "QUERY_TOO_LARGE",
            Self::TooManyAliases => "TOO_MANY_ALIASES",
            Self::TooManyRootFields => "TOO_MANY_ROOT_FIELDS",
            Self::QueryTooDeep => "QUERY_TOO_DEEP",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::IntrospectionDisabled => "INTROSPECTION_DISABLED",
            Self::ValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::ForbiddenOrigin => "FORBIDDEN",
            Self::TooManyConnections => "TOO_MANY_CONNECTIONS",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::DocumentNotTrusted => "DOCUMENT_NOT_TRUSTED",
        }
    }
}

/// A request refused as a whole, with a message that says what to change.
#[derive(Clone, Debug)]
pub struct RequestError {
    pub refusal: Refusal,
    pub message: String,
    /// Where in the document, for a refusal about one place of it.
    pub pos: Option<async_graphql::Pos>,
    /// For TOO_MANY_REQUESTS from a rate limit: the seconds to wait (`extensions.retryAfter`,
    /// and HTTP's `Retry-After`).
    pub retry_after: Option<u64>,
}

impl RequestError {
    pub fn new(refusal: Refusal, message: impl Into<String>) -> Self {
        Self {
            refusal,
            message: message.into(),
            pos: None,
            retry_after: None,
        }
    }

    /// TOO_MANY_REQUESTS: a rate limit's budget lacks room for the request for `seconds`.
    pub fn rate_limited(seconds: u64) -> Self {
        let message = format!(
            "This operation costs more than your rate limit has left: retry in {seconds} seconds."
        );
        Self {
            retry_after: Some(seconds),
            ..Self::new(Refusal::TooManyRequests, message)
        }
    }

    pub fn at(self, pos: async_graphql::Pos) -> Self {
        Self {
            pos: Some(pos),
            ..self
        }
    }

    /// A failure of the server's own: logged here with a reference, which is all the client
    /// gets.
    pub fn internal(what: &str) -> Self {
        let reference = correlation_id();
        tracing::error!(%reference, "{what}");
        Self::new(
            Refusal::InternalServerError,
            format!("Internal server error. Reference: {reference}."),
        )
    }

    /// As a GraphQL error, for a response that carries it beside others.
    pub fn to_server_error(&self) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new(self.message.clone(), self.pos);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", self.refusal.code());
        if let Some(seconds) = self.retry_after {
            extensions.set("retryAfter", seconds);
        }
        error.extensions = Some(extensions);
        error
    }

    /// The body of a response that carries only this error (a request error has no `data`).
    pub fn to_body(&self) -> serde_json::Value {
        let mut extensions = serde_json::json!({ "code": self.refusal.code() });
        if let Some(seconds) = self.retry_after {
            extensions["retryAfter"] = seconds.into();
        }
        serde_json::json!({ "errors": [{ "message": self.message, "extensions": extensions }] })
    }
}

/// A short id that ties a client's error report to the full entry in the log.
fn correlation_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id[..12].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each variant: the match below names every variant without a wildcard, so a new
    /// one does not compile until it is listed here, and then its code must be in `CODES`.
    fn one_of_each() -> Vec<AppError> {
        let source: Source = Arc::new(std::io::Error::other("x"));
        vec![
            AppError::input("f", "m"),
            AppError::Unauthenticated("m".into()),
            AppError::TokenExpired,
            AppError::TokenRevoked,
            AppError::TokenReused,
            AppError::FreshTokenRequired,
            AppError::InvalidDpopProof("m".into()),
            AppError::UseDpopNonce,
            AppError::EmailNotVerified,
            AppError::Forbidden("m".into()),
            AppError::NotFound("m".into()),
            AppError::TooManyRequests { retry_after: 1 },
            AppError::TooManyConnections("m".into()),
            AppError::SlowConsumer { missed: 1 },
            AppError::Unavailable(source.clone()),
            AppError::Internal(source),
        ]
    }

    #[test]
    fn every_error_has_its_code_listed_once() {
        let errors = one_of_each();
        for error in &errors {
            match error {
                AppError::BadUserInput { .. }
                | AppError::Unauthenticated(_)
                | AppError::TokenExpired
                | AppError::TokenRevoked
                | AppError::TokenReused
                | AppError::FreshTokenRequired
                | AppError::InvalidDpopProof(_)
                | AppError::UseDpopNonce
                | AppError::EmailNotVerified
                | AppError::Forbidden(_)
                | AppError::NotFound(_)
                | AppError::TooManyRequests { .. }
                | AppError::TooManyConnections(_)
                | AppError::SlowConsumer { .. }
                | AppError::Unavailable(_)
                | AppError::Internal(_) => {}
            }
            assert!(AppError::CODES.contains(&error.code()), "{}", error.code());
        }
        let codes: std::collections::HashSet<_> = errors.iter().map(AppError::code).collect();
        assert_eq!(codes.len(), AppError::CODES.len());
    }
}
