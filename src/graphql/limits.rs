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
//! refused before execution is then put to a second schema that has [`QueryLimits`] as its
//! extension, whose answer (coded, with the numbers) is the one sent.

use std::{collections::HashSet, sync::Arc};

use super::doc_cache::{Cached, DocumentCache};

use async_graphql::{
    Request, ServerError, ServerResult, ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
        NextValidation,
    },
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

/// The limits, and the cache of parsed documents the checks share.
#[derive(Clone)]
pub struct QueryLimits {
    pub max_query_bytes: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Parsed documents by their text.
    pub cache: DocumentCache,
}

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

fn refuse(code: &str, message: String) -> ServerError {
    request_error(code, message, None)
}

/// A request error (before execution) carrying `extensions.code`.
pub(crate) fn request_error(
    code: &str,
    message: String,
    pos: Option<async_graphql::Pos>,
) -> ServerError {
    let mut error = ServerError::new(message, pos);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
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
            None => (async_graphql::parser::parse_query(query)?, None),
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
                "QUERY_TOO_LARGE",
                format!(
                    "The query is {} bytes long; the limit is {} bytes.",
                    query.len(),
                    self.max_query_bytes
                ),
            ));
        }
        Ok(())
    }

    fn check_document(
        &self,
        document: &ExecutableDocument,
        variables: &Variables,
    ) -> ServerResult<()> {
        super::variables::check_required(document, variables)?;
        let aliases = count_aliases(document, self.max_aliases);
        if aliases > self.max_aliases {
            return Err(refuse(
                "TOO_MANY_ALIASES",
                format!(
                    "The query uses more than {} aliases (the limit).",
                    self.max_aliases
                ),
            ));
        }
        let roots = max_root_fields(document);
        if roots > self.max_root_fields {
            return Err(refuse(
                "TOO_MANY_ROOT_FIELDS",
                format!(
                    "An operation selects {roots} root fields; the limit is {}.",
                    self.max_root_fields
                ),
            ));
        }
        Ok(())
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
        self.check_size(&request.query)?;
        next.run(ctx, request).await
    }

    /// Parses afresh: this schema only sees refused requests, and the cache is for documents
    /// that run ([`Self::prepare`]).
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        self.check_document(&document, variables)?;
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if result.depth > self.max_depth {
            return Err(vec![refuse(
                "QUERY_TOO_DEEP",
                format!(
                    "The query is nested {} levels deep; the limit is {}.",
                    result.depth, self.max_depth
                ),
            )]);
        }
        if result.complexity > self.max_complexity {
            return Err(vec![refuse(
                "QUERY_TOO_COMPLEX",
                format!(
                    "The query's complexity is {}; the limit is {}. Ask for fewer fields or smaller pages (`first`).",
                    result.complexity, self.max_complexity
                ),
            )]);
        }
        Ok(result)
    }
}

/// Aliases as executed: a fragment counts each time it is spread. Stops early past `limit`;
/// fragment cycles (reported later by validation) are not followed twice on one path.
fn count_aliases(document: &ExecutableDocument, limit: usize) -> usize {
    let mut count = 0;
    for (_, operation) in document.operations.iter() {
        let mut path = HashSet::new();
        walk(
            document,
            &operation.node.selection_set.node,
            &mut path,
            &mut count,
            limit,
        );
    }
    count
}

fn walk<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    path: &mut HashSet<&'a str>,
    count: &mut usize,
    limit: usize,
) {
    for item in &set.items {
        if *count > limit {
            return;
        }
        match &item.node {
            Selection::Field(field) => {
                *count += usize::from(field.node.alias.is_some());
                walk(document, &field.node.selection_set.node, path, count, limit);
            }
            Selection::InlineFragment(inline) => {
                walk(
                    document,
                    &inline.node.selection_set.node,
                    path,
                    count,
                    limit,
                );
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                let Some(fragment) = document.fragments.get(name) else {
                    continue;
                };
                if path.insert(name) {
                    walk(
                        document,
                        &fragment.node.selection_set.node,
                        path,
                        count,
                        limit,
                    );
                    path.remove(name);
                }
            }
        }
    }
}

/// The most root fields any operation of the document selects (fragments at the root expanded
/// one level, which is all a root selection can usefully nest).
fn max_root_fields(document: &ExecutableDocument) -> usize {
    document
        .operations
        .iter()
        .map(|(_, op)| root_fields(document, &op.node.selection_set.node, 0))
        .max()
        .unwrap_or(0)
}

fn root_fields(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> usize {
    if depth > 3 {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(inline) => {
                root_fields(document, &inline.node.selection_set.node, depth + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(spread.node.fragment_name.node.as_str())
                .map_or(0, |f| {
                    root_fields(document, &f.node.selection_set.node, depth + 1)
                }),
        })
        .sum()
}
