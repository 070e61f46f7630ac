//! Every HTTP layer of the API, composed into one tower stack and applied to the routes once.
//!
//! Outermost first: request ids → the request span → metrics → security headers → CORS → the
//! timeout guard → compression → the body limit → the rate limit with idempotent replay → the
//! routes. Metrics, the span and the limiter run after routing (they read the matched route), so
//! edge answers (429, 413, preflight, timeouts) are counted and traced like any other.
//!
//! One `Router::layer` call per layer would wrap every route in one more boxed service per layer,
//! and a request then clones and polls each of those boxes, the clones nested inside one another:
//! about a fifth of the cached path's CPU (bench/README.md). One concrete stack costs one box.
//! Our own middlewares are concrete services too (metrics, the timeout guard, the edge): an
//! `axum::middleware::from_fn` clones every service below it (CORS with its lists) and boxes
//! both that clone and its future, per request.
//! Any layer can be left out for the layer-cost benchmark (`DF_BENCH_LAYERS_OFF`, see [`Toggle`]).

mod toggle;

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, MatchedPath},
    http::Request,
};
use dropforge_common::config::HttpLayer;
use tower::ServiceBuilder;
use tower_http::{
    body::Limited,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use toggle::{Toggle, Toggled};

use crate::{
    BODY_LIMIT,
    edge::{self, EdgeCtx, EdgeState},
    http_metrics,
    state::AppState,
};

/// Wraps `routes` in every layer the configuration leaves on, with a fresh [`EdgeState`].
pub fn apply(routes: Router, state: &AppState) -> Router {
    let e = &state.config.edge;
    let on = |layer: HttpLayer| !e.layers_off.contains(&layer);
    let ctx = EdgeCtx {
        app: state.clone(),
        edge: EdgeState::for_app(state),
        limit: on(HttpLayer::RateLimit),
        replay: on(HttpLayer::Idempotency),
    };
    let stack = ServiceBuilder::new()
        .layer(Toggle::new(
            on(HttpLayer::RequestId),
            SetRequestIdLayer::x_request_id(UlidRequestId),
        ))
        .layer(Toggle::new(
            on(HttpLayer::RequestId),
            PropagateRequestIdLayer::x_request_id(),
        ))
        .layer(Toggle::new(
            on(HttpLayer::Trace),
            TraceLayer::new_for_http().make_span_with(request_span).on_failure(()),
        ))
        .layer(Toggle::new(on(HttpLayer::Metrics), http_metrics::MetricsLayer))
        .layer(Toggle::new(
            on(HttpLayer::SecurityHeaders),
            edge::headers::layer(e.hsts),
        ))
        .layer(Toggle::new(on(HttpLayer::Cors), edge::cors(e)))
        .layer(Toggle::new(
            on(HttpLayer::Timeout),
            edge::guard::GuardLayer::new(e.request_timeout),
        ))
        .layer(Toggle::new(on(HttpLayer::Compression), edge::compression_layer()))
        .layer(Toggle::new(
            on(HttpLayer::BodyLimit),
            ServiceBuilder::new()
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
                .map_request(|req: Request<Limited<Body>>| req.map(Body::new)),
        ))
        .layer(Toggle::new(ctx.limit || ctx.replay, edge::EdgeLayer::new(ctx)))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    routes.layer(stack)
}

/// Request ids that sort by time (ULIDs from a thread-local generator: no syscall per request).
#[derive(Clone, Copy, Default)]
struct UlidRequestId;

impl MakeRequestId for UlidRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let mut text = [0; ulid::ULID_LEN];
        axum::http::HeaderValue::from_str(ulid::Ulid::generate().array_to_str(&mut text))
            .ok()
            .map(RequestId::new)
    }
}

/// One span per request, keyed by the route template (never the raw path) and the request id.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Displayed, not debugged: a `&str` field is otherwise escaped character by character when
    // the log formatter records the span, once per request.
    tracing::info_span!(
        "request",
        method = %req.method(),
        route = %route,
        request.id = %request_id
    )
}
