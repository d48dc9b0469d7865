//! The subscription benchmark's client (`bench/subscribers.sh` starts the server and runs it):
//! many authenticated `graphql-transport-ws` subscribers of `recipePublished` on one server,
//! then three measurements.
//!
//! 1. Memory per idle subscribed connection: the server's resident memory (`VmRSS` of
//!    `--pid`) once every connection is acknowledged and subscribed, less the same before the
//!    first one opened, divided by their number.
//! 2. Delivery: one `publishRecipe`, and the time from sending it to each subscriber's `next`
//!    message (p50, p99, max over every subscriber and every publish). The first publish
//!    proves every subscription live and is not counted.
//! 3. Logout: `logout` with the access token that one user's connections share, and the time
//!    from sending it to each of those sockets' close (4403 TOKEN_REVOKED); no other user's
//!    connection may close.
//!
//! Usage: `subscribers --url http://127.0.0.1:PORT --pid PID [--users 10 --per-user 1000
//! --publishes 5]`; it prints a markdown table, and exits non-zero when a subscriber missed an
//! event or a socket did not close.

use std::{
    error::Error,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

type BoxError = Box<dyn Error + Send + Sync>;

#[derive(Parser)]
struct Args {
    /// The server's base URL.
    #[arg(long)]
    url: String,
    /// The server's process id, whose memory is read.
    #[arg(long)]
    pid: u32,
    /// Users, each with its own login session and access token.
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// Subscribed connections per user.
    #[arg(long, default_value_t = 1000)]
    per_user: usize,
    /// Publishes measured (after one that is not).
    #[arg(long, default_value_t = 5)]
    publishes: usize,
    /// Connections opening at the same time.
    #[arg(long, default_value_t = 128)]
    opening: usize,
}

const PASSWORD: &str = "bench-password-1";
const SUBSCRIPTION: &str = "subscription { recipePublished { id name author { username } } }";
const WAIT: Duration = Duration::from_secs(60);

/// What one connection saw, and when.
enum Seen {
    Ready,
    Next,
    Closed(u16, String),
    Failed(String),
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("subscribers: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<bool, BoxError> {
    let http = Http {
        client: reqwest::Client::new(),
        url: format!("{}/graphql", args.url),
    };
    let run_id = std::process::id();
    let mut tokens = Vec::with_capacity(args.users);
    for i in 0..args.users {
        tokens.push(http.user(&format!("sub{run_id}_{i}")).await?);
    }
    let publisher = http.user(&format!("pub{run_id}")).await?;
    let total = args.users * args.per_user;

    let before = rss_kib(args.pid)?;
    let (seen, mut events) = mpsc::unbounded_channel();
    let opening = Arc::new(Semaphore::new(args.opening));
    let ws_url = format!("{}/graphql", args.url.replacen("http://", "ws://", 1));
    let started = Instant::now();
    for index in 0..total {
        let token = tokens[index / args.per_user].clone();
        let (seen, opening, url) = (seen.clone(), opening.clone(), ws_url.clone());
        tokio::spawn(async move {
            if let Err(err) = subscriber(index, &url, &token, &opening, &seen).await {
                let _ = seen.send((index, Seen::Failed(err.to_string()), Instant::now()));
            }
        });
    }
    drop(seen);
    let mut ready = 0;
    while ready < total {
        match next(&mut events).await? {
            (_, Seen::Ready, _) => ready += 1,
            (index, Seen::Failed(err), _) => {
                return Err(format!("connection {index}: {err}").into());
            }
            (index, Seen::Closed(code, reason), _) => {
                return Err(format!("connection {index} closed: {code} {reason}").into());
            }
            (_, Seen::Next, _) => {}
        }
    }
    let opened_in = started.elapsed();
    // Every subscribe has been sent; give the server a moment to have run them all.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(args.pid)?;
    let per_connection = (after.saturating_sub(before)) as f64 / total as f64;
    // What idle subscribers cost: pings, credential checks.
    let idle_from = (cpu_ticks(args.pid)?, Instant::now());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_ticks = cpu_ticks(args.pid)?.saturating_sub(idle_from.0);
    let idle_cpu = idle_ticks as f64 / TICKS_PER_SECOND / idle_from.1.elapsed().as_secs_f64();

    // The warm-up publish: every subscriber must get it.
    let mut ok = true;
    let warm = http.publish(&publisher, "warm-up").await?;
    let missed = total - deliveries(&mut events, total, warm).await?.len();
    if missed > 0 {
        println!("warm-up publish: {missed} of {total} subscribers got nothing");
        ok = false;
    }
    let mut delivery = Vec::with_capacity(total * args.publishes);
    for round in 0..args.publishes {
        let sent = http.publish(&publisher, &format!("round {round}")).await?;
        let got = deliveries(&mut events, total, sent).await?;
        if got.len() < total {
            println!(
                "publish {round}: {} of {total} subscribers got nothing",
                total - got.len()
            );
            ok = false;
        }
        delivery.extend(got);
    }

    // The logout of user 0: its connections, and only those, close.
    let logged_out = Instant::now();
    http.call(Some(&tokens[0]), "mutation { logout }", json!({}))
        .await?;
    let mut closes = Vec::with_capacity(args.per_user);
    let mut wrong = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while closes.len() < args.per_user {
        let Ok(Some((index, seen, at))) = tokio::time::timeout_at(deadline, events.recv()).await
        else {
            break;
        };
        match seen {
            Seen::Closed(code, reason) if index < args.per_user => {
                if code != 4403 || reason != "TOKEN_REVOKED" {
                    println!("connection {index} closed with {code} {reason}");
                    ok = false;
                }
                closes.push(at.duration_since(logged_out));
            }
            Seen::Closed(..) | Seen::Failed(_) => wrong += 1,
            _ => {}
        }
    }
    if closes.len() < args.per_user || wrong > 0 {
        println!(
            "logout: {} of {} sockets closed, {wrong} other connections ended",
            closes.len(),
            args.per_user
        );
        ok = false;
    }

    println!(
        "{total} subscribers ({} users x {}), opened and subscribed in {:.1} s",
        args.users,
        args.per_user,
        opened_in.as_secs_f64()
    );
    println!();
    println!("| measure | p50 | p99 | max | target |");
    println!("| --- | --- | --- | --- | --- |");
    let (p50, p99, max) = percentiles(&mut delivery);
    println!(
        "| delivery of one publish to {total} subscribers ({} publishes) | {p50} | {p99} | {max} | p99 < 500 ms |",
        args.publishes
    );
    let (p50, p99, max) = percentiles(&mut closes);
    println!(
        "| logout to the close of the user's {} sockets | {p50} | {p99} | {max} | p99 < 1 s |",
        args.per_user
    );
    println!(
        "| server memory per idle subscribed connection | {per_connection:.1} KiB | | | < 32 KiB |"
    );
    println!(
        "| server CPU while they idle | {:.1}% of a core | | | |",
        idle_cpu * 100.0
    );
    println!();
    println!(
        "server RSS: {:.1} MiB before, {:.1} MiB with {total} subscribers",
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    Ok(ok)
}

/// One subscriber: connects, initialises with `token`, subscribes, reports `Ready`, then every
/// `next` and the close; answers pings as `graphql-ws` does.
async fn subscriber(
    index: usize,
    url: &str,
    token: &str,
    opening: &Semaphore,
    seen: &mpsc::UnboundedSender<(usize, Seen, Instant)>,
) -> Result<(), BoxError> {
    let permit = opening.acquire().await?;
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("connection_ack") => {}
        other => return Err(format!("no connection_ack: {other:?}").into()),
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await?;
    drop(permit);
    let _ = seen.send((index, Seen::Ready, Instant::now()));
    while let Some(frame) = socket.next().await {
        match frame? {
            Message::Text(text) => {
                // The time first; the message is read after (the server writes `id`, then
                // `type`).
                let at = Instant::now();
                if text.starts_with(r#"{"id":"1","type":"next""#) {
                    let _ = seen.send((index, Seen::Next, at));
                    continue;
                }
                let message: Value = serde_json::from_str(&text)?;
                match message["type"].as_str() {
                    Some("ping") => {
                        let pong = json!({ "type": "pong" }).to_string();
                        socket.send(Message::Text(pong.into())).await?;
                    }
                    _ => return Err(format!("unexpected message: {text}").into()),
                }
            }
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                let _ = seen.send((index, Seen::Closed(code, reason), Instant::now()));
                return Ok(());
            }
            _ => {}
        }
    }
    let _ = seen.send((index, Seen::Closed(1006, String::new()), Instant::now()));
    Ok(())
}

async fn next(
    events: &mut mpsc::UnboundedReceiver<(usize, Seen, Instant)>,
) -> Result<(usize, Seen, Instant), BoxError> {
    match tokio::time::timeout(WAIT, events.recv()).await {
        Ok(Some(event)) => Ok(event),
        Ok(None) => Err("every connection ended".into()),
        Err(_) => Err("nothing happened for a minute".into()),
    }
}

/// The delay from `sent` to each `next`, until `total` arrived or 10 s passed.
async fn deliveries(
    events: &mut mpsc::UnboundedReceiver<(usize, Seen, Instant)>,
    total: usize,
    sent: Instant,
) -> Result<Vec<Duration>, BoxError> {
    let mut got = Vec::with_capacity(total);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.len() < total {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some((_, Seen::Next, at))) => got.push(at.duration_since(sent)),
            Ok(Some((index, Seen::Closed(code, reason), _))) => {
                return Err(format!("connection {index} closed: {code} {reason}").into());
            }
            Ok(Some((index, Seen::Failed(err), _))) => {
                return Err(format!("connection {index}: {err}").into());
            }
            Ok(Some((_, Seen::Ready, _))) => {}
            Ok(None) | Err(_) => break,
        }
    }
    Ok(got)
}

fn percentiles(samples: &mut [Duration]) -> (String, String, String) {
    if samples.is_empty() {
        return ("-".into(), "-".into(), "-".into());
    }
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        format!("{:.0} ms", samples[i].as_secs_f64() * 1000.0)
    };
    (at(0.50), at(0.99), at(1.0))
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/PID/status".into())
}

/// `USER_HZ`, the unit of `/proc/PID/stat`'s times (100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// The user and system time process `pid` has used, in ticks.
fn cpu_ticks(pid: u32) -> Result<u64, BoxError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let time = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    match (time(14), time(15)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => Err("no times in /proc/PID/stat".into()),
    }
}

struct Http {
    client: reqwest::Client,
    url: String,
}

impl Http {
    async fn call(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Result<Value, BoxError> {
        let mut request = self
            .client
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request.send().await?.json().await?;
        if body.get("errors").is_some() {
            return Err(format!("{query}: {body}").into());
        }
        Ok(body["data"].clone())
    }

    /// Registers `username` and logs in: its access token.
    async fn user(&self, username: &str) -> Result<String, BoxError> {
        let input = json!({ "username": username, "email": format!("{username}@example.com"), "password": PASSWORD });
        self.call(
            None,
            "mutation($input: RegisterInput!) { register(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await?;
        let login = json!({ "login": username, "password": PASSWORD });
        let data = self
            .call(
                None,
                "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
                json!({ "input": login }),
            )
            .await?;
        data["login"]["accessToken"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no access token".into())
    }

    /// Creates a draft named `name`, then publishes it: the instant the publish was sent.
    async fn publish(&self, token: &str, name: &str) -> Result<Instant, BoxError> {
        let input = json!({ "name": name, "numOfServings": 2, "cookTime": 10 });
        let data = self
            .call(
                Some(token),
                "mutation($input: CreateRecipeInput!) { createRecipe(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await?;
        let id = data["createRecipe"]["id"].clone();
        let sent = Instant::now();
        self.call(
            Some(token),
            "mutation($id: ID!) { publishRecipe(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await?;
        Ok(sent)
    }
}
