//! GraphQL over Server-Sent Events, the `graphql-sse` protocol's "distinct connections" mode,
//! for clients without WebSockets: `POST /graphql` with `Accept: text/event-stream` answers a
//! stream of `next` events (one per result) and a last `complete`.
//!
//! The same pipeline as every transport, the same limits on connections as WebSocket
//! (`graphql::live`), and the same credentials that lapse: an authenticated stream ends at the
//! token's `exp`, or within `REVOCATION_CHECK_INTERVAL` of its revocation, with a last `next`
//! carrying the error's code (TOKEN_EXPIRED, TOKEN_REVOKED), then `complete`.

use std::convert::Infallible;

use async_graphql::Request;
use axum::response::{
    IntoResponse, Response,
    sse::{Event, KeepAlive, Sse},
};
use futures_util::{StreamExt, stream};
use serde_json::json;

use super::{media::MediaType, problem, ws::WsConfig};
use crate::{
    auth::guard::Auth,
    error::{Refusal, RequestError},
    graphql::{
        execute::{Outcome, Pipeline},
        live::{Lapse, lapse},
    },
    request::RequestContext,
};

/// What a stream meets: a result, its operation's end, or its credentials' end.
enum Step {
    Outcome(Box<Outcome>),
    Finished,
    Lapsed(Lapse),
}

/// Runs `request` as an event stream.
pub async fn respond(
    pipeline: &Pipeline,
    live: &WsConfig,
    request: Request,
    context: RequestContext,
) -> Response {
    let mut slot = match live.connections.admit_address(context.client) {
        Ok(slot) => slot,
        Err(too_many) => {
            let error = RequestError::new(Refusal::TooManyRequests, too_many.message());
            return problem(MediaType::Json, &error);
        }
    };
    let auth = Auth::new(context.authorization.clone());
    let principal = auth.principal(&live.tokens).await.ok().flatten().cloned();
    if let Some(principal) = &principal
        && let Err(too_many) = live.connections.admit_user(&mut slot, principal.user_id)
    {
        let error = RequestError::new(Refusal::TooManyRequests, too_many.message());
        return problem(MediaType::Json, &error);
    }
    let outcomes = pipeline
        .stream(pipeline.prepare(request), &context)
        .map(|outcome| Step::Outcome(Box::new(outcome)))
        .chain(stream::once(async { Step::Finished }));
    let (tokens, every) = (live.tokens.clone(), live.revocation_check);
    let lapsed = stream::once(async move {
        match principal {
            Some(principal) => Step::Lapsed(lapse(&principal, &tokens, every).await),
            None => std::future::pending().await,
        }
    });
    let merged = Box::pin(stream::select(outcomes, lapsed));
    // Up to the operation's end, or up to and with the credentials' end.
    let events = stream::unfold((merged, false), |(mut merged, over)| async move {
        if over {
            return None;
        }
        match merged.next().await? {
            Step::Finished => None,
            step => {
                let over = matches!(step, Step::Lapsed(_));
                Some((next_event(step), (merged, over)))
            }
        }
    })
    .chain(stream::once(async {
        Event::default().event("complete").data("")
    }))
    // The connection's place is given back when the stream is dropped.
    .map(move |event| {
        let _held = &slot;
        Ok::<_, Infallible>(event)
    });
    let keepalive = KeepAlive::new().interval(live.keepalive);
    Sse::new(events).keep_alive(keepalive).into_response()
}

fn next_event(step: Step) -> Event {
    let data = match step {
        Step::Outcome(outcome) => {
            let text = serde_json::to_string(&outcome.response);
            return Event::default()
                .event("next")
                .data(text.unwrap_or_else(|_| "null".into()));
        }
        Step::Finished => serde_json::Value::Null,
        Step::Lapsed(lapse) => {
            let message = match lapse {
                Lapse::TokenExpired => "The token has expired: refresh it and subscribe again.",
                Lapse::TokenRevoked => "The token has been revoked: log in again.",
                Lapse::Unavailable => "A service the server depends on is unavailable.",
            };
            json!({ "errors": [{ "message": message, "extensions": { "code": lapse.code() } }] })
        }
    };
    Event::default().event("next").data(data.to_string())
}
