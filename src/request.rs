//! What a transport knows of the caller of one request, in a form that is not HTTP's: each
//! transport (HTTP today, WebSocket and SSE next) builds a [`RequestContext`] from its own wire
//! format and hands it, with the GraphQL request, to the one pipeline
//! (`graphql::execute`), which turns it into the request's auth context and loaders.

use std::net::IpAddr;

/// The caller, as the transport saw it.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// The credentials as presented (`Bearer <token>`), checked by the first field that needs
    /// the caller. A value that is not text arrives as a malformed one, never as none.
    pub authorization: Option<String>,
    /// The client's address, for throttling password checks.
    pub client: Option<IpAddr>,
}

/// The client's address in a request's GraphQL context (for login throttling).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);
