//! The one request pipeline: a transport-neutral GraphQL request and its [`RequestContext`] in,
//! a response out. Every transport calls it, so every limit, the auth context and the shape
//! of errors apply whatever the wire: admission (the concurrency and time limits,
//! `admission.rs`), the rate limits (an operation's cost spent from its caller's budgets:
//! `execute/charge.rs`), the checks before validation (`limits.rs`), the document cache,
//! choosing the executing or the fast-validating schema, replaying a refusal on the explaining
//! schema, and giving every request error a code.
//!
//! Its steps live beside it: finding and checking the document (`execute/prepare.rs`), the
//! cost and its spend (`execute/charge.rs`), and the transports that keep a connection open
//! (`execute/stream.rs`).
//!
//! What stays with a transport: reading its wire format into a [`Request`] and a
//! [`RequestContext`], and writing the [`Outcome`] back (for HTTP: the status code, and a
//! request error without `data`).

use std::sync::Arc;

use async_graphql::{
    Request, Response, ServerError, ServerResult,
    parser::types::{ExecutableDocument, OperationType},
};
use tracing::{Instrument, Span};

use super::{
    admission::Admission,
    doc_cache::{Cached, validation_key},
    limits::QueryLimits,
    loaders::RequestLoader,
    persisted::Documents,
    ratelimit::{Budgets, Spent},
    schema::Schemas,
};
use crate::{
    auth::guard::{Auth, Principal},
    error::{AppError, Refusal, RequestError},
    observe::{self, Operation, labels},
    request::{ClientAddr, DpopEvidence, RequestContext, UserAgent},
};

mod charge;
mod prepare;
mod stream;

/// The most errors a refused request is answered with (and a last one saying how many more).
const MAX_REQUEST_ERRORS: usize = 100;

/// Everything a request needs to run, shared by every transport.
#[derive(Clone)]
pub struct Pipeline {
    pub schemas: Schemas,
    /// The checks made before the executing schema sees a document.
    pub limits: QueryLimits,
    /// For each request's batching loader.
    pub db: sea_orm::DatabaseConnection,
    /// Whether an operation or a connection may run.
    pub admission: Admission,
    /// Documents named by id, and which documents may run.
    pub documents: Documents,
    /// The rate limits every operation spends its cost from.
    pub budgets: Budgets,
}

/// The request's credentials, verified once before execution (to charge the user's budget)
/// and handed to its fields ([`Auth::verified`]).
type Verified = Result<Option<Principal>, AppError>;

/// A request whose checks before validation are done: its document, or why it was refused.
pub struct Prepared {
    request: Request,
    checked: ServerResult<(ExecutableDocument, Option<Arc<Cached>>)>,
    /// The caller, when it had to be known before parsing (`graphql::persisted`): the request's
    /// resolvers reuse it rather than check the token (and spend its DPoP proof) again.
    caller: Option<Verified>,
    /// A persisted query sent with its text, registered under this hash once it has run.
    register: Option<String>,
    /// Where the operation's name and type, and the caller's user id once known, are recorded
    /// (never a variable or the document).
    spans: Spans,
}

/// The request's GraphQL span, and the transport's span it runs in (the HTTP request's, whose
/// closing log line then names the operation and the user).
#[derive(Clone)]
struct Spans {
    graphql: Span,
    outer: Span,
}

impl Spans {
    fn record(&self, field: &str, value: &dyn tracing::Value) {
        self.graphql.record(field, value);
        self.outer.record(field, value);
    }
}

/// What running a request gave.
pub struct Outcome {
    /// False for a request refused before execution (admission, parse, limits, validation,
    /// variables): then `response` has no data and every error has a code.
    pub executed: bool,
    pub response: Response,
    /// Set when admission or a rate limit refused the request (SERVER_BUSY, REQUEST_TIMEOUT,
    /// TOO_MANY_REQUESTS): a transport with statuses answers it as the refusal it is (503, 408,
    /// 429).
    pub refused: Option<RequestError>,
    /// What the operation spent from its rate limits, and what is left (HTTP's RateLimit
    /// headers); none for a subscription's events.
    pub rate_limit: Option<Spent>,
}

impl Outcome {
    fn refused(error: RequestError) -> Self {
        Self {
            executed: false,
            response: Response::from_errors(vec![error.to_server_error()]),
            refused: Some(error),
            rate_limit: None,
        }
    }

    fn spent(self, spent: Spent) -> Self {
        Self {
            rate_limit: Some(spent),
            ..self
        }
    }
}

impl Prepared {
    /// Whether an operation that could run is a mutation or a subscription (false for a
    /// document refused by the checks, which is answered with the refusal).
    pub fn writes(&self) -> bool {
        self.could_run(|ty| ty != OperationType::Query)
    }

    /// Whether an operation that could run is a subscription.
    pub fn subscribes(&self) -> bool {
        self.could_run(|ty| ty == OperationType::Subscription)
    }

    /// Counts the operation about to run, by type and bounded name (nothing for a document
    /// refused by the checks, or one whose operation is not chosen: its error is counted).
    fn observe(&self) {
        let Ok((document, _)) = &self.checked else {
            return;
        };
        let name = self.request.operation_name.as_deref();
        let mut chosen = document
            .operations
            .iter()
            .filter(|(op_name, _)| name.is_none() || op_name.map(|n| n.as_str()) == name);
        let (Some((op_name, op)), None) = (chosen.next(), chosen.next()) else {
            return;
        };
        let kind = match op.node.ty {
            OperationType::Query => Operation::Query,
            OperationType::Mutation => Operation::Mutation,
            OperationType::Subscription => Operation::Subscription,
        };
        observe::operation(kind, labels::operation_name(op_name.map(|n| n.as_str())));
    }

    fn could_run(&self, is: impl Fn(OperationType) -> bool) -> bool {
        let Ok((document, _)) = &self.checked else {
            return false;
        };
        let name = self.request.operation_name.as_deref();
        document
            .operations
            .iter()
            .filter(|(op_name, _)| name.is_none() || op_name.map(|n| n.as_str()) == name)
            .any(|(_, op)| is(op.node.ty))
    }
}

impl Pipeline {
    pub async fn run(&self, request: Request, context: &RequestContext) -> Outcome {
        self.run_prepared(self.prepare(request, context).await, context)
            .await
    }

    /// Runs a query or a mutation once its cost is spent from its rate limits (else
    /// TOO_MANY_REQUESTS, and nothing runs), under admission (the concurrency and time limits).
    pub async fn run_prepared(&self, prepared: Prepared, context: &RequestContext) -> Outcome {
        let span = prepared.spans.graphql.clone();
        prepared.observe();
        let spans = [span.clone(), prepared.spans.outer.clone()];
        let known = prepared.caller.clone();
        let charged = self.charge(context, spans, self.cost(&prepared), known);
        let (verified, spent) = charged.instrument(span.clone()).await;
        let outcome = match spent.retry_after() {
            Some(seconds) => Outcome::refused(RequestError::rate_limited(seconds)),
            None => {
                let run = self.run_checked(prepared, context, &verified);
                let admitted = self.admission.run(run).instrument(span).await;
                admitted.unwrap_or_else(Outcome::refused)
            }
        };
        observe_errors(&outcome.response);
        outcome.spent(spent)
    }

    async fn run_checked(
        &self,
        prepared: Prepared,
        context: &RequestContext,
        verified: &Verified,
    ) -> Outcome {
        let registration = (prepared.register).map(|hash| (hash, prepared.request.query.clone()));
        let response = match prepared.checked {
            Ok((document, cached)) => {
                let (request, spans) = (prepared.request, &prepared.spans);
                self.execute(request, document, cached, context, spans, verified)
                    .await
            }
            Err(error) => Response::from_errors(vec![error]),
        };
        let executed = executed(&response);
        if let (true, Some((hash, query))) = (executed, registration) {
            self.documents.register(hash, &query).await;
        }
        let response = match executed {
            true => response,
            false => request_errors(response),
        };
        Outcome {
            executed,
            response,
            refused: None,
            rate_limit: None,
        }
    }

    /// Runs a checked document on the executing schema (its fast-validating twin when the same
    /// request passed full validation before); a refusal there is answered by the explaining
    /// schema, with the refusal's code (`schema.rs`).
    async fn execute(
        &self,
        request: Request,
        document: ExecutableDocument,
        cached: Option<Arc<Cached>>,
        context: &RequestContext,
        spans: &Spans,
        verified: &Verified,
    ) -> Response {
        let retry = replay(&request);
        let key = validation_key(request.operation_name.as_deref(), &request.variables);
        let validated = matches!((&cached, &key), (Some(c), Some(k)) if c.was_validated(k));
        let new_document = cached.is_none().then(|| document.clone());
        let mut request = request;
        request.set_parsed_query(document);
        let traced = match &self.schemas.traced {
            Some(traced) if crate::telemetry::sampled(&spans.graphql) => Some(traced),
            _ => None,
        };
        let schema = match (validated, traced) {
            (true, Some((_, revalidator))) => revalidator,
            (false, Some((executor, _))) => executor,
            (true, None) => &self.schemas.revalidator,
            (false, None) => &self.schemas.executor,
        };
        let response = schema
            .execute(self.attach(request, context, verified))
            .await;
        if !executed(&response) {
            return (self.schemas.explainer)
                .execute(self.attach(retry, context, verified))
                .await;
        }
        // It executed, so it passed validation with this operation and these variables.
        match (new_document, cached, key) {
            (Some(document), _, key) => self.limits.remember(&retry.query, document, key),
            (None, Some(cached), Some(key)) if !validated => cached.validated(key),
            _ => {}
        }
        response
    }

    /// The request's own context: its auth (verified before execution), loaders and address.
    fn attach(&self, request: Request, context: &RequestContext, verified: &Verified) -> Request {
        let request = request
            .data(Auth::verified(verified.clone()))
            .data(RequestLoader::new(self.db.clone()));
        let request = match &context.dpop {
            Some(DpopEvidence::Proof(proof)) => request.data(proof.clone()),
            _ => request,
        };
        let request = match &context.user_agent {
            Some(agent) => request.data(UserAgent(agent.clone())),
            None => request,
        };
        match context.client {
            Some(ip) => request.data(ClientAddr(ip)),
            None => request,
        }
    }
}

/// The name (if it has one) and type of the operation a checked request runs: only a name the
/// document declares, so that the log never carries an arbitrary string from the client.
fn operation<'a>(
    request: &'a Request,
    checked: &'a ServerResult<(ExecutableDocument, Option<Arc<Cached>>)>,
) -> Option<(Option<&'a str>, OperationType)> {
    let (document, _) = checked.as_ref().ok()?;
    let wanted = request.operation_name.as_deref();
    let mut matching = document
        .operations
        .iter()
        .filter(|(name, _)| wanted.is_none() || name.map(|n| n.as_str()) == wanted);
    let (name, op) = matching.next()?;
    // Several operations and no name chosen: the request is refused, nothing to record.
    if matching.next().is_some() {
        return None;
    }
    Some((name.map(|n| n.as_str()), op.node.ty))
}

/// Whether a response comes from execution: execution produces data or errors with a path; a
/// request error (parse, validation, limits, variables) has neither.
fn executed(response: &Response) -> bool {
    response.data != async_graphql::Value::Null
        || response.errors.iter().any(|e| !e.path.is_empty())
}

/// Counts the errors of a response by code: one of `error.rs`'s (a closed set), or `OTHER`.
fn observe_errors(response: &Response) {
    for error in &response.errors {
        let code = error.extensions.as_ref().and_then(|e| e.get("code"));
        let known = match code {
            Some(async_graphql::Value::String(code)) => AppError::CODES
                .into_iter()
                .chain(Refusal::ALL.map(Refusal::code))
                .find(|known| known == code),
            _ => None,
        };
        observe::graphql_error(known.unwrap_or("OTHER"));
    }
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

/// A refused request's errors, each with a code (async-graphql leaves parse and validation
/// errors without one), at most [`MAX_REQUEST_ERRORS`] of them.
fn request_errors(mut response: Response) -> Response {
    if response.errors.len() > MAX_REQUEST_ERRORS {
        // A 16 KiB document can hold thousands of mistakes; a megabyte of errors helps nobody.
        let left_out = response.errors.len() - MAX_REQUEST_ERRORS;
        response.errors.truncate(MAX_REQUEST_ERRORS);
        let message = format!("{left_out} more errors were left out.");
        let summary = RequestError::new(Refusal::ValidationFailed, message);
        response.errors.push(summary.to_server_error());
    }
    response.errors.iter_mut().for_each(with_code);
    response
}

fn with_code(error: &mut ServerError) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", Refusal::ValidationFailed.code());
    }
}
