//! The outermost layer: the request id, the request span, the HTTP metrics and the security
//! headers of every request, in one concrete service with one future.
//!
//! They were four layers (five services: the request id was set by one and copied to the answer
//! by another), and each answer was handed up through a future per layer and a wrapper per
//! optional layer. Under the cached mix those four cost about a fifth of the API's CPU per
//! request; most of it was the handing up and the span's wrappers (the span entered for every
//! poll of the answer's body, timestamps nobody logged), not the work itself
//! (bench/README.md, "One frame for the outer layers").
//!
//! Each part can still be left out on its own (`DF_BENCH_LAYERS_OFF`: `request_id`, `trace`,
//! `metrics`, `security_headers`), for the layer-cost benchmark.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    http::{HeaderMap, HeaderName, HeaderValue, Method},
    response::Response,
};
use tower::{Layer, Service};
use tracing::Span;

use crate::{edge::headers::security_headers, http_metrics};

/// The request id header, set on the request when the client sent none and copied to the answer.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Which parts of the frame run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// `X-Request-Id`: a ULID when the request has none, and the same value on the answer.
    pub request_id: bool,
    /// The request span (`method`, `route`, `request.id`), entered while the request is served.
    pub span: bool,
    /// `dropforge_http_requests_total` and `dropforge_http_request_duration_seconds`.
    pub metrics: bool,
    /// The security headers, on every answer that does not set its own.
    pub security_headers: bool,
}

impl Parts {
    /// Whether any part runs (with none, the layer is left out).
    pub fn any(self) -> bool {
        self.request_id || self.span || self.metrics || self.security_headers
    }
}

/// The frame of every request: see the module documentation.
#[derive(Clone)]
pub struct FrameLayer {
    parts: Parts,
    /// The security headers (empty when that part is off).
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl FrameLayer {
    /// A frame with these parts; `hsts` adds `Strict-Transport-Security` to the security headers.
    pub fn new(parts: Parts, hsts: bool) -> Self {
        let headers = match parts.security_headers {
            true => security_headers(hsts),
            false => Vec::new(),
        };
        Self {
            parts,
            headers: headers.into(),
        }
    }
}

impl<S> Layer<S> for FrameLayer {
    type Service = Frame<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Frame {
            parts: self.parts,
            headers: self.headers.clone(),
            inner,
        }
    }
}

/// The service of [`FrameLayer`].
#[derive(Clone)]
pub struct Frame<S> {
    parts: Parts,
    headers: Arc<[(HeaderName, HeaderValue)]>,
    inner: S,
}

impl<S> Service<Request> for Frame<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = FrameFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let request_id = match self.parts.request_id {
            true => Some(ensure_request_id(req.headers_mut())),
            false => None,
        };
        let span = match self.parts.span {
            true => request_span(&req),
            false => Span::none(),
        };
        let timed = self.parts.metrics.then(|| Timed {
            route: req.extensions().get::<MatchedPath>().cloned(),
            method: req.method().clone(),
            started: Instant::now(),
        });
        let inner = {
            let _entered = span.enter();
            tracing::debug!("started processing request");
            self.inner.call(req)
        };
        FrameFuture {
            inner,
            span,
            timed,
            request_id,
            headers: self.headers.clone(),
        }
    }
}

/// What the metrics need of a request.
struct Timed {
    route: Option<MatchedPath>,
    method: Method,
    started: Instant,
}

pin_project_lite::pin_project! {
    /// The answer of the services below, framed once it is ready.
    pub struct FrameFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        timed: Option<Timed>,
        request_id: Option<HeaderValue>,
        headers: Arc<[(HeaderName, HeaderValue)]>,
    }
}

impl<F, E> Future for FrameFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Entered once per poll: the answer is framed, and its debug line written, inside it.
        let _entered = this.span.enter();
        let mut result = ready!(this.inner.poll(cx));
        if let Ok(response) = &mut result {
            let status = response.status();
            let headers = response.headers_mut();
            for (name, value) in this.headers.iter() {
                if !headers.contains_key(name) {
                    headers.insert(name.clone(), value.clone());
                }
            }
            if let Some(timed) = this.timed.take() {
                let route = timed
                    .route
                    .as_ref()
                    .map_or(http_metrics::UNMATCHED, MatchedPath::as_str);
                let seconds = timed.started.elapsed().as_secs_f64();
                http_metrics::record(route, &timed.method, status.as_u16(), seconds);
            }
            if let Some(id) = this.request_id.take()
                && !headers.contains_key(REQUEST_ID)
            {
                headers.insert(REQUEST_ID, id);
            }
            tracing::debug!(status = status.as_u16(), "finished processing request");
        }
        Poll::Ready(result)
    }
}

/// The request's `X-Request-Id`, set to a new ULID (sorts by time; a thread-local generator, no
/// syscall) when the client sent none.
fn ensure_request_id(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(REQUEST_ID) {
        return id.clone();
    }
    let mut text = [0; ulid::ULID_LEN];
    let id = HeaderValue::from_str(ulid::Ulid::generate().array_to_str(&mut text))
        .unwrap_or_else(|_| HeaderValue::from_static("-"));
    headers.insert(REQUEST_ID, id.clone());
    id
}

/// One span per request, keyed by the route template (never the raw path) and the request id.
fn request_span(req: &Request) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(http_metrics::UNMATCHED, MatchedPath::as_str);
    let request_id = req
        .headers()
        .get(REQUEST_ID)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::{Router, body::Body, http::StatusCode, routing::get};
    use tower::ServiceExt;

    use super::*;

    const ALL: Parts = Parts {
        request_id: true,
        span: true,
        metrics: true,
        security_headers: true,
    };

    fn app(parts: Parts) -> Router {
        Router::new()
            .route(
                "/own-csp",
                get(|| async { ([("content-security-policy", "default-src 'self'")], "x") }),
            )
            .route(
                "/echo-id",
                get(|headers: HeaderMap| async move {
                    headers
                        .get("x-request-id")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default()
                }),
            )
            .route(
                "/own-id",
                get(|| async { ([("x-request-id", "from-the-handler")], "x") }),
            )
            .layer(FrameLayer::new(parts, true))
    }

    async fn get_(app: Router, path: &str, id: Option<&str>) -> Response {
        let mut req = Request::get(path);
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_new_request_id_reaches_the_handler_and_the_answer() {
        let response = get_(app(ALL), "/echo-id", None).await;
        let answered = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(answered.len(), ulid::ULID_LEN, "{answered}");
        assert_eq!(
            body(response).await,
            answered,
            "the handler saw the id the answer carries"
        );
    }

    #[tokio::test]
    async fn the_client_request_id_is_kept_and_a_handler_id_wins_on_the_answer() {
        let response = get_(app(ALL), "/echo-id", Some("client-1")).await;
        assert_eq!(response.headers()["x-request-id"], "client-1");
        assert_eq!(body(response).await, "client-1");
        let response = get_(app(ALL), "/own-id", Some("client-2")).await;
        let ids: Vec<_> = response.headers().get_all("x-request-id").iter().collect();
        assert_eq!(ids, ["from-the-handler"]);
    }

    #[tokio::test]
    async fn security_headers_are_added_unless_the_answer_sets_its_own() {
        let response = get_(app(ALL), "/own-csp", None).await;
        let h = response.headers();
        assert_eq!(h["content-security-policy"], "default-src 'self'");
        for (name, value) in security_headers(true)
            .iter()
            .filter(|(n, _)| n != "content-security-policy")
        {
            assert_eq!(&h[name], value, "{name}");
        }
        let response = get_(app(ALL), "/nowhere", None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["x-frame-options"], "DENY", "errors carry them too");
    }

    #[tokio::test]
    async fn parts_left_out_do_nothing() {
        let none = Parts {
            request_id: false,
            span: false,
            metrics: false,
            security_headers: false,
        };
        assert!(!none.any());
        let response = get_(app(none), "/echo-id", None).await;
        assert!(response.headers().get("x-request-id").is_none());
        assert!(response.headers().get("x-frame-options").is_none());
        assert_eq!(body(response).await, "");
        let only_ids = Parts {
            request_id: true,
            ..none
        };
        let response = get_(app(only_ids), "/echo-id", None).await;
        assert!(response.headers().get("x-request-id").is_some());
        assert!(response.headers().get("x-frame-options").is_none());
    }
}
