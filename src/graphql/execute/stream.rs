//! Requests on transports that keep a connection open (WebSocket, SSE): a subscription's
//! outcomes, one per event, and anything else as a single outcome.

use async_graphql::{Request, parser::types::ExecutableDocument};
use futures_util::{StreamExt, stream::BoxStream};
use tracing::Instrument;

use super::{
    Outcome, Pipeline, Prepared, Spans, Verified, executed, observe_errors, replay, request_errors,
};
use crate::{error::RequestError, observe, request::RequestContext};

impl Pipeline {
    /// Runs a request of any kind as a stream of outcomes, for transports that keep a
    /// connection open: one per event for a subscription (bounded by its connection, not by
    /// the time limit), and a single one for anything else (a query or a mutation under
    /// admission, as over HTTP, or a request refused before execution).
    pub fn stream(
        &self,
        prepared: Prepared,
        context: &RequestContext,
    ) -> BoxStream<'static, Outcome> {
        let subscribes = prepared.subscribes();
        if subscribes {
            prepared.observe(); // the rest is counted by `run_prepared`
        }
        let cost = self.cost(&prepared);
        let document = match prepared.checked {
            Ok((document, _)) if subscribes => document,
            checked => {
                let prepared = Prepared {
                    request: prepared.request,
                    checked,
                    spans: prepared.spans,
                    ..prepared
                };
                let (pipeline, context) = (self.clone(), context.clone());
                let outcome = async move { pipeline.run_prepared(prepared, &context).await };
                return futures_util::stream::once(outcome).boxed();
            }
        };
        // A subscription spends its cost once, when it starts.
        let (pipeline, context) = (self.clone(), context.clone());
        let (request, spans, known) = (prepared.request, prepared.spans, prepared.caller);
        let started = async move {
            let traced = [spans.graphql.clone(), spans.outer.clone()];
            let charged = pipeline.charge(&context, traced, cost, known);
            let (verified, spent) = charged.instrument(spans.graphql.clone()).await;
            if let Some(seconds) = spent.retry_after() {
                let refused = Outcome::refused(RequestError::rate_limited(seconds));
                observe_errors(&refused.response);
                return futures_util::stream::once(async { refused.spent(spent) }).boxed();
            }
            pipeline.subscribe(request, document, &context, &spans, &verified)
        };
        futures_util::stream::once(started).flatten().boxed()
    }

    /// Starts a subscription whose cost is spent: one outcome per event.
    fn subscribe(
        &self,
        request: Request,
        document: ExecutableDocument,
        context: &RequestContext,
        spans: &Spans,
        verified: &Verified,
    ) -> BoxStream<'static, Outcome> {
        // The subscription's set-up runs in its span (its events run later, outside it).
        let _span = spans.graphql.enter();
        let live = observe::Live::subscription();
        let mut explain = Some((
            self.schemas.explainer.clone(),
            self.attach(replay(&request), context, verified),
        ));
        let mut request = request;
        request.set_parsed_query(document);
        let responses =
            (self.schemas.executor).execute_stream(self.attach(request, context, verified));
        responses
            .then(move |response| {
                let _live = &live; // held as long as the subscription's stream
                let explain = explain.take();
                async move {
                    let executed = executed(&response);
                    let response = match (executed, explain) {
                        (true, _) => response,
                        // Refused by validation: explained with the refusal's code.
                        (false, Some((explainer, retry))) => {
                            request_errors(explainer.execute(retry).await)
                        }
                        (false, None) => request_errors(response),
                    };
                    observe_errors(&response);
                    Outcome {
                        executed,
                        response,
                        refused: None,
                        rate_limit: None,
                    }
                }
            })
            .boxed()
    }
}
