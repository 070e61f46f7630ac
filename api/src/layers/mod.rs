//! Every HTTP layer of the API, composed into one tower stack and applied to the routes once.
//!
//! Outermost first: the frame (request id, request span, metrics and security headers, one
//! service: [`FrameLayer`]) → CORS → the timeout guard → compression → the body limit → the rate
//! limit with idempotent replay → the routes. The frame and the limiter run after routing (they
//! read the matched route), so edge answers (429, 413, preflight, timeouts) are counted and traced
//! like any other.
//!
//! One `Router::layer` call per layer would wrap every route in one more boxed service per layer,
//! and a request then clones and polls each of those boxes, the clones nested inside one another:
//! about a fifth of the cached path's CPU (bench/README.md). One concrete stack costs one box.
//! Our own middlewares are concrete services too (the frame, the timeout guard, the edge): an
//! `axum::middleware::from_fn` clones every service below it (CORS with its lists) and boxes
//! both that clone and its future, per request.
//! Any layer can be left out for the layer-cost benchmark (`DF_BENCH_LAYERS_OFF`, see [`Toggle`]).

mod frame;
mod toggle;

use axum::{Router, body::Body, extract::DefaultBodyLimit, http::Request};
use dropforge_common::config::HttpLayer;
use tower::ServiceBuilder;
use tower_http::{body::Limited, limit::RequestBodyLimitLayer};

pub use frame::{Frame, FrameLayer, Parts};
pub use toggle::{Toggle, Toggled, ToggledFuture};

use crate::{
    BODY_LIMIT,
    edge::{self, EdgeCtx, EdgeState},
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
    let frame = Parts {
        request_id: on(HttpLayer::RequestId),
        span: on(HttpLayer::Trace),
        metrics: on(HttpLayer::Metrics),
        security_headers: on(HttpLayer::SecurityHeaders),
    };
    let stack = ServiceBuilder::new()
        .layer(Toggle::new(frame.any(), FrameLayer::new(frame, e.hsts)))
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
