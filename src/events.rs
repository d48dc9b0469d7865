//! Recipe events: what a write changed, published by the recipe rules once the write is
//! committed, and followed by subscriptions. An event names the recipe, its author and whether
//! it is published after the change; subscribers read the recipe themselves and decide what
//! their subscriber may see.
//!
//! Each server has one in-process bus (a broadcast channel): a subscriber that falls more than
//! [`CAPACITY`] events behind loses the oldest and is told how many (its subscription decides
//! what that means). Instances share their events through a relay: Redis pub/sub when
//! `REDIS_URL` is set, PostgreSQL's `LISTEN`/`NOTIFY` without it; with SQLite there is one
//! process and no relay. An event goes to the local bus at once and to the relay; a task
//! follows the relay into the local bus, skipping the events this instance sent itself.
//!
//! Subscribers get an event as an [`Announced`], shared by all of them: the recipe it names
//! (and its author) is read once per instance for every subscriber, who then decides alone
//! what it may see. One publish to 10,000 subscribers costs two queries, not 20,000.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt;
use sea_orm::{
    ConnectionTrait,
    sqlx::{PgPool, postgres::PgListener},
};
use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, broadcast};
use uuid::Uuid;

use crate::{cache::Freshness, db, error::AppResult, tasks::BackgroundTask};

type FollowError = Box<dyn std::error::Error + Send + Sync>;

/// Events a slow subscriber may fall behind by before it loses some.
pub const CAPACITY: usize = 1024;

/// The PostgreSQL channel (channels are per database, so deployments do not mix).
const PG_CHANNEL: &str = "smilecook_recipe_events";

const RETRY_FIRST: Duration = Duration::from_millis(200);
const HEARTBEAT: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Created,
    Updated,
    Published,
    Unpublished,
    Deleted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeEvent {
    pub change: Change,
    pub recipe: Uuid,
    pub author: Uuid,
    /// Whether the recipe is published after the change (false once deleted).
    pub published: bool,
}

/// An event as this instance's subscribers receive it.
#[derive(Debug)]
pub struct Announced {
    pub event: RecipeEvent,
    snapshot: OnceCell<Snapshot>,
}

/// The recipe an event names and its author, as read after the change (`None`: gone).
#[derive(Debug)]
pub struct Snapshot {
    pub recipe: Option<db::recipes::Recipe>,
    pub author: Option<db::users::User>,
}

impl Announced {
    fn new(event: RecipeEvent) -> Arc<Self> {
        Arc::new(Self {
            event,
            snapshot: OnceCell::new(),
        })
    }

    /// The recipe and its author, read by the first subscriber to ask and shared with the
    /// others (a read that fails is tried again by the next).
    pub async fn snapshot(&self, db: &impl ConnectionTrait) -> AppResult<&Snapshot> {
        self.snapshot
            .get_or_try_init(|| async {
                let recipe = db::recipes::find(db, self.event.recipe).await?;
                let author = match &recipe {
                    Some(recipe) => db::users::find_by_id(db, recipe.author_id).await?,
                    None => None,
                };
                Ok(Snapshot { recipe, author })
            })
            .await
    }
}

/// An event as it crosses instances; without one, a change to public content that is not a
/// recipe's (a new account's name), which moves the epoch only.
#[derive(Serialize, Deserialize)]
struct Wire {
    origin: Uuid,
    #[serde(default)]
    event: Option<RecipeEvent>,
}

#[derive(Clone)]
enum Relay {
    Redis {
        conn: redis::aio::ConnectionManager,
        channel: String,
    },
    Postgres(PgPool),
}

/// The bus; cheap to clone.
#[derive(Clone)]
pub struct Events {
    local: broadcast::Sender<Arc<Announced>>,
    origin: Uuid,
    relay: Option<Relay>,
    /// Whether the task that follows the relay is subscribed to it now.
    following: Arc<AtomicBool>,
    /// Followers whose subscription is set up ([`Follower::ready`]).
    ready: Arc<AtomicUsize>,
    /// The epoch of public content, moved by every change (`cache::freshness`).
    freshness: Freshness,
}

/// One subscription's place on the bus. It receives every event from its creation on, and
/// counts in [`Events::subscribers`] from [`Follower::ready`] (its subscription has done its
/// own checks and will see what comes) until dropped.
pub struct Follower {
    pub receiver: broadcast::Receiver<Arc<Announced>>,
    ready: Arc<AtomicUsize>,
    counted: bool,
}

impl Follower {
    pub fn ready(mut self) -> Self {
        if !self.counted {
            self.ready.fetch_add(1, Ordering::AcqRel);
            self.counted = true;
        }
        self
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if self.counted {
            self.ready.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Default for Events {
    /// A bus of this process alone.
    fn default() -> Self {
        Self {
            local: broadcast::channel(CAPACITY).0,
            origin: Uuid::new_v4(),
            relay: None,
            following: Arc::new(AtomicBool::new(false)),
            ready: Arc::new(AtomicUsize::new(0)),
            freshness: Freshness::default(),
        }
    }
}

impl Events {
    /// A bus shared with the instances on the same Redis (channel `<prefix>recipe-events`),
    /// and the task that follows it.
    pub fn over_redis(
        client: redis::Client,
        conn: redis::aio::ConnectionManager,
        prefix: &str,
    ) -> (Self, BackgroundTask) {
        let channel = format!("{prefix}recipe-events");
        let events = Self {
            freshness: Freshness::over_redis(conn.clone(), prefix),
            relay: Some(Relay::Redis {
                conn,
                channel: channel.clone(),
            }),
            ..Self::default()
        };
        let follower = events.clone();
        let task = BackgroundTask::spawn(keep_following("Redis", move || {
            let (client, channel, events) = (client.clone(), channel.clone(), follower.clone());
            async move {
                let (mut sink, mut messages) = client.get_async_pubsub().await?.split();
                sink.subscribe(&channel).await?;
                let _following = events.following_now();
                // A connection that died silently is noticed by its unanswered ping.
                let mut heartbeat = tokio::time::interval(HEARTBEAT);
                loop {
                    tokio::select! {
                        message = messages.next() => {
                            let message = message.ok_or("the subscription closed")?;
                            let text: String = message.get_payload()?;
                            events.arrived(&text);
                        }
                        _ = heartbeat.tick() => {
                            let ping = sink.ping::<redis::Value>();
                            tokio::time::timeout(HEARTBEAT * 2, ping).await??;
                        }
                    }
                }
            }
        }));
        (events, task)
    }

    /// A bus shared with the instances on the same PostgreSQL database, and the task that
    /// follows it.
    pub fn over_postgres(pool: PgPool) -> (Self, BackgroundTask) {
        let events = Self {
            relay: Some(Relay::Postgres(pool.clone())),
            ..Self::default()
        };
        let follower = events.clone();
        let task = BackgroundTask::spawn(keep_following("PostgreSQL", move || {
            let (pool, events) = (pool.clone(), follower.clone());
            async move {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen(PG_CHANNEL).await?;
                let _following = events.following_now();
                loop {
                    let notification = listener.recv().await?;
                    events.arrived(notification.payload());
                }
            }
        }));
        (events, task)
    }

    /// Announces a committed change: to this instance's subscribers at once, and to the other
    /// instances through the relay (a relay that fails is logged; the write stands).
    pub async fn publish(&self, event: RecipeEvent) {
        self.freshness.advance().await;
        let _ = self.local.send(Announced::new(event));
        self.relay(Some(event)).await;
    }

    /// A committed change to what anonymous callers see that is not a recipe's (a new
    /// account's name): the epoch of public content moves, here and on every instance.
    pub async fn public_change(&self) {
        self.freshness.advance().await;
        self.relay(None).await;
    }

    async fn relay(&self, event: Option<RecipeEvent>) {
        let Some(relay) = &self.relay else { return };
        let wire = Wire {
            origin: self.origin,
            event,
        };
        let Ok(text) = serde_json::to_string(&wire) else {
            return;
        };
        let sent = match relay {
            Relay::Redis { conn, channel } => redis::cmd("PUBLISH")
                .arg(channel)
                .arg(&text)
                .query_async::<()>(&mut conn.clone())
                .await
                .map_err(|e| e.to_string()),
            Relay::Postgres(pool) => sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
                .bind(PG_CHANNEL)
                .bind(&text)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        if let Err(error) = sent {
            tracing::warn!(%error, "a recipe event reached this instance's subscribers only");
        }
    }

    /// The epoch of public content, which every change moves (`cache::freshness`); `None`
    /// while it cannot be known: Redis does not answer, or the PostgreSQL relay is down (a
    /// change elsewhere would go unheard).
    pub async fn epoch(&self) -> Option<u64> {
        if matches!(self.relay, Some(Relay::Postgres(_))) && !self.following.load(Ordering::Acquire)
        {
            return None;
        }
        self.freshness.current().await
    }

    pub fn subscribe(&self) -> Follower {
        Follower {
            receiver: self.local.subscribe(),
            ready: Arc::clone(&self.ready),
            counted: false,
        }
    }

    /// Whether this instance hears the events of the others now: its relay's subscription is
    /// up (always, without a relay: there are no others).
    pub fn hears_other_instances(&self) -> bool {
        self.relay.is_none() || self.following.load(Ordering::Acquire)
    }

    /// Marks the relay followed until the returned guard is dropped (its follower failed).
    fn following_now(&self) -> impl Drop + use<> {
        struct Following(Arc<AtomicBool>);
        impl Drop for Following {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        // Whatever changed while nothing was heard is a change too.
        self.freshness.advance_local();
        self.following.store(true, Ordering::Release);
        Following(Arc::clone(&self.following))
    }

    /// How many subscriptions of this instance follow the bus, set up (each one's stream has
    /// started and its checks are done: an event published from now on reaches it).
    pub fn subscribers(&self) -> usize {
        self.ready.load(Ordering::Acquire)
    }

    /// An event from the relay: passed to this instance's subscribers unless it came from here.
    fn arrived(&self, text: &str) {
        match serde_json::from_str::<Wire>(text) {
            Ok(wire) if wire.origin != self.origin => {
                self.freshness.advance_local();
                if let Some(event) = wire.event {
                    let _ = self.local.send(Announced::new(event));
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "an unreadable recipe event"),
        }
    }
}

/// Runs `follow` again after every failure, with a growing pause.
async fn keep_following<F, Fut>(relay: &'static str, follow: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<std::convert::Infallible, FollowError>>,
{
    let mut pause = RETRY_FIRST;
    loop {
        let started = tokio::time::Instant::now();
        let Err(error) = follow().await;
        tracing::warn!(%error, relay, retry_in = ?pause, "recipe events from other instances lost");
        if started.elapsed() > RETRY_MAX {
            pause = RETRY_FIRST; // It had worked for a while.
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
    }
}
