//! The Prometheus recorder and the `/metrics` router served on `METRICS_BIND`.
//!
//! The `metrics` facade has one recorder per process, so it is installed once ([`handle`])
//! and every server of the process renders that same handle: servers started side by side in
//! one process (as the in-process tests do) share their metrics. The binary runs one server.
//!
//! The text is Prometheus' format 0.0.4 whatever the scraper asks for: the exporter has no
//! OpenMetrics rendering (Prometheus itself reads 0.0.4 as well).

use std::sync::OnceLock;

use axum::{Router, http::header, response::IntoResponse, routing::get};
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::{Label, Login, MailFailure, Revocation, Transport, names};

/// From 5 ms to the 30 s of `REQUEST_TIMEOUT`'s default: a page of recipes takes about a
/// millisecond, a login (argon2) tens, a timed-out request 30 s.
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// SQL statements: a fraction of a millisecond on SQLite, up to a slow PostgreSQL query.
const DB_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
];

/// The process's recorder, installed on first call. `None` when another recorder was installed
/// first (then this process's metrics go there, and `/metrics` has nothing to show).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    // Buckets are matched against the name as rendered, before its unit suffix.
    let buckets = [
        ("http_server_request_duration", HTTP_BUCKETS),
        ("db_client_operation_duration", DB_BUCKETS),
    ];
    let mut builder = PrometheusBuilder::new().with_recommended_naming(true);
    for (name, values) in buckets {
        builder = match builder.set_buckets_for_metric(Matcher::Full(name.into()), values) {
            Ok(builder) => builder,
            Err(error) => {
                tracing::error!(%error, name, "histogram buckets refused");
                return None;
            }
        };
    }
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if let Err(error) = metrics::set_global_recorder(recorder) {
        tracing::error!(%error, "another metrics recorder is installed: /metrics stays empty");
        return None;
    }
    describe();
    zero();
    Some(handle)
}

/// `GET /metrics` on its own listener, rendering `handle`.
pub fn router(handle: &'static PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || async move {
            let content_type = "text/plain; version=0.0.4; charset=utf-8";
            ([(header::CONTENT_TYPE, content_type)], handle.render()).into_response()
        }),
    )
}

/// Drains histogram samples into their buckets: the recorder keeps raw samples until then, and
/// nothing else does it when nobody scrapes.
pub fn upkeep() {
    if let Some(handle) = handle() {
        handle.run_upkeep();
    }
}

fn describe() {
    use names::*;
    let s = Unit::Seconds;
    describe_histogram!(
        HTTP_DURATION,
        s,
        "Duration of HTTP requests, to the response head."
    );
    describe_gauge!(HTTP_ACTIVE, "HTTP requests in flight.");
    describe_counter!(
        OPERATIONS,
        "GraphQL operations run, by type and (bounded) name."
    );
    describe_counter!(ERRORS, "GraphQL errors sent, by extensions.code.");
    describe_counter!(LOGINS, "Password logins, by outcome.");
    describe_counter!(ROTATIONS, "Refresh tokens exchanged for new ones.");
    describe_counter!(
        REUSES,
        "Refresh tokens presented again after rotation (theft or replay)."
    );
    describe_counter!(REVOCATIONS, "Login sessions ended, by cause.");
    describe_gauge!(DENYLIST, "Entries in the in-process copy of the denylist.");
    describe_gauge!(HASH_QUEUE, "Password hashes waiting for a hashing thread.");
    describe_gauge!(
        HASH_AREAS,
        "Hashing threads holding their argon2 work area (given back after 10 s idle)."
    );
    describe_gauge!(CONNECTIONS, "Open WebSocket and SSE connections.");
    describe_gauge!(SUBSCRIPTIONS, "Running subscriptions.");
    describe_counter!(EVENTS_DELIVERED, "Recipe events received by subscriptions.");
    describe_counter!(
        EVENTS_DROPPED,
        "Recipe events missed by subscriptions that fell behind."
    );
    describe_counter!(MAIL_QUEUED, "Mails written to the outbox.");
    describe_counter!(MAIL_SENT, "Mails handed to the mail server.");
    describe_counter!(
        MAIL_FAILED,
        "Mail deliveries that failed, by what became of the mail."
    );
    describe_gauge!(MAIL_OLDEST, s, "Age of the oldest mail waiting to be sent.");
    describe_gauge!(
        DB_CONNECTIONS,
        "Request pool connections, by state (used, idle)."
    );
    describe_gauge!(DB_MAX, "The most connections the request pool opens.");
    describe_histogram!(
        DB_DURATION,
        s,
        "Duration of the SQL statements of requests."
    );
    describe_counter!(REDIS_ERRORS, "Redis commands that failed.");
    describe_counter!(
        RATE_LIMITED,
        "Operations refused by a rate limit, by the budget that lacked room (address, user)."
    );
    describe_counter!(
        RESPONSE_CACHE,
        "Anonymous queries looked up in the server's cache of public answers, by result."
    );
}

/// Every series of a closed set at zero from the start, so that a rate over it is defined
/// before the first event (and a dashboard finds every name). Increments, not `absolute(0)`:
/// a sibling server of the process may be counting already.
fn zero() {
    use metrics::{counter, gauge};
    use names::*;
    for outcome in Login::ALL {
        counter!(LOGINS, "outcome" => outcome.as_str()).increment(0);
    }
    for cause in Revocation::ALL {
        counter!(REVOCATIONS, "cause" => cause.as_str()).increment(0);
    }
    for what in MailFailure::ALL {
        counter!(MAIL_FAILED, "disposition" => what.as_str()).increment(0);
    }
    for budget in ["address", "user"] {
        counter!(RATE_LIMITED, "budget" => budget).increment(0);
    }
    for result in ["hit", "miss"] {
        counter!(RESPONSE_CACHE, "result" => result).increment(0);
    }
    for transport in Transport::ALL {
        gauge!(CONNECTIONS, "transport" => transport.as_str()).increment(0.0);
    }
    for name in [
        ROTATIONS,
        REUSES,
        EVENTS_DELIVERED,
        EVENTS_DROPPED,
        REDIS_ERRORS,
    ] {
        counter!(name).increment(0);
    }
    for name in [MAIL_QUEUED, MAIL_SENT] {
        counter!(name).increment(0);
    }
    for name in [
        SUBSCRIPTIONS,
        DENYLIST,
        HASH_QUEUE,
        HASH_AREAS,
        MAIL_OLDEST,
        DB_MAX,
    ] {
        gauge!(name).increment(0.0);
    }
}

/// The error codes at zero (the codes live in `error.rs`, which this module does not import).
pub fn zero_error_codes(codes: impl IntoIterator<Item = &'static str>) {
    for code in codes {
        metrics::counter!(names::ERRORS, "error_code" => code).increment(0);
    }
}
