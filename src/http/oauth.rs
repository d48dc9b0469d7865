//! What other services call: the public keys (`/.well-known/jwks.json`, cacheable, with an
//! entity tag), the authorization server's metadata (RFC 8414) naming them, and token
//! introspection (RFC 7662, `POST /oauth/introspect`, for registered services only).

use std::{net::SocketAddr, time::Duration};

use axum::{
    Extension, Form, Json, Router,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::Deserialize;
use serde_json::json;

use crate::{error::AppError, introspection, state::AppState};

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
pub const INTROSPECTION_PATH: &str = "/oauth/introspect";
/// The longest token introspection reads; a longer one is inactive unread.
const MAX_TOKEN: usize = 8 * 1024;

#[derive(Clone)]
struct OAuthState {
    app: AppState,
    jwks_max_age: Duration,
    trust_forwarded_for: bool,
}

pub fn routes(app: AppState) -> Router {
    let state = OAuthState {
        jwks_max_age: app.config.jwks_max_age,
        trust_forwarded_for: app.config.trust_forwarded_for,
        app,
    };
    Router::new()
        .route(JWKS_PATH, get(jwks))
        .route(METADATA_PATH, get(metadata))
        .route(INTROSPECTION_PATH, post(introspect))
        .with_state(state)
}

async fn jwks(State(state): State<OAuthState>, headers: HeaderMap) -> Response {
    let ring = state.app.tokens.keys.ring();
    let published = &ring.jwks;
    let cache = format!("public, max-age={}", state.jwks_max_age.as_secs());
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == published.etag));
    let common = [
        (header::ETAG, published.etag.clone()),
        (header::CACHE_CONTROL, cache),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*".to_owned()),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let content_type = (header::CONTENT_TYPE, "application/jwk-set+json".to_owned());
    (common, [content_type], published.body.clone()).into_response()
}

async fn metadata(State(state): State<OAuthState>) -> Response {
    let config = &state.app.config;
    let base = config.public_url();
    let ring = state.app.tokens.keys.ring();
    let algorithms: Vec<String> = ring
        .access_algorithms
        .iter()
        .map(|a| format!("{a:?}"))
        .collect();
    let body = json!({
        "issuer": config.jwt_issuer,
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "introspection_endpoint": format!("{base}{INTROSPECTION_PATH}"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        // Tokens are issued by the GraphQL API's `login`, not by an OAuth flow.
        "response_types_supported": [],
        "grant_types_supported": [],
        "access_token_signing_alg_values_supported": algorithms,
    });
    let cache = format!("public, max-age={}", state.jwks_max_age.as_secs());
    ([(header::CACHE_CONTROL, cache)], Json(body)).into_response()
}

#[derive(Deserialize)]
struct IntrospectionForm {
    token: Option<String>,
}

async fn introspect(
    State(state): State<OAuthState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<IntrospectionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let address = super::endpoint::client_addr(state.trust_forwarded_for, peer, &headers);
    let Some((client_id, secret)) = basic_credentials(&headers) else {
        return unauthorized();
    };
    match introspection::authenticate(&state.app, &client_id, &secret, address).await {
        Ok(true) => {}
        Ok(false) => return unauthorized(),
        Err(err) => return failure(&err),
    }
    let Ok(Form(form)) = form else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let Some(token) = form.token.filter(|t| !t.trim().is_empty()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let answer = if token.len() > MAX_TOKEN {
        json!({ "active": false })
    } else {
        match introspection::introspect(&state.app, token.trim()).await {
            Ok(answer) => answer,
            Err(err) => return failure(&err),
        }
    };
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    (no_store, Json(answer)).into_response()
}

/// `Authorization: Basic base64(client_id:secret)` (RFC 6749 section 2.3.1: each part
/// form-urlencoded first).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 1024 {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |part: &str| {
        percent_encoding::percent_decode_str(&part.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn unauthorized() -> Response {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"introspection\""),
    );
    response
}

fn oauth_error(status: StatusCode, error: &'static str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// A throttled caller (429 with `Retry-After`) or a failure of ours (503/500, logged).
fn failure(err: &AppError) -> Response {
    match err {
        AppError::TooManyRequests { retry_after } => {
            let mut response = oauth_error(StatusCode::TOO_MANY_REQUESTS, "slow_down");
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        other => {
            tracing::error!(code = other.code(), error = ?other, "introspection failed");
            let status = match other {
                AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            oauth_error(status, "server_error")
        }
    }
}
