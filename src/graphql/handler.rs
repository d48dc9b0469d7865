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

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use async_graphql::{
    BatchRequest, Request, ServerResult, Variables,
    parser::types::{ExecutableDocument, OperationType},
};
use axum::{
    Extension,
    body::Bytes,
    extract::{ConnectInfo, Query, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    doc_cache::{Cached, validation_key},
    limits::QueryLimits,
    loaders::RequestLoader,
    media::{APPLICATION_JSON, MediaType, accepts, negotiate},
    schema::Schemas,
};
use crate::auth::guard::Auth;

/// The client's address (for login throttling), put into each request's context.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

/// The most errors a refused request is answered with (and a last one saying how many more).
const MAX_REQUEST_ERRORS: usize = 100;

#[derive(Clone)]
pub struct GraphQlState {
    pub schemas: Schemas,
    /// The checks made before the executing schema sees a document.
    pub limits: QueryLimits,
    /// For each request's batching loader.
    pub db: sea_orm::DatabaseConnection,
    /// Serve GraphiQL to browsers on `GET /graphql`.
    pub graphiql: bool,
    /// Most operations in one batched (JSON array) request; 0 turns batching off.
    pub max_batch: usize,
    /// Read the client address from `X-Forwarded-For` (set by a trusted proxy).
    pub trust_forwarded_for: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

pub async fn get(
    State(gql): State<GraphQlState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let client = client_addr(&gql, peer, &headers);
    let wants_html = accepts(&headers, "text/html");
    let Ok(Query(params)) = Query::<GetParams>::try_from_uri(&uri) else {
        return problem(
            StatusCode::BAD_REQUEST,
            MediaType::Json,
            "The URL parameters are malformed.",
        );
    };
    if params.query.is_none() && wants_html && gql.graphiql {
        return crate::graphiql::page("/graphql");
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let request = match get_request(params) {
        Ok(request) => request,
        Err(message) => return problem(StatusCode::BAD_REQUEST, media, &message),
    };
    // Parsed once, through every check a POST meets; a refused document is explained later.
    let prepared = gql.limits.prepare(&request.query, &request.variables);
    let operation = request.operation_name.as_deref();
    if matches!(&prepared, Ok((document, _)) if is_mutation(document, operation)) {
        let mut response = problem(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "Mutations are only accepted with POST.",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let (ran, body) = run_prepared(&gql, request, prepared, &headers, client).await;
    bytes_response(status_of(media, ran), media, body)
}

pub async fn post(
    State(gql): State<GraphQlState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let client = client_addr(&gql, peer, &headers);
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let graphql_body = match content_type(&headers).as_deref() {
        Some(APPLICATION_JSON) => false,
        Some("application/graphql") => true,
        _ => {
            return problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                media,
                "Send the operation as JSON with `Content-Type: application/json`.",
            );
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return problem(rejection.status(), media, &rejection.body_text()),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return problem(
            StatusCode::BAD_REQUEST,
            media,
            "The request body is not valid UTF-8.",
        );
    };
    if graphql_body {
        return execute(&gql, media, Request::new(text), &headers, client).await;
    }
    match parse_body(text, gql.max_batch) {
        Ok(BatchRequest::Single(request)) => execute(&gql, media, request, &headers, client).await,
        Ok(BatchRequest::Batch(requests)) => {
            execute_batch(&gql, media, requests, &headers, client).await
        }
        Err(message) => problem(StatusCode::BAD_REQUEST, media, &message),
    }
}

fn parse_body(text: &str, max_batch: usize) -> Result<BatchRequest, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("The request body is not valid JSON: {e}."))?;
    let one = |v: Value| {
        serde_json::from_value::<Request>(v)
            .map_err(|e| format!("The request body is not a GraphQL request: {e}."))
    };
    match value {
        Value::Array(items) if max_batch == 0 => {
            let _ = items;
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
    let query = params
        .query
        .ok_or("A GET request needs a `query` URL parameter.")?;
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
    Ok(request)
}

/// True when the operation that would run is a mutation or subscription.
fn is_mutation(document: &ExecutableDocument, name: Option<&str>) -> bool {
    document
        .operations
        .iter()
        .filter(|(op_name, _)| name.is_none() || op_name.map(|n| n.as_str()) == name)
        .any(|(_, op)| op.node.ty != OperationType::Query)
}

async fn execute(
    gql: &GraphQlState,
    media: MediaType,
    request: Request,
    headers: &HeaderMap,
    client: Option<ClientAddr>,
) -> Response {
    let (ran, body) = run_one(gql, request, headers, client).await;
    bytes_response(status_of(media, ran), media, body)
}

/// A request refused before execution is a 400 under `application/graphql-response+json`.
fn status_of(media: MediaType, ran: bool) -> StatusCode {
    match (media, ran) {
        (MediaType::GraphQlResponse, false) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
}

async fn execute_batch(
    gql: &GraphQlState,
    media: MediaType,
    requests: Vec<Request>,
    headers: &HeaderMap,
    client: Option<ClientAddr>,
) -> Response {
    let mut body = b"[".to_vec();
    for (i, request) in requests.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend(run_one(gql, request, headers, client).await.1);
    }
    body.push(b']');
    bytes_response(StatusCode::OK, media, body)
}

/// Runs one operation; returns whether it reached execution, and the encoded response body.
async fn run_one(
    gql: &GraphQlState,
    request: Request,
    headers: &HeaderMap,
    client: Option<ClientAddr>,
) -> (bool, Vec<u8>) {
    let prepared = gql.limits.prepare(&request.query, &request.variables);
    run_prepared(gql, request, prepared, headers, client).await
}

/// Runs one operation whose checks before validation ([`QueryLimits::prepare`]) are done.
async fn run_prepared(
    gql: &GraphQlState,
    request: Request,
    prepared: ServerResult<(ExecutableDocument, Option<Arc<Cached>>)>,
    headers: &HeaderMap,
    client: Option<ClientAddr>,
) -> (bool, Vec<u8>) {
    let context = |request: Request| {
        let request = request
            .data(Auth::new(authorization(headers)))
            .data(RequestLoader::new(gql.db.clone()));
        match client {
            Some(client) => request.data(client),
            None => request,
        }
    };
    // The executing schema gets a checked document; anything refused before execution, here or
    // there, is answered by the explaining schema, with the refusal's code (schema.rs).
    let response = match prepared {
        Ok((document, cached)) => {
            let retry = replay(&request);
            let key = validation_key(request.operation_name.as_deref(), &request.variables);
            let validated = matches!((&cached, &key), (Some(c), Some(k)) if c.was_validated(k));
            let new_document = cached.is_none().then(|| document.clone());
            let mut request = request;
            request.set_parsed_query(document);
            let schema = match validated {
                true => &gql.schemas.revalidator,
                false => &gql.schemas.executor,
            };
            let response = schema.execute(context(request)).await;
            if !executed(&response) {
                gql.schemas.explainer.execute(context(retry)).await
            } else {
                // It executed, so it passed validation with this operation and these variables.
                match (new_document, cached, key) {
                    (Some(document), _, key) => gql.limits.remember(&retry.query, document, key),
                    (None, Some(cached), Some(key)) if !validated => cached.validated(key),
                    _ => {}
                }
                response
            }
        }
        Err(error) => async_graphql::Response::from_errors(vec![error]),
    };
    let ran = executed(&response);
    let mut response = response;
    if !ran && response.errors.len() > MAX_REQUEST_ERRORS {
        // A 16 KiB document can hold thousands of mistakes; a megabyte of errors helps nobody.
        let left_out = response.errors.len() - MAX_REQUEST_ERRORS;
        response.errors.truncate(MAX_REQUEST_ERRORS);
        let message = format!("{left_out} more errors were left out.");
        let summary = super::limits::request_error("GRAPHQL_VALIDATION_FAILED", message, None);
        response.errors.push(summary);
    }
    // The common case is encoded straight to bytes; only request errors are reshaped.
    let body = match ran {
        true => serde_json::to_vec(&response),
        false => serde_json::to_value(&response).and_then(|mut body| {
            if let Value::Object(map) = &mut body {
                // A request error has no `data` entry at all (GraphQL over HTTP, 7.1.2).
                map.remove("data");
                if let Some(Value::Array(errors)) = map.get_mut("errors") {
                    errors.iter_mut().for_each(add_request_error_code);
                }
            }
            serde_json::to_vec(&body)
        }),
    };
    let body = body.unwrap_or_else(|_| {
        let error = json!({ "errors": [{ "message": "The response could not be encoded.",
                                         "extensions": { "code": "INTERNAL_SERVER_ERROR" } }] });
        error.to_string().into_bytes()
    });
    (ran, body)
}

/// Whether a response comes from execution: execution produces data or errors with a path; a
/// request error (parse, validation, limits, variables) has neither.
fn executed(response: &async_graphql::Response) -> bool {
    response.data != async_graphql::Value::Null
        || response.errors.iter().any(|e| !e.path.is_empty())
}

/// The same request again, for the explaining schema (a `Request` is not `Clone`).
fn replay(request: &Request) -> Request {
    let mut copy = Request::new(request.query.clone()).variables(request.variables.clone());
    if let Some(name) = &request.operation_name {
        copy = copy.operation_name(name.clone());
    }
    copy.extensions = request.extensions.clone();
    copy
}

/// Parse and validation errors get a code too (async-graphql leaves them without one).
fn add_request_error_code(error: &mut Value) {
    let Value::Object(error) = error else { return };
    let ext = error
        .entry("extensions")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Value::Object(ext) = ext {
        ext.entry("code")
            .or_insert_with(|| Value::from("GRAPHQL_VALIDATION_FAILED"));
    }
}

/// The peer address, or the last `X-Forwarded-For` hop when the proxy in front is trusted.
fn client_addr(
    gql: &GraphQlState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> Option<ClientAddr> {
    let forwarded = gql
        .trust_forwarded_for
        .then(|| headers.get("x-forwarded-for")?.to_str().ok())
        .flatten()
        .and_then(|v| v.rsplit(',').next()?.trim().parse::<IpAddr>().ok());
    forwarded
        .or(peer.map(|Extension(ConnectInfo(addr))| addr.ip()))
        .map(ClientAddr)
}

/// The `Authorization` header; a value that is not visible ASCII reads as a malformed one.
fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
}

fn json_response(status: StatusCode, media: MediaType, body: &Value) -> Response {
    bytes_response(status, media, serde_json::to_vec(body).unwrap_or_default())
}

fn bytes_response(status: StatusCode, media: MediaType, bytes: Vec<u8>) -> Response {
    let content_type = HeaderValue::from_static(match media {
        MediaType::GraphQlResponse => "application/graphql-response+json; charset=utf-8",
        MediaType::Json => "application/json; charset=utf-8",
    });
    (status, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
}

/// An HTTP-level failure in GraphQL's error shape, with a code clients can branch on.
fn problem(status: StatusCode, media: MediaType, message: &str) -> Response {
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::NOT_ACCEPTABLE => "NOT_ACCEPTABLE",
        _ => "BAD_REQUEST",
    };
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    json_response(status, media, &body)
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime: mime::Mime = value.parse().ok()?;
    Some(mime.essence_str().to_ascii_lowercase())
}

fn not_acceptable() -> Response {
    problem(
        StatusCode::NOT_ACCEPTABLE,
        MediaType::Json,
        "Accept must allow application/graphql-response+json or application/json.",
    )
}
