//! The HTTP layers around every route: body limit, CORS, timeout and concurrency cap (with
//! coded JSON errors), panic isolation, request tracing with secrets redacted.

use std::time::Duration;

use axum::{
    Json, Router,
    error_handling::HandleErrorLayer,
    extract::DefaultBodyLimit,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
// Global: `Router::layer` wraps each method's handler separately, and a per-layer limit
// would give GET and POST a semaphore each.
use tower::{BoxError, ServiceBuilder, limit::GlobalConcurrencyLimitLayer};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::CorsLayer,
    sensitive_headers::SetSensitiveHeadersLayer,
    trace::{DefaultMakeSpan, TraceLayer},
};

use crate::{auth::denylist::SharedDenylist, config::Config, startup::StartupError};

/// Wraps `router` in the layers every route gets. The last layer added runs first.
pub fn with_layers(router: Router, config: &Config) -> Result<Router, StartupError> {
    Ok(router
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(cors(config)?)
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded_or_timed_out))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(
                    config.max_concurrent_requests,
                ))
                .timeout(config.request_timeout),
        )
        .layer(CatchPanicLayer::custom(panic_response))
        // Request headers are logged at debug level; the layer below marks `Authorization` and
        // `Cookie` sensitive first, so they print as "Sensitive", never as the token.
        .layer(
            TraceLayer::new_for_http().make_span_with(DefaultMakeSpan::new().include_headers(true)),
        )
        .layer(SetSensitiveHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ])))
}

/// Also says where token revocations are checked: `memory` when the in-process copy is
/// trusted, else the store that is asked (`redis` while its subscription is down).
pub async fn health(denylist: SharedDenylist) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "denylist": denylist.source() }))
}

fn cors(config: &Config) -> Result<CorsLayer, StartupError> {
    let origins = config
        .cors_allowed_origins
        .iter()
        .filter(|o| !o.trim().is_empty())
        .map(|o| HeaderValue::from_str(o.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StartupError::Config(format!("CORS_ALLOWED_ORIGINS: {e}")))?;
    Ok(CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(Duration::from_secs(600)))
}

/// A request over the time limit, or beyond the concurrency cap, gets a coded JSON error.
async fn overloaded_or_timed_out(err: BoxError) -> Response {
    let (status, code, message) = if err.is::<tower::timeout::error::Elapsed>() {
        (
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            "The request took too long and was stopped.",
        )
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVER_BUSY",
            "The server is handling too many requests: retry shortly.",
        )
    } else {
        tracing::error!(error = %err, "middleware failure");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "Internal server error.",
        )
    };
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A panic in one request answers that request with a 500 and an id; the server lives on.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    tracing::error!(%reference, "a request handler panicked");
    let body = json!({ "errors": [{
        "message": format!("Internal error (reference {reference})."),
        "extensions": { "code": "INTERNAL_SERVER_ERROR" } }] });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request, routing::get};
    use tower::ServiceExt;

    use super::*;

    async fn boom() -> &'static str {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_a_reference_and_the_router_lives_on() {
        let config = crate::config::from_args(["smilecook"]).expect("default configuration");
        let router = Router::new()
            .route("/boom", get(boom))
            .route("/ok", get(|| async { "fine" }));
        let app = with_layers(router, &config).expect("layers");
        let get = |path: &str| Request::get(path).body(Body::empty()).expect("request");

        let boom = app.clone().oneshot(get("/boom")).await.expect("response");
        let ok = app.oneshot(get("/ok")).await.expect("response");

        assert_eq!(boom.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(boom.into_body(), 4096)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "INTERNAL_SERVER_ERROR"
        );
        assert!(
            !body.to_string().contains("boom"),
            "the panic message leaked: {body}"
        );
        assert_eq!(ok.status(), StatusCode::OK);
    }
}
