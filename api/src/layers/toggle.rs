//! A layer that can be left out: [`Toggle`] applies its layer or passes requests straight to the
//! service below, and either way answers axum's `Response` with an infallible error, so optional
//! layers compose into one concrete tower stack (tower's `option_layer` answers a boxed error,
//! which axum's router does not accept).

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

/// `layer` when on, nothing when off.
#[derive(Debug, Clone)]
pub struct Toggle<L>(Option<L>);

impl<L> Toggle<L> {
    /// `layer`, applied only when `on`.
    pub fn new(on: bool, layer: L) -> Self {
        Self(on.then_some(layer))
    }
}

impl<L: Layer<S>, S> Layer<S> for Toggle<L> {
    type Service = Toggled<L::Service, S>;

    fn layer(&self, inner: S) -> Self::Service {
        match &self.0 {
            Some(layer) => Toggled::On(layer.layer(inner)),
            None => Toggled::Off(inner),
        }
    }
}

/// The service of a [`Toggle`]: the layered service, or the one below it.
#[derive(Debug, Clone)]
pub enum Toggled<A, B> {
    /// The layer is applied.
    On(A),
    /// The layer is left out.
    Off(B),
}

impl<A, B, Req> Service<Req> for Toggled<A, B>
where
    A: Service<Req, Error = Infallible>,
    A::Response: IntoResponse,
    B: Service<Req, Error = Infallible>,
    B::Response: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ToggledFuture<A::Future, B::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self {
            Self::On(service) => service.poll_ready(cx),
            Self::Off(service) => service.poll_ready(cx),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self {
            Self::On(service) => ToggledFuture::On {
                inner: service.call(req),
            },
            Self::Off(service) => ToggledFuture::Off {
                inner: service.call(req),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of whichever service a [`Toggled`] called, as axum's `Response`. Converted in
    /// place (for a `Response` the conversion is nothing): a mapping closure kept as a function
    /// pointer would be an indirect call and one more move of the answer per layer.
    #[project = ToggledProj]
    pub enum ToggledFuture<FA, FB> {
        /// The layer's answer.
        On { #[pin] inner: FA },
        /// The answer of the service below.
        Off { #[pin] inner: FB },
    }
}

impl<FA, FB, RA, RB> Future for ToggledFuture<FA, FB>
where
    FA: Future<Output = Result<RA, Infallible>>,
    FB: Future<Output = Result<RB, Infallible>>,
    RA: IntoResponse,
    RB: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ToggledProj::On { inner } => inner.poll(cx).map_ok(IntoResponse::into_response),
            ToggledProj::Off { inner } => inner.poll(cx).map_ok(IntoResponse::into_response),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::{Router, body::Body, http::Request, routing::get};
    use tower::{ServiceBuilder, ServiceExt};
    use tower_http::set_header::SetResponseHeaderLayer;

    use super::*;

    fn app(on: bool) -> Router {
        let marker = SetResponseHeaderLayer::overriding(
            axum::http::HeaderName::from_static("x-marker"),
            axum::http::HeaderValue::from_static("1"),
        );
        Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(ServiceBuilder::new().layer(Toggle::new(on, marker)))
    }

    #[tokio::test]
    async fn the_layer_applies_only_when_on() {
        for on in [true, false] {
            let resp = app(on)
                .oneshot(Request::get("/").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers().contains_key("x-marker"), on);
        }
    }
}
