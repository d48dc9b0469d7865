//! Limits on what one operation may ask for, checked before any resolver runs. Each refusal is
//! a request error whose code names the limit (QUERY_TOO_LARGE, TOO_MANY_ALIASES,
//! TOO_MANY_ROOT_FIELDS, QUERY_TOO_DEEP, QUERY_TOO_COMPLEX) and whose message gives the numbers.
//!
//! async-graphql's own depth and complexity limits answer with an uncoded "Query is too
//! complex."; here the same numbers it computes are compared after its validation, and it has
//! no alias limit at all (aliases let one small query run a field thousands of times).
//!
//! Requests run on a schema without extensions (async-graphql wraps every field of every
//! request in every extension's hook): the HTTP handler makes the checks that come before
//! validation itself ([`QueryLimits::prepare`]), and the executing schema refuses documents
//! over the depth or complexity limits with async-graphql's own uncoded errors. A request
//! refused by validation is then put to a second schema that has [`QueryLimits`] as its
//! extension, whose answer (coded, with the numbers) is the one sent.
//!
//! Every check before validation is linear in the query's size, and no recursive code sees a
//! document before they pass: the bracket nesting of the text is scanned before parsing
//! (`nesting.rs`), and the parsed document is measured with each fragment counted once
//! (`shape.rs`) before anything walks it per spread, async-graphql's validation included.

use std::sync::Arc;

use crate::error::{Refusal, RequestError};

use super::{
    doc_cache::{Cached, DocumentCache},
    nesting::{self, MAX_NESTING},
    shape::{self, Shape},
};

use async_graphql::{
    Request, ServerError, ServerResult, ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextValidation,
    },
    parser::types::ExecutableDocument,
};

/// The limits, and the cache of parsed documents the checks share.
#[derive(Clone)]
pub struct QueryLimits {
    pub max_query_bytes: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    /// The deepest nesting of data fields; introspection has its own bounds instead.
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Whether `__schema` and `__type` may be asked for.
    pub introspection: bool,
    /// Parsed documents by their text.
    pub cache: DocumentCache,
}

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

fn refuse(refusal: Refusal, message: String) -> ServerError {
    RequestError::new(refusal, message).to_server_error()
}

impl QueryLimits {
    /// The checks made before validation: the query's size, then (on the document parsed from
    /// it, or taken from the cache) the required variables, aliases and root fields. The HTTP
    /// handler calls this before handing the document to the executing schema. Also returns
    /// the cache's entry when the document came from there: a new one is put there by [`Self::remember`]
    /// only once it has executed, so past async-graphql's own checks too (a fragment cycle,
    /// say, must never be taken from the cache, where nothing would look for it again). The
    /// deep copy of a cached document is made outside the cache's lock (it costs a tenth of a
    /// parse).
    pub(crate) fn prepare(
        &self,
        query: &str,
        variables: &Variables,
    ) -> ServerResult<(ExecutableDocument, Option<Arc<Cached>>)> {
        self.check_size(query)?;
        let (document, cached) = match self.cache.get(query) {
            Some(cached) => (cached.document.clone(), Some(cached)),
            None => {
                check_nesting(query)?;
                (async_graphql::parser::parse_query(query)?, None)
            }
        };
        self.check_document(&document, variables)?;
        Ok((document, cached))
    }

    /// Caches a document that has been executed, so passed full validation with the request
    /// `validated` (see [`super::doc_cache::validation_key`]).
    pub(crate) fn remember(
        &self,
        query: &str,
        document: ExecutableDocument,
        validated: Option<String>,
    ) {
        self.cache.put(query, document, validated);
    }

    fn check_size(&self, query: &str) -> ServerResult<()> {
        if query.len() > self.max_query_bytes {
            return Err(refuse(
                Refusal::QueryTooLarge,
                format!(
                    "The query is {} bytes long; the limit is {} bytes.",
                    query.len(),
                    self.max_query_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The checks on a parsed document: the required variables, then its measure
    /// (`shape.rs`), taken before anything walks it per fragment spread.
    fn check_document(
        &self,
        document: &ExecutableDocument,
        variables: &Variables,
    ) -> ServerResult<()> {
        super::variables::check_required(document, variables)?;
        let shape = shape::measure(document).map_err(|cycle| {
            let message = format!(
                "The fragment `{}` spreads itself, directly or through other fragments.",
                cycle.fragment
            );
            RequestError::new(Refusal::ValidationFailed, message)
                .at(cycle.pos)
                .to_server_error()
        })?;
        self.check_shape(&shape)
    }

    fn check_shape(&self, shape: &Shape) -> ServerResult<()> {
        if shape.aliases > self.max_aliases as u64 {
            return Err(refuse(
                Refusal::TooManyAliases,
                format!(
                    "The query uses {} aliases (fragments count each time they are spread); the limit is {}.",
                    shape.aliases, self.max_aliases
                ),
            ));
        }
        if shape.root_fields > self.max_root_fields as u64 {
            return Err(refuse(
                Refusal::TooManyRootFields,
                format!(
                    "An operation selects {} root fields; the limit is {}.",
                    shape.root_fields, self.max_root_fields
                ),
            ));
        }
        if shape.nesting > MAX_NESTING as u64 {
            return Err(refuse(
                Refusal::QueryTooDeep,
                format!(
                    "The query nests {} selections deep through its fragments; the limit is {MAX_NESTING}.",
                    shape.nesting
                ),
            ));
        }
        if shape.depth > self.max_depth as u64 {
            return Err(refuse(
                Refusal::QueryTooDeep,
                format!(
                    "The query is nested {} levels deep; the limit is {}.",
                    shape.depth, self.max_depth
                ),
            ));
        }
        self.check_introspection(shape)?;
        if shape.fields > self.max_complexity as u64 {
            return Err(refuse(
                Refusal::QueryTooComplex,
                format!(
                    "The query selects {} fields (fragments count each time they are spread); the limit is {}.",
                    shape.fields, self.max_complexity
                ),
            ));
        }
        if shape.visits > self.max_visits() {
            return Err(refuse(
                Refusal::QueryTooComplex,
                format!(
                    "The document expands to {} selections, its fragment definitions included; the limit is {}.",
                    shape.visits,
                    self.max_visits()
                ),
            ));
        }
        Ok(())
    }

    /// Introspection is exempt from the depth limit, which the standard introspection query
    /// of graphql-js (what GraphiQL, codegen and schema tools send) passes by three levels,
    /// and bounded by what makes its answers large instead: lists of the schema's parts nested
    /// in each other, and repeated `__schema` and `__type` fields. `ofType` chains are long
    /// but linear.
    fn check_introspection(&self, shape: &Shape) -> ServerResult<()> {
        if shape.introspection_fields > 0 && !self.introspection {
            return Err(refuse(
                Refusal::IntrospectionDisabled,
                "Introspection (`__schema`, `__type`) is disabled on this server.".into(),
            ));
        }
        let bounds = [
            (
                shape.introspection_fields,
                INTROSPECTION_FIELDS,
                "`__schema` and `__type` fields",
                Refusal::QueryTooComplex,
            ),
            (
                shape.introspection_lists,
                INTROSPECTION_LISTS,
                "introspection lists nested in each other",
                Refusal::QueryTooComplex,
            ),
            (
                shape.of_type_chain,
                OF_TYPE_CHAIN,
                "nested `ofType` fields",
                Refusal::QueryTooDeep,
            ),
        ];
        for (found, limit, what, code) in bounds {
            if found > limit {
                return Err(refuse(
                    code,
                    format!("The query has {found} {what}; the limit is {limit}."),
                ));
            }
        }
        Ok(())
    }

    /// How many selections validation may visit: ten per unit of complexity allowed, so a
    /// document of fragments that the operations themselves use never comes near it.
    fn max_visits(&self) -> u64 {
        (self.max_complexity.max(100) as u64).saturating_mul(10)
    }
}

/// The most `__schema` and `__type` fields an operation may have.
const INTROSPECTION_FIELDS: u64 = 3;
/// The most introspection lists nested on one path (`types { fields { args } }` is 3).
const INTROSPECTION_LISTS: u64 = 3;
/// The longest `ofType` chain (graphql-js's introspection query nests 9).
const OF_TYPE_CHAIN: u64 = 20;

/// Refuses a text that opens more brackets at once than any recursive code may meet.
fn check_nesting(query: &str) -> ServerResult<()> {
    match nesting::deepest(query, MAX_NESTING) {
        None => Ok(()),
        Some(offset) => Err(refuse(
            Refusal::QueryTooDeep,
            format!(
                "The query nests brackets more than {MAX_NESTING} levels deep (at byte {offset})."
            ),
        )),
    }
}

/// As an extension, the same checks run inside async-graphql, and the depth and complexity it
/// computes get their coded errors. Only the explaining schema has it (see `schema.rs`).
#[async_trait::async_trait]
impl Extension for QueryLimits {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // Parsed and measured here, before async-graphql's own parse step, which walks the
        // document per fragment spread (its recursion-depth check) as soon as it has one.
        let (document, _) = self.prepare(&request.query, &request.variables)?;
        let mut request = request;
        request.set_parsed_query(document);
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if result.complexity > self.max_complexity {
            return Err(vec![refuse(
                Refusal::QueryTooComplex,
                format!(
                    "The query's complexity is {}; the limit is {}. Ask for fewer fields or smaller pages (`first`).",
                    result.complexity, self.max_complexity
                ),
            )]);
        }
        Ok(result)
    }
}
