//! GraphQL over Server-Sent Events, the `graphql-sse` protocol's "distinct connections" mode,
//! for clients without WebSockets: `POST /graphql` with `Accept: text/event-stream` answers a
//! stream of `next` events (one per result) and a last `complete`.
//!
//! Only the wire lives here. The pipeline's admission decides, as for a WebSocket: a place
//! for the address (429 TOO_MANY_CONNECTIONS beyond it), the credentials of the
//! `Authorization` header (a bad token ends the stream at once with a `next` carrying its code,
//! as a WebSocket's 4403 carries it; never an anonymous stream), a place for the user, and the
//! credentials' end: the stream ends at the token's `exp` or at its revocation with a last
//! `next` carrying the code (TOKEN_EXPIRED, TOKEN_REVOKED), then `complete`. When the server
//! stops, the stream ends without `complete`: for a client that is a dropped connection, which
//! it retries (to another instance).

use std::convert::Infallible;

use async_graphql::Request;
use axum::response::{
    IntoResponse, Response,
    sse::{Event, KeepAlive, Sse},
};
use futures_util::{StreamExt, stream};
use serde_json::json;

use super::{
    endpoint::{GraphQlState, proven},
    media::MediaType,
    problem,
};
use crate::{
    error::{AppError, Refusal, RequestError},
    graphql::execute::Outcome,
    observe::Transport,
    request::RequestContext,
};

/// What a stream meets: a result, its operation's end, its credentials' end, or the server's.
enum Step {
    Outcome(Box<Outcome>),
    Finished,
    Ended(AppError),
    GoingAway,
}

/// Runs `request` as an event stream.
pub async fn respond(
    gql: &GraphQlState,
    request: Request,
    mut context: RequestContext,
) -> Response {
    let admission = &gql.pipeline.admission;
    let mut slot = match admission.connect(context.client, Transport::Sse) {
        Ok(slot) => slot,
        Err(error) => {
            let error = RequestError::new(Refusal::TooManyConnections, error.message());
            return problem(MediaType::Json, &error);
        }
    };
    let authorization = context.authorization.clone();
    let dpop = context.dpop.clone();
    let principal = match admission.authenticate(&mut slot, authorization, dpop).await {
        Ok(principal) => principal,
        Err(AppError::TooManyConnections(message)) => {
            let error = RequestError::new(Refusal::TooManyConnections, message);
            return problem(MediaType::Json, &error);
        }
        Err(error) => return events(stream::iter([Step::Ended(error)]), slot, gql),
    };
    // The proof is spent: the stream's operation runs with the key it proved.
    context.dpop = proven(principal.as_ref());
    let outcomes = (gql.pipeline)
        .stream(gql.pipeline.prepare(request, &context).await, &context)
        .map(|outcome| Step::Outcome(Box::new(outcome)))
        .chain(stream::once(async { Step::Finished }));
    let admission = admission.clone();
    let lapsed = stream::once(async move {
        tokio::select! {
            error = admission.lapse(principal.as_ref()) => Step::Ended(error),
            () = admission.going_away() => Step::GoingAway,
        }
    });
    events(stream::select(outcomes, lapsed), slot, gql)
}

/// The response: each step as an event, up to the operation's end or up to and with the
/// credentials' end, then `complete`. The connection's place is given back when the stream is
/// dropped.
fn events(
    steps: impl futures_util::Stream<Item = Step> + Send + 'static,
    slot: crate::graphql::admission::Slot,
    gql: &GraphQlState,
) -> Response {
    let steps = Box::pin(steps);
    let events = stream::unfold((steps, Next::Step), |(mut steps, next)| async move {
        let event = match next {
            Next::Done => return None,
            Next::Complete => Event::default().event("complete").data(""),
            Next::Step => match steps.next().await.unwrap_or(Step::Finished) {
                Step::GoingAway => return None,
                Step::Finished => Event::default().event("complete").data(""),
                Step::Ended(error) => {
                    let event = next_event(Step::Ended(error));
                    return Some((event, (steps, Next::Complete)));
                }
                step => return Some((next_event(step), (steps, Next::Step))),
            },
        };
        Some((event, (steps, Next::Done)))
    })
    .map(move |event| {
        let _held = &slot;
        Ok::<_, Infallible>(event)
    });
    let keepalive = KeepAlive::new().interval(gql.sse_keepalive);
    Sse::new(events).keep_alive(keepalive).into_response()
}

/// What the stream sends after the event it has just sent.
enum Next {
    Step,
    Complete,
    Done,
}

fn next_event(step: Step) -> Event {
    let data = match step {
        Step::Outcome(outcome) => serde_json::to_string(&outcome.response),
        Step::Finished | Step::GoingAway => Ok("null".to_owned()),
        Step::Ended(error) => {
            let error = error.to_graphql();
            let body = json!({ "errors": [{ "message": error.message,
                                            "extensions": error.extensions }] });
            serde_json::to_string(&body)
        }
    };
    Event::default()
        .event("next")
        .data(data.unwrap_or_else(|_| "null".into()))
}
