//! The HTTP transports: GraphQL over HTTP (`graphql`), over WebSocket (`ws`) and over
//! Server-Sent Events (`sse`), content negotiation (`media`), which pages may open a socket
//! (`origin`), GraphiQL (`graphiql`), the rate limits' headers (`ratelimit`), and the layers around every route: body limit, CORS, a
//! timeout on the whole exchange (with a coded JSON error), panic isolation, request tracing
//! with secrets redacted. The limits on operations themselves (concurrency, time) are the
//! pipeline's admission, which every transport meets. [`problem`] is the one place a refused
//! request becomes an HTTP response.

pub mod caching;
pub mod endpoint;
pub mod graphiql;
pub mod graphql;
pub mod media;
pub mod oauth;
pub mod origin;
pub mod ratelimit;
pub mod spans;
pub mod sse;
pub mod ws;

use std::time::Duration;

use axum::{
    Json, Router,
    error_handling::HandleErrorLayer,
    extract::DefaultBodyLimit,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use tower::{BoxError, ServiceBuilder};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::CorsLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveHeadersLayer,
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use self::media::MediaType;
use crate::{
    auth::{denylist::SharedDenylist, dpop::nonce::Nonces},
    config::Config,
    error::{Refusal, RequestError},
    observe,
    time::Clock,
};

/// A `CORS_ALLOWED_ORIGINS` entry that is not a valid header value.
#[derive(Debug, thiserror::Error)]
#[error("CORS_ALLOWED_ORIGINS: {0}")]
pub struct InvalidOrigin(#[from] axum::http::header::InvalidHeaderValue);

/// Wraps `router` in the layers every route gets. The last layer added runs first: the
/// metrics, with `METRICS_BIND`, see every answer, timeouts and panics included.
pub fn with_layers(router: Router, config: &Config) -> Result<Router, InvalidOrigin> {
    let router = router
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(cors(config)?)
        // The whole exchange (reading a slow body included) within REQUEST_TIMEOUT; the
        // operation itself is timed by the pipeline's admission.
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(timed_out))
                .timeout(config.request_timeout),
        )
        .layer(CatchPanicLayer::custom(panic_response))
        // Request headers are logged at debug level; the layer below marks `Authorization` and
        // `Cookie` sensitive first, so they print as "Sensitive", never as the token.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(spans::request_span)
                .on_response(spans::on_response),
        )
        .layer(SetSensitiveHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        // Every request gets an `x-request-id` (a proxy's is kept), logged in its span and
        // sent back with the response.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    Ok(match config.metrics_bind {
        Some(_) => router.layer(axum::middleware::from_fn(observe::http::track)),
        None => router,
    })
}

/// Also says where token revocations are checked: `memory` when the in-process copy is
/// trusted, else the store that is asked (`redis` while its subscription is down).
pub async fn health(denylist: SharedDenylist) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "denylist": denylist.source() }))
}

fn cors(config: &Config) -> Result<CorsLayer, InvalidOrigin> {
    let origins = config
        .cors_allowed_origins
        .iter()
        .filter(|o| !o.trim().is_empty())
        .map(|o| HeaderValue::from_str(o.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("dpop"),
        ])
        .expose_headers([
            header::HeaderName::from_static("dpop-nonce"),
            ratelimit::RATELIMIT,
            ratelimit::RATELIMIT_POLICY,
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600)))
}

/// Adds the current DPoP nonce (`DPOP_NONCE`) to every answer, as RFC 9449 section 8 asks.
pub fn dpop_nonce_layer(
    nonces: Nonces,
    clock: Clock,
) -> SetResponseHeaderLayer<impl Fn(&Response) -> Option<HeaderValue> + Clone> {
    SetResponseHeaderLayer::overriding(
        header::HeaderName::from_static("dpop-nonce"),
        move |_: &Response| HeaderValue::from_str(&nonces.current(clock.unix_now())).ok(),
    )
}

/// A refused request in GraphQL's error shape, with its code and the status that goes with it.
/// Counted here as an error sent; a refusal the pipeline made (and counted) goes through
/// [`answer_refusal`] instead.
pub fn problem(media: MediaType, error: &RequestError) -> Response {
    observe::graphql_error(error.refusal.code());
    answer_refusal(media, error)
}

/// [`problem`] without counting the error (the pipeline has).
pub fn answer_refusal(media: MediaType, error: &RequestError) -> Response {
    let status = match error.refusal {
        Refusal::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Refusal::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Refusal::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        Refusal::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        Refusal::ServerBusy => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::TooManyRequests | Refusal::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
        Refusal::ForbiddenOrigin => StatusCode::FORBIDDEN,
        Refusal::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let content_type = match media {
        MediaType::GraphQlResponse => "application/graphql-response+json; charset=utf-8",
        MediaType::Json => "application/json; charset=utf-8",
    };
    let body = error.to_body().to_string();
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    let retry = match (error.retry_after, status) {
        (Some(seconds), _) => Some(HeaderValue::from(seconds)),
        (None, StatusCode::SERVICE_UNAVAILABLE) => Some(HeaderValue::from_static("1")),
        _ => None,
    };
    if let Some(retry) = retry {
        response.headers_mut().insert(header::RETRY_AFTER, retry);
    }
    response
}

/// A request over the time limit gets a coded JSON error.
async fn timed_out(err: BoxError) -> Response {
    let error = if err.is::<tower::timeout::error::Elapsed>() {
        RequestError::new(
            Refusal::RequestTimeout,
            "The request took too long and was stopped.",
        )
    } else {
        RequestError::internal(&format!("middleware failure: {err}"))
    };
    problem(MediaType::Json, &error)
}

/// A panic in one request answers that request with a 500 and an id; the server lives on.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    problem(
        MediaType::Json,
        &RequestError::internal("a request handler panicked"),
    )
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
