//! `GET /health` (liveness) and `GET /ready` (PostgreSQL, Redis and migrations).

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use dropforge_common::{db, domain::JobKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{problem::responses::MethodNotAllowed, state::AppState};

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: CheckStatus,
}

/// Readiness of the process and its dependencies.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` when every check is; `draining` while the process shuts down (then no checks run).
    pub status: ReadyStatus,
    /// Each dependency (absent while draining).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<ReadinessChecks>,
}

/// Readiness checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// PostgreSQL answers and every migration is applied.
    pub postgres_and_migrations: CheckStatus,
    /// The queue Redis answers.
    pub queue_redis: CheckStatus,
    /// The cache Redis answers.
    pub cache_redis: CheckStatus,
}

/// Outcome of a check.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Answers.
    Ok,
    /// Does not answer.
    Unavailable,
}

impl From<bool> for CheckStatus {
    fn from(ok: bool) -> Self {
        if ok { Self::Ok } else { Self::Unavailable }
    }
}

/// Readiness of the process.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    /// Every check answers.
    Ok,
    /// A check does not answer.
    Unavailable,
    /// Shutting down: take this process out of rotation.
    Draining,
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    summary = "Liveness",
    responses(
        (status = 200, description = "The process answers", body = Health),
        (status = 405, response = MethodNotAllowed),
    )
)]
pub async fn health() -> impl IntoResponse {
    Json(Health {
        status: CheckStatus::Ok,
    })
}

/// Readiness: dependencies answer and the schema is current.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    summary = "Readiness",
    description = "PostgreSQL (with every migration applied), the queue Redis and the cache Redis answer, each \
        within `DF_API_READY_CHECK_MS` (500 ms by default; the checks run together, so the answer takes at most \
        that long).",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 405, response = MethodNotAllowed),
        (status = 503, description = "A dependency does not answer", body = Readiness),
    )
)]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    if state.draining.is_triggered() {
        let draining = Readiness {
            status: ReadyStatus::Draining,
            checks: None,
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(draining));
    }
    // The checks run together, each within its own deadline (never the breaker: readiness must
    // see a recovered Redis at once), so /ready answers within DF_API_READY_CHECK_MS (≤ 1 s).
    let limit = state.config.api.ready_check_timeout;
    let (postgres, redis, cache) = tokio::join!(
        tokio::time::timeout(limit, db::migrations_applied(&state.pool)),
        tokio::time::timeout(limit, state.queue.depth(JobKind::Validation)),
        tokio::time::timeout(limit, state.cache.ttl("dropforge:ready-probe")),
    );
    let postgres = matches!(postgres, Ok(Ok(true)));
    let (redis, cache) = (matches!(redis, Ok(Ok(_))), matches!(cache, Ok(Ok(_))));
    let ok = postgres && redis && cache;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let readiness = Readiness {
        status: if ok { ReadyStatus::Ok } else { ReadyStatus::Unavailable },
        checks: Some(ReadinessChecks {
            postgres_and_migrations: postgres.into(),
            queue_redis: redis.into(),
            cache_redis: cache.into(),
        }),
    };
    (status, Json(readiness))
}
