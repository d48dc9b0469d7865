//! Persisted and trusted documents: a request may name its document instead of sending it,
//! and a server may run only the documents its frontends were built with.
//!
//! A request names a document in one of two ways, read from its `extensions` (the HTTP
//! transport moves a top-level `documentId` there):
//! - an automatic persisted query (`extensions.persistedQuery = { version: 1, sha256Hash }`,
//!   as Apollo Client and urql send it): without `query`, the document registered under that
//!   hash, or `PERSISTED_QUERY_NOT_FOUND` (message `PersistedQueryNotFound`, which those
//!   clients look for) so that the client sends it again with its text; with `query`, the
//!   text must hash to it, and is registered once it has run;
//! - a `documentId` (GraphQL over HTTP's persisted operations; `sha256:<hex>` or a manifest's
//!   own id): the document stored under it, else `PERSISTED_QUERY_NOT_FOUND`.
//!
//! Documents live in the database (`db::persisted_documents`), so every instance knows what
//! another has registered, with a bounded copy in each process. Client registrations are kept
//! to `PERSISTED_DOCUMENTS_MAX`, the oldest dropped first; a manifest's documents are trusted
//! and stay. Which documents may run is [`DocumentPolicy`]'s: any; trusted ones only for
//! anonymous callers; trusted ones only. A refused document is refused before it is parsed
//! (`DOCUMENT_NOT_TRUSTED`): a text is trusted when its SHA-256 is a trusted document's.

use std::sync::Arc;

use async_graphql::{Request, Value};
use sea_orm::DatabaseConnection;

mod manifest;

pub use self::manifest::{normal_id, read_manifest, trust_manifest};
pub use crate::config::DocumentPolicy;
use crate::{
    auth::secret::sha256_hex,
    cache::Bounded,
    db::persisted_documents as db,
    error::{AppError, Refusal, RequestError},
    request::RequestContext,
    time::Clock,
};

/// Documents held in each process, and the bytes of text they may take together.
const LOCAL_ENTRIES: usize = 2000;
const LOCAL_BYTES: usize = 8 * 1024 * 1024;
/// The longest document id accepted (a SHA-256 in hex is 64).
const MAX_ID: usize = 128;

#[derive(Clone)]
pub struct Documents(Arc<Inner>);

struct Inner {
    policy: DocumentPolicy,
    db: DatabaseConnection,
    known: Bounded<String, Known>,
    /// Client registrations kept in the database.
    keep: u64,
    /// Development: GraphiQL (`X-GraphiQL`) runs any document whatever the policy.
    explorer_exempt: bool,
    clock: Clock,
}

#[derive(Clone)]
struct Known {
    body: Arc<str>,
    trusted: bool,
    /// When it was read: trust held here is read again after [`TRUST_HELD`].
    read: tokio::time::Instant,
}

/// How long a process relies on its copy of a document's trust (`smilecook documents
/// distrust` takes effect everywhere within it).
const TRUST_HELD: std::time::Duration = std::time::Duration::from_secs(60);

impl Known {
    fn new(body: Arc<str>, trusted: bool) -> Self {
        Self {
            body,
            trusted,
            read: tokio::time::Instant::now(),
        }
    }

    /// Whether the copy held here may be relied on for its trust.
    fn trusted_now(&self) -> bool {
        self.trusted && self.read.elapsed() < TRUST_HELD
    }
}

/// What resolving a request's document decided.
#[derive(Debug, Default)]
pub struct Resolved {
    /// A persisted query sent with its text: registered under this hash once it has run.
    pub register: Option<String>,
    /// An untrusted document that only a signed-in caller may run (the pipeline checks the
    /// token before parsing: `DOCUMENT_NOT_TRUSTED` for an anonymous caller).
    pub needs_caller: bool,
}

/// How a request names its document.
enum Reference {
    Text,
    Apq(String),
    Id(String),
}

pub fn not_trusted() -> RequestError {
    RequestError::new(
        Refusal::DocumentNotTrusted,
        "This server runs only the operations its applications were built with; this \
         document is not one of them.",
    )
}

fn not_found() -> RequestError {
    RequestError::new(Refusal::PersistedQueryNotFound, "PersistedQueryNotFound")
}

fn bad(message: &str) -> RequestError {
    RequestError::new(Refusal::BadRequest, message)
}

impl Documents {
    pub fn new(
        policy: DocumentPolicy,
        db: DatabaseConnection,
        keep: u64,
        explorer_exempt: bool,
        clock: Clock,
    ) -> Self {
        Self(Arc::new(Inner {
            policy,
            db,
            known: Bounded::new(LOCAL_ENTRIES, LOCAL_BYTES),
            keep,
            explorer_exempt,
            clock,
        }))
    }

    pub fn policy(&self) -> DocumentPolicy {
        self.0.policy
    }

    /// Puts the named document's text into `request` and decides whether it may run.
    pub async fn resolve(
        &self,
        request: &mut Request,
        context: &RequestContext,
    ) -> Result<Resolved, RequestError> {
        let mut resolved = Resolved::default();
        let trusted = match reference(request)? {
            Reference::Text => self.text_trusted(&request.query).await?,
            Reference::Apq(hash) if request.query.is_empty() => {
                let known = self.lookup(&hash).await?.ok_or_else(not_found)?;
                request.query = known.body.to_string();
                known.trusted
            }
            Reference::Apq(hash) => {
                if sha256_hex(&request.query) != hash {
                    return Err(bad(
                        "The persisted query's hash is not the SHA-256 of its text.",
                    ));
                }
                if self.0.known.get(&hash).is_none() {
                    resolved.register = Some(hash);
                }
                self.text_trusted(&request.query).await?
            }
            Reference::Id(id) => {
                let known = self.lookup(&id).await?.ok_or_else(not_found)?;
                request.query = known.body.to_string();
                known.trusted
            }
        };
        match self.0.policy {
            _ if trusted => {}
            DocumentPolicy::Any => {}
            DocumentPolicy::Trusted if self.0.explorer_exempt && context.explorer => {}
            DocumentPolicy::Trusted => return Err(not_trusted()),
            DocumentPolicy::TrustedForAnonymous if context.authorization.is_none() => {
                return Err(not_trusted());
            }
            DocumentPolicy::TrustedForAnonymous => resolved.needs_caller = true,
        }
        if self.0.policy == DocumentPolicy::Trusted {
            resolved.register = None; // nothing untrusted runs: nothing to remember
        }
        Ok(resolved)
    }

    /// Keeps a persisted query that has run, here and in the database.
    pub async fn register(&self, hash: String, body: &str) {
        let now = self.0.clock.now().timestamp_millis();
        let kept = db::register(&self.0.db, &hash, body, now, self.0.keep).await;
        if let Err(error) = kept {
            tracing::warn!(%error, "a persisted query could not be registered");
            return;
        }
        let known = Known::new(body.into(), false);
        self.0
            .known
            .put(hash.clone(), known, hash.len() + body.len());
    }

    /// Whether a text is a trusted document's (asked only when the policy cares).
    async fn text_trusted(&self, query: &str) -> Result<bool, RequestError> {
        if self.0.policy == DocumentPolicy::Any || query.is_empty() {
            return Ok(false);
        }
        let hash = sha256_hex(query);
        if let Some(known) = self.0.known.get(&hash).filter(Known::trusted_now) {
            return Ok(&*known.body == query);
        }
        let row = db::find_trusted(&self.0.db, &hash).await.map_err(failed)?;
        Ok(row.is_some_and(|row| row.body == query))
    }

    /// The document stored under `id`; a copy held here that is untrusted is read again when
    /// trust matters, since a manifest may have trusted it since.
    async fn lookup(&self, id: &str) -> Result<Option<Known>, RequestError> {
        let held = self.0.known.get(id);
        if let Some(known) = &held
            && (known.trusted_now() || self.0.policy == DocumentPolicy::Any)
        {
            return Ok(held);
        }
        let Some(row) = db::find(&self.0.db, id).await.map_err(failed)? else {
            return Ok(None);
        };
        let known = Known::new(row.body.into(), row.trusted);
        let weight = id.len() + known.body.len();
        self.0.known.put(id.to_owned(), known.clone(), weight);
        Ok(Some(known))
    }
}

fn failed(error: sea_orm::DbErr) -> RequestError {
    let error = AppError::from(error);
    tracing::error!(error = %crate::error::Shown(&error), "persisted documents unavailable");
    RequestError::new(
        Refusal::InternalServerError,
        "Persisted documents cannot be read right now: retry shortly.",
    )
}

/// How `request` names its document: `extensions.documentId` or `extensions.persistedQuery`.
fn reference(request: &Request) -> Result<Reference, RequestError> {
    let apq = request.extensions.get("persistedQuery");
    let id = request.extensions.get("documentId");
    match (apq, id) {
        (None, None) => Ok(Reference::Text),
        (Some(_), Some(_)) => Err(bad(
            "Name the document by its id or as a persisted query, not both.",
        )),
        (Some(apq), None) => apq_hash(apq).map(Reference::Apq),
        (None, Some(Value::String(id))) => {
            if !request.query.is_empty() {
                return Err(bad(
                    "Send the document either as its text or by its id, not both.",
                ));
            }
            let id = id.strip_prefix("sha256:").unwrap_or(id);
            let valid = !id.is_empty()
                && id.len() <= MAX_ID
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
            match valid {
                true => Ok(Reference::Id(normal_id(id))),
                false => Err(bad(
                    "The document id is not one: it takes letters, digits and the characters - _ . : only.",
                )),
            }
        }
        (None, Some(_)) => Err(bad("The document id must be a string.")),
    }
}

fn apq_hash(value: &Value) -> Result<String, RequestError> {
    let Value::Object(apq) = value else {
        return Err(bad("The persisted query extension must be an object."));
    };
    match apq.get("version") {
        Some(Value::Number(v)) if v.as_u64() == Some(1) => {}
        _ => return Err(bad("Only version 1 of persisted queries is supported.")),
    }
    match apq.get("sha256Hash") {
        Some(Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(hash.to_ascii_lowercase())
        }
        _ => Err(bad(
            "The persisted query's hash must be a SHA-256 in hexadecimal.",
        )),
    }
}
