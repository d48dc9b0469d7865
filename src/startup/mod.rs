//! Start-up: `build(config)` connects, migrates, binds and returns a [`Server`] with its real
//! port (tests bind port 0); `app(..)` is the router used by `main` and by tests alike.

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, routing::get, serve::ListenerExt};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::net::TcpListener;

pub mod keys;
pub mod metrics;
mod readiness;

use crate::{
    auth::{
        denylist::{
            self, CachedDenylist, RedisDenylist, SharedDenylist, SqlDenylist, acks::Acks,
            sync::Follower,
        },
        dpop::{
            Dpop,
            nonce::Nonces,
            proof::ProofRules,
            replay::{MemoryReplayCache, RedisReplayCache, ReplayCache},
        },
        guard::TokenCheck,
        password::{HashGate, HashThreads, PasswordHasher},
        secret::{self, SecretSource},
        throttle::{self, Allowances, MemoryThrottle, RedisThrottle, Throttle, ThrottleStore},
    },
    cache::ResponseCache,
    config::Config,
    db,
    events::Events,
    graphql::{
        admission::{self, Admission},
        execute::Pipeline,
        persisted::Documents,
        ratelimit::{self, BudgetStore, Budgets, MemoryBudgets, RedisBudgets},
        schema::{Limits, build_schemas},
    },
    http::{
        self,
        endpoint::{Caching, GraphQlState, WsConfig},
        origin::Origins,
    },
    lifecycle::Lifecycle,
    mail,
    state::AppState,
    tasks::BackgroundTask,
    time::Clock,
};

/// Hashing threads by default: one per core up to this, so the memory argon2 holds at peak does
/// not grow with the machine (`ARGON2_THREADS` sets more).
const DEFAULT_HASH_THREADS_MAX: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    #[error("cannot open the database: {0}")]
    Database(#[source] sea_orm::DbErr),
    #[error("cannot migrate the database: {0}")]
    Migration(#[source] sea_orm::DbErr),
    #[error("cannot load the token denylist: {0}")]
    Denylist(#[source] sea_orm::DbErr),
    #[error("cannot connect to Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Http(#[from] http::InvalidOrigin),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

/// A bound, ready server. Dropping it stops its background tasks.
pub struct Server {
    listener: TcpListener,
    /// How long a client may leave what the server wrote unread (`WRITE_TIMEOUT`).
    write_timeout: Duration,
    router: Router,
    /// `/metrics` on a listener of its own, with `METRICS_BIND`.
    metrics: Option<metrics::Endpoint>,
    hash_gate: HashGate,
    events: Events,
    lifecycle: Lifecycle,
    /// `SHUTDOWN_DELAY` and `SHUTDOWN_GRACE`.
    shutdown: (Duration, Duration),
    mail: mail::Worker,
    _tasks: Vec<BackgroundTask>,
}

impl Server {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served, with `METRICS_BIND`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        let endpoint = self.metrics.as_ref()?;
        endpoint.listener.local_addr().ok()
    }

    /// The gate before every password hash (for tests that pin orderings).
    pub fn hash_gate(&self) -> HashGate {
        self.hash_gate.clone()
    }

    /// The recipe event bus of this instance (tests wait for its subscribers).
    pub fn events(&self) -> Events {
        self.events.clone()
    }

    /// Serves until Ctrl-C or SIGTERM, then shuts down as `lifecycle` describes.
    pub async fn run(self) -> io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal`; then drains for `SHUTDOWN_DELAY` (`/readyz` at 503, everything
    /// else as before), stops (no new connections, sockets told to go away) and waits up to
    /// `SHUTDOWN_GRACE` for requests in flight and sockets to finish, and for the mail worker
    /// to give back its claims.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let Server {
            listener,
            write_timeout,
            router,
            lifecycle,
            shutdown: (delay, grace),
            mail,
            metrics,
            _tasks,
            ..
        } = self;
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        // TCP_USER_TIMEOUT: the kernel drops a connection whose written data has gone
        // unacknowledged, or whose receive window has stayed shut, for this long. That bounds
        // what the application cannot: hyper has no write timeout, and an event stream whose
        // client stopped reading is never polled again (its place under the connection limits
        // would be held for ever).
        let listener = listener.tap_io(move |stream| {
            let socket = socket2::SockRef::from(&*stream);
            if let Err(error) = socket.set_tcp_user_timeout(Some(write_timeout)) {
                tracing::warn!(%error, "could not bound a connection's writes");
            }
        });
        // The metrics listener lives as long as the server: aborted once it has shut down.
        let metrics = metrics.map(|endpoint| {
            BackgroundTask::spawn(async move {
                let serving = axum::serve(endpoint.listener, endpoint.router);
                if let Err(error) = serving.await {
                    tracing::error!(%error, "the metrics listener failed");
                }
            })
        });
        let stopping = {
            let lifecycle = lifecycle.clone();
            async move {
                signal.await;
                lifecycle.drain();
                if !delay.is_zero() {
                    tracing::info!(?delay, "draining: /readyz answers 503");
                    tokio::time::sleep(delay).await;
                }
                tracing::info!(
                    ?grace,
                    "stopping: refusing connections, finishing requests in flight"
                );
                lifecycle.stop();
            }
        };
        let serving = axum::serve(listener, app).with_graceful_shutdown(stopping);
        // Once stopping has begun, `grace` bounds what is left: requests in flight (which
        // `serving` waits for) and the close of every socket.
        let deadline = async {
            lifecycle.stopping().await;
            tokio::time::sleep(grace).await;
        };
        let finished = async {
            let served = serving.await;
            lifecycle.closed().await;
            served
        };
        let served = tokio::select! {
            served = finished => served,
            () = deadline => {
                tracing::warn!(
                    sockets = lifecycle.connections(),
                    "SHUTDOWN_GRACE is over: exiting with work in flight"
                );
                Ok(())
            }
        };
        // What is left of the grace once stopping began (the server may have run for days).
        let left = grace
            .saturating_sub(lifecycle.since_stop())
            .max(Duration::from_secs(1));
        mail.stop(left).await;
        tracing::info!("stopped");
        drop(metrics);
        served
    }
}

/// Where mail goes: `SMTP_URL`, or a folder beside an SQLite database (`./mail` otherwise).
fn mail_sender(config: &Config) -> Result<mail::Sender, StartupError> {
    let from = config
        .mail_from
        .parse()
        .map_err(|e| StartupError::Config(format!("MAIL_FROM: {e}")))?;
    if let Some(url) = &config.smtp_url {
        return mail::Sender::smtp(url, from)
            .map_err(|e| StartupError::Config(format!("SMTP_URL: {e}")));
    }
    let beside = config
        .database_url
        .strip_prefix("sqlite://")
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .and_then(|file| std::path::Path::new(file).parent().map(|p| p.to_path_buf()));
    let dir = match &config.mail_dir {
        Some(dir) => dir.clone(),
        None => beside.unwrap_or_default().join("mail"),
    };
    if config.is_production() {
        tracing::warn!(dir = %dir.display(), "no SMTP_URL: mail is written to a folder, not sent");
    }
    Ok(mail::Sender::Folder {
        dir,
        from,
        log: !config.is_production(),
    })
}

pub async fn connect_and_migrate(url: &str) -> Result<DatabaseConnection, StartupError> {
    let db = db::connect(url).await.map_err(StartupError::Database)?;
    Migrator::up(&db, None)
        .await
        .map_err(StartupError::Migration)?;
    Ok(db)
}

/// The server secret of `config` (generated and kept in a file in development).
pub fn resolve_secret(config: &Config) -> Result<Vec<u8>, StartupError> {
    Ok(secret::resolve(&SecretSource {
        secret: config.jwt_secret.as_deref(),
        file: config.jwt_secret_file.as_deref(),
        database_url: &config.database_url,
        production: config.is_production(),
    })?)
}

pub async fn build(config: Config) -> Result<Server, StartupError> {
    build_with_clock(config, Clock::system()).await
}

/// [`build`] with the clock that tokens and sessions expire by (tests move theirs).
pub async fn build_with_clock(mut config: Config, clock: Clock) -> Result<Server, StartupError> {
    let addr = config.bind;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    if config.public_url.is_none() {
        // Links in mail name the address really bound (port 0 picks one), on loopback when
        // every interface is bound.
        let mut reached = listener.local_addr().unwrap_or(addr);
        if reached.ip().is_unspecified() {
            reached.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        config.public_url = Some(format!("http://{reached}"));
    }
    let metrics = match config.metrics_bind {
        Some(addr) => Some(metrics::bind(addr).await?),
        None => None,
    };
    let secret = resolve_secret(&config)?;
    // Background workers get a handle of their own, which `db::stats` does not count.
    let background = connect_and_migrate(&config.database_url).await?;
    let (keys, key_refresh) = keys::load(&config, &secret, &background, &clock).await?;
    if let Some(path) = &config.trusted_documents {
        let text = std::fs::read_to_string(path).map_err(|e| {
            StartupError::Config(format!(
                "cannot read TRUSTED_DOCUMENTS {}: {e}",
                path.display()
            ))
        })?;
        let count = crate::graphql::persisted::trust_manifest(&background, &text, &clock)
            .await
            .map_err(|e| StartupError::Config(format!("TRUSTED_DOCUMENTS: {e}")))?;
        tracing::info!(count, "trusted documents loaded");
    }
    let db = db::stats::counted(&background);
    let Shared {
        denylist,
        throttle,
        replay,
        events,
        redis,
        mut tasks,
    } = shared_stores(&config, &db).await?;
    let throttle = Throttle::new(
        throttle,
        throttle::rules(&allowances(&config)),
        clock.clone(),
    );
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = HashThreads {
        threads: config
            .argon2_threads
            .map_or(cores.min(DEFAULT_HASH_THREADS_MAX), usize::from),
        nice: config.argon2_nice,
    };
    let hasher = PasswordHasher::new(config.argon2_memory_kib, config.argon2_iterations, threads)
        .map_err(|e| StartupError::Config(crate::error::Shown(&e).to_string()))?;
    let sender = mail_sender(&config)?;
    let outbox = mail::Outbox::new(config.mail_per_mailbox, config.mail_window);
    let window = config.mail_window;
    let mail = mail::spawn_worker(
        background.clone(),
        sender,
        clock.clone(),
        outbox.clone(),
        window,
    );
    tasks.extend(key_refresh);
    tasks.push(denylist::spawn_pruning(
        denylist.clone(),
        config.denylist_prune_interval,
        clock.clone(),
    ));
    let state = AppState {
        db,
        tokens: TokenCheck {
            keys,
            denylist,
            dpop: Dpop {
                rules: ProofRules {
                    algorithms: config.dpop_algorithms.clone(),
                    max_age: i64::try_from(config.dpop_proof_max_age.as_secs()).unwrap_or(60),
                },
                replay,
                required: config.dpop_required,
                nonces: config.dpop_nonce.then(|| {
                    let window = i64::try_from(config.dpop_proof_max_age.as_secs()).unwrap_or(60);
                    Nonces::new(&secret, window)
                }),
            },
            clock,
        },
        hasher,
        throttle: Arc::new(throttle),
        events,
        outbox,
        lifecycle: Lifecycle::default(),
        config: Arc::new(config),
    };
    let recovery = AppState {
        db: background,
        ..state.clone()
    };
    tasks.push(crate::recovery::spawn_worker(recovery));
    if metrics.is_some() {
        tasks.push(metrics::spawn_sampler(metrics::Sampled {
            db: state.db.clone(),
            denylist: Arc::clone(&state.tokens.denylist),
            hasher: state.hasher.clone(),
        }));
    }
    let write_timeout = state.config.write_timeout;
    let shutdown = (state.config.shutdown_delay(), state.config.shutdown_grace);
    let (hash_gate, events) = (state.hasher.gate(), state.events.clone());
    let lifecycle = state.lifecycle.clone();
    let router = app(state, redis)?;
    Ok(Server {
        listener,
        write_timeout,
        router,
        metrics,
        hash_gate,
        events,
        lifecycle,
        shutdown,
        mail,
        _tasks: tasks,
    })
}

/// What instances of one deployment share, with the tasks that keep each in step.
struct Shared {
    denylist: SharedDenylist,
    throttle: Box<dyn ThrottleStore>,
    /// DPoP proofs seen: in Redis (every instance), else in this process.
    replay: Arc<dyn ReplayCache>,
    events: Events,
    /// For `/readyz` to ask.
    redis: Option<redis::aio::ConnectionManager>,
    tasks: Vec<BackgroundTask>,
}

/// With Redis: the denylist there, copied in-process while a subscription follows it, the
/// throttle and the recipe events there too. Without: the denylist in the database (copied
/// in-process for SQLite, which only this process writes; asked directly for PostgreSQL,
/// which other instances may write), the throttle in memory, and the recipe events through
/// PostgreSQL's NOTIFY (or, with SQLite, in-process only).
async fn shared_stores(config: &Config, db: &DatabaseConnection) -> Result<Shared, StartupError> {
    let prefix = &config.redis_key_prefix;
    if let Some(url) = &config.redis_url {
        let (client, conn) = denylist::connect_redis(url).await?;
        let acks = Arc::new(Acks::default());
        let redis = RedisDenylist::new(conn.clone(), prefix, Arc::clone(&acks));
        let cached = CachedDenylist::following(Arc::new(redis));
        let follower = Follower {
            prefix: prefix.clone(),
            set: cached.set(),
            acks,
        };
        let sync = denylist::sync::spawn(client.clone(), conn.clone(), follower);
        let (events, relay) = Events::over_redis(client, conn.clone(), prefix);
        return Ok(Shared {
            denylist: Arc::new(cached),
            throttle: Box::new(RedisThrottle::new(conn.clone(), prefix)),
            replay: Arc::new(RedisReplayCache::new(conn.clone(), prefix)),
            events,
            redis: Some(conn),
            tasks: vec![sync, relay],
        });
    }
    let sql = SqlDenylist::new(db.clone());
    let (denylist, events, tasks): (SharedDenylist, _, _) = match db.get_database_backend() {
        DbBackend::Sqlite => {
            let entries = sql.entries().await.map_err(StartupError::Denylist)?;
            let copy = CachedDenylist::preloaded(Arc::new(sql), &entries);
            (Arc::new(copy), Events::default(), Vec::new())
        }
        _ => {
            let pool = db.get_postgres_connection_pool().clone();
            let (events, relay) = Events::over_postgres(pool);
            (Arc::new(sql), events, vec![relay])
        }
    };
    Ok(Shared {
        denylist,
        throttle: Box::new(MemoryThrottle::default()),
        replay: Arc::new(MemoryReplayCache::default()),
        events,
        redis: None,
        tasks,
    })
}

/// The whole HTTP application: routes and the layers around them. `redis` is asked by
/// `/readyz`.
pub fn app(
    state: AppState,
    redis: Option<redis::aio::ConnectionManager>,
) -> Result<Router, StartupError> {
    let config = Arc::clone(&state.config);
    let denylist = Arc::clone(&state.tokens.denylist);
    let budgets = budgets(&config, redis.clone(), state.tokens.clock.clone());
    let readiness = readiness::Readiness {
        db: state.db.clone(),
        redis,
        lifecycle: state.lifecycle.clone(),
    };
    let limits = Limits::from_config(&config);
    let db = state.db.clone();
    let admission = Admission::new(
        state.tokens.clone(),
        &admission::Limits {
            concurrent: config.max_concurrent_requests,
            timeout: config.request_timeout,
            connections_per_user: config.max_connections_per_user,
            connections_per_address: config.max_connections_per_address,
            revocation_check: config.revocation_check_interval,
        },
        state.lifecycle.clone(),
    );
    let oauth = http::oauth::routes(state.clone());
    let state_nonces = state
        .tokens
        .dpop
        .nonces
        .clone()
        .map(|nonces| (nonces, state.tokens.clock.clone()));
    let documents = Documents::new(
        config.persisted_documents,
        db.clone(),
        config.persisted_documents_max,
        !config.is_production() && config.introspection(),
        state.tokens.clock.clone(),
    );
    let responses = (config.response_cache_bytes > 0).then(|| {
        Arc::new(ResponseCache::new(
            config.response_cache_bytes,
            config.response_cache_ttl,
        ))
    });
    let events = state.events.clone();
    let pipeline = Pipeline {
        schemas: build_schemas(state, &limits),
        limits: limits.query,
        db,
        admission,
        documents,
        budgets,
    };
    let gql = GraphQlState {
        pipeline,
        ws: WsConfig {
            init_timeout: config.ws_init_timeout,
            keepalive: config.ws_keepalive,
            max_subscriptions: config.max_subscriptions_per_connection,
            max_message_bytes: config.max_body_bytes,
        },
        sse_keepalive: config.ws_keepalive,
        origins: Origins::new(&config.cors_allowed_origins, &config.public_url()),
        graphiql: config.introspection(),
        max_batch: config.max_batch,
        trust_forwarded_for: config.trust_forwarded_for,
        public_url: config.public_url(),
        caching: Caching {
            responses,
            events,
            max_age: config.http_cache_max_age,
        },
    };
    let graphiql = gql.graphiql;
    let nonces = state_nonces;
    let mut router = Router::new()
        .route(
            "/graphql",
            get(http::graphql::get).post(http::graphql::post),
        )
        .route("/health", get(move || http::health(Arc::clone(&denylist))))
        .route("/livez", get(readiness::livez))
        .route("/readyz", get(move || readiness.clone().readyz()))
        .with_state(gql)
        .merge(oauth);
    if graphiql {
        router = router.merge(http::graphiql::routes());
    }
    if let Some((nonces, clock)) = nonces {
        router = router.layer(http::dpop_nonce_layer(nonces, clock));
    }
    Ok(http::with_layers(router, &config)?)
}

/// The rate limits every operation spends from: in Redis when instances share one (every
/// instance then charges the same budgets), else in this process.
fn budgets(config: &Config, redis: Option<redis::aio::ConnectionManager>, clock: Clock) -> Budgets {
    let store: Arc<dyn BudgetStore> = match redis {
        Some(conn) => Arc::new(RedisBudgets::new(conn, &config.redis_key_prefix)),
        None => Arc::new(MemoryBudgets::default()),
    };
    let limits = ratelimit::Limits {
        address: config.rate_limit_address,
        user: config.rate_limit_user,
        window: config.rate_limit_window,
    };
    Budgets::new(store, limits, clock)
}

/// The numbers of the throttle table (`auth::throttle::rules`).
fn allowances(config: &Config) -> Allowances {
    Allowances {
        password_per_account: config.login_free_failures,
        password_per_address: config.login_address_free_failures,
        register_per_address: config.register_per_address,
        register_per_mailbox: config.register_per_mailbox,
        mail_per_address: config.mail_requests_per_address,
        mail_per_mailbox: config.mail_requests_per_mailbox,
        lockout_base: config.login_lockout_base,
        lockout_max: config.login_lockout_max,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
