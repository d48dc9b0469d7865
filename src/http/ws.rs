//! GraphQL over WebSocket, the `graphql-transport-ws` protocol (the `graphql-ws` library's), on
//! `GET /graphql` with an upgrade. Only the wire lives here: whether the connection and each
//! operation may run is decided by the pipeline's admission (`graphql::admission`), and every
//! operation runs through the request pipeline (`graphql::execute`), so an operation over a
//! socket meets every limit a POST meets: the checks, the concurrency cap and the time limit
//! (a refused operation gets an `error` for its id; the socket stays open).
//!
//! The protocol's close codes, exactly: 1001 when the server stops (`lifecycle`), 4400 a malformed message, 4401 a `subscribe` before
//! `connection_ack`, 4403 a refused `connection_init` (the reason is our error code, such as
//! TOKEN_EXPIRED), 4408 no `connection_init` within `WS_INIT_TIMEOUT`, 4409 a duplicate
//! subscription id, 4429 a second `connection_init`; and WebSocket's own 1009 for a message
//! over the size limit. The reasons of 4403 and 1013 are our error codes (`crate::error`); the
//! others are the protocol's words.
//!
//! A browser page of another origin may not open a socket (`Origin` must be this server's or
//! one of `CORS_ALLOWED_ORIGINS`): the browser would lend it its visitor's address.
//!
//! The credentials hold for the life of the connection, not once: they come in
//! `connection_init`'s payload (`{"Authorization": "Bearer ..."}`) or the upgrade request's
//! header, and the connection ends with 4403 and TOKEN_EXPIRED at the token's `exp`, and with
//! TOKEN_REVOKED at a logout, a logout of all sessions, a password change or a refresh-token
//! reuse. A client answers 4403 by refreshing its token and reconnecting.
//!
//! Bounded: subscriptions per connection, connections per user and per address, buffers of a
//! few KiB, one outgoing message at a time (a client that reads too slowly falls behind the
//! event bus and its subscription ends with SLOW_CONSUMER), pings every `WS_KEEPALIVE`.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use async_graphql::Request;
use axum::{
    Extension,
    extract::{
        ConnectInfo, State,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
    },
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use futures_util::{
    SinkExt, StreamExt,
    stream::{AbortHandle, Abortable, SelectAll, SplitSink},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use super::{
    endpoint::{GraphQlState, WsConfig, dpop_url, proven, request_context},
    media::MediaType,
    problem,
};
use crate::{
    auth::guard::Principal,
    error::{AppError, Refusal, RequestError},
    graphql::{
        admission::Slot,
        execute::{Outcome, Pipeline},
    },
    observe::Transport,
    request::{DpopEvidence, DpopProof, RequestContext},
};

pub const PROTOCOL: &str = "graphql-transport-ws";

/// Buffers of a few KiB instead of tungstenite's 128 KiB each: an idle subscriber costs
/// little, and one message at a time is written anyway.
const BUFFER_BYTES: usize = 4 * 1024;

/// The upgrade: refused for a page of another origin (403), and when the address holds as many
/// connections as it may (429 TOO_MANY_CONNECTIONS).
pub async fn upgrade(
    State(gql): State<GraphQlState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ws = gql.ws.clone();
    let offered = upgrade
        .requested_protocols()
        .any(|p| p.as_bytes() == PROTOCOL.as_bytes());
    if !offered {
        let message = format!("Ask for the `{PROTOCOL}` WebSocket subprotocol.");
        return problem(
            MediaType::Json,
            &RequestError::new(Refusal::BadRequest, message),
        );
    }
    if !gql.origins.allow(&headers) {
        let message = "A page of another origin may not open a WebSocket to this server.";
        let error = RequestError::new(Refusal::ForbiddenOrigin, message);
        return problem(MediaType::Json, &error);
    }
    let context = request_context(&gql, peer, &headers, Some("GET"));
    let dpop_url = dpop_url(&gql);
    let slot = match gql
        .pipeline
        .admission
        .connect(context.client, Transport::WebSocket)
    {
        Ok(slot) => slot,
        Err(error) => {
            let error = RequestError::new(Refusal::TooManyConnections, error.message());
            return problem(MediaType::Json, &error);
        }
    };
    let pipeline = gql.pipeline.clone();
    upgrade
        .protocols([PROTOCOL])
        .read_buffer_size(BUFFER_BYTES)
        .write_buffer_size(BUFFER_BYTES)
        .max_write_buffer_size(ws.max_message_bytes.max(BUFFER_BYTES) * 2)
        .max_message_size(ws.max_message_bytes)
        .max_frame_size(ws.max_message_bytes)
        .on_upgrade(move |socket| async move {
            let connection = Connection {
                pipeline,
                ws,
                context,
                dpop_url,
                slot,
            };
            connection.serve(socket).await
        })
        .into_response()
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        payload: Option<Value>,
    },
    Ping {
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Pong {
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: Box<Request>,
    },
    Complete {
        id: String,
    },
}

/// Why the server closes: a protocol code and its reason.
struct Close(u16, String);

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self(code, reason.into())
    }
}

struct Connection {
    pipeline: Pipeline,
    ws: WsConfig,
    context: RequestContext,
    /// The URL a DPoP proof in `connection_init` names (with method GET, as the upgrade).
    dpop_url: String,
    slot: Slot,
}

/// One running subscription's outcomes, tagged with its id; `None` once it has completed.
type Running = futures_util::stream::BoxStream<'static, (String, Option<Outcome>)>;

impl Connection {
    async fn serve(mut self, socket: WebSocket) {
        let (sink, mut incoming) = socket.split();
        let mut sink = Outgoing {
            sink,
            within: self.ws.keepalive,
        };
        let close = match self.handshake(&mut sink, &mut incoming).await {
            Ok(principal) => self.run(&mut sink, &mut incoming, principal).await,
            Err(close) => close,
        };
        let frame = CloseFrame {
            code: close.0,
            reason: Utf8Bytes::from(close.1),
        };
        // Bounded too: a client that reads nothing gets no close frame, only the end of the
        // connection.
        let closing = async {
            let _ = sink.sink.send(Message::Close(Some(frame))).await;
            let _ = sink.sink.close().await;
        };
        let _ = tokio::time::timeout(sink.within, closing).await;
    }

    /// Waits for `connection_init`, checks its credentials, acknowledges.
    async fn handshake(
        &mut self,
        sink: &mut Outgoing,
        incoming: &mut futures_util::stream::SplitStream<WebSocket>,
    ) -> Result<Option<Principal>, Close> {
        let deadline = Instant::now() + self.ws.init_timeout;
        loop {
            let message = tokio::select! {
                () = sleep_until(deadline) => {
                    return Err(Close::new(4408, "Connection initialisation timeout"));
                }
                () = self.pipeline.admission.going_away() => return Err(going_away()),
                message = incoming.next() => message,
            };
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None => {
                    return Err(Close::new(1000, "Normal closure"));
                }
                Some(Err(error)) => return Err(read_failed(error)),
                Some(Ok(_)) => continue, // pings, pongs and binary frames of the socket itself
            };
            match parse(&text)? {
                ClientMessage::ConnectionInit { payload } => {
                    let principal = self.authenticate(payload).await?;
                    send(sink, json!({ "type": "connection_ack" })).await?;
                    return Ok(principal);
                }
                ClientMessage::Subscribe { .. } => return Err(Close::new(4401, "Unauthorized")),
                ClientMessage::Ping { .. } => send(sink, json!({ "type": "pong" })).await?,
                ClientMessage::Pong { .. } | ClientMessage::Complete { .. } => {}
            }
        }
    }

    /// The credentials of `connection_init` (or, without them, of the upgrade request), as
    /// admission judges them: none makes an anonymous connection; bad ones close it with 4403
    /// and the error's code (1013 when the denylist cannot be asked).
    async fn authenticate(&mut self, payload: Option<Value>) -> Result<Option<Principal>, Close> {
        let offered = payload.as_ref().and_then(|p| {
            let value = p.get("Authorization").or_else(|| p.get("authorization"))?;
            Some(value.as_str().unwrap_or("\u{0}").to_owned())
        });
        if offered.is_some() {
            self.context.authorization = offered;
        }
        // Browsers cannot set headers on a WebSocket: the payload carries the proof.
        let proof = payload.as_ref().and_then(|p| {
            let value = p.get("DPoP").or_else(|| p.get("dpop"))?;
            Some(value.as_str().unwrap_or_default().to_owned())
        });
        if let Some(proof) = proof {
            self.context.dpop = Some(DpopEvidence::Proof(DpopProof {
                proof,
                method: "GET".into(),
                url: self.dpop_url.clone(),
            }));
        }
        let authorization = self.context.authorization.clone();
        let dpop = self.context.dpop.clone();
        let admission = &self.pipeline.admission;
        let principal = (admission
            .authenticate(&mut self.slot, authorization, dpop)
            .await)
            .map_err(|e| ended(&e))?;
        self.context.dpop = proven(principal.as_ref());
        Ok(principal)
    }

    /// After the acknowledgement: subscriptions, pings, and the credentials' lifetime.
    async fn run(
        &self,
        sink: &mut Outgoing,
        incoming: &mut futures_util::stream::SplitStream<WebSocket>,
        principal: Option<Principal>,
    ) -> Close {
        let mut running: SelectAll<Running> = SelectAll::new();
        let mut active: HashMap<String, AbortHandle> = HashMap::new();
        let lapsed = self.pipeline.admission.lapse(principal.as_ref());
        tokio::pin!(lapsed);
        let mut pings = tokio::time::interval(self.ws.keepalive);
        pings.reset();
        let mut heard = Instant::now();
        loop {
            let step = tokio::select! {
                error = &mut lapsed => Err(ended(&error)),
                () = self.pipeline.admission.going_away() => Err(going_away()),
                _ = pings.tick() => {
                    if heard.elapsed() > self.ws.keepalive * 2 {
                        Err(Close::new(4504, "Keep-alive timeout"))
                    } else {
                        send(sink, json!({ "type": "ping" })).await
                    }
                }
                Some((id, outcome)) = running.next(), if !running.is_empty() => {
                    self.deliver(sink, &mut active, id, outcome).await
                }
                message = incoming.next() => {
                    heard = Instant::now();
                    match message {
                        Some(Ok(Message::Text(text))) => {
                            self.receive(sink, &text, &mut running, &mut active).await
                        }
                        Some(Ok(Message::Close(_))) | None => {
                            Err(Close::new(1000, "Normal closure"))
                        }
                        Some(Err(error)) => Err(read_failed(error)),
                        Some(Ok(_)) => Ok(()),
                    }
                }
            };
            if let Err(close) = step {
                active.values().for_each(AbortHandle::abort);
                return close;
            }
        }
    }

    async fn receive(
        &self,
        sink: &mut Outgoing,
        text: &str,
        running: &mut SelectAll<Running>,
        active: &mut HashMap<String, AbortHandle>,
    ) -> Result<(), Close> {
        match parse(text)? {
            ClientMessage::ConnectionInit { .. } => {
                Err(Close::new(4429, "Too many initialisation requests"))
            }
            ClientMessage::Ping { .. } => send(sink, json!({ "type": "pong" })).await,
            ClientMessage::Pong { .. } => Ok(()),
            ClientMessage::Complete { id } => {
                if let Some(handle) = active.remove(&id) {
                    handle.abort();
                }
                Ok(())
            }
            ClientMessage::Subscribe { id, payload } => {
                if active.contains_key(&id) {
                    return Err(Close::new(
                        4409,
                        format!("Subscriber for {id} already exists"),
                    ));
                }
                if active.len() >= self.ws.max_subscriptions {
                    let message = format!(
                        "This connection runs {} subscriptions already, the most it may.",
                        active.len()
                    );
                    let error = RequestError::new(Refusal::TooManyRequests, message);
                    let errors = json!([error.to_body()["errors"][0]]);
                    let refused = json!({ "id": id, "type": "error", "payload": errors });
                    return send(sink, refused).await;
                }
                let prepared = self.pipeline.prepare(*payload, &self.context).await;
                let outcomes = self.pipeline.stream(prepared, &self.context);
                let (handle, registration) = AbortHandle::new_pair();
                let tag = id.clone();
                let tagged = Abortable::new(outcomes, registration)
                    .map(move |outcome| (tag.clone(), Some(outcome)))
                    .chain(futures_util::stream::once({
                        let id = id.clone();
                        async move { (id, None) }
                    }));
                active.insert(id, handle);
                running.push(tagged.boxed());
                Ok(())
            }
        }
    }

    /// Sends one outcome of subscription `id`: `next`, or for a request refused before
    /// execution `error` (which ends it); `complete` once it has ended by itself.
    async fn deliver(
        &self,
        sink: &mut Outgoing,
        active: &mut HashMap<String, AbortHandle>,
        id: String,
        outcome: Option<Outcome>,
    ) -> Result<(), Close> {
        let Some(handle) = active.get(&id) else {
            return Ok(()); // completed by the client already: nothing more is sent for it
        };
        match outcome {
            Some(outcome) if outcome.executed => {
                // Written straight to text: this runs once per subscriber for every event.
                let next = Next {
                    id: &id,
                    kind: "next",
                    payload: &outcome.response,
                };
                match serde_json::to_string(&next) {
                    Ok(text) => send_text(sink, text).await,
                    Err(_) => Ok(()),
                }
            }
            Some(outcome) => {
                handle.abort();
                active.remove(&id);
                let errors = serde_json::to_value(&outcome.response.errors).unwrap_or(Value::Null);
                send(
                    sink,
                    json!({ "id": id, "type": "error", "payload": errors }),
                )
                .await
            }
            None => {
                active.remove(&id);
                send(sink, json!({ "id": id, "type": "complete" })).await
            }
        }
    }
}

/// The close when the server stops: 1001, which `graphql-ws` clients answer by reconnecting
/// (to another instance, once this one's `/readyz` has sent the balancer elsewhere).
fn going_away() -> Close {
    Close::new(1001, "Going away: the server is restarting")
}

/// The close for credentials refused or lapsed with `error`: 4403 and its code; 1013 (try
/// again later) when a service was unavailable, 1011 for a failure of the server's own.
fn ended(error: &AppError) -> Close {
    let code = match error {
        AppError::Unavailable(_) => 1013,
        AppError::Internal(_) => 1011,
        _ => 4403,
    };
    if let AppError::Internal(source) = error {
        tracing::error!(error = %source, "a connection's credentials could not be checked");
    }
    Close::new(code, error.code())
}

/// The close after a frame could not be read: 1009 for a message over the size limit, else the
/// connection is gone.
fn read_failed(error: axum::Error) -> Close {
    let too_big = error
        .into_inner()
        .downcast::<tungstenite::Error>()
        .is_ok_and(|e| matches!(*e, tungstenite::Error::Capacity(_)));
    match too_big {
        true => Close::new(1009, "Message too big"),
        false => Close::new(1000, "Normal closure"),
    }
}

fn parse(text: &str) -> Result<ClientMessage, Close> {
    serde_json::from_str(text).map_err(|e| {
        let mut reason = format!("Invalid message received: {e}");
        // A close frame's reason holds at most 123 bytes.
        reason.truncate(reason.floor_char_boundary(123));
        Close::new(4400, reason)
    })
}

/// A `next` message.
#[derive(Serialize)]
struct Next<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    payload: &'a async_graphql::Response,
}

/// The writing half of a connection, and how long one write may wait for the client to read:
/// a client that reads nothing while there is something to write is disconnected after
/// `WS_KEEPALIVE`, as one that answers no ping is (its subscriptions fall behind meanwhile).
struct Outgoing {
    sink: SplitSink<WebSocket, Message>,
    within: Duration,
}

async fn send(sink: &mut Outgoing, message: Value) -> Result<(), Close> {
    send_text(sink, message.to_string()).await
}

async fn send_text(sink: &mut Outgoing, text: String) -> Result<(), Close> {
    let write = sink.sink.send(Message::Text(Utf8Bytes::from(text)));
    match tokio::time::timeout(sink.within, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Close::new(1000, "Normal closure")),
        Err(_) => Err(Close::new(4504, "Write timeout: the client reads nothing")),
    }
}
