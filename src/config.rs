//! Configuration: one clap struct, every field a `--flag` and an environment variable, its `///`
//! line the `--help` text. Secrets are redacted from `Debug` so the struct can be logged.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

/// An SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://smilecook.db?mode=rwc";

/// Which documents may run (`PERSISTED_DOCUMENTS`; `graphql::persisted` applies it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DocumentPolicy {
    /// Any document, sent as text or by id.
    #[default]
    Any,
    /// Callers without an access token run trusted documents only.
    TrustedForAnonymous,
    /// Trusted documents only (in development, GraphiQL excepted).
    Trusted,
}

/// What an account with an unverified email may do (`EMAIL_VERIFICATION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EmailVerification {
    None,
    Publish,
    Login,
}

/// Where the server runs: development is friendly to people exploring, production is strict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AppEnv {
    Development,
    Production,
}

/// How the server writes its log (`LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people: level, the spans' fields, the message.
    Text,
    /// One JSON object a line, for log collectors (README, "Logs and traces").
    Json,
}

#[derive(Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// Address of the Prometheus endpoint (`GET /metrics`), a listener of its own; unset (the
    /// default): no metrics are served. Bind it where only the scraper reaches it.
    #[arg(long, env = "METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`. Default: an SQLite
    /// file `smilecook.db` in the working directory, created on first start.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL
    )]
    pub database_url: String,

    /// Redis URL for the token denylist shared by many instances (e.g. `redis://127.0.0.1/`).
    /// Without it the denylist lives in the database.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key this server writes (lets several deployments share a Redis).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "smilecook:")]
    pub redis_key_prefix: String,

    /// Secret that signs tokens (HS256), at least 32 bytes. In development a random one is
    /// generated and kept in `JWT_SECRET_FILE`; in production it is required.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Where the development secret is kept when `JWT_SECRET` is not set. Default: beside the
    /// SQLite file (`smilecook.db.jwt-secret`), or `.smilecook-jwt-secret` for PostgreSQL.
    #[arg(long, env = "JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,

    /// Algorithm of access tokens: `ES256` (P-256: every JOSE library and browsers' WebCrypto
    /// verify it), `EdDSA` (Ed25519), or `HS256` (the server secret: only this server can
    /// verify, for a single-service deployment). Refresh tokens are always HS256 with the
    /// secret: only this server reads them.
    #[arg(long, env = "JWT_ALGORITHM", default_value = "ES256", value_parser = parse_algorithm)]
    pub jwt_algorithm: jsonwebtoken::Algorithm,

    /// PEM files (PKCS#8, P-256 or Ed25519), comma-separated, for operators who manage their
    /// own keys: the first signs, all verify and are published. Without them keys are made,
    /// stored (sealed with the secret) and rotated in the database.
    #[arg(long, env = "SIGNING_KEY_FILES", value_delimiter = ',')]
    pub signing_key_files: Vec<PathBuf>,

    /// How long a new key is published in the JWKS before it signs: at least as long as
    /// verifiers cache the JWKS (`JWKS_MAX_AGE` here; `jose` caches up to 10 minutes).
    #[arg(long, env = "KEY_PUBLISH_AHEAD", default_value = "15m", value_parser = parse_duration)]
    pub key_publish_ahead: Duration,

    /// How long a key signs before the next one takes over (automatic rotation).
    #[arg(long, env = "KEY_ROTATION_INTERVAL", default_value = "30d", value_parser = parse_duration)]
    pub key_rotation_interval: Duration,

    /// `Cache-Control: max-age` of `/.well-known/jwks.json`.
    #[arg(long, env = "JWKS_MAX_AGE", default_value = "5m", value_parser = parse_duration)]
    pub jwks_max_age: Duration,

    /// How often an instance reads the key set: a new or revoked key is in use everywhere
    /// within this (and at once where a token names a key not loaded yet).
    #[arg(long, env = "KEYS_REFRESH_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub keys_refresh_interval: Duration,

    /// Algorithms a DPoP proof may be signed with (RFC 9449), comma-separated.
    #[arg(long, env = "DPOP_ALGORITHMS", value_delimiter = ',', default_value = "ES256,EdDSA",
          value_parser = parse_proof_algorithm)]
    pub dpop_algorithms: Vec<jsonwebtoken::Algorithm>,

    /// How long after its `iat` a DPoP proof is accepted (and its `jti` remembered).
    #[arg(long, env = "DPOP_PROOF_MAX_AGE", default_value = "60s", value_parser = parse_duration)]
    pub dpop_proof_max_age: Duration,

    /// Accept DPoP-bound tokens only: a login without a proof, and a Bearer token, are refused.
    #[arg(long, env = "DPOP_REQUIRED", default_value_t = false)]
    pub dpop_required: bool,

    /// Ask for a server nonce in every DPoP proof (`DPoP-Nonce` on every answer; a proof
    /// without a recent one gets USE_DPOP_NONCE).
    #[arg(long, env = "DPOP_NONCE", default_value_t = false)]
    pub dpop_nonce: bool,

    /// Issuer (`iss`) written into and required of every token.
    #[arg(long, env = "JWT_ISSUER", default_value = "smilecook")]
    pub jwt_issuer: String,

    /// Audience (`aud`) written into and required of every token.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "smilecook-api")]
    pub jwt_audience: String,

    /// Clock leeway allowed when checking `exp` and `nbf` (e.g. `0`, `30s`).
    #[arg(long, env = "JWT_LEEWAY", default_value = "0", value_parser = parse_duration)]
    pub jwt_leeway: Duration,

    /// Lifetime of an access token (seconds, or `15m`, `1h`).
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_duration)]
    pub access_token_ttl: Duration,

    /// Lifetime of a login session and its refresh tokens, counted from login (`30d`).
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "30d", value_parser = parse_duration)]
    pub refresh_token_ttl: Duration,

    /// A login session not refreshed for this long ends (beside `REFRESH_TOKEN_TTL` from login).
    #[arg(long, env = "SESSION_IDLE_TIMEOUT", default_value = "14d", value_parser = parse_duration)]
    pub session_idle_timeout: Duration,

    /// `development` (GraphiQL, introspection, generated secret) or `production`.
    #[arg(long, env = "APP_ENV", value_enum, default_value = "development")]
    pub app_env: AppEnv,

    /// Log format of `serve`: `text` (for people) or `json` (one object a line, with the
    /// request id, trace id, operation name and user id). Filtered by `RUST_LOG`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// argon2id memory cost in KiB for new hashes (OWASP: 19456). Lower only for tests.
    #[arg(long, env = "ARGON2_MEMORY_KIB", default_value_t = 19456)]
    pub argon2_memory_kib: u32,

    /// argon2id iterations for new hashes (OWASP: 2).
    #[arg(long, env = "ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,

    /// Threads that hash passwords, each holding one argon2id work area (ARGON2_MEMORY_KIB) while
    /// hashes keep coming and for 10 s after. Default: one per core, four at most, so memory
    /// at peak is at most 4 x 19 MiB whatever the machine (about 65 logins/s per thread).
    #[arg(long, env = "ARGON2_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub argon2_threads: Option<u16>,

    /// How far below the server's other threads the hashing threads are scheduled (a nice
    /// increment, 0-19): under a login flood other requests go first; alone, logins still get
    /// every core.
    #[arg(long, env = "ARGON2_NICE", default_value_t = 5,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    pub argon2_nice: i32,

    /// Browser origins allowed to call the API cross-site (comma-separated). None by default.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Longest time a request may take before it is answered with 408.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Most requests served at once; beyond it requests are refused with 503 SERVER_BUSY.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    pub max_concurrent_requests: usize,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,

    /// Deepest nesting of data fields an operation may have (introspection has bounds of its
    /// own, so that every common tool's introspection query passes).
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 12)]
    pub max_query_depth: usize,

    /// Highest complexity an operation may have (each field 1, lists weighed by `first`).
    #[arg(long, env = "MAX_QUERY_COMPLEXITY", default_value_t = 2000)]
    pub max_query_complexity: usize,

    /// Longest query text accepted, in bytes.
    #[arg(long, env = "MAX_QUERY_BYTES", default_value_t = 16 * 1024)]
    pub max_query_bytes: usize,

    /// Most aliases one operation may use (fragments count each time they are spread).
    #[arg(long, env = "MAX_ALIASES", default_value_t = 30)]
    pub max_aliases: usize,

    /// Most root fields one operation may select.
    #[arg(long, env = "MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,

    /// Most directives on one field (unlimited unless set).
    #[arg(long, env = "MAX_DIRECTIVES_PER_FIELD")]
    pub max_directives_per_field: Option<usize>,

    /// Most operations in one batched (JSON array) request; 0, the default, disables batching.
    #[arg(long, env = "MAX_BATCH", default_value_t = 0)]
    pub max_batch: usize,

    /// Schema introspection and GraphiQL. Default: on in development, off in production.
    #[arg(long, env = "INTROSPECTION")]
    pub introspection: Option<bool>,

    /// "Did you mean ...?" hints in validation errors. Default: on in development only.
    #[arg(long, env = "SUGGESTIONS")]
    pub suggestions: Option<bool>,

    /// Failed logins allowed per login name and per account before it is locked for a while
    /// (a password change's check counts against the account too).
    #[arg(long, env = "LOGIN_FREE_FAILURES", default_value_t = 5)]
    pub login_free_failures: u32,

    /// Failed logins allowed per client address before it is locked for a while.
    #[arg(long, env = "LOGIN_ADDRESS_FREE_FAILURES", default_value_t = 50)]
    pub login_address_free_failures: u32,

    /// The first lockout after an allowance is spent; each further attempt doubles it (every
    /// throttle: logins, registrations, mail requests).
    #[arg(long, env = "LOGIN_LOCKOUT_BASE", default_value = "2s", value_parser = parse_duration)]
    pub login_lockout_base: Duration,

    /// The longest lockout.
    #[arg(long, env = "LOGIN_LOCKOUT_MAX", default_value = "15m", value_parser = parse_duration)]
    pub login_lockout_max: Duration,

    /// Registrations allowed per client address before it is locked for a while.
    #[arg(long, env = "REGISTER_PER_ADDRESS", default_value_t = 20)]
    pub register_per_address: u32,

    /// Registrations allowed per mailbox (the email's address, any `+tag` aside) before it is
    /// locked for a while.
    #[arg(long, env = "REGISTER_PER_MAILBOX", default_value_t = 3)]
    pub register_per_mailbox: u32,

    /// Mail requests (`requestPasswordReset`, `resendVerification`) allowed per client address
    /// before it is locked for a while.
    #[arg(long, env = "MAIL_REQUESTS_PER_ADDRESS", default_value_t = 50)]
    pub mail_requests_per_address: u32,

    /// Mail requests of each kind allowed per mailbox before it is locked for a while.
    #[arg(long, env = "MAIL_REQUESTS_PER_MAILBOX", default_value_t = 5)]
    pub mail_requests_per_mailbox: u32,

    /// Most mails of every kind to one mailbox per `MAIL_WINDOW`; mail that anybody can cause
    /// (a registration's) may take half of it, so that mail the owner asks for always has room.
    #[arg(long, env = "MAIL_PER_MAILBOX", default_value_t = 10)]
    pub mail_per_mailbox: u32,

    /// The window `MAIL_PER_MAILBOX` counts in; sent mail is kept this long, then deleted.
    #[arg(long, env = "MAIL_WINDOW", default_value = "1h", value_parser = parse_duration)]
    pub mail_window: Duration,

    /// Rate limit: points every client address may spend per `RATE_LIMIT_WINDOW` (an IPv6
    /// client by its /64). An operation costs its complexity: each field 1, a page of recipes
    /// its items' fields times `first`. 0 turns the budget off.
    #[arg(long, env = "RATE_LIMIT_ADDRESS", default_value_t = 20_000)]
    pub rate_limit_address: u64,

    /// Rate limit: points every user (a request with a valid access token) may spend per
    /// `RATE_LIMIT_WINDOW`, besides its address's. 0 turns the budget off.
    #[arg(long, env = "RATE_LIMIT_USER", default_value_t = 10_000)]
    pub rate_limit_user: u64,

    /// The time a rate-limit budget takes to refill from empty (it refills evenly); at least 1s.
    #[arg(long, env = "RATE_LIMIT_WINDOW", default_value = "60s", value_parser = parse_window)]
    pub rate_limit_window: Duration,

    /// Take the client address from the last `X-Forwarded-For` entry (behind a trusted proxy).
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// How long a WebSocket may stay open without sending `connection_init` (closed with 4408).
    #[arg(long, env = "WS_INIT_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub ws_init_timeout: Duration,

    /// How often the server pings an idle WebSocket; one silent for twice as long is closed.
    #[arg(long, env = "WS_KEEPALIVE", default_value = "15s", value_parser = parse_duration)]
    pub ws_keepalive: Duration,

    /// Most subscriptions running at once on one WebSocket.
    #[arg(long, env = "MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = 32)]
    pub max_subscriptions_per_connection: usize,

    /// Most open subscription connections (WebSocket or SSE) of one user.
    #[arg(long, env = "MAX_CONNECTIONS_PER_USER", default_value_t = 32)]
    pub max_connections_per_user: usize,

    /// Most open subscription connections (WebSocket or SSE) from one client address.
    #[arg(long, env = "MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256)]
    pub max_connections_per_address: usize,

    /// The SMTP server mail goes through (`smtp://host:25`, `smtps://user:password@host`,
    /// `smtp://host:587?tls=required`). Without it, mail is written to a folder (`mail/` beside
    /// an SQLite database), and in development to the log as well.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of the server's mail.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Smilecook <no-reply@smilecook.localhost>"
    )]
    pub mail_from: String,

    /// The server's address as its users reach it, for links in mail (default: `http://` and
    /// the address bound, 127.0.0.1 when every interface is).
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// What an account whose email is not verified may do: `none` (anything), `publish`
    /// (everything but publishing), `login` (nothing: a correct password answers
    /// EMAIL_NOT_VERIFIED). Default: `publish` in production, `none` in development.
    #[arg(long, env = "EMAIL_VERIFICATION", value_enum)]
    pub email_verification: Option<EmailVerification>,

    /// Where mail goes without SMTP_URL (default: `mail/` beside an SQLite database, `./mail`
    /// otherwise).
    #[arg(long, env = "MAIL_DIR")]
    pub mail_dir: Option<std::path::PathBuf>,

    /// How long a mailed password reset token works.
    #[arg(long, env = "PASSWORD_RESET_TTL", default_value = "30m", value_parser = parse_duration)]
    pub password_reset_ttl: Duration,

    /// How long a client may leave the server's writes unread (its receive window shut, or
    /// nothing acknowledged) before the connection is dropped: TCP_USER_TIMEOUT.
    #[arg(long, env = "WRITE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub write_timeout: Duration,

    /// How often open connections check that their token has not been revoked.
    #[arg(long, env = "REVOCATION_CHECK_INTERVAL", default_value = "500ms", value_parser = parse_duration)]
    pub revocation_check_interval: Duration,

    /// How often expired entries are pruned from the SQL denylist.
    #[arg(long, env = "DENYLIST_PRUNE_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub denylist_prune_interval: Duration,

    /// After SIGTERM (or Ctrl-C), how long the server keeps serving with `/readyz` at 503, so
    /// that the load balancer stops sending before connections are refused. Default: 5s in
    /// production, 0 in development.
    #[arg(long, env = "SHUTDOWN_DELAY", value_parser = parse_duration)]
    pub shutdown_delay: Option<Duration>,

    /// Once connections are refused, how long requests in flight and closing sockets have to
    /// finish before the process exits anyway.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Which documents may run: `any` (sent as text or by id), `trusted-for-anonymous`
    /// (callers without an access token run trusted documents only), `trusted` (trusted
    /// documents only; in development, GraphiQL excepted).
    #[arg(long, env = "PERSISTED_DOCUMENTS", value_enum, default_value = "any")]
    pub persisted_documents: DocumentPolicy,

    /// A manifest of trusted documents to load at start (graphql-codegen's or Relay's
    /// `{ "<id>": "<document>" }`, or Apollo's persisted query manifest).
    #[arg(long, env = "TRUSTED_DOCUMENTS")]
    pub trusted_documents: Option<PathBuf>,

    /// Documents registered by clients (automatic persisted queries) kept in the database;
    /// the oldest go first.
    #[arg(long, env = "PERSISTED_DOCUMENTS_MAX", default_value_t = 10_000)]
    pub persisted_documents_max: u64,

    /// Memory for cached public answers (anonymous queries), in bytes; 0 turns the cache off.
    #[arg(long, env = "RESPONSE_CACHE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub response_cache_bytes: usize,

    /// The longest a cached public answer is served, should a change go unheard.
    #[arg(long, env = "RESPONSE_CACHE_TTL", default_value = "60s", value_parser = parse_duration)]
    pub response_cache_ttl: Duration,

    /// `max-age` of public answers to GET requests (`Cache-Control: public`): how long
    /// browsers and shared caches may reuse one without asking.
    #[arg(long, env = "HTTP_CACHE_MAX_AGE", default_value = "10s", value_parser = parse_duration)]
    pub http_cache_max_age: Duration,
}

/// Parses a configuration from command-line style arguments (and the environment), as `main`
/// does; tests use it to start servers exactly as users do.
pub fn from_args<I, T>(args: I) -> Result<Config, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        config: Config,
    }
    <Wrapper as clap::Parser>::try_parse_from(args).map(|w| w.config)
}

impl Config {
    /// `EMAIL_VERIFICATION` as given, or the environment's default.
    pub fn email_verification(&self) -> EmailVerification {
        self.email_verification
            .unwrap_or(match self.is_production() {
                true => EmailVerification::Publish,
                false => EmailVerification::None,
            })
    }

    /// [`Config::public_url`] as given (start-up fills it with the address bound), or `BIND`.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind))
    }

    /// `SHUTDOWN_DELAY` as given, or the environment's default.
    pub fn shutdown_delay(&self) -> Duration {
        let default = match self.is_production() {
            true => Duration::from_secs(5),
            false => Duration::ZERO,
        };
        self.shutdown_delay.unwrap_or(default)
    }

    pub fn is_production(&self) -> bool {
        self.app_env == AppEnv::Production
    }

    pub fn suggestions(&self) -> bool {
        self.suggestions.unwrap_or(!self.is_production())
    }

    pub fn introspection(&self) -> bool {
        self.introspection.unwrap_or(!self.is_production())
    }
}

/// `ES256`, `EdDSA` or `HS256`.
pub fn parse_algorithm(value: &str) -> Result<jsonwebtoken::Algorithm, String> {
    match value.trim() {
        "ES256" => Ok(jsonwebtoken::Algorithm::ES256),
        "EdDSA" => Ok(jsonwebtoken::Algorithm::EdDSA),
        "HS256" => Ok(jsonwebtoken::Algorithm::HS256),
        other => Err(format!("`{other}` is not one of ES256, EdDSA, HS256")),
    }
}

/// An asymmetric JOSE algorithm a DPoP proof may use.
pub fn parse_proof_algorithm(value: &str) -> Result<jsonwebtoken::Algorithm, String> {
    use jsonwebtoken::Algorithm::*;
    match value.trim() {
        "ES256" => Ok(ES256),
        "ES384" => Ok(ES384),
        "EdDSA" => Ok(EdDSA),
        "RS256" => Ok(RS256),
        "PS256" => Ok(PS256),
        other => Err(format!(
            "`{other}` is not one of ES256, ES384, EdDSA, RS256, PS256"
        )),
    }
}

/// Seconds (`900`) or a humantime duration (`15m`, `30d`, `1h 30m`).
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(value.trim())
        .map_err(|e| format!("`{value}` is not a duration like `900`, `15m` or `30d`: {e}"))
}

/// A rate-limit window: whole seconds, as the RateLimit headers give it, and at least one.
fn parse_window(value: &str) -> Result<Duration, String> {
    let window = parse_duration(value)?;
    match window.as_secs() {
        0 => Err(format!("`{value}`: a rate-limit window is at least 1s")),
        secs => Ok(Duration::from_secs(secs)),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("metrics_bind", &self.metrics_bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_algorithm", &self.jwt_algorithm)
            .field("signing_key_files", &self.signing_key_files)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_leeway", &self.jwt_leeway)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("app_env", &self.app_env)
            .field("log_format", &self.log_format)
            .field("persisted_documents", &self.persisted_documents)
            .finish_non_exhaustive()
    }
}

/// Hides the password of a `scheme://user:password@host` URL.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:<redacted>{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(parse_duration("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn a_rate_limit_window_is_whole_seconds_and_at_least_one() {
        assert_eq!(parse_window("90s 500ms"), Ok(Duration::from_secs(90)));
        assert!(parse_window("0").is_err());
        assert!(parse_window("500ms").is_err());
    }

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db/x"),
            "postgres://app:<redacted>@db/x"
        );
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
    }

    #[test]
    fn hashing_threads_take_a_nice_increment_of_0_to_19_and_at_least_one_thread() {
        let parse = |flag: &str| from_args(["smilecook", flag]);
        assert_eq!(
            parse("--argon2-nice=19").map(|c| c.argon2_nice).ok(),
            Some(19)
        );
        assert_eq!(
            from_args(["smilecook"]).map(|c| c.argon2_nice).ok(),
            Some(5)
        );
        for refused in ["--argon2-nice=-1", "--argon2-nice=20", "--argon2-threads=0"] {
            assert!(parse(refused).is_err(), "{refused}");
        }
    }
}
