//! The whole-request timeout (a `503` problem with `Retry-After`) and problem bodies for answers
//! produced by tower-http layers (the body limit's plain-text `413`), as one concrete service: no
//! clone of the services below and no boxed future per request.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    response::Response,
};
use tower::{Layer, Service};

use super::problem;
use crate::problem::PROBLEM_JSON;

/// Bounds every request by `timeout` and gives the edge's own answers problem bodies.
#[derive(Debug, Clone, Copy)]
pub struct GuardLayer {
    timeout: Duration,
}

impl GuardLayer {
    /// Requests that take longer than `timeout` are answered `503`.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard {
            inner,
            timeout: self.timeout,
        }
    }
}

/// The service of [`GuardLayer`].
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> Service<Request<B>> for Guard<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        GuardFuture {
            inner: tokio::time::timeout(self.timeout, self.inner.call(req)),
            timeout: self.timeout,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of the services below, or the timeout's.
    pub struct GuardFuture<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
        timeout: Duration,
    }
}

impl<F, E> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match ready!(this.inner.poll(cx)) {
            Ok(Ok(response)) if response.status() == StatusCode::PAYLOAD_TOO_LARGE => Ok(too_large(response)),
            Ok(answer) => answer,
            Err(_) => Ok(timed_out(*this.timeout)),
        })
    }
}

/// A `413` as a problem document, with `Connection: close`.
fn too_large(response: Response) -> Response {
    let mut response = match is_problem(&response) {
        true => response,
        false => problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            "The request body exceeds 64 KiB.",
        ),
    };
    // The body was not read to its end, so the connection cannot carry another request: saying
    // so keeps a client from sending its next request on a closing connection.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The `503` of a request that took longer than `timeout`.
fn timed_out(timeout: Duration) -> Response {
    tracing::warn!(timeout_ms = timeout.as_millis() as u64, "request timed out");
    let mut response = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "request-timeout",
        "Request timed out",
        "The request took too long to process; retry shortly.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    response
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;

    #[tokio::test]
    async fn slow_requests_get_a_503_problem() {
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/fast", get(|| async { "soon" }))
            .layer(GuardLayer::new(Duration::from_millis(50)));
        let resp = app
            .clone()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
        let resp = app
            .oneshot(Request::get("/fast").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_plain_413_becomes_a_problem_that_closes_the_connection() {
        let app = Router::new()
            .route(
                "/big",
                get(|| async { (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded") }),
            )
            .layer(GuardLayer::new(Duration::from_secs(5)));
        let resp = app
            .oneshot(Request::get("/big").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(resp.headers()[header::CONNECTION], "close");
    }
}
