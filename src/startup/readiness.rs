//! `/livez` and `/readyz`, for a load balancer or an orchestrator. `/livez` says the process
//! answers (restart it if not); `/readyz` says it should be sent work: the database answers with
//! every migration this build knows applied, Redis answers (when configured), and the server is
//! not draining. `/health` (older, for people) stays as it was.
//!
//! A newer build's migrations applied by a later deployment do not make this one unready: during
//! a rolling update the old instances keep serving.

use std::time::Duration;

use axum::{Json, http::StatusCode, response::IntoResponse};
use migrations::{Migrator, MigratorTrait};
use redis::aio::ConnectionManager;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::lifecycle::Lifecycle;

/// Longest one check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Readiness {
    pub db: DatabaseConnection,
    pub redis: Option<ConnectionManager>,
    pub lifecycle: Lifecycle,
}

pub async fn livez() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

impl Readiness {
    /// 200 and `"ready"`, or 503 with what is wrong (`"draining"` first, then each check).
    pub async fn readyz(self) -> impl IntoResponse {
        let (database, redis) = tokio::join!(self.database(), self.redis());
        let mut checks = json!({ "database": database.as_deref().unwrap_or("ok") });
        if self.redis.is_some() {
            checks["redis"] = json!(redis.as_deref().unwrap_or("ok"));
        }
        let draining = self.lifecycle.is_draining();
        let status = match (draining, database.is_none() && redis.is_none()) {
            (true, _) => "draining",
            (false, true) => "ready",
            (false, false) => "unavailable",
        };
        let code = match status {
            "ready" => StatusCode::OK,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        (code, Json(json!({ "status": status, "checks": checks })))
    }

    /// `None` when the database answers and every migration of this build is applied.
    async fn database(&self) -> Option<String> {
        let table = Migrator::migration_table_name().to_string();
        let backend = self.db.get_database_backend();
        let query = Statement::from_string(backend, format!("SELECT version FROM \"{table}\""));
        let rows = match tokio::time::timeout(CHECK_TIMEOUT, self.db.query_all_raw(query)).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness: the database did not answer");
                return Some("unreachable".into());
            }
            Err(_) => return Some("timeout".into()),
        };
        let applied: Vec<String> = rows
            .iter()
            .filter_map(|row| row.try_get::<String>("", "version").ok())
            .collect();
        let pending = Migrator::migrations()
            .iter()
            .filter(|m| !applied.iter().any(|a| a == m.name()))
            .count();
        (pending > 0).then(|| format!("{pending} migrations pending"))
    }

    async fn redis(&self) -> Option<String> {
        let mut conn = self.redis.clone()?;
        let ping = redis::cmd("PING");
        match tokio::time::timeout(CHECK_TIMEOUT, ping.query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness: Redis did not answer");
                Some("unreachable".into())
            }
            Err(_) => Some("timeout".into()),
        }
    }
}
