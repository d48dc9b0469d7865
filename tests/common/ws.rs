//! A `graphql-transport-ws` client over tokio-tungstenite, as the `graphql-ws` library speaks the
//! protocol: just enough to drive the server's WebSocket transport and read its close codes.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the server did next.
#[derive(Debug, PartialEq)]
pub enum Event {
    Message(Value),
    Closed(u16, String),
}

impl WsClient {
    /// Opens `ws://.../graphql` of the server at `http_addr`, asking for the subprotocol, with
    /// an `Authorization` header on the upgrade request if given.
    pub async fn connect(http_addr: &str, authorization: Option<&str>) -> WsClient {
        let url = format!("{}/graphql", http_addr.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().expect("a WebSocket request");
        let headers = request.headers_mut();
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        if let Some(value) = authorization {
            headers.insert(
                "authorization",
                HeaderValue::from_str(value).expect("header"),
            );
        }
        let (socket, _) = connect_async(request).await.expect("the upgrade succeeds");
        WsClient { socket }
    }

    pub async fn send(&mut self, message: Value) {
        let text = message.to_string();
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("sent");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("sent");
    }

    /// The next protocol message or the close, within `within` (None: nothing came). Answers
    /// the server's pings on the way, as clients do.
    pub async fn next(&mut self, within: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON");
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return Some(Event::Message(value));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Some(Event::Closed(code, reason));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Event::Closed(1006, String::new())),
            }
        }
    }

    /// Waits for the close, skipping messages; its code and reason.
    pub async fn closed(&mut self, within: Duration) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                Event::Closed(code, reason) => return Some((code, reason)),
                Event::Message(_) => continue,
            }
        }
    }

    /// `connection_init` (with `Authorization` in its payload if given); the answer.
    pub async fn init(&mut self, authorization: Option<&str>) -> Option<Event> {
        let payload = match authorization {
            Some(value) => json!({ "Authorization": value }),
            None => json!({}),
        };
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        self.next(Duration::from_secs(30)).await
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let payload = json!({ "query": query, "variables": variables });
        self.send(json!({ "id": id, "type": "subscribe", "payload": payload }))
            .await;
    }
}

/// The `connection_ack` every accepted `connection_init` gets.
pub fn is_ack(event: &Option<Event>) -> bool {
    matches!(event, Some(Event::Message(m)) if m["type"] == "connection_ack")
}
