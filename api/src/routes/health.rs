//! `GET /health` (liveness) and `GET /ready` (PostgreSQL, Redis and migrations).

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use dropforge_common::{db, domain::JobKind};
use serde_json::json;

use crate::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    summary = "Liveness",
    responses(
        (status = 200, description = "The process answers", body = crate::openapi::Health),
        (status = 405, response = crate::openapi::MethodNotAllowed),
    )
)]
pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
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
        (status = 200, description = "Ready", body = crate::openapi::Readiness),
        (status = 405, response = crate::openapi::MethodNotAllowed),
        (status = 503, description = "A dependency does not answer", body = crate::openapi::Readiness),
    )
)]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    if state.draining.is_triggered() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "draining"})));
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
    let word = |b: bool| if b { "ok" } else { "unavailable" };
    (
        status,
        Json(json!({
            "status": word(ok),
            "checks": {"postgres_and_migrations": word(postgres), "queue_redis": word(redis), "cache_redis": word(cache)}
        })),
    )
}
