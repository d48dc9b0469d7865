//! Start-up: `build(config)` connects, migrates, binds and returns a [`Server`] with its real
//! port (tests bind port 0); `app(..)` is the router used by `main` and by tests alike.

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use migrations::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer, cors::CorsLayer, sensitive_headers::SetSensitiveHeadersLayer,
    timeout::TimeoutLayer, trace::TraceLayer,
};

use crate::{
    auth::{
        denylist::{self, PruneTask, RedisDenylist, SharedDenylist, SqlDenylist},
        jwt::Keys,
        password::PasswordHasher,
        secret,
    },
    config::Config,
    db,
    graphql::{
        handler::{self, GraphQlState},
        schema::{Limits, build_schema},
    },
    state::AppState,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    #[error("cannot open the database: {0}")]
    Database(#[source] sea_orm::DbErr),
    #[error("cannot migrate the database: {0}")]
    Migration(#[source] sea_orm::DbErr),
    #[error("cannot connect to Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

/// A bound, ready server. Dropping it stops its background tasks.
pub struct Server {
    listener: TcpListener,
    router: Router,
    _pruning: PruneTask,
}

impl Server {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests.
    pub async fn run(self) -> io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

pub async fn connect_and_migrate(url: &str) -> Result<DatabaseConnection, StartupError> {
    let db = db::connect(url).await.map_err(StartupError::Database)?;
    Migrator::up(&db, None)
        .await
        .map_err(StartupError::Migration)?;
    Ok(db)
}

pub async fn build(config: Config) -> Result<Server, StartupError> {
    let secret = secret::resolve(&config)?;
    let keys = Keys::new(
        &secret,
        &config.jwt_issuer,
        &config.jwt_audience,
        config.jwt_leeway,
    )
    .map_err(|e| StartupError::Config(format!("signing key: {e}")))?;
    let db = connect_and_migrate(&config.database_url).await?;
    let denylist: SharedDenylist = match &config.redis_url {
        Some(url) => Arc::new(RedisDenylist::connect(url, &config.redis_key_prefix).await?),
        None => Arc::new(SqlDenylist::new(db.clone())),
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hasher = PasswordHasher::new(config.argon2_memory_kib, config.argon2_iterations, cores)
        .map_err(|e| StartupError::Config(crate::error::Shown(&e).to_string()))?;
    let pruning = denylist::spawn_pruning(denylist.clone(), config.denylist_prune_interval);
    let state = AppState {
        db,
        keys: Arc::new(keys),
        denylist,
        hasher,
        config: Arc::new(config),
    };
    let addr = state.config.bind;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let router = app(state)?;
    Ok(Server {
        listener,
        router,
        _pruning: pruning,
    })
}

/// The whole HTTP application: routes and the layers around them.
pub fn app(state: AppState) -> Result<Router, StartupError> {
    let config = Arc::clone(&state.config);
    let limits = Limits {
        depth: config.max_query_depth,
        complexity: config.max_query_complexity,
        introspection: config.introspection(),
    };
    let gql = GraphQlState {
        schema: build_schema(state, &limits),
        graphiql: config.introspection(),
        max_batch: config.max_batch,
    };
    let router = Router::new()
        .route("/graphql", get(handler::get).post(handler::post))
        .route("/health", get(health))
        .with_state(gql)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(cors(&config)?)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]));
    Ok(router)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

fn cors(config: &Config) -> Result<CorsLayer, StartupError> {
    let origins = config
        .cors_allowed_origins
        .iter()
        .filter(|o| !o.trim().is_empty())
        .map(|o| HeaderValue::from_str(o.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StartupError::Config(format!("CORS_ALLOWED_ORIGINS: {e}")))?;
    Ok(CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(Duration::from_secs(600)))
}

/// A panic in one request answers that request with a 500 and an id; the server lives on.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    tracing::error!(%reference, "a request handler panicked");
    let body = json!({ "errors": [{
        "message": format!("Internal error (reference {reference})."),
        "extensions": { "code": "INTERNAL_SERVER_ERROR" } }] });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
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
