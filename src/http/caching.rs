//! Caching of answers over HTTP: the server's cache of public answers (`cache::responses`),
//! and what HTTP caches are told.
//!
//! - An anonymous query (no `Authorization`, no `DPoP`) that executed without an error is the
//!   same for everybody: kept in the server (GET and POST), and over GET answered with
//!   `Cache-Control: public, max-age=HTTP_CACHE_MAX_AGE`.
//! - A signed-in caller's answer over GET depends on the caller: `private, no-cache` (a
//!   browser keeps it for itself and asks again, with `If-None-Match`).
//! - An answer with an error, a refusal or a mutation is `no-store`.
//!
//! Every 200 answer to a GET carries a strong `ETag`; `If-None-Match` with it is answered 304
//! without a body. `Vary` names what else the answer depends on.

use std::time::Duration;

use async_graphql::Request;
use axum::{
    body::Bytes,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::endpoint::Caching;
use crate::{
    cache::responses::{self, Entry},
    request::RequestContext,
};

/// Where a request's answer would be kept: its key and the epoch read before it runs.
pub struct Slot {
    key: String,
    epoch: u64,
}

/// What the cache had for a request.
pub enum Looked {
    Hit(std::sync::Arc<Entry>),
    /// Not kept (or not current): a fresh answer may be kept here.
    Miss(Option<Slot>),
}

pub fn anonymous(context: &RequestContext) -> bool {
    context.authorization.is_none() && context.dpop.is_none()
}

/// The kept answer to an anonymous request, or where to keep it. The epoch is read before the
/// request runs (`cache::freshness`).
pub async fn look(caching: &Caching, context: &RequestContext, request: &Request) -> Looked {
    let Some(responses) = &caching.responses else {
        return Looked::Miss(None);
    };
    // GraphiQL's requests may run what the policy refuses others (in development): never
    // kept, never answered from what was kept.
    if !anonymous(context) || context.explorer {
        return Looked::Miss(None);
    }
    let Some(key) = key(request) else {
        return Looked::Miss(None);
    };
    let Some(epoch) = caching.events.epoch().await else {
        return Looked::Miss(None);
    };
    let entry = responses.get(&key, epoch);
    crate::observe::response_cache(entry.is_some());
    match entry {
        Some(entry) => Looked::Hit(entry),
        None => Looked::Miss(Some(Slot { key, epoch })),
    }
}

/// Keeps an answer that may be kept (an anonymous query executed without an error); its tag,
/// when `tagged` asks for it or it was kept.
/// Computed only when something will use it (a GET's answer, or a kept one).
pub fn keep(
    caching: &Caching,
    slot: Option<Slot>,
    body: &Bytes,
    cost: u64,
    tagged: bool,
) -> Option<String> {
    let slot = slot.filter(|_| caching.responses.is_some());
    if !tagged && slot.is_none() {
        return None;
    }
    let etag = responses::etag(body);
    if let (Some(responses), Some(slot)) = (&caching.responses, slot) {
        responses.put(slot.key, body.clone(), etag.clone(), slot.epoch, cost);
    }
    Some(etag)
}

/// A request's key: its persisted id (or text), operation name and variables; none for a
/// request with extensions this server does not know (they could change the answer).
fn key(request: &Request) -> Option<String> {
    let mut document = None;
    for (name, value) in request.extensions.iter() {
        match (name.as_str(), value) {
            ("documentId", async_graphql::Value::String(id)) if request.query.is_empty() => {
                document = Some(format!("id:{id}"));
            }
            ("persistedQuery", apq) if request.query.is_empty() => {
                let async_graphql::Value::Object(apq) = apq else {
                    return None;
                };
                let Some(async_graphql::Value::String(hash)) = apq.get("sha256Hash") else {
                    return None;
                };
                document = Some(format!("apq:{}", hash.to_ascii_lowercase()));
            }
            ("persistedQuery", _) => {}
            _ => return None,
        }
    }
    let document = document.unwrap_or_else(|| format!("text:{}", request.query));
    let variables = serde_json::to_string(&request.variables).ok()?;
    let operation = request.operation_name.as_deref();
    Some(responses::key(&document, operation, &variables))
}

/// How an answer to a GET may be cached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The same for everybody.
    Public,
    /// The caller's own.
    Private,
    /// Not to be kept (an error, a refusal).
    None,
}

/// The caching headers of a GET's answer, and 304 when `If-None-Match` names its tag.
pub fn conditional(
    request_headers: &HeaderMap,
    mut response: Response,
    etag: Option<&str>,
    scope: Scope,
    max_age: Duration,
) -> Response {
    let cache_control = match scope {
        Scope::Public => format!("public, max-age={}", max_age.as_secs()),
        Scope::Private => "private, no-cache".to_owned(),
        Scope::None => "no-store".to_owned(),
    };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization, DPoP"),
    );
    let etag = etag.filter(|_| scope != Scope::None);
    if let Some(value) = etag.and_then(|tag| HeaderValue::from_str(tag).ok()) {
        headers.insert(header::ETAG, value);
    }
    if let Some(tag) = etag
        && none_match(request_headers, tag)
    {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    response.headers_mut().extend(headers);
    response
}

/// Whether `If-None-Match` names `etag` (or is `*`), compared weakly as RFC 9110 asks.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_a_star() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b\""),
        );
        assert!(none_match(&headers, "\"b\""));
        assert!(none_match(&headers, "\"a\""));
        assert!(!none_match(&headers, "\"c\""));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&headers, "\"c\""));
    }
}
