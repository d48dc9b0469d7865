//! The span of every HTTP request: its method, path (never the query string, which may hold a
//! GET request's variables), request id and trace id. Everything logged or traced while the
//! request is served is inside it.

use std::time::Duration;

use axum::{body::Body, http::Request, response::Response};
use tower_http::trace::{DefaultOnResponse, OnResponse};

use crate::telemetry;

/// A request id we take from a client (or a proxy) is at most this long; a longer one is left
/// out of the log rather than let a client fill it.
const MAX_REQUEST_ID: usize = 128;

/// The longest path a span is named after.
const MAX_NAMED_PATH: usize = 64;

/// The request's span, a child of the caller's `traceparent` when traces are on.
pub fn request_span(request: &Request<Body>) -> tracing::Span {
    let method = request.method();
    let path = request.uri().path();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .filter(|id| id.len() <= MAX_REQUEST_ID)
        .unwrap_or_default();
    let span = telemetry::request_span!(
        "request",
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        method = %method,
        path,
        request_id,
        trace_id = tracing::field::Empty,
        status = tracing::field::Empty,
        // Recorded by the GraphQL pipeline (`graphql::execute`) when known.
        operation = tracing::field::Empty,
        operation_type = tracing::field::Empty,
        user_id = tracing::field::Empty,
    );
    if telemetry::traces_enabled() {
        // The span's name in a trace, formatted only for traces; a long path (no route of ours
        // is) would make a name per request for a trace store to index.
        let route = if path.len() <= MAX_NAMED_PATH {
            path
        } else {
            "..."
        };
        span.record(
            "otel.name",
            tracing::field::display(format_args!("{method} {route}")),
        );
        telemetry::continue_trace(&span, request.headers());
    }
    // At debug level only, and with `Authorization` and `Cookie` marked sensitive first (they
    // print as "Sensitive"): the headers would swell every line if they were span fields.
    span.in_scope(|| tracing::debug!(headers = ?request.headers(), "request headers"));
    span
}

/// Records the status on the request's span, then logs as tower-http does (at debug level).
pub fn on_response(response: &Response, latency: Duration, span: &tracing::Span) {
    span.record("status", response.status().as_u16());
    DefaultOnResponse::default().on_response(response, latency, span);
}
