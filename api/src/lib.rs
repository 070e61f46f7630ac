//! dropforge-api: HTTP only — authenticate, read the cache, enqueue, read jobs. Never calls upstreams.

pub mod auth;
pub mod cached_body;
pub mod deadline;
pub mod documents;
pub mod edge;
pub mod error;
pub mod extract;
pub mod header_names;
pub mod http_metrics;
pub mod http_threads;
pub mod key_cache;
pub mod layers;
pub mod lookup;
pub mod openapi;
pub mod problem;
pub mod requests;
pub mod routes;
pub mod state;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    routing::{get, post},
};
use dropforge_common::{
    cache::Cache, config::Config, db, events::Waiters, queue, queue::Queue, shutdown::Shutdown, telemetry,
};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, TcpSocket};

use crate::{
    error::ApiError,
    key_cache::KeyCache,
    state::{AppInner, AppState, QueueRoom, RedisGuard, ResultMemo},
};

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Builds the shared state: pool, Redis handles, caches.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let pool = db::connect_with_acquire_timeout(
        config.database_url.expose(),
        config.db_max_connections,
        config.api.db_acquire_timeout,
    )
    .await?;
    let queue_conn = queue::connect(config.redis_url.expose()).await?;
    let cache_conn = queue::connect(config.cache_redis_url.expose()).await?;
    let (timeout, breaker) = (config.api.redis_timeout, config.api.redis_breaker);
    let queue_redis = RedisGuard::new("queue", timeout, breaker);
    let cache_redis = if config.cache_redis_url == config.redis_url {
        queue_redis.clone()
    } else {
        RedisGuard::new("cache", timeout, breaker)
    };
    let fresh_reads =
        lookup::cache::FreshReads::new(pool.clone(), config.cache.validation_ttl, config.cache.partial_ttl);
    let queue = Queue::new(queue_conn, &config.redis_prefix);
    let dispatch_waker = lookup::dispatch_wake::DispatchWaker::spawn(queue.clone(), queue_redis.clone());
    Ok(AppState::new(AppInner {
        queue,
        dispatch_waker,
        cache: Cache::new(cache_conn),
        config: Arc::new(config),
        create_groups: lookup::group::CreateGroups::new(pool.clone()),
        job_reads: lookup::reads::JobReads::new(pool.clone()),
        fresh_reads,
        pool,
        waiters: Waiters::default(),
        keys: KeyCache::default(),
        memo: ResultMemo::default(),
        room: QueueRoom::default(),
        draining: Shutdown::new(),
        queue_redis,
        cache_redis,
    }))
}

/// The application router: the routes inside every HTTP layer ([`layers`]).
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route("/v1/validations", post(routes::validations::create_validation))
        .route("/v1/validations/batch", post(routes::batches::create_batch))
        .route("/v1/jobs", get(routes::job_control::list_jobs))
        .route(
            "/v1/jobs/{id}",
            get(routes::jobs::get_job).delete(routes::job_control::cancel_job),
        )
        .route("/v1/jobs/{id}/deliveries", get(routes::job_control::list_deliveries))
        .route("/v1/products/search", get(routes::products::search))
        .route("/v1/products/{source}/{id}/suppliers", get(routes::products::suppliers))
        .route("/openapi.json", get(openapi::spec_json))
        .route("/docs", get(openapi::docs_page))
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state.clone());
    layers::apply(routes, &state)
}

/// Binds with an explicit listen backlog (tokio's default of 128 drops connection bursts).
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Starts the background tasks of an API process (event subscriber, key usage flusher, pool gauges).
pub fn spawn_background(state: &AppState, shutdown: &Shutdown) {
    let waiters = state.waiters.clone();
    tokio::spawn(waiters.run_subscriber(
        state.config.redis_url.expose().to_owned(),
        state.config.redis_prefix.clone(),
        shutdown.clone(),
    ));
    let (keys, pool, stop) = (state.keys.clone(), state.pool.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.wait() => break,
            }
            telemetry::record_pool(&pool);
            let used = keys.drain_used();
            if let Err(e) = db::api_keys::touch(&pool, &used).await {
                tracing::warn!(error = %e, "could not record key usage");
            }
        }
    });
}

/// Serves the router until `shutdown`: first `/ready` turns 503 and waiting requests answer (the
/// drain), then after `drain_delay` the listener closes and in-flight requests finish. The
/// connections run on `DF_API_HTTP_THREADS` threads of their own ([`http_threads`]), or on the
/// caller's runtime when it is 0.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: Shutdown) -> std::io::Result<()> {
    let draining = state.draining.clone();
    let drain_delay = state.config.api.drain_delay;
    let threads = state.config.api.http_threads;
    let app = router(state);
    let stop_accepting = Shutdown::new();
    let drain = {
        let stop_accepting = stop_accepting.clone();
        async move {
            shutdown.wait().await;
            draining.trigger();
            tracing::info!(
                delay_ms = drain_delay.as_millis() as u64,
                "draining: /ready answers 503"
            );
            tokio::time::sleep(drain_delay).await;
            stop_accepting.trigger();
        }
    };
    if threads == 0 {
        // Peer addresses feed the per-IP rate limit.
        return axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(drain)
            .await;
    }
    let serving = http_threads::serve(listener, app, threads, stop_accepting);
    tokio::pin!(serving);
    tokio::select! {
        // Ends before the drain only when it could not start.
        served = &mut serving => return served,
        () = drain => {}
    }
    serving.await
}

/// Serves Prometheus metrics on the private metrics listener.
pub async fn serve_metrics(listener: TcpListener, handle: PrometheusHandle, shutdown: Shutdown) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || std::future::ready(handle.render() + &telemetry::process_metrics())),
        )
        .route("/health", get(|| async { "ok" }));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}
