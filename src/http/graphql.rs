//! GraphQL over HTTP, following the GraphQL-over-HTTP specification rather than the laxer
//! defaults of the integration crate:
//! - `POST /graphql` takes `application/json` (or `application/graphql`) only: form, multipart
//!   and `text/plain` bodies are refused with 415, since a browser sends those cross-site
//!   without a CORS preflight (a request-forgery hole).
//! - `GET /graphql` runs queries from URL parameters; a mutation there is a 405. A browser
//!   asking for HTML gets GraphiQL.
//! - The response media type follows `Accept`: `application/graphql-response+json` answers a
//!   request that fails before execution (parse, validation, limits) with 400;
//!   `application/json` answers such requests with 200, as legacy clients expect.
//!
//! Only HTTP lives here: the wire format in, the status and encoding out. Running the request
//! is the pipeline's (`graphql::execute`), with a [`RequestContext`] built from the headers.

use std::net::SocketAddr;

use async_graphql::{BatchRequest, Request, Variables};
use axum::{
    Extension,
    body::Bytes,
    extract::{
        ConnectInfo, Query, State,
        rejection::BytesRejection,
        ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    caching,
    endpoint::{GraphQlState, request_context},
    graphiql,
    media::{APPLICATION_JSON, MediaType, accepts, negotiate},
    problem, sse, ws,
};
use crate::{
    cache::responses::Entry,
    error::{Refusal, RequestError},
    graphql::execute::Outcome,
    request::RequestContext,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    document_id: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

pub async fn get(
    State(gql): State<GraphQlState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Ok(upgrade) = upgrade {
        return ws::upgrade(State(gql), peer, headers, upgrade).await;
    }
    let context = request_context(&gql, peer, &headers, Some("GET"));
    let wants_html = accepts(&headers, "text/html");
    let Ok(Query(params)) = Query::<GetParams>::try_from_uri(&uri) else {
        let error = RequestError::new(Refusal::BadRequest, "The URL parameters are malformed.");
        return problem(MediaType::Json, &error);
    };
    let names_no_document =
        params.query.is_none() && params.document_id.is_none() && params.extensions.is_none();
    if names_no_document && wants_html && gql.graphiql {
        return graphiql::page("/graphql");
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let request = match get_request(params) {
        Ok(request) => request,
        Err(message) => return problem(media, &RequestError::new(Refusal::BadRequest, message)),
    };
    let slot = match caching::look(&gql.caching, &context, &request).await {
        caching::Looked::Hit(entry) => {
            let (scope, max_age) = (caching::Scope::Public, gql.caching.max_age);
            return match kept_answer(&gql, &context, media, &entry).await {
                Ok(kept) => caching::conditional(&headers, kept, Some(&entry.etag), scope, max_age),
                Err(refused) => refused,
            };
        }
        caching::Looked::Miss(slot) => slot,
    };
    // Parsed once, through every check a POST meets; a refused document is explained later.
    let prepared = gql.pipeline.prepare(request, &context).await;
    if prepared.writes() {
        let error = RequestError::new(
            Refusal::MethodNotAllowed,
            "Mutations are only accepted with POST.",
        );
        let mut response = problem(media, &error);
        let allow = HeaderValue::from_static("POST");
        response.headers_mut().insert(header::ALLOW, allow);
        return response;
    }
    let outcome = gql.pipeline.run_prepared(prepared, &context).await;
    let scope = match (&outcome, caching::anonymous(&context)) {
        (outcome, _) if !answered_whole(outcome) => caching::Scope::None,
        // GraphiQL may run what others may not (in development): nobody else gets its answers.
        (_, true) if !context.explorer => caching::Scope::Public,
        _ => caching::Scope::Private,
    };
    let (response, etag) = respond_keeping(&gql, media, outcome, slot, true);
    caching::conditional(
        &headers,
        response,
        etag.as_deref(),
        scope,
        gql.caching.max_age,
    )
}

/// Whether an outcome is a whole answer: executed, without an error.
fn answered_whole(outcome: &Outcome) -> bool {
    outcome.executed && outcome.response.errors.is_empty() && outcome.refused.is_none()
}

/// Answers `outcome`; a whole answer is kept in the server's cache when `slot` says where
/// (an anonymous query), and has its entity tag when kept or `tagged` (a GET's).
fn respond_keeping(
    gql: &GraphQlState,
    media: MediaType,
    outcome: Outcome,
    slot: Option<caching::Slot>,
    tagged: bool,
) -> (Response, Option<String>) {
    if !answered_whole(&outcome) {
        return (respond(media, outcome), None);
    }
    let mut outcome = outcome;
    let spent = outcome.rate_limit.take();
    let body = Bytes::from(encode(outcome));
    let cost = spent.as_ref().map_or(1, |spent| spent.cost);
    let etag = caching::keep(&gql.caching, slot, &body, cost, tagged);
    let mut response = bytes_response(StatusCode::OK, media, body);
    if let Some(spent) = &spent {
        super::ratelimit::write(response.headers_mut(), spent);
    }
    (response, etag)
}

/// A kept answer, once its cost is spent from the caller's rate limits as running it would
/// have been; the refusal (429) when a budget lacks room.
async fn kept_answer(
    gql: &GraphQlState,
    context: &RequestContext,
    media: MediaType,
    entry: &Entry,
) -> Result<Response, Response> {
    let spent = (gql.pipeline.spend(context, entry.cost).await)
        .map_err(|refusal| super::answer_refusal(media, &refusal))?;
    let mut response = bytes_response(StatusCode::OK, media, entry.body.clone());
    super::ratelimit::write(response.headers_mut(), &spent);
    Ok(response)
}

pub async fn post(
    State(gql): State<GraphQlState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let context = request_context(&gql, peer, &headers, Some("POST"));
    let event_stream = accepts(&headers, "text/event-stream");
    let Some(media) = negotiate(&headers).or(event_stream.then_some(MediaType::Json)) else {
        return not_acceptable();
    };
    let graphql_body = match content_type(&headers).as_deref() {
        Some(APPLICATION_JSON) => false,
        Some("application/graphql") => true,
        _ => {
            let error = RequestError::new(
                Refusal::UnsupportedMediaType,
                "Send the operation as JSON with `Content-Type: application/json`.",
            );
            return problem(media, &error);
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let refusal = match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => Refusal::PayloadTooLarge,
                _ => Refusal::BadRequest,
            };
            return problem(media, &RequestError::new(refusal, rejection.body_text()));
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        let error = RequestError::new(Refusal::BadRequest, "The request body is not valid UTF-8.");
        return problem(media, &error);
    };
    let single = |request: Request| async {
        if event_stream {
            return sse::respond(&gql, request, context.clone()).await;
        }
        let slot = match caching::look(&gql.caching, &context, &request).await {
            caching::Looked::Hit(entry) => {
                return kept_answer(&gql, &context, media, &entry)
                    .await
                    .unwrap_or_else(|r| r);
            }
            caching::Looked::Miss(slot) => slot,
        };
        let prepared = gql.pipeline.prepare(request, &context).await;
        if prepared.subscribes() {
            let error = RequestError::new(
                Refusal::BadRequest,
                "Subscriptions run over a WebSocket (`graphql-transport-ws`) or Server-Sent \
                 Events (`Accept: text/event-stream`) on this endpoint.",
            );
            return problem(media, &error);
        }
        let slot = slot.filter(|_| !prepared.writes());
        let outcome = gql.pipeline.run_prepared(prepared, &context).await;
        respond_keeping(&gql, media, outcome, slot, false).0
    };
    if graphql_body {
        return single(Request::new(text)).await;
    }
    match parse_body(text, gql.max_batch) {
        Ok(BatchRequest::Single(request)) => single(request).await,
        Ok(BatchRequest::Batch(requests)) => {
            let (mut body, mut spent) = (b"[".to_vec(), None);
            for (i, request) in requests.into_iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                let mut outcome = gql.pipeline.run(request, &context).await;
                spent = outcome.rate_limit.take().or(spent);
                body.extend(encode(outcome));
            }
            body.push(b']');
            let mut response = bytes_response(StatusCode::OK, media, body);
            if let Some(spent) = &spent {
                super::ratelimit::write(response.headers_mut(), spent);
            }
            response
        }
        Err(message) => problem(media, &RequestError::new(Refusal::BadRequest, message)),
    }
}

fn parse_body(text: &str, max_batch: usize) -> Result<BatchRequest, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("The request body is not valid JSON: {e}."))?;
    let one = |mut v: Value| {
        // GraphQL over HTTP's persisted operations name the document at the top level; the
        // pipeline reads it from the extensions (`graphql::persisted`).
        let document_id = v.as_object_mut().and_then(|body| body.remove("documentId"));
        let mut request = serde_json::from_value::<Request>(v)
            .map_err(|e| format!("The request body is not a GraphQL request: {e}."))?;
        if let Some(id) = document_id {
            let id = async_graphql::Value::from_json(id)
                .map_err(|e| format!("`documentId` is not valid: {e}."))?;
            request.extensions.insert("documentId".into(), id);
        }
        Ok::<_, String>(request)
    };
    match value {
        Value::Array(_) if max_batch == 0 => {
            Err("Batched requests (a JSON array of operations) are disabled on this server.".into())
        }
        Value::Array(items) if items.len() > max_batch || items.is_empty() => Err(format!(
            "A batch must hold between 1 and {max_batch} operations; this one has {}.",
            items.len()
        )),
        Value::Array(items) => Ok(BatchRequest::Batch(
            items.into_iter().map(one).collect::<Result<_, _>>()?,
        )),
        Value::Object(_) => Ok(BatchRequest::Single(one(value)?)),
        _ => Err("The request body must be a JSON object with a `query`.".into()),
    }
}

fn get_request(params: GetParams) -> Result<Request, String> {
    let named = params.document_id.is_some() || params.extensions.is_some();
    let query = match params.query {
        Some(query) => query,
        None if named => String::new(),
        None => return Err("A GET request needs a `query` or `documentId` URL parameter.".into()),
    };
    let mut request = Request::new(query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables.filter(|v| !v.is_empty()) {
        let value: Value = serde_json::from_str(&variables)
            .map_err(|e| format!("The `variables` parameter is not valid JSON: {e}."))?;
        request = request.variables(Variables::from_json(value));
    }
    if let Some(extensions) = params.extensions.filter(|v| !v.is_empty()) {
        request.extensions = serde_json::from_str(&extensions)
            .map_err(|e| format!("The `extensions` parameter is not valid JSON: {e}."))?;
    }
    if let Some(id) = params.document_id {
        let id = async_graphql::Value::String(id);
        request.extensions.insert("documentId".into(), id);
    }
    Ok(request)
}

/// The answer, with the RateLimit headers of what the operation spent.
fn respond(media: MediaType, mut outcome: Outcome) -> Response {
    let spent = outcome.rate_limit.take();
    let mut response = answer(media, outcome);
    if let Some(spent) = &spent {
        super::ratelimit::write(response.headers_mut(), spent);
    }
    response
}

/// A request refused before execution is a 400 under `application/graphql-response+json`; one
/// refused by admission or a rate limit is the refusal it is (503 SERVER_BUSY, 408
/// REQUEST_TIMEOUT, 429 TOO_MANY_REQUESTS).
fn answer(media: MediaType, outcome: Outcome) -> Response {
    if let Some(refusal) = &outcome.refused {
        return super::answer_refusal(media, refusal);
    }
    let status = match (media, outcome.executed) {
        (MediaType::GraphQlResponse, false) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let challenge = dpop_challenge(&outcome.response);
    let mut response = bytes_response(status, media, encode(outcome));
    if let Some(challenge) = challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

/// RFC 9449's challenge for a refused DPoP proof, beside the coded GraphQL error that says
/// the same to GraphQL clients.
fn dpop_challenge(response: &async_graphql::Response) -> Option<&'static str> {
    response.errors.iter().find_map(|error| {
        let code = error.extensions.as_ref()?.get("code")?;
        match code {
            async_graphql::Value::String(code) if code == "INVALID_DPOP_PROOF" => {
                Some("DPoP error=\"invalid_dpop_proof\"")
            }
            async_graphql::Value::String(code) if code == "USE_DPOP_NONCE" => {
                Some("DPoP error=\"use_dpop_nonce\"")
            }
            _ => None,
        }
    })
}

/// The response as JSON; a request error has no `data` entry at all (GraphQL over HTTP,
/// 7.1.2). The common case is encoded straight to bytes.
fn encode(outcome: Outcome) -> Vec<u8> {
    let body = match outcome.executed {
        true => serde_json::to_vec(&outcome.response),
        false => serde_json::to_value(&outcome.response).and_then(|mut body| {
            if let Value::Object(map) = &mut body {
                map.remove("data");
            }
            serde_json::to_vec(&body)
        }),
    };
    body.unwrap_or_else(|_| {
        let error = RequestError::internal("a response could not be encoded");
        error.to_body().to_string().into_bytes()
    })
}

fn bytes_response(status: StatusCode, media: MediaType, bytes: impl Into<Bytes>) -> Response {
    let content_type = HeaderValue::from_static(match media {
        MediaType::GraphQlResponse => "application/graphql-response+json; charset=utf-8",
        MediaType::Json => "application/json; charset=utf-8",
    });
    (status, [(header::CONTENT_TYPE, content_type)], bytes.into()).into_response()
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime: mime::Mime = value.parse().ok()?;
    Some(mime.essence_str().to_ascii_lowercase())
}

fn not_acceptable() -> Response {
    let error = RequestError::new(
        Refusal::NotAcceptable,
        "Accept must allow application/graphql-response+json or application/json.",
    );
    problem(MediaType::Json, &error)
}
