//! Metrics: every name the server records, and one function per thing worth counting, so that
//! a call site stays one line (`observe::login(Login::Wrong)`). Names follow the OpenTelemetry
//! semantic conventions where one exists (`http.server.request.duration`); the exporter renders
//! them Prometheus-style (dots to underscores, a unit suffix, `_total` on counters). What has
//! no convention is ours, under `smilecook.`.
//!
//! Recording goes through the `metrics` facade: before a recorder is installed (no
//! `METRICS_BIND`) every call is a no-op. Label values are `&'static str` from closed sets, so
//! recording allocates nothing; the two open sets (routes, operation names) are interned and
//! bounded (`labels`). The recorder and the `/metrics` router are in `exporter`, the HTTP
//! middleware in `http`.
//!
//! This module imports nothing of the crate: every layer may record.

pub mod exporter;
pub mod http;
pub mod labels;

use std::time::Duration;

use metrics::{counter, gauge, histogram};

pub(crate) mod names {
    pub const HTTP_DURATION: &str = "http.server.request.duration";
    pub const HTTP_ACTIVE: &str = "http.server.active_requests";
    pub const OPERATIONS: &str = "graphql.server.operations";
    pub const ERRORS: &str = "graphql.server.errors";
    pub const LOGINS: &str = "smilecook.auth.logins";
    pub const ROTATIONS: &str = "smilecook.auth.refresh.rotations";
    pub const REUSES: &str = "smilecook.auth.refresh.reuses";
    pub const REVOCATIONS: &str = "smilecook.auth.revocations";
    pub const DENYLIST: &str = "smilecook.auth.denylist.entries";
    pub const HASH_QUEUE: &str = "smilecook.auth.password_hash.queue";
    pub const HASH_AREAS: &str = "smilecook.auth.password_hash.work_areas";
    pub const CONNECTIONS: &str = "smilecook.connections.live";
    pub const SUBSCRIPTIONS: &str = "smilecook.subscriptions.live";
    pub const EVENTS_DELIVERED: &str = "smilecook.events.delivered";
    pub const EVENTS_DROPPED: &str = "smilecook.events.dropped";
    pub const MAIL_QUEUED: &str = "smilecook.mail.queued";
    pub const MAIL_SENT: &str = "smilecook.mail.sent";
    pub const MAIL_FAILED: &str = "smilecook.mail.failed";
    pub const MAIL_OLDEST: &str = "smilecook.mail.oldest_waiting.age";
    pub const DB_CONNECTIONS: &str = "db.client.connection.count";
    pub const DB_MAX: &str = "db.client.connection.max";
    pub const DB_DURATION: &str = "db.client.operation.duration";
    pub const REDIS_ERRORS: &str = "smilecook.redis.errors";
    pub const RATE_LIMITED: &str = "smilecook.ratelimit.refusals";
    pub const RESPONSE_CACHE: &str = "smilecook.response_cache.lookups";
}

/// A closed set of label values: each variant is one value of one label.
pub trait Label: Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
}

macro_rules! label_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $value:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($variant),+ }
        impl Label for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $value),+ }
            }
        }
    };
}

label_enum!(
    /// How a login ended (`locked`: a hidden lockout, answered as a wrong password).
    Login {
        Success => "success",
        Wrong => "wrong",
        Throttled => "throttled",
        Locked => "locked",
        Unverified => "unverified",
        Failed => "error",
    }
);

label_enum!(
    /// Why login sessions were ended.
    Revocation {
        Logout => "logout",
        LogoutAll => "logout_all",
        PasswordChange => "password_change",
        Reset => "password_reset",
        RevokeSession => "revoke_session",
        RevokeOthers => "revoke_other_sessions",
        Idle => "idle",
        Reuse => "refresh_reuse",
        KeyMismatch => "dpop_key_mismatch",
        LoginRace => "credentials_changed",
    }
);

label_enum!(
    /// The long-lived transports.
    Transport {
        WebSocket => "websocket",
        Sse => "sse",
    }
);

label_enum!(
    /// What became of a mail that was not sent.
    MailFailure {
        Retry => "retry",
        GivenUp => "given_up",
    }
);

label_enum!(
    /// GraphQL operation types.
    Operation {
        Query => "query",
        Mutation => "mutation",
        Subscription => "subscription",
    }
);

pub fn login(outcome: Login) {
    counter!(names::LOGINS, "outcome" => outcome.as_str()).increment(1);
}

pub fn refresh_rotated() {
    counter!(names::ROTATIONS).increment(1);
}

/// A refresh token presented a second time (its session is revoked, counted apart).
pub fn refresh_reused() {
    counter!(names::REUSES).increment(1);
}

/// `sessions` login sessions ended for `cause`.
pub fn revoked(cause: Revocation, sessions: usize) {
    counter!(names::REVOCATIONS, "cause" => cause.as_str()).increment(sessions as u64);
}

pub fn denylist_entries(entries: usize) {
    gauge!(names::DENYLIST).set(entries as f64);
}

/// Hashing threads holding their argon2 work area (each ARGON2_MEMORY_KIB).
pub fn hash_work_areas(areas: usize) {
    gauge!(names::HASH_AREAS).set(areas as f64);
}

pub fn hash_queue(jobs: usize) {
    gauge!(names::HASH_QUEUE).set(jobs as f64);
}

/// One GraphQL operation about to run, `name` already bounded by [`labels::operation_name`].
pub fn operation(kind: Operation, name: &'static str) {
    let labels = [
        ("graphql_operation_type", kind.as_str()),
        ("graphql_operation_name", name),
    ];
    counter!(names::OPERATIONS, &labels).increment(1);
}

/// One error sent to a client, by its `extensions.code` (a code of `error.rs`, or `OTHER`).
pub fn graphql_error(code: &'static str) {
    counter!(names::ERRORS, "error_code" => code).increment(1);
}

pub fn event_delivered() {
    counter!(names::EVENTS_DELIVERED).increment(1);
}

/// A subscription fell `missed` events behind and was ended (SLOW_CONSUMER).
pub fn events_dropped(missed: u64) {
    counter!(names::EVENTS_DROPPED).increment(missed);
}

pub fn mail_queued() {
    counter!(names::MAIL_QUEUED).increment(1);
}

pub fn mail_sent() {
    counter!(names::MAIL_SENT).increment(1);
}

pub fn mail_failed(what: MailFailure) {
    counter!(names::MAIL_FAILED, "disposition" => what.as_str()).increment(1);
}

/// How long the oldest unsent mail has waited (zero when none waits).
pub fn mail_oldest_waiting(age: Duration) {
    gauge!(names::MAIL_OLDEST).set(age.as_secs_f64());
}

/// The request pool: connections lent out, idle, and the most it opens.
pub fn db_pool(used: usize, idle: usize, max: u32) {
    let state = "db_client_connection_state";
    gauge!(names::DB_CONNECTIONS, state => "used").set(used as f64);
    gauge!(names::DB_CONNECTIONS, state => "idle").set(idle as f64);
    gauge!(names::DB_MAX).set(f64::from(max));
}

/// One SQL statement of a request, as sea-orm times it: execution only, from a connection
/// already acquired (the wait for one is not reachable from here).
pub fn db_statement(elapsed: Duration) {
    histogram!(names::DB_DURATION).record(elapsed.as_secs_f64());
}

pub fn redis_error() {
    counter!(names::REDIS_ERRORS).increment(1);
}

/// An operation refused by its rate limit, by the budget that lacked room most (`address` or
/// `user`, the policy names of the RateLimit headers).
pub fn rate_limited(budget: &'static str) {
    counter!(names::RATE_LIMITED, "budget" => budget).increment(1);
}

/// A lookup in the server's cache of public answers: `hit`, or `miss` (kept afterwards if
/// the answer may be).
pub fn response_cache(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    counter!(names::RESPONSE_CACHE, "result" => result).increment(1);
}

/// Counts one live connection or subscription for as long as it is held.
#[must_use = "the gauge goes down when this is dropped"]
pub struct Live(&'static str, &'static str, &'static str);

impl Live {
    pub fn connection(transport: Transport) -> Self {
        Self::up(names::CONNECTIONS, "transport", transport.as_str())
    }

    pub fn subscription() -> Self {
        Self::up(names::SUBSCRIPTIONS, "", "")
    }

    fn up(name: &'static str, label: &'static str, value: &'static str) -> Self {
        let live = Self(name, label, value);
        live.gauge().increment(1.0);
        live
    }

    fn gauge(&self) -> metrics::Gauge {
        match self.1 {
            "" => gauge!(self.0),
            label => gauge!(self.0, label => self.2),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.gauge().decrement(1.0);
    }
}
