//! The shared HTTP client and the per-call helper that classifies transport failures and records
//! `dropforge_upstream_requests_total` / `dropforge_upstream_request_duration_seconds`.

use std::{future::Future, time::Duration, time::Instant};

use dropforge_common::{config::UpstreamsConfig, metric_names};
use reqwest::{
    StatusCode,
    header::{HeaderMap, RETRY_AFTER},
};

use super::error::{TransientKind, Upstream, UpstreamError};

/// Builds the one `reqwest::Client` shared by all upstream clients.
pub fn build_client(cfg: &UpstreamsConfig, extra_headers: HeaderMap) -> Result<reqwest::Client, UpstreamError> {
    reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.connect_timeout)
        // Keep every connection a burst opened: the worker runs ~1,000 jobs with up to five calls
        // each, and a smaller idle pool turned most calls into fresh TCP connections (TIME_WAIT churn).
        .pool_max_idle_per_host(8192)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("dropforge-worker/", env!("CARGO_PKG_VERSION")))
        .default_headers(extra_headers)
        .build()
        .map_err(|e| UpstreamError::Config(e.without_url().to_string()))
}

/// An upstream URL parsed once. Given a string, reqwest parses the URL again for every request
/// (with IDNA host processing): 2 % of the worker's CPU for the three AliExpress calls of a
/// validation. A URL that does not parse is kept as given, so its requests fail as they did.
#[derive(Debug, Clone)]
pub struct Endpoint(Result<reqwest::Url, String>);

impl Endpoint {
    /// Parses `url`.
    pub fn new(url: String) -> Self {
        Self(reqwest::Url::parse(&url).map_err(|_| url))
    }

    /// A `POST` to this URL.
    pub fn post(&self, http: &reqwest::Client) -> reqwest::RequestBuilder {
        match &self.0 {
            Ok(url) => http.post(url.clone()),
            Err(raw) => http.post(raw.as_str()),
        }
    }
}

/// A fully read HTTP response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body bytes (as received: no copy).
    pub body: bytes::Bytes,
}

impl RawResponse {
    /// The body as JSON, or a `Malformed` transient error.
    pub fn json(&self, upstream: Upstream) -> Result<serde_json::Value, UpstreamError> {
        self.json_without(upstream, &[])
    }

    /// [`RawResponse::json`] without the members named in `skip` ([`super::json::from_slice_without`]).
    pub fn json_without(
        &self,
        upstream: Upstream,
        skip: &'static [&'static str],
    ) -> Result<serde_json::Value, UpstreamError> {
        super::json::from_slice_without(&self.body, skip).map_err(|e| {
            UpstreamError::malformed(upstream, format!("HTTP {}: invalid JSON: {e}", self.status.as_u16()))
        })
    }

    /// `Retry-After` in seconds, if present and numeric.
    pub fn retry_after(&self) -> Option<Duration> {
        let v = self.headers.get(RETRY_AFTER)?.to_str().ok()?;
        v.trim().parse::<u64>().ok().map(Duration::from_secs)
    }

    /// Generic classification of a non-success status whose body said nothing more specific.
    pub fn status_error(&self, upstream: Upstream) -> UpstreamError {
        let code = self.status.as_u16();
        match code {
            429 => UpstreamError::Throttled {
                upstream,
                retry_after: self.retry_after().unwrap_or(Duration::from_secs(1)),
                code: "429".into(),
            },
            408 => UpstreamError::transient(upstream, TransientKind::Timeout, "HTTP 408"),
            500..=599 => UpstreamError::transient(upstream, TransientKind::ServerError, format!("HTTP {code}")),
            401 | 403 => UpstreamError::auth(upstream, code.to_string(), format!("HTTP {code}")),
            404 => UpstreamError::NotFound {
                upstream,
                detail: "HTTP 404".into(),
            },
            _ => UpstreamError::invalid(upstream, code.to_string(), format!("HTTP {code}")),
        }
    }
}

/// Sends `req` and reads the whole body; transport failures become transient errors (no URLs).
pub async fn send(upstream: Upstream, req: reqwest::RequestBuilder) -> Result<RawResponse, UpstreamError> {
    let mut resp = req.send().await.map_err(|e| transport_error(upstream, e))?;
    let status = resp.status();
    let headers = std::mem::take(resp.headers_mut());
    let body = resp.bytes().await.map_err(|e| transport_error(upstream, e))?;
    Ok(RawResponse { status, headers, body })
}

/// A failed connection (refused, reset, or a connect timeout: the upstream is down or unreachable)
/// is `Transport`; a timeout of a call that did connect is `Timeout` (the upstream is slow).
fn transport_error(upstream: Upstream, e: reqwest::Error) -> UpstreamError {
    let kind = if e.is_connect() {
        TransientKind::Transport
    } else if e.is_timeout() {
        TransientKind::Timeout
    } else if e.is_decode() {
        TransientKind::Malformed
    } else {
        TransientKind::Transport
    };
    UpstreamError::transient(upstream, kind, e.without_url().to_string())
}

/// Runs one upstream call (request + classification), timing it and recording its outcome.
/// `op` is a method or path name for logs; never pass a URL.
pub async fn timed<T, F>(upstream: Upstream, op: &'static str, call: F) -> Result<T, UpstreamError>
where
    F: Future<Output = Result<T, UpstreamError>>,
{
    let start = Instant::now();
    let result = call.await;
    let elapsed = start.elapsed();
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    };
    let labels = [("upstream", upstream.as_str()), ("outcome", outcome)];
    metrics::counter!(metric_names::UPSTREAM_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(metric_names::UPSTREAM_REQUEST_DURATION_SECONDS, &labels).record(elapsed.as_secs_f64());
    match &result {
        Ok(_) => tracing::debug!(%upstream, op, outcome, elapsed_ms = elapsed.as_millis() as u64, "upstream call"),
        Err(e) => {
            tracing::info!(%upstream, op, outcome, elapsed_ms = elapsed.as_millis() as u64, error = %e, "upstream call failed")
        }
    }
    result
}
