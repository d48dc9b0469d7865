//! What the transports of the `/graphql` endpoint share (GraphQL over HTTP, over WebSocket, over
//! SSE): their state, and the caller as HTTP shows them, read into a transport-neutral
//! [`RequestContext`].

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use axum::{
    Extension,
    extract::ConnectInfo,
    http::{HeaderMap, header},
};

use super::origin::Origins;
use crate::{
    auth::guard::Principal,
    graphql::execute::Pipeline,
    request::{DpopEvidence, DpopProof, RequestContext, UserAgent},
};

/// The WebSocket transport's own settings (`ws.rs`).
#[derive(Clone, Debug)]
pub struct WsConfig {
    pub init_timeout: Duration,
    pub keepalive: Duration,
    pub max_subscriptions: usize,
    pub max_message_bytes: usize,
}

#[derive(Clone)]
pub struct GraphQlState {
    pub pipeline: Pipeline,
    /// The WebSocket transport's wire settings (`GET /graphql` with an upgrade).
    pub ws: WsConfig,
    /// How often an idle event stream (SSE) is sent a comment, to keep proxies from closing it.
    pub sse_keepalive: Duration,
    /// The browser origins that may open a WebSocket.
    pub origins: Origins,
    /// Serve GraphiQL to browsers on `GET /graphql`.
    pub graphiql: bool,
    /// Most operations in one batched (JSON array) request; 0 turns batching off.
    pub max_batch: usize,
    /// Read the client address from `X-Forwarded-For` (set by a trusted proxy).
    pub trust_forwarded_for: bool,
    /// The address clients reach the server at (`PUBLIC_URL`): DPoP proofs name it.
    pub public_url: String,
    pub caching: Caching,
}

/// What answers may be kept, here and by HTTP caches (`caching.rs`).
#[derive(Clone)]
pub struct Caching {
    /// Public answers kept in this process (`RESPONSE_CACHE_BYTES`; none when 0).
    pub responses: Option<std::sync::Arc<crate::cache::ResponseCache>>,
    /// Whose epoch says whether a kept answer is still current.
    pub events: crate::events::Events,
    /// `max-age` of a public answer to a GET (`HTTP_CACHE_MAX_AGE`).
    pub max_age: Duration,
}

/// The caller as HTTP shows them: the `Authorization` header, the `DPoP` proof of a request
/// made with `method` (none where proofs are not read yet: the WebSocket) and the client's
/// address.
pub fn request_context(
    gql: &GraphQlState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    method: Option<&str>,
) -> RequestContext {
    RequestContext {
        authorization: authorization(headers),
        dpop: method
            .and_then(|method| dpop_proof(gql, method, headers))
            .map(DpopEvidence::Proof),
        client: client_addr(gql.trust_forwarded_for, peer, headers),
        user_agent: user_agent(headers),
        explorer: headers.contains_key("x-graphiql"),
    }
}

/// The `DPoP` header for a request to `/graphql` by `method`; more than one, or one that is not
/// text, reads as an empty (invalid) proof.
fn dpop_proof(gql: &GraphQlState, method: &str, headers: &HeaderMap) -> Option<DpopProof> {
    let url = dpop_url(gql);
    let mut values = headers.get_all("dpop").iter();
    let first = values.next()?;
    let proof = match values.next() {
        Some(_) => String::new(),
        None => first.to_str().unwrap_or_default().to_owned(),
    };
    Some(DpopProof {
        proof,
        method: method.to_owned(),
        url,
    })
}

/// The URL DPoP proofs name for `/graphql`, as clients reach it (`PUBLIC_URL`).
pub fn dpop_url(gql: &GraphQlState) -> String {
    format!("{}/graphql", gql.public_url.trim_end_matches('/'))
}

/// The `User-Agent` header, cut short; none unless it is text.
fn user_agent(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::USER_AGENT)?.to_str().ok()?;
    UserAgent::from_header(value)
}

/// The peer address, or the last `X-Forwarded-For` hop when the proxy in front is trusted.
pub fn client_addr(
    trust_forwarded_for: bool,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let forwarded = trust_forwarded_for
        .then(|| headers.get("x-forwarded-for")?.to_str().ok())
        .flatten()
        .and_then(|v| v.rsplit(',').next()?.trim().parse::<IpAddr>().ok());
    forwarded.or(peer.map(|Extension(ConnectInfo(addr))| addr.ip()))
}

/// The `Authorization` header; a value that is not visible ASCII reads as a malformed one.
fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
}

/// What a connection authenticated as `principal` offers its operations for a bound token:
/// the key its proof proved (the proof itself is spent).
pub fn proven(principal: Option<&Principal>) -> Option<DpopEvidence> {
    let jkt = principal?.claims.cnf.as_ref()?.jkt.clone();
    Some(DpopEvidence::Proven { jkt })
}
