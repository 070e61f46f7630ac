//! A handler's answer before latency is applied: status, headers, body and the outcome label for stats.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use crate::state::{AppState, Upstream};

/// `Content-Type` of every JSON answer.
pub fn json_type() -> HeaderValue {
    HeaderValue::from_static("application/json; charset=UTF-8")
}

/// A fully built answer; `finish` sleeps and turns it into a response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// `ok`, `auth_error`, `bad_request`, `not_found`, `throttled`, `quota_exceeded`, `fault_*`.
    pub outcome: &'static str,
    /// Extra hold before answering (timeout fault).
    pub hold: Duration,
}

impl Reply {
    /// A JSON answer from a value.
    pub fn json(status: StatusCode, body: &Value, outcome: &'static str) -> Self {
        Self::json_bytes(status, Bytes::from(body.to_string()), outcome)
    }

    /// A JSON answer from serialized bytes.
    pub fn json_bytes(status: StatusCode, body: Bytes, outcome: &'static str) -> Self {
        Self {
            status,
            headers: vec![(header::CONTENT_TYPE, json_type())],
            body,
            outcome,
            hold: Duration::ZERO,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// Sleeps for `delay` (+ the reply's hold), counts the request and renders the response.
pub async fn finish(state: &AppState, up: Upstream, method: &'static str, delay: Duration, reply: Reply) -> Response {
    let total = delay + reply.hold;
    if !total.is_zero() {
        tokio::time::sleep(total).await;
    }
    state.stats.record(up.name(), method, reply.outcome);
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = reply.status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    for (name, value) in reply.headers {
        headers.insert(name, value);
    }
    resp
}
