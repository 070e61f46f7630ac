//! `GET /health` (liveness) and `GET /ready` (PostgreSQL, Redis and migrations).

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use dropforge_common::{db, domain::JobKind};
use serde_json::json;

use crate::state::AppState;

/// Liveness: the process answers.
pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: dependencies answer and the schema is current.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let postgres = matches!(db::migrations_applied(&state.pool).await, Ok(true));
    let redis = state.queue.depth(JobKind::Validation).await.is_ok();
    let cache = state.cache.ttl("dropforge:ready-probe").await.is_ok();
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
