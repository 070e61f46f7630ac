//! RED metrics per route template (never raw paths): request count and latency histogram.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use dropforge_common::metric_names as m;

/// Middleware recording `dropforge_http_requests_total` and `dropforge_http_request_duration_seconds`.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(m::HTTP_REQUEST_DURATION_SECONDS, "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(m::HTTP_REQUESTS_TOTAL, "method" => method, "route" => route, "status" => status).increment(1);
    response
}
