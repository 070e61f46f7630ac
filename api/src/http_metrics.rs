//! RED metrics per route template (never raw paths): request count and latency histogram.
//!
//! The metric handles are kept per worker thread, keyed by route, method and status, so a request
//! records two atomics instead of building label strings and looking its series up in the
//! registry every time. The layer is a concrete service with its own future: no clone of the
//! services below it and no boxed future per request (an `axum::middleware::from_fn` costs both).

use std::{
    cell::RefCell,
    collections::HashMap,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    response::Response,
};
use dropforge_common::metric_names as m;
use metrics::{Counter, Histogram};
use tower::{Layer, Service};

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

/// Records `dropforge_http_requests_total` and `dropforge_http_request_duration_seconds` of every
/// request that reaches it.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsLayer;

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metrics { inner }
    }
}

/// The service of [`MetricsLayer`].
#[derive(Debug, Clone)]
pub struct Metrics<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for Metrics<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        MetricsFuture {
            inner: self.inner.call(req),
            started: Instant::now(),
            route,
            method,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of the services below, recorded when it is ready.
    pub struct MetricsFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        route: Option<MatchedPath>,
        method: Method,
    }
}

impl<F, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let route = this.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
            record(
                route,
                this.method,
                response.status().as_u16(),
                this.started.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(result)
    }
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
