//! Admin and observability routes (never on the real APIs): health, stats, reset, runtime config, metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::config::RuntimeConfig;
use crate::state::Shared;

/// Admin routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/__sandbox/health", get(|| async { "ok" }))
        .route("/__sandbox/stats", get(stats))
        .route("/__sandbox/reset", post(reset))
        .route("/__sandbox/config", get(get_config).put(put_config))
        .route("/metrics", get(metrics))
}

async fn stats(State(st): State<Shared>) -> Response {
    Json(st.stats.to_json()).into_response()
}

async fn reset(State(st): State<Shared>) -> StatusCode {
    st.reset();
    tracing::info!("sandbox counters and quotas reset");
    StatusCode::NO_CONTENT
}

async fn get_config(State(st): State<Shared>) -> Json<RuntimeConfig> {
    Json((*st.runtime()).clone())
}

async fn put_config(State(st): State<Shared>, Json(rt): Json<RuntimeConfig>) -> Response {
    let faults = [&rt.aliexpress.faults, &rt.meta.faults, &rt.youtube.faults];
    let bad = faults.iter().any(|f| {
        let parts = [f.timeout, f.http_5xx, f.in_band_throttle, f.http_429, f.malformed];
        parts.iter().any(|p| !(0.0..=1.0).contains(p)) || parts.iter().sum::<f64>() > 1.0 + 1e-9
    });
    if bad || !rt.latency_scale.is_finite() || rt.latency_scale < 0.0 {
        let msg = "fault rates must be in [0,1] and sum to at most 1 per upstream; latency_scale must be >= 0";
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({"error": msg})),
        )
            .into_response();
    }
    tracing::info!(?rt, "sandbox runtime config replaced");
    st.set_runtime(rt.clone());
    Json(rt).into_response()
}

async fn metrics(State(st): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.stats.to_prometheus(),
    )
        .into_response()
}
