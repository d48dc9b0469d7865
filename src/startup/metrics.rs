//! The metrics side of start-up: the `/metrics` listener on `METRICS_BIND` (never bound
//! without it), and the sampler that sets the gauges nobody updates as they change (the
//! request pool, the denylist copy, the hashing queue) and drains histogram samples.

use std::{net::SocketAddr, time::Duration};

use axum::Router;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::net::TcpListener;

use super::StartupError;
use crate::{
    auth::{denylist::SharedDenylist, password::PasswordHasher},
    error::{AppError, Refusal},
    observe,
    tasks::BackgroundTask,
};

/// How often the sampled gauges are read: finer than any scrape interval worth having.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// The bound metrics endpoint.
pub struct Endpoint {
    pub listener: TcpListener,
    pub router: Router,
}

/// Binds `addr` and installs the process's recorder (once: see `observe::exporter`).
pub async fn bind(addr: SocketAddr) -> Result<Endpoint, StartupError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let handle = observe::exporter::handle().ok_or_else(|| {
        StartupError::Config("METRICS_BIND: the metrics recorder could not be installed".into())
    })?;
    let codes = AppError::CODES.into_iter();
    observe::exporter::zero_error_codes(codes.chain(Refusal::ALL.map(Refusal::code)));
    let shown = listener.local_addr().unwrap_or(addr);
    tracing::info!("metrics on http://{shown}/metrics");
    Ok(Endpoint {
        listener,
        router: observe::exporter::router(handle),
    })
}

/// What the sampler reads.
pub struct Sampled {
    pub db: DatabaseConnection,
    pub denylist: SharedDenylist,
    pub hasher: PasswordHasher,
}

pub fn spawn_sampler(sampled: Sampled) -> BackgroundTask {
    BackgroundTask::spawn(async move {
        let mut ticks = tokio::time::interval(SAMPLE_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            sample(&sampled);
            observe::exporter::upkeep();
        }
    })
}

fn sample(sampled: &Sampled) {
    let db = &sampled.db;
    let (size, idle, max) = match db.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        _ => return,
    };
    let used = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .saturating_sub(idle);
    observe::db_pool(used, idle, max);
    if let Some(entries) = sampled.denylist.entries_held() {
        observe::denylist_entries(entries);
    }
    observe::hash_queue(sampled.hasher.queued());
    observe::hash_work_areas(sampled.hasher.work_areas());
}
