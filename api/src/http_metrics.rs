//! RED metrics per route template (never raw paths): request count and latency histogram,
//! recorded by the outermost layer (`crate::layers::FrameLayer`).
//!
//! The metric handles are kept per worker thread, keyed by route, method and status, so a request
//! records two atomics instead of building label strings and looking its series up in the
//! registry every time.

use std::{cell::RefCell, collections::HashMap};

use axum::http::Method;
use dropforge_common::metric_names as m;
use metrics::{Counter, Histogram};

/// Routes that did not match keep one series.
pub(crate) const UNMATCHED: &str = "unmatched";

/// The series of one route on this thread.
#[derive(Default)]
struct RouteSeries {
    durations: Vec<(Method, Histogram)>,
    counts: Vec<(Method, u16, Counter)>,
}

thread_local! {
    static SERIES: RefCell<HashMap<String, RouteSeries>> = RefCell::new(HashMap::new());
}

/// Records one request, registering its series on this thread the first time it is seen.
pub(crate) fn record(route: &str, method: &Method, status: u16, seconds: f64) {
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
