//! RED metrics per route template (never raw paths): request count and latency histogram.
//!
//! The metric handles are kept per worker thread, keyed by route, method and status, so a request
//! records two atomics instead of building label strings and looking its series up in the
//! registry every time.

use std::{cell::RefCell, collections::HashMap, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    middleware::Next,
    response::Response,
};
use dropforge_common::metric_names as m;
use metrics::{Counter, Histogram};

/// Routes that did not match keep one series.
const UNMATCHED: &str = "unmatched";

/// The series of one route on this thread.
#[derive(Default)]
struct RouteSeries {
    durations: Vec<(Method, Histogram)>,
    counts: Vec<(Method, u16, Counter)>,
}

thread_local! {
    static SERIES: RefCell<HashMap<String, RouteSeries>> = RefCell::new(HashMap::new());
}

/// Middleware recording `dropforge_http_requests_total` and `dropforge_http_request_duration_seconds`.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let response = next.run(req).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    record(
        route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Records one request, registering its series on this thread the first time it is seen.
fn record(route: &str, method: &Method, status: u16, seconds: f64) {
    SERIES.with(|series| {
        let mut series = series.borrow_mut();
        if !series.contains_key(route) {
            series.insert(route.to_owned(), RouteSeries::default());
        }
        let Some(entry) = series.get_mut(route) else {
            return;
        };
        match entry.durations.iter().find(|(m, _)| m == method) {
            Some((_, h)) => h.record(seconds),
            None => {
                let h = metrics::histogram!(m::HTTP_REQUEST_DURATION_SECONDS,
                    "method" => method.as_str().to_owned(), "route" => route.to_owned());
                h.record(seconds);
                entry.durations.push((method.clone(), h));
            }
        }
        match entry.counts.iter().find(|(m, s, _)| *s == status && m == method) {
            Some((_, _, c)) => c.increment(1),
            None => {
                let c = metrics::counter!(m::HTTP_REQUESTS_TOTAL,
                    "method" => method.as_str().to_owned(), "route" => route.to_owned(), "status" => status.to_string());
                c.increment(1);
                entry.counts.push((method.clone(), status, c));
            }
        }
    });
}
