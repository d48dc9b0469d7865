//! The pipeline's first step: the document a request names (`graphql::persisted`), whether it
//! may run, and the checks made before validation (`limits.rs`), once per request.

use async_graphql::{Request, ServerError};
use tracing::{Span, field::Empty};

use super::{Pipeline, Prepared, Spans, Verified, operation};
use crate::{graphql::persisted, request::RequestContext};

impl Pipeline {
    /// Finds the document a request names and parses and checks it (once;
    /// [`Self::run_prepared`] uses the result).
    pub async fn prepare(&self, mut request: Request, context: &RequestContext) -> Prepared {
        let graphql = crate::telemetry::request_span!(
            "graphql",
            operation = Empty,
            operation_type = Empty,
            user_id = Empty
        );
        let spans = [graphql.clone(), Span::current()];
        let (caller, register) = match self.resolve(&mut request, context, spans).await {
            Ok(resolved) => resolved,
            Err(error) => {
                let spans = Spans {
                    graphql,
                    outer: Span::current(),
                };
                return Prepared {
                    request,
                    checked: Err(error),
                    caller: None,
                    register: None,
                    spans,
                };
            }
        };
        let check = || self.limits.prepare(&request.query, &request.variables);
        // A span of its own only for traces: the log has nothing to say of parsing.
        let checked = match crate::telemetry::traces_enabled() {
            true => tracing::info_span!(parent: &graphql, "graphql.parse").in_scope(check),
            false => check(),
        };
        let spans = Spans {
            graphql,
            outer: Span::current(),
        };
        if let Some((name, ty)) = operation(&request, &checked) {
            if let Some(name) = name {
                spans.record("operation", &name);
            }
            spans.record("operation_type", &tracing::field::display(ty));
        }
        Prepared {
            request,
            checked,
            caller,
            register,
            spans,
        }
    }

    /// The document a request names, and whether it may run (`graphql::persisted`); the caller,
    /// when that depends on who it is.
    async fn resolve(
        &self,
        request: &mut Request,
        context: &RequestContext,
        spans: [Span; 2],
    ) -> Result<(Option<Verified>, Option<String>), ServerError> {
        let resolved = (self.documents.resolve(request, context).await)
            .map_err(|error| error.to_server_error())?;
        if !resolved.needs_caller {
            return Ok((None, resolved.register));
        }
        let caller = self.verify(context, spans).await;
        match &caller {
            Ok(Some(_)) => Ok((Some(caller), resolved.register)),
            Ok(None) => Err(persisted::not_trusted().to_server_error()),
            // A bad token is answered as such (TOKEN_EXPIRED, ...), as any field would.
            Err(error) => Err(error.to_graphql().into_server_error(Default::default())),
        }
    }
}
