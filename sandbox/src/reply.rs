//! A handler's answer before latency is applied: status, headers, body and the outcome label for stats.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::state::{AppState, Upstream};

/// A fully built answer; `finish` sleeps and turns it into a response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, String)>,
    pub body: String,
    /// `ok`, `auth_error`, `bad_request`, `not_found`, `throttled`, `quota_exceeded`, `fault_*`.
    pub outcome: &'static str,
    /// Extra hold before answering (timeout fault).
    pub hold: Duration,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: StatusCode, body: &Value, outcome: &'static str) -> Self {
        Self {
            status,
            headers: vec![(header::CONTENT_TYPE, "application/json; charset=UTF-8".into())],
            body: body.to_string(),
            outcome,
            hold: Duration::ZERO,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// Sleeps for `delay` (+ the reply's hold), counts the request and renders the response.
pub async fn finish(state: &AppState, up: Upstream, method: &str, delay: Duration, reply: Reply) -> Response {
    let total = delay + reply.hold;
    if !total.is_zero() {
        tokio::time::sleep(total).await;
    }
    state.stats.record(up.name(), method, reply.outcome);
    let mut resp = (reply.status, reply.body).into_response();
    let headers = resp.headers_mut();
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    resp
}
