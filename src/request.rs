//! What a transport knows of the caller of one request, in a form that is not HTTP's: each
//! transport (HTTP, WebSocket, SSE) builds a [`RequestContext`] from its own wire format and
//! hands it, with the GraphQL request, to the one pipeline (`graphql::execute`), which admits
//! it and turns it into the request's auth context and loaders.

use std::net::IpAddr;

/// The caller, as the transport saw it.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// The credentials as presented (`Bearer <token>`), checked by the first field that needs
    /// the caller. A value that is not text arrives as a malformed one, never as none.
    pub authorization: Option<String>,
    /// The client's address, for throttling password checks.
    pub client: Option<IpAddr>,
    /// The `DPoP` proof the client sent (RFC 9449), with the request it must name; or, on a
    /// connection that proved its key when it authenticated, that key.
    pub dpop: Option<DpopEvidence>,
    /// The `User-Agent` the client sent (at most [`USER_AGENT_MAX`] characters), which names
    /// the device of a login session.
    pub user_agent: Option<String>,
    /// The request came from the server's own GraphiQL page (`X-GraphiQL`), which in
    /// development may run documents a trusted-only policy refuses.
    pub explorer: bool,
}

pub const USER_AGENT_MAX: usize = 256;

/// What a request offers for a DPoP-bound token.
#[derive(Clone, Debug)]
pub enum DpopEvidence {
    /// A proof, checked (and used up) by the first field that needs the caller.
    Proof(DpopProof),
    /// The key a long-lived connection proved when it authenticated (its RFC 7638
    /// thumbprint): the binding holds for the connection's life.
    Proven { jkt: String },
}

/// A `DPoP` header and the request it came with: the method and the URL as the client
/// reached the server. Two `DPoP` headers arrive as one empty (invalid) proof.
#[derive(Clone, Debug)]
pub struct DpopProof {
    pub proof: String,
    pub method: String,
    pub url: String,
}

/// The client's user agent in a request's GraphQL context (for the sessions it opens).
#[derive(Clone, Debug)]
pub struct UserAgent(pub String);

impl UserAgent {
    /// `value`, cut to [`USER_AGENT_MAX`] characters; none when empty.
    pub fn from_header(value: &str) -> Option<String> {
        let value: String = value.trim().chars().take(USER_AGENT_MAX).collect();
        (!value.is_empty()).then_some(value)
    }
}

/// The client's address in a request's GraphQL context (for login throttling).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);
