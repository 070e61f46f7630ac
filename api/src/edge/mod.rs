//! The HTTP edge of the API: security headers, CORS, a whole-request timeout, compression, the
//! body-size backstop, distributed rate limiting and `Idempotency-Key` handling: the pieces that
//! `crate::layers::apply` composes, in its order, with the request ids, span and metrics.

pub mod client_ip;
pub mod cors;
mod decisions;
pub mod fallback;
pub mod guard;
pub mod headers;
pub mod idempotency;
mod leases;
pub mod rate_limit;

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    extract::Request,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use dropforge_common::config::{Config, EdgeConfig};
use futures::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tower::{Layer, Service};
use tower_http::compression::{
    CompressionLayer,
    predicate::{NotForContentType, Predicate, SizeAbove},
};

use crate::{problem::Problem, state::AppState};

/// Responses smaller than this are sent uncompressed.
pub const COMPRESSION_MIN_BYTES: u64 = 1024;

/// Shared edge state of one API process: its own Redis connection (created lazily, so building
/// the router never blocks), the rate-limit policies, the in-process fallback limiter and counters.
#[derive(Clone)]
pub struct EdgeState {
    inner: Arc<EdgeInner>,
}

pub(crate) struct EdgeInner {
    pub(crate) redis: Option<ConnectionManager>,
    /// The rate limiter's own connection, not yet connected: it connects on the decision task's
    /// thread, where its reader then runs ([`decisions::Decider::spawn`]).
    pub(crate) limiter_redis: Option<ConnectionManager>,
    /// The group-commit decision task, started on first use, on a thread of its own.
    pub(crate) decider: std::sync::OnceLock<decisions::Decider>,
    pub(crate) prefix: String,
    pub(crate) limits: rate_limit::Limits,
    pub(crate) fallback: fallback::LocalGcra,
    /// Tokens of hot buckets held by this process (`DF_RATE_LIMIT_LEASE`).
    pub(crate) leases: Arc<leases::Leases>,
    pub(crate) idempotency_ttl: Duration,
    /// Redis is skipped (fallback used directly) until this many ms after `epoch`.
    pub(crate) breaker_until_ms: AtomicU64,
    pub(crate) epoch: Instant,
    pub(crate) fallback_decisions: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
    pub(crate) denied: AtomicU64,
}

/// Counters of one process's edge, for tests and diagnostics (the same events are Prometheus counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeStats {
    /// Rate-limit decisions taken by the in-process fallback.
    pub fallback_decisions: u64,
    /// Redis errors and timeouts seen by the limiter.
    pub backend_errors: u64,
    /// Requests answered 429.
    pub denied: u64,
}

impl EdgeState {
    /// Builds the edge state from the configuration. Does not connect: the Redis connection is
    /// opened on first use and re-opened by the connection manager after failures.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.redis_url.expose())?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let redis = ConnectionManager::new_lazy_with_config(client.clone(), manager_config.clone())?;
        let limiter = ConnectionManager::new_lazy_with_config(client, manager_config)?;
        Ok(Self::with_connection(config, Some((redis, limiter))))
    }

    fn with_connection(config: &Config, redis: Option<(ConnectionManager, ConnectionManager)>) -> Self {
        let e = &config.edge;
        let (redis, limiter_redis) = redis.unzip();
        Self {
            inner: Arc::new(EdgeInner {
                redis,
                limiter_redis,
                decider: std::sync::OnceLock::new(),
                prefix: config.redis_prefix.clone(),
                limits: rate_limit::Limits::from_config(e),
                fallback: fallback::LocalGcra::new(e.rate_limit_ip, e.rate_limit_replicas),
                leases: Arc::new(leases::Leases::new(e.rate_limit_lease)),
                idempotency_ttl: e.idempotency_ttl,
                breaker_until_ms: AtomicU64::new(0),
                epoch: Instant::now(),
                fallback_decisions: AtomicU64::new(0),
                backend_errors: AtomicU64::new(0),
                denied: AtomicU64::new(0),
            }),
        }
    }

    /// The edge state of `state.config`; with an invalid Redis URL the limiter runs on its
    /// fallback and idempotent POSTs are refused.
    pub fn for_app(state: &AppState) -> Self {
        Self::new(&state.config).unwrap_or_else(|e| {
            tracing::error!(error = %e, "edge: invalid Redis URL; limiter on fallback, idempotent POSTs refused");
            Self::with_connection(&state.config, None)
        })
    }

    /// Current counters.
    pub fn stats(&self) -> EdgeStats {
        let i = &self.inner;
        EdgeStats {
            fallback_decisions: i.fallback_decisions.load(Ordering::Relaxed),
            backend_errors: i.backend_errors.load(Ordering::Relaxed),
            denied: i.denied.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn inner(&self) -> &EdgeInner {
        &self.inner
    }
}

/// What the idempotency middleware needs: the app (key verification) and the edge (Redis), and
/// which of the limiter and idempotent replay run (both, as shipped).
#[derive(Clone)]
pub(crate) struct EdgeCtx {
    pub(crate) app: AppState,
    pub(crate) edge: EdgeState,
    pub(crate) limit: bool,
    pub(crate) replay: bool,
}

/// The CORS layer of the configuration; an invalid one refuses every cross-origin request.
pub fn cors(e: &EdgeConfig) -> tower_http::cors::CorsLayer {
    cors::cors_layer(e).unwrap_or_else(|why| {
        tracing::error!(error = %why, "edge: invalid CORS configuration; cross-origin requests refused");
        cors::deny_all()
    })
}

/// gzip and brotli for answers of at least [`COMPRESSION_MIN_BYTES`] (not images, gRPC or SSE), at
/// the fastest level: answers are a few KiB of JSON, where brotli's default level cost more CPU per
/// request than the whole cached path (profiled) for a few percent smaller bodies.
pub fn compression_layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .quality(tower_http::CompressionLevel::Fastest)
        .compress_when(
            SizeAbove::new(COMPRESSION_MIN_BYTES)
                .and(NotForContentType::GRPC)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::SSE),
        )
}

/// The rate limit, then idempotent replay, then the handler: the two edge middlewares as one
/// layer (either may be left out, `DF_BENCH_LAYERS_OFF`).
#[derive(Clone)]
pub(crate) struct EdgeLayer {
    ctx: EdgeCtx,
}

impl EdgeLayer {
    pub(crate) fn new(ctx: EdgeCtx) -> Self {
        Self { ctx }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Edge {
            ctx: self.ctx.clone(),
            inner,
        }
    }
}

/// The service of [`EdgeLayer`]. Its work awaits Redis before the handler runs, so its future
/// owns a clone of the service below (the handler: one reference count) and is boxed.
#[derive(Clone)]
pub(crate) struct Edge<S> {
    ctx: EdgeCtx,
    inner: S,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The service polled ready answers this request; its clone waits for the next one.
        let waiting = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, waiting);
        let ctx = self.ctx.clone();
        Box::pin(async move { Ok(limit_then_replay(&ctx, req, ready).await) })
    }
}

async fn limit_then_replay<S>(ctx: &EdgeCtx, req: Request, inner: S) -> Response
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    let run = async move |req| {
        let mut inner = inner;
        match inner.call(req).await {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        }
    };
    let replay = async |req| match ctx.replay {
        true => idempotency::around(ctx, req, run).await,
        false => run(req).await,
    };
    match ctx.limit {
        true => rate_limit::around(&ctx.edge, req, replay).await,
        false => replay(req).await,
    }
}

/// A problem answer of the edge (`/problems/<code>`), rendered by the one problem renderer.
pub(crate) fn problem(status: StatusCode, code: &str, title: &'static str, detail: &str) -> Response {
    Problem::new(status, code, title, detail).into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::{Router, body::Body, http::header, routing::get};
    use tower::ServiceExt;

    #[tokio::test]
    async fn only_large_answers_are_compressed() {
        let app = Router::new()
            .route("/big", get(|| async { "x".repeat(2048) }))
            .route("/small", get(|| async { "x".repeat(100) }))
            .layer(compression_layer());
        for (path, want) in [("/big", Some("br")), ("/small", None)] {
            let req = Request::get(path)
                .header("accept-encoding", "gzip, br")
                .body(Body::empty())
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            let got = resp
                .headers()
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(got.as_deref(), want, "{path}");
        }
    }
}
