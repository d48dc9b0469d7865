//! The HTTP server metrics, as a middleware around every route: requests in flight
//! (`http.server.active_requests`) and their duration by method, route and status
//! (`http.server.request.duration`). The route is axum's matched path (`/graphql`), never the
//! path a client sent, so scanners cannot mint series; a request no route matched counts under
//! `unmatched`.
//!
//! The duration runs until the response's head is ready: for a WebSocket upgrade or an event
//! stream that is the handshake, not the life of the connection (`smilecook.connections.live`
//! counts those).

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use metrics::{gauge, histogram};

use super::{labels, names};

pub async fn track(request: Request, next: Next) -> Response {
    let method = labels::method(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| labels::route(path.as_str()));
    let _active = Active::new(method);
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("http_request_method", method),
        ("http_route", route),
        (
            "http_response_status_code",
            labels::status(response.status()),
        ),
    ];
    histogram!(names::HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// One request in flight; a request whose client went away is dropped mid-way, and leaves
/// the gauge all the same.
struct Active(&'static str);

impl Active {
    fn new(method: &'static str) -> Self {
        gauge!(names::HTTP_ACTIVE, "http_request_method" => method).increment(1.0);
        Self(method)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        gauge!(names::HTTP_ACTIVE, "http_request_method" => self.0).decrement(1.0);
    }
}
